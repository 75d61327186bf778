package similarity

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTopK runs one block of 512 query rows against 20 000 books at
// rank 10, top 20: the pipeline's shape. The sub-benchmarks other than
// "portable" are the stages the kernel went through, kept to measure each
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
		{"portable", func(b *testing.B) {
			for b.Loop() {
				if err := TopK(b.Context(), all, k, skip, qStart, qStart+queries, top, out); err != nil {
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
