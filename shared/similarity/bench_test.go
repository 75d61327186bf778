package similarity

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTopK runs one block of 512 query rows against 20 000 books at
// rank 10, top 20: the pipeline's shape. "default" is Default (the AVX2
// kernel where the CPU has it); the sub-benchmarks after "portable" are the
// stages the portable kernel went through, kept to measure each
// optimisation against the one before it in the same run.
func BenchmarkTopK(b *testing.B) {
	const (
		n, k, top = 20000, 10, 20
		qStart    = 8192
		queries   = 512
	)
	all := randomFactors(rand.New(rand.NewPCG(7, 7)), n, k, false)
	skip := Normalize(all, k)
	out := make([]Neighbor, queries*top)

	// staged runs the block through a sweep that picks its own scan paths.
	staged := func(sweep func(qs []query)) func(b *testing.B) {
		return func(b *testing.B) {
			var qs [blockRows]query
			for b.Loop() {
				for i := range out {
					out[i] = Neighbor{Index: -1}
				}
				for blk := qStart; blk < qStart+queries; blk += blockRows {
					for i := range blockRows {
						off := (blk + i - qStart) * top
						qs[i] = query{row: out[off : off+top], i: blk + i, thr: negInf}
					}
					sweep(qs[:])
				}
			}
		}
	}
	variants := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"default", func(b *testing.B) {
			for b.Loop() {
				if err := TopK(b.Context(), all, k, skip, qStart, qStart+queries, top, out); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"portable", func(b *testing.B) {
			for b.Loop() {
				if err := (Portable{}).TopK(b.Context(), all, k, skip, qStart, qStart+queries, top, out); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"stage=1 one query generic", staged(func(qs []query) {
			for t := range qs {
				one(all, k, skip, 0, &qs[t])
			}
		})},
		{"stage=2 one query rank 10", staged(func(qs []query) {
			for t := range qs {
				one10(all, skip, 0, &qs[t])
			}
		})},
		{"stage=3 tile4 generic", staged(func(qs []query) {
			for t := 0; t < len(qs); t += 4 {
				tile4(all, k, skip, 0, (*[4]query)(qs[t:]))
			}
		})},
		{"stage=4 tile4 rank 10", staged(func(qs []query) {
			for t := 0; t < len(qs); t += 4 {
				tile4k10(all, skip, 0, (*[4]query)(qs[t:]))
			}
		})},
		{"stage=5 tile4 rank 10 chunked", staged(func(qs []query) {
			sweep(all, k, skip, qs, max(1, chunkBytes/(4*k)))
		})},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			v.run(b)
			pairs := float64(queries) * float64(n-1) * float64(b.N)
			secs := b.Elapsed().Seconds()
			b.ReportMetric(pairs/secs, "pairs/s")
			b.ReportMetric(2*k*pairs/secs/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPair feeds block pairs at rank 10, top 20, through each pair
// kernel: 4096×4096 rows, 16384×16384, and a diagonal block of 4096.
// "fresh" starts from empty lists (a task's partial lists); "warm" from
// lists that already hold the top 20 of 24 576 other rows, as when one list
// per block accumulates over its block pairs. Fresh lists cost more per
// pair: a list fed m candidates in random order takes about
// top·(1+ln(m/top)) inserts (126 at m=4096, ~3% of the pairs), and a larger
// block amortises them.
//
// Pair runs on one goroutine, so Gpairs/s is per core. Gpairs/cpu-s
// divides by the CPU time the process used instead of the wall time: the
// per-core figure when other work shares the cores (the timer stops while
// the lists are reset, the CPU clock does not, so it is a slight
// underestimate).
func BenchmarkPair(b *testing.B) {
	const (
		block, big, k, top = 4096, 16384, 10, 20
		n                  = 2 * big
	)
	all := randomFactors(rand.New(rand.NewPCG(7, 7)), n, k, false)
	skip := Normalize(all, k)
	ra, rb := Range{0, block}, Range{block, 2 * block}
	rest := Range{2 * block, n}
	warmA, warmB := NewLists(block, top), NewLists(block, top)
	for _, w := range []struct {
		r Range
		l []Neighbor
	}{{ra, warmA}, {rb, warmB}} {
		if err := DefaultPair.Pair(b.Context(), all, k, skip, w.r, rest, top, w.l, NewLists(rest.len(), top)); err != nil {
			b.Fatal(err)
		}
	}
	fresh, freshBig := NewLists(block, top), NewLists(big, top)
	shapes := []struct {
		name           string
		a, b           Range
		startA, startB []Neighbor
		pairs          float64
	}{
		{"block 4096x4096 fresh", ra, rb, fresh, fresh, block * block},
		{"block 4096x4096 warm", ra, rb, warmA, warmB, block * block},
		{"block 16384x16384 fresh", Range{0, big}, Range{big, n}, freshBig, freshBig, big * big},
		{"diag 4096 fresh", ra, ra, fresh, nil, block * (block - 1) / 2},
		{"diag 4096 warm", ra, ra, warmA, nil, block * (block - 1) / 2},
	}
	for _, kern := range pairKernels(b) {
		for _, sh := range shapes {
			b.Run(kern.Name()+" "+sh.name, func(b *testing.B) {
				b.ReportAllocs()
				la := make([]Neighbor, len(sh.startA))
				var lb []Neighbor
				if sh.startB != nil {
					lb = make([]Neighbor, len(sh.startB))
				}
				cpu0, cpuOK := cpuSeconds()
				for b.Loop() {
					b.StopTimer()
					copy(la, sh.startA)
					copy(lb, sh.startB)
					b.StartTimer()
					if err := kern.Pair(b.Context(), all, k, skip, sh.a, sh.b, top, la, lb); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(sh.pairs*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gpairs/s")
				if cpu1, ok := cpuSeconds(); ok && cpuOK {
					b.ReportMetric(sh.pairs*float64(b.N)/(cpu1-cpu0)/1e9, "Gpairs/cpu-s")
				}
			})
		}
	}
}
