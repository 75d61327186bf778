package similarity

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// refDot is the score as the package documentation defines it.
func refDot(a, b []float32) float32 {
	s := float32(a[0] * b[0])
	for d := 1; d < len(a); d++ {
		s += float32(a[d] * b[d])
	}
	return s
}

// bruteTopK scores every pair, sorts, and keeps the first top: the
// reference every kernel must match bit for bit.
func bruteTopK(all []float32, k int, skip []bool, qStart, qEnd, top int) []Neighbor {
	n := len(all) / k
	out := make([]Neighbor, 0, (qEnd-qStart)*top)
	for i := qStart; i < qEnd; i++ {
		var cand []Neighbor
		if !skip[i] {
			for j := range n {
				if j == i || skip[j] {
					continue
				}
				cand = append(cand, Neighbor{Index: int32(j), Score: refDot(all[i*k:i*k+k], all[j*k:j*k+k])})
			}
		}
		// Candidates are in index order, so a stable sort by score leaves
		// ties by lower index first.
		sort.SliceStable(cand, func(a, b int) bool { return cand[a].Score > cand[b].Score })
		for r := range top {
			if r < len(cand) {
				out = append(out, cand[r])
			} else {
				out = append(out, Neighbor{Index: -1})
			}
		}
	}
	return out
}

// randomFactors returns n×k factors: Gaussian, or, when coarse, small
// integers so that equal scores (and equal rows) are common.
func randomFactors(rng *rand.Rand, n, k int, coarse bool) []float32 {
	f := make([]float32, n*k)
	for i := range f {
		if coarse {
			f[i] = float32(rng.IntN(5) - 2)
		} else {
			f[i] = float32(rng.NormFloat64())
		}
	}
	return f
}

// sameBits reports whether got and want hold the same indices and the same
// score bits, and describes the first difference.
func sameBits(t *testing.T, got, want []Neighbor, top int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for e := range got {
		if got[e].Index != want[e].Index || math.Float32bits(got[e].Score) != math.Float32bits(want[e].Score) {
			t.Fatalf("query row %d rank %d: got %+v, want %+v", e/top, e%top, got[e], want[e])
		}
	}
}

// splits returns ways to cut [0,n) into consecutive query ranges.
func splits(rng *rand.Rand, n int) map[string][]int {
	s := map[string][]int{"whole": {0, n}}
	for _, size := range []int{1, 3, 4, 5, 63, 64, 65, 130} {
		var cuts []int
		for c := 0; c < n; c += size {
			cuts = append(cuts, c)
		}
		s["every "+itoa(size)] = append(cuts, n)
	}
	for r := range 4 {
		cuts := []int{0}
		for c := 0; c < n; {
			c = min(n, c+1+rng.IntN(97))
			cuts = append(cuts, c)
		}
		s["random "+itoa(r)] = cuts
	}
	return s
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestTopKMatchesBruteForce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n, k     int
		top      int
		coarse   bool
		skipFrac float64
	}{
		{name: "rank 10", n: 300, k: 10, top: 20},
		{name: "rank 10 coarse ties", n: 257, k: 10, top: 20, coarse: true},
		{name: "rank 10 skips", n: 200, k: 10, top: 7, skipFrac: 0.3},
		{name: "rank 10 coarse skips top 1", n: 150, k: 10, top: 1, coarse: true, skipFrac: 0.2},
		{name: "rank 1", n: 90, k: 1, top: 5},
		{name: "rank 3 coarse", n: 133, k: 3, top: 11, coarse: true, skipFrac: 0.1},
		{name: "rank 16", n: 181, k: 16, top: 20},
		{name: "rank 7 top over n", n: 30, k: 7, top: 40, skipFrac: 0.2},
		{name: "one row", n: 1, k: 10, top: 3},
		{name: "two rows", n: 2, k: 10, top: 3},
		{name: "all skipped", n: 20, k: 10, top: 3, skipFrac: 1},
		// Candidates are swept in chunks of 32 KiB: 819 rows at rank 10,
		// 256 at rank 32.
		{name: "chunks rank 10 coarse", n: 1000, k: 10, top: 20, coarse: true, skipFrac: 0.05},
		{name: "chunks rank 32", n: 600, k: 32, top: 9},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(ti), 1))
			all := randomFactors(rng, tt.n, tt.k, tt.coarse)
			skip := Normalize(all, tt.k)
			for i := range skip {
				if rng.Float64() < tt.skipFrac {
					skip[i] = true
				}
			}
			want := bruteTopK(all, tt.k, skip, 0, tt.n, tt.top)
			for name, cuts := range splits(rng, tt.n) {
				got := make([]Neighbor, tt.n*tt.top)
				for c := 0; c+1 < len(cuts); c++ {
					q0, q1 := cuts[c], cuts[c+1]
					if err := TopK(t.Context(), all, tt.k, skip, q0, q1, tt.top, got[q0*tt.top:q1*tt.top]); err != nil {
						t.Fatalf("split %s: TopK [%d,%d): %v", name, q0, q1, err)
					}
				}
				sameBits(t, got, want, tt.top)
			}
		})
	}
}

func TestTopKCases(t *testing.T) {
	t.Parallel()
	pad := Neighbor{Index: -1}
	tests := []struct {
		name string
		k    int
		rows []float32 // normalised by the test first
		skip []int     // rows skipped on top of Normalize's zero rows
		top  int
		want [][]Neighbor
	}{
		{
			name: "ties by lower index and self excluded",
			k:    2,
			rows: []float32{1, 0, 0, 1, 2, 0, -1, 0, 3, 0},
			top:  3,
			want: [][]Neighbor{
				{{2, 1}, {4, 1}, {1, 0}},
				{{0, 0}, {2, 0}, {3, 0}},
				{{0, 1}, {4, 1}, {1, 0}},
				{{1, 0}, {0, -1}, {2, -1}},
				{{0, 1}, {2, 1}, {1, 0}},
			},
		},
		{
			name: "duplicate rows list each other in index order",
			k:    4,
			rows: []float32{1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 3, 3, 3, 3},
			top:  2,
			want: [][]Neighbor{
				{{1, 1}, {2, 1}},
				{{0, 1}, {2, 1}},
				{{0, 1}, {1, 1}},
				{{0, 1}, {1, 1}},
			},
		},
		{
			name: "zero and NaN rows neither get nor give",
			k:    2,
			rows: []float32{1, 0, 0, 0, 1, 1, float32(math.NaN()), 1, 0, 1, float32(math.Inf(1)), 0},
			top:  3,
			want: [][]Neighbor{
				{{2, float32(1 / math.Sqrt2)}, {4, 0}, pad},
				{pad, pad, pad},
				{{0, float32(1 / math.Sqrt2)}, {4, float32(1 / math.Sqrt2)}, pad},
				{pad, pad, pad},
				{{2, float32(1 / math.Sqrt2)}, {0, 0}, pad},
				{pad, pad, pad},
			},
		},
		{
			name: "skipped rows neither get nor give",
			k:    1,
			rows: []float32{1, 2, -1, 5},
			skip: []int{1},
			top:  3,
			want: [][]Neighbor{
				{{3, 1}, {2, -1}, pad},
				{pad, pad, pad},
				{{0, -1}, {3, -1}, pad},
				{{0, 1}, {2, -1}, pad},
			},
		},
		{
			name: "fewer candidates than top are padded",
			k:    2,
			rows: []float32{1, 0, 0, 1},
			top:  4,
			want: [][]Neighbor{
				{{1, 0}, pad, pad, pad},
				{{0, 0}, pad, pad, pad},
			},
		},
		{
			name: "single row has no neighbours",
			k:    4,
			rows: []float32{1, 2, 3, 4},
			top:  2,
			want: [][]Neighbor{{pad, pad}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all := append([]float32(nil), tt.rows...)
			skip := Normalize(all, tt.k)
			for _, i := range tt.skip {
				skip[i] = true
			}
			n := len(all) / tt.k
			got := make([]Neighbor, n*tt.top)
			if err := TopK(t.Context(), all, tt.k, skip, 0, n, tt.top, got); err != nil {
				t.Fatalf("TopK: %v", err)
			}
			var want []Neighbor
			for _, r := range tt.want {
				want = append(want, r...)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
			for _, nb := range got {
				if math.IsNaN(float64(nb.Score)) {
					t.Fatalf("NaN score in %v", got)
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name     string
		k        int
		in       []float32
		wantZero []bool
	}{
		{name: "unit rows", k: 2, in: []float32{3, 4, 0, -2}, wantZero: []bool{false, false}},
		{name: "zero row", k: 3, in: []float32{0, 0, 0, 1, 1, 1}, wantZero: []bool{true, false}},
		{name: "negative zero row", k: 2, in: []float32{float32(math.Copysign(0, -1)), 0}, wantZero: []bool{true}},
		{name: "NaN row", k: 2, in: []float32{1, nan, 1, 1}, wantZero: []bool{true, false}},
		{name: "Inf rows", k: 2, in: []float32{inf, 1, 1, -inf}, wantZero: []bool{true, true}},
		{name: "denormal row", k: 2, in: []float32{math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat32}, wantZero: []bool{false}},
		{name: "huge row", k: 3, in: []float32{math.MaxFloat32, math.MaxFloat32, -math.MaxFloat32}, wantZero: []bool{false}},
		{name: "no rows", k: 10, in: []float32{}, wantZero: []bool{}},
		{name: "bad rank", k: 0, in: []float32{1}, wantZero: nil},
		{name: "ragged", k: 2, in: []float32{1, 2, 3}, wantZero: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := append([]float32(nil), tt.in...)
			zero := Normalize(f, tt.k)
			if !reflect.DeepEqual(zero, tt.wantZero) {
				t.Fatalf("zero = %v, want %v", zero, tt.wantZero)
			}
			if zero == nil {
				if !reflect.DeepEqual(f, tt.in) {
					t.Errorf("rejected input changed: %v", f)
				}
				return
			}
			for i, z := range zero {
				row := f[i*tt.k : i*tt.k+tt.k]
				var ss float64
				for _, x := range row {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("row %d holds %v", i, x)
					}
					if z && x != 0 {
						t.Fatalf("zero row %d holds %v", i, x)
					}
					ss += float64(x) * float64(x)
				}
				if !z && math.Abs(math.Sqrt(ss)-1) > 1e-6 {
					t.Errorf("row %d norm %v, want 1", i, math.Sqrt(ss))
				}
			}
		})
	}
}

func TestTopKBadArguments(t *testing.T) {
	t.Parallel()
	all := []float32{1, 0, 0, 1, 1, 0} // 3 rows at k=2
	skip := []bool{false, false, false}
	tests := []struct {
		name         string
		all          []float32
		k            int
		skip         []bool
		qStart, qEnd int
		top          int
		outLen       int
	}{
		{name: "rank 0", all: all, k: 0, skip: skip, qEnd: 3, top: 1, outLen: 3},
		{name: "negative rank", all: all, k: -2, skip: skip, qEnd: 3, top: 1, outLen: 3},
		{name: "ragged factors", all: all[:5], k: 2, skip: skip, qEnd: 2, top: 1, outLen: 2},
		{name: "short skip", all: all, k: 2, skip: skip[:2], qEnd: 3, top: 1, outLen: 3},
		{name: "nil skip", all: all, k: 2, qEnd: 3, top: 1, outLen: 3},
		{name: "negative start", all: all, k: 2, skip: skip, qStart: -1, qEnd: 3, top: 1, outLen: 4},
		{name: "end past rows", all: all, k: 2, skip: skip, qEnd: 4, top: 1, outLen: 4},
		{name: "end before start", all: all, k: 2, skip: skip, qStart: 2, qEnd: 1, top: 1, outLen: 0},
		{name: "top 0", all: all, k: 2, skip: skip, qEnd: 3, top: 0, outLen: 0},
		{name: "negative top", all: all, k: 2, skip: skip, qEnd: 3, top: -1, outLen: 0},
		{name: "short out", all: all, k: 2, skip: skip, qEnd: 3, top: 2, outLen: 5},
		{name: "long out", all: all, k: 2, skip: skip, qEnd: 3, top: 2, outLen: 7},
		{name: "huge top", all: all, k: 2, skip: skip, qEnd: 3, top: math.MaxInt/2 + 1, outLen: 1},
		{name: "NaN row", all: []float32{1, 0, float32(math.NaN()), 1}, k: 2, skip: []bool{false, false}, qEnd: 2, top: 1, outLen: 2},
		{name: "Inf row", all: []float32{1, 0, 0, float32(math.Inf(-1))}, k: 2, skip: []bool{false, false}, qEnd: 1, top: 1, outLen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := make([]Neighbor, tt.outLen)
			if err := TopK(t.Context(), tt.all, tt.k, tt.skip, tt.qStart, tt.qEnd, tt.top, out); err == nil {
				t.Fatal("TopK accepted bad arguments")
			}
		})
	}
}

func TestTopKSkippedNaNRowIsFine(t *testing.T) {
	t.Parallel()
	all := []float32{1, 0, float32(math.NaN()), 1, 0, 1}
	out := make([]Neighbor, 3)
	if err := TopK(t.Context(), all, 2, []bool{false, true, false}, 0, 3, 1, out); err != nil {
		t.Fatalf("TopK: %v", err)
	}
	want := []Neighbor{{2, 0}, {-1, 0}, {0, 0}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got %v, want %v", out, want)
	}
}

func TestTopKCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	all := randomFactors(rand.New(rand.NewPCG(1, 2)), 100, 10, false)
	skip := Normalize(all, 10)
	out := make([]Neighbor, 100*5)
	if err := TopK(ctx, all, 10, skip, 0, 100, 5, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("TopK on a cancelled context: %v, want context.Canceled", err)
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       Params
		wantErr bool
	}{
		{name: "pipeline default", p: Params{Top: 20}},
		{name: "one", p: Params{Top: 1}},
		{name: "zero", p: Params{}, wantErr: true},
		{name: "negative", p: Params{Top: -3}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// FuzzTopK builds small factor matrices from the fuzz input, coarse enough
// for ties and with NaN, Inf and zero rows, and compares TopK with the brute
// force over a query range taken from the input.
func FuzzTopK(f *testing.F) {
	f.Add([]byte{5, 2, 3, 0, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{40, 10, 20, 3, 37, 0, 0xff, 0x80, 7, 7, 7, 7, 1, 1, 0, 0, 0, 0, 200, 100})
	f.Add([]byte{9, 1, 25, 0, 9, 1, 3, 3, 3, 3})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		at := func(i int) byte {
			if len(data) == 0 {
				return 0
			}
			return data[i%len(data)]
		}
		n := int(at(0)) % 70
		k := 1 + int(at(1))%12
		top := int(at(2)) % 25 // 0 is bad and must be an error
		qStart := int(at(3)) % (n + 1)
		qEnd := qStart + int(at(4))%(n+1-qStart)
		mode := at(5)
		all := make([]float32, n*k)
		for e := range all {
			switch b := at(6 + e); {
			case b == 0xff:
				all[e] = float32(math.NaN())
			case b == 0xfe:
				all[e] = float32(math.Inf(1))
			default:
				all[e] = float32(int8(b)) / 8
			}
		}
		skip := Normalize(all, k)
		for i := range skip {
			if at(7+3*i)&0x7 == 0 {
				skip[i] = true
			}
		}
		outLen := (qEnd - qStart) * top
		if mode&0x3 == 1 {
			outLen++ // wrong length must be an error
		}
		out := make([]Neighbor, outLen)
		err := TopK(t.Context(), all, k, skip, qStart, qEnd, top, out)
		if top == 0 || mode&0x3 == 1 {
			if err == nil {
				t.Fatalf("TopK accepted top %d, out %d for %d query rows", top, outLen, qEnd-qStart)
			}
			return
		}
		if err != nil {
			t.Fatalf("TopK: %v", err)
		}
		sameBits(t, out, bruteTopK(all, k, skip, qStart, qEnd, top), top)
	})
}
