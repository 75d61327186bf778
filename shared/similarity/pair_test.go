package similarity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// pairKernels are the kernels every pair test runs: the portable one and
// those this build and CPU have (platformPairKernels, per architecture).
func pairKernels(t testing.TB) []PairKernel {
	return append([]PairKernel{PortablePair{}}, platformPairKernels(t)...)
}

// naivePair is the stand-in the kernels replaced, kept as their reference:
// every pair scored with refDot and inserted both ways.
func naivePair(all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) {
	diag := a == b
	for i := a.Start; i < a.End; i++ {
		if skip[i] {
			continue
		}
		j0 := b.Start
		if diag {
			j0 = i + 1
		}
		for j := j0; j < b.End; j++ {
			if skip[j] {
				continue
			}
			s := refDot(all[i*k:i*k+k], all[j*k:j*k+k])
			insert(la[(i-a.Start)*top:(i-a.Start+1)*top], int32(j), s)
			if diag {
				insert(la[(j-a.Start)*top:(j-a.Start+1)*top], int32(i), s)
			} else {
				insert(lb[(j-b.Start)*top:(j-b.Start+1)*top], int32(i), s)
			}
		}
	}
}

// pairInput is a factor matrix for the pair tests.
type pairInput struct {
	n, k      int
	coarse    bool    // small integers: many equal scores
	skipFrac  float64 // rows marked to skip
	zeroFrac  float64 // rows set to zero (Normalize marks them)
	dupFrac   float64 // rows copied from an earlier row: equal scores
	keepZeros bool    // unmark the zero rows, so that they score ±0
}

func (in pairInput) build(seed uint64) (all []float32, skip []bool) {
	rng := rand.New(rand.NewPCG(seed, 3))
	all = randomFactors(rng, in.n, in.k, in.coarse)
	for i := 1; i < in.n; i++ {
		if rng.Float64() < in.dupFrac {
			src := rng.IntN(i)
			copy(all[i*in.k:i*in.k+in.k], all[src*in.k:])
		}
	}
	var zero []int
	for i := range in.n {
		if rng.Float64() < in.zeroFrac {
			clear(all[i*in.k : i*in.k+in.k])
			zero = append(zero, i)
		}
	}
	skip = Normalize(all, in.k)
	for i := range skip {
		if rng.Float64() < in.skipFrac {
			skip[i] = true
		}
	}
	if in.keepZeros {
		for _, i := range zero {
			skip[i] = false
		}
	}
	return all, skip
}

var pairInputs = []struct {
	name string
	in   pairInput
	top  int
}{
	{"rank 10", pairInput{n: 301, k: 10}, 20},
	{"rank 10 coarse ties dups", pairInput{n: 257, k: 10, coarse: true, dupFrac: 0.2}, 20},
	{"rank 10 skips zeros", pairInput{n: 203, k: 10, skipFrac: 0.2, zeroFrac: 0.1}, 7},
	{"rank 10 top 1", pairInput{n: 150, k: 10, coarse: true, skipFrac: 0.1}, 1},
	{"rank 1 coarse kept zeros", pairInput{n: 91, k: 1, coarse: true, zeroFrac: 0.2, keepZeros: true}, 5},
	{"rank 2 coarse kept zeros", pairInput{n: 77, k: 2, coarse: true, zeroFrac: 0.1, keepZeros: true}, 9},
	{"rank 3 coarse", pairInput{n: 133, k: 3, coarse: true, skipFrac: 0.1}, 11},
	{"rank 7 top over n", pairInput{n: 30, k: 7, skipFrac: 0.2}, 40},
	{"rank 16", pairInput{n: 181, k: 16, dupFrac: 0.05}, 20},
	{"rank 17", pairInput{n: 97, k: 17, coarse: true}, 13},
	{"rank 33", pairInput{n: 70, k: 33}, 6},
	{"rank 64", pairInput{n: 65, k: 64, skipFrac: 0.1}, 20},
	{"rank 64 coarse", pairInput{n: 50, k: 64, coarse: true, dupFrac: 0.3}, 4},
	{"one row", pairInput{n: 1, k: 10}, 3},
	{"two rows", pairInput{n: 2, k: 10}, 3},
	{"all skipped", pairInput{n: 20, k: 10, skipFrac: 1}, 3},
}

// rangeCuts are the (a, b) range pairs a test feeds, for n rows.
func rangeCuts(n int) []struct {
	name string
	a, b Range
} {
	h, q := n/2, n/3
	return []struct {
		name string
		a, b Range
	}{
		{"diag whole", Range{0, n}, Range{0, n}},
		{"diag inner", Range{q, n - q}, Range{q, n - q}},
		{"a before b", Range{0, h}, Range{h, n}},
		{"b before a", Range{h, n}, Range{0, q}},
		{"a empty", Range{h, h}, Range{0, n}},
		{"one row each", Range{0, min(1, n)}, Range{n - min(1, n-1), n}},
	}
}

// prefill feeds the lists l of the rows of r with their pairs with the
// rows outside a and b, so that a Pair call over a and b meets lists that
// already hold entries, none of them from the pairs it feeds.
func prefill(all []float32, k int, skip []bool, r Range, top int, l []Neighbor, a, b Range) {
	in := func(j int, r Range) bool { return r.Start <= j && j < r.End }
	for i := r.Start; i < r.End; i++ {
		if skip[i] {
			continue
		}
		for j := range skip {
			if skip[j] || j == i || in(j, a) || in(j, b) {
				continue
			}
			insert(l[(i-r.Start)*top:(i-r.Start+1)*top], int32(j), refDot(all[i*k:i*k+k], all[j*k:j*k+k]))
		}
	}
}

func TestPairMatchesNaive(t *testing.T) {
	t.Parallel()
	for ti, tt := range pairInputs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all, skip := tt.in.build(uint64(ti))
			k, top := tt.in.k, tt.top
			for _, cut := range rangeCuts(tt.in.n) {
				for _, warm := range []bool{false, true} {
					wantA, wantB := NewLists(cut.a.len(), top), NewLists(cut.b.len(), top)
					if warm {
						prefill(all, k, skip, cut.a, top, wantA, cut.a, cut.b)
						prefill(all, k, skip, cut.b, top, wantB, cut.a, cut.b)
					}
					startA, startB := slices.Clone(wantA), slices.Clone(wantB)
					if cut.a == cut.b {
						wantB, startB = nil, nil
					}
					naivePair(all, k, skip, cut.a, cut.b, top, wantA, wantB)
					for _, kern := range pairKernels(t) {
						name := fmt.Sprintf("%s %s warm %v", kern.Name(), cut.name, warm)
						la, lb := slices.Clone(startA), slices.Clone(startB)
						if err := kern.Pair(t.Context(), all, k, skip, cut.a, cut.b, top, la, lb); err != nil {
							t.Fatalf("%s: Pair: %v", name, err)
						}
						sameLists(t, name+" la", la, wantA, top)
						sameLists(t, name+" lb", lb, wantB, top)
					}
				}
			}
		})
	}
}

// sameLists is sameBits with a name for the failure.
func sameLists(t *testing.T, name string, got, want []Neighbor, top int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries, want %d", name, len(got), len(want))
	}
	for e := range got {
		if got[e].Index != want[e].Index || math.Float32bits(got[e].Score) != math.Float32bits(want[e].Score) {
			t.Fatalf("%s: row %d rank %d: got %+v (%#x), want %+v (%#x)", name, e/top, e%top,
				got[e], math.Float32bits(got[e].Score), want[e], math.Float32bits(want[e].Score))
		}
	}
}

// TestPairBlocksMatchTopK runs the pipeline's schedule: every block pair
// I ≤ J through Pair into its own partial lists, then Merge per block, and
// also every pair fed into one list per block; both must give what
// Portable.TopK gives over all rows, bit for bit.
func TestPairBlocksMatchTopK(t *testing.T) {
	t.Parallel()
	for ti, tt := range pairInputs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all, skip := tt.in.build(uint64(100 + ti))
			n, k, top := tt.in.n, tt.in.k, tt.top
			want := make([]Neighbor, n*top)
			if err := (Portable{}).TopK(t.Context(), all, k, skip, 0, n, top, want); err != nil {
				t.Fatalf("TopK: %v", err)
			}
			for _, blockRows := range []int{1, 5, 16, 37, 100, n} {
				var blocks []Range
				for s := 0; s < n; s += blockRows {
					blocks = append(blocks, Range{s, min(s+blockRows, n)})
				}
				for _, kern := range pairKernels(t) {
					name := fmt.Sprintf("%s blocks of %d", kern.Name(), blockRows)
					parts := make([][][]Neighbor, len(blocks))
					acc := make([][]Neighbor, len(blocks))
					for i, bi := range blocks {
						acc[i] = NewLists(bi.len(), top)
					}
					for i, bi := range blocks {
						for j := i; j < len(blocks); j++ {
							bj := blocks[j]
							li, lj := NewLists(bi.len(), top), NewLists(bj.len(), top)
							if i == j {
								lj = nil
							}
							if err := kern.Pair(t.Context(), all, k, skip, bi, bj, top, li, lj); err != nil {
								t.Fatalf("%s: Pair %v %v: %v", name, bi, bj, err)
							}
							parts[i] = append(parts[i], li)
							if i != j {
								parts[j] = append(parts[j], lj)
							}
							accJ := acc[j]
							if i == j {
								accJ = nil
							}
							if err := kern.Pair(t.Context(), all, k, skip, bi, bj, top, acc[i], accJ); err != nil {
								t.Fatalf("%s: Pair %v %v into accumulated lists: %v", name, bi, bj, err)
							}
						}
					}
					got := make([]Neighbor, 0, n*top)
					var gotAcc []Neighbor
					for i, bi := range blocks {
						dst := make([]Neighbor, bi.len()*top)
						if err := Merge(dst, top, parts[i]...); err != nil {
							t.Fatalf("%s: Merge block %d: %v", name, i, err)
						}
						got = append(got, dst...)
						gotAcc = append(gotAcc, acc[i]...)
					}
					sameLists(t, name+" merged", got, want, top)
					sameLists(t, name+" accumulated", gotAcc, want, top)
				}
			}
		})
	}
}

// TestPairTiesAtThreshold makes every score equal the worst score of one
// side's full lists, whose entries have higher indices, while the other
// side's lists need more: each pair must still enter the first side by
// its lower index, whichever side that is (a kernel filtering with > on
// that side would drop them all).
func TestPairTiesAtThreshold(t *testing.T) {
	t.Parallel()
	const n, k, top = 100, 2, 2
	all := make([]float32, n*k)
	for i := range n {
		all[i*k] = 1 // every score is exactly 1
	}
	skip := make([]bool, n)
	a, b := Range{0, 39}, Range{40, 91}
	fill := func(rows int, s float32) []Neighbor {
		l := make([]Neighbor, 0, rows*top)
		for range rows {
			l = append(l, Neighbor{97, s}, Neighbor{98, s})
		}
		return l
	}
	for _, side := range []string{"rows", "columns"} {
		startA, startB := fill(a.len(), 1), fill(b.len(), 1.5)
		if side == "columns" {
			startA, startB = fill(a.len(), 1.5), fill(b.len(), 1)
		}
		wantA, wantB := slices.Clone(startA), slices.Clone(startB)
		naivePair(all, k, skip, a, b, top, wantA, wantB)
		for _, kern := range pairKernels(t) {
			la, lb := slices.Clone(startA), slices.Clone(startB)
			if err := kern.Pair(t.Context(), all, k, skip, a, b, top, la, lb); err != nil {
				t.Fatalf("%s: Pair: %v", kern.Name(), err)
			}
			sameLists(t, kern.Name()+" ties on "+side+" la", la, wantA, top)
			sameLists(t, kern.Name()+" ties on "+side+" lb", lb, wantB, top)
		}
	}
}

func TestPairBadArguments(t *testing.T) {
	t.Parallel()
	all := []float32{1, 0, 0, 1, 1, 0, 0, 1} // 4 rows at k=2
	skip := make([]bool, 4)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	lists := func(rows int) []Neighbor { return NewLists(rows, 2) }
	w, h := Range{0, 4}, Range{0, 2}
	tests := []struct {
		name   string
		all    []float32
		k      int
		skip   []bool
		a, b   Range
		top    int
		la, lb []Neighbor
	}{
		{name: "rank 0", all: all, k: 0, skip: skip, a: w, b: w, top: 2, la: lists(4)},
		{name: "ragged factors", all: all[:7], k: 2, skip: skip, a: h, b: h, top: 2, la: lists(2)},
		{name: "short skip", all: all, k: 2, skip: skip[:3], a: w, b: w, top: 2, la: lists(4)},
		{name: "negative start", all: all, k: 2, skip: skip, a: Range{-1, 2}, b: Range{2, 4}, top: 2, la: lists(3), lb: lists(2)},
		{name: "end past rows", all: all, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 5}, top: 2, la: lists(2), lb: lists(3)},
		{name: "end before start", all: all, k: 2, skip: skip, a: Range{3, 2}, b: Range{3, 2}, top: 2},
		{name: "b end before start", all: all, k: 2, skip: skip, a: Range{0, 1}, b: Range{3, 2}, top: 2, la: lists(1)},
		{name: "overlap", all: all, k: 2, skip: skip, a: Range{0, 3}, b: Range{2, 4}, top: 2, la: lists(3), lb: lists(2)},
		{name: "inside", all: all, k: 2, skip: skip, a: Range{0, 4}, b: Range{1, 2}, top: 2, la: lists(4), lb: lists(1)},
		{name: "top 0", all: all, k: 2, skip: skip, a: w, b: w, top: 0},
		{name: "short la", all: all, k: 2, skip: skip, a: w, b: w, top: 2, la: lists(4)[:7]},
		{name: "short lb", all: all, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 4}, top: 2, la: lists(2), lb: lists(2)[:3]},
		{name: "nil lb", all: all, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 4}, top: 2, la: lists(2)},
		{name: "lb when diag", all: all, k: 2, skip: skip, a: w, b: w, top: 2, la: lists(4), lb: lists(4)},
		{name: "huge top", all: all, k: 2, skip: skip, a: w, b: w, top: math.MaxInt/2 + 1, la: lists(1)},
		{name: "NaN row in a", all: []float32{1, 0, nan, 1, 1, 0, 0, 1}, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 4}, top: 2, la: lists(2), lb: lists(2)},
		{name: "Inf row in b", all: []float32{1, 0, 0, 1, 1, 0, 0, -inf}, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 4}, top: 2, la: lists(2), lb: lists(2)},
		{name: "list not sorted", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{1, 0.5}, {2, 0.9}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list tie out of order", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{2, 0.5}, {1, 0.5}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list duplicate entry", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{1, 0.5}, {1, 0.5}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list entry after padding", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{-1, 0}, {1, 0.5}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list index past rows", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{9, 0.5}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list negative index", all: all, k: 2, skip: skip, a: w, b: w, top: 2,
			la: []Neighbor{{-2, 0.5}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}, {-1, 0}}},
		{name: "list NaN score", all: all, k: 2, skip: skip, a: Range{0, 2}, b: Range{2, 4}, top: 2,
			la: lists(2), lb: []Neighbor{{1, nan}, {-1, 0}, {-1, 0}, {-1, 0}}},
	}
	for _, kern := range pairKernels(t) {
		for _, tt := range tests {
			t.Run(kern.Name()+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				la, lb := slices.Clone(tt.la), slices.Clone(tt.lb)
				if err := kern.Pair(t.Context(), tt.all, tt.k, tt.skip, tt.a, tt.b, tt.top, la, lb); err == nil {
					t.Fatal("Pair accepted bad arguments")
				}
				sameLists(t, "la", la, tt.la, max(1, tt.top))
				sameLists(t, "lb", lb, tt.lb, max(1, tt.top))
			})
		}
	}
}

func TestPairSkippedNaNRowIsFine(t *testing.T) {
	t.Parallel()
	all := []float32{1, 0, float32(math.NaN()), 1, 0, 1}
	for _, kern := range pairKernels(t) {
		la := NewLists(3, 1)
		if err := kern.Pair(t.Context(), all, 2, []bool{false, true, false}, Range{0, 3}, Range{0, 3}, 1, la, nil); err != nil {
			t.Fatalf("%s: Pair: %v", kern.Name(), err)
		}
		if want := []Neighbor{{2, 0}, {-1, 0}, {0, 0}}; !reflect.DeepEqual(la, want) {
			t.Errorf("%s: got %v, want %v", kern.Name(), la, want)
		}
	}
}

// TestPairOverflowNeverNaN feeds finite rows that are not normalised and
// whose products overflow, so that some scores are ±Inf or NaN: the
// kernels must agree and never list a NaN.
func TestPairOverflowNeverNaN(t *testing.T) {
	t.Parallel()
	const n, k, top = 40, 3, 6
	rng := rand.New(rand.NewPCG(5, 5))
	all := make([]float32, n*k)
	for i := range all {
		all[i] = float32(rng.IntN(5)-2) * 1e38
	}
	skip := make([]bool, n)
	a, b := Range{0, 17}, Range{17, n}
	wantA, wantB := NewLists(a.len(), top), NewLists(b.len(), top)
	naivePair(all, k, skip, a, b, top, wantA, wantB)
	for _, kern := range pairKernels(t) {
		la, lb := NewLists(a.len(), top), NewLists(b.len(), top)
		if err := kern.Pair(t.Context(), all, k, skip, a, b, top, la, lb); err != nil {
			t.Fatalf("%s: Pair: %v", kern.Name(), err)
		}
		sameLists(t, kern.Name()+" la", la, wantA, top)
		sameLists(t, kern.Name()+" lb", lb, wantB, top)
		for _, nb := range append(la, lb...) {
			if nb.Score != nb.Score {
				t.Fatalf("%s: NaN score listed", kern.Name())
			}
		}
	}
}

func TestPairCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	all := randomFactors(rand.New(rand.NewPCG(1, 2)), 100, 10, false)
	skip := Normalize(all, 10)
	for _, kern := range pairKernels(t) {
		la := NewLists(100, 5)
		if err := kern.Pair(ctx, all, 10, skip, Range{0, 100}, Range{0, 100}, 5, la, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: Pair on a cancelled context: %v, want context.Canceled", kern.Name(), err)
		}
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	pad := Neighbor{Index: -1}
	tests := []struct {
		name  string
		top   int
		parts [][]Neighbor
		want  []Neighbor
	}{
		{name: "no parts", top: 2, want: []Neighbor{pad, pad}},
		{
			name:  "interleave with ties by lower index",
			top:   3,
			parts: [][]Neighbor{{{4, 0.9}, {7, 0.5}, pad}, {{2, 0.9}, {3, 0.5}, {1, 0.1}}},
			want:  []Neighbor{{2, 0.9}, {4, 0.9}, {3, 0.5}},
		},
		{
			name:  "two rows, padding kept",
			top:   2,
			parts: [][]Neighbor{{{1, 0.3}, pad, pad, pad}, {pad, pad, {0, -0.5}, pad}, {pad, pad, {2, -0.5}, pad}},
			want:  []Neighbor{{1, 0.3}, pad, {0, -0.5}, {2, -0.5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := make([]Neighbor, len(tt.want))
			if err := Merge(dst, tt.top, tt.parts...); err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if !reflect.DeepEqual(dst, tt.want) {
				t.Errorf("got %v, want %v", dst, tt.want)
			}
			if len(tt.parts) > 0 {
				// Into one of its own parts.
				dst := slices.Clone(tt.parts[0])
				parts := append([][]Neighbor{dst}, tt.parts[1:]...)
				if err := Merge(dst, tt.top, parts...); err != nil {
					t.Fatalf("Merge into a part: %v", err)
				}
				if !reflect.DeepEqual(dst, tt.want) {
					t.Errorf("into a part: got %v, want %v", dst, tt.want)
				}
			}
		})
	}
}

func TestMergeBadArguments(t *testing.T) {
	t.Parallel()
	pad := Neighbor{Index: -1}
	tests := []struct {
		name  string
		dst   int
		top   int
		parts [][]Neighbor
	}{
		{name: "top 0", dst: 2, top: 0},
		{name: "ragged dst", dst: 3, top: 2},
		{name: "short part", dst: 4, top: 2, parts: [][]Neighbor{{pad, pad, pad}}},
		{name: "unsorted part", dst: 2, top: 2, parts: [][]Neighbor{{{1, 0.1}, {2, 0.2}}}},
		{name: "duplicate in part", dst: 2, top: 2, parts: [][]Neighbor{{{1, 0.2}, {1, 0.2}}}},
		{name: "NaN part", dst: 2, top: 2, parts: [][]Neighbor{{{1, float32(math.NaN())}, pad}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Merge(make([]Neighbor, tt.dst), tt.top, tt.parts...); err == nil {
				t.Fatal("Merge accepted bad arguments")
			}
		})
	}
}

// FuzzPair builds small factor matrices and two ranges from the fuzz
// input, coarse enough for ties and with NaN, Inf and zero rows, feeds
// lists that may already hold entries, and compares every kernel with
// naivePair.
func FuzzPair(f *testing.F) {
	f.Add([]byte{40, 10, 20, 0, 40, 0, 40, 0, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{70, 10, 20, 0, 30, 30, 40, 1, 0xff, 0x80, 7, 7, 7, 7, 1, 1, 0, 0, 0, 0, 200, 100})
	f.Add([]byte{23, 1, 25, 3, 9, 9, 20, 2, 3, 3, 3, 3})
	f.Add([]byte{50, 17, 3, 10, 20, 30, 50, 3, 1, 2})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		at := func(i int) byte {
			if len(data) == 0 {
				return 0
			}
			return data[i%len(data)]
		}
		n := int(at(0)) % 80
		k := 1 + int(at(1))%20
		top := int(at(2)) % 25 // 0 is bad and must be an error
		cut := func(i int) int { return int(at(i)) % (n + 1) }
		a := Range{cut(3), cut(4)}
		b := Range{cut(5), cut(6)}
		mode := at(7)
		if mode&1 == 0 {
			b = a
		}
		all := make([]float32, n*k)
		for e := range all {
			switch v := at(8 + e); {
			case v == 0xff:
				all[e] = float32(math.NaN())
			case v == 0xfe:
				all[e] = float32(math.Inf(1))
			default:
				all[e] = float32(int8(v)) / 8
			}
		}
		skip := Normalize(all, k)
		for i := range skip {
			if at(9+3*i)&0x7 == 0 {
				skip[i] = true
			}
		}
		valid := top > 0 && a.Start <= a.End && b.Start <= b.End &&
			(a == b || a.len() == 0 || b.len() == 0 || a.End <= b.Start || b.End <= a.Start)
		if !valid {
			for _, kern := range pairKernels(t) {
				la, lb := make([]Neighbor, max(0, a.len()*top)), make([]Neighbor, max(0, b.len()*top))
				if err := kern.Pair(t.Context(), all, k, skip, a, b, top, la, lb); err == nil {
					t.Fatalf("%s accepted a %v b %v top %d", kern.Name(), a, b, top)
				}
			}
			return
		}
		wantA, wantB := NewLists(a.len(), top), NewLists(b.len(), top)
		if mode&2 != 0 {
			prefill(all, k, skip, a, top, wantA, a, b)
			prefill(all, k, skip, b, top, wantB, a, b)
		}
		startA, startB := slices.Clone(wantA), slices.Clone(wantB)
		if a == b {
			wantB, startB = nil, nil
		}
		naivePair(all, k, skip, a, b, top, wantA, wantB)
		for _, kern := range pairKernels(t) {
			la, lb := slices.Clone(startA), slices.Clone(startB)
			if err := kern.Pair(t.Context(), all, k, skip, a, b, top, la, lb); err != nil {
				t.Fatalf("%s: Pair a %v b %v: %v", kern.Name(), a, b, err)
			}
			sameLists(t, kern.Name()+" la", la, wantA, top)
			sameLists(t, kern.Name()+" lb", lb, wantB, top)
		}
	})
}
