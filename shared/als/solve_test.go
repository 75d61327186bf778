package als

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSolveBlockRidge checks the unconstrained solve against gonum solving
// the regularised least-squares problem (YᵀY + Reg·n·I) x = Yᵀr directly.
func TestSolveBlockRidge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    int
		reg  float64
	}{
		{name: "k=1", k: 1, reg: 0.1},
		{name: "k=3", k: 3, reg: 0.05},
		{name: "k=10", k: 10, reg: 0.1},
		{name: "k=10 tiny reg", k: 10, reg: 1e-4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := newRand(uint64(tt.k))
			const nFixed = 40
			fixed := gaussian(rng, nFixed*tt.k)
			rows := randomRows(rng, 30, nFixed, 15)
			p := Params{Rank: tt.k, Iterations: 1, Reg: tt.reg}
			out := make([]float32, rows.Len()*tt.k)
			if err := SolveBlock(t.Context(), fixed, rows, p, out); err != nil {
				t.Fatalf("SolveBlock: %v", err)
			}
			for r := range rows.Len() {
				lo, hi := int(rows.RowPtr[r]), int(rows.RowPtr[r+1])
				got := out[r*tt.k : r*tt.k+tt.k]
				if lo == hi {
					continue
				}
				n := hi - lo
				y := mat.NewDense(n, tt.k, nil)
				rv := mat.NewVecDense(n, nil)
				for i := lo; i < hi; i++ {
					c := int(rows.Col[i])
					for j := range tt.k {
						y.Set(i-lo, j, float64(fixed[c*tt.k+j]))
					}
					rv.SetVec(i-lo, float64(rows.Val[i]))
				}
				var a mat.Dense
				a.Mul(y.T(), y)
				for j := range tt.k {
					a.Set(j, j, a.At(j, j)+tt.reg*float64(n))
				}
				var b, want mat.VecDense
				b.MulVec(y.T(), rv)
				if err := want.SolveVec(&a, &b); err != nil {
					t.Fatalf("row %d: gonum: %v", r, err)
				}
				for j := range tt.k {
					if d := math.Abs(float64(got[j]) - want.AtVec(j)); d > 1e-5*math.Max(1, math.Abs(want.AtVec(j))) {
						t.Fatalf("row %d: x = %v, gonum %v", r, got, mat.Formatted(want.T()))
					}
				}
			}
		})
	}
}

// TestSolveBlockNonnegative checks each row of a nonnegative solve against
// the KKT conditions of its own normal equations and the brute force optimum.
func TestSolveBlockNonnegative(t *testing.T) {
	t.Parallel()
	const k, nFixed = 5, 30
	rng := newRand(11)
	fixed := gaussian(rng, nFixed*k)
	rows := randomRows(rng, 40, nFixed, 8)
	p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: true}
	out := make([]float32, rows.Len()*k)
	if err := SolveBlock(t.Context(), fixed, rows, p, out); err != nil {
		t.Fatalf("SolveBlock: %v", err)
	}
	for r := range rows.Len() {
		lo, hi := int(rows.RowPtr[r]), int(rows.RowPtr[r+1])
		if lo == hi {
			continue
		}
		a, b := make([]float64, k*k), make([]float64, k)
		for i := lo; i < hi; i++ {
			c := int(rows.Col[i])
			for u := range k {
				for v := range k {
					a[u*k+v] += float64(fixed[c*k+u]) * float64(fixed[c*k+v])
				}
				b[u] += float64(rows.Val[i]) * float64(fixed[c*k+u])
			}
		}
		for u := range k {
			a[u*k+u] += p.Reg * float64(hi-lo)
		}
		want, _ := bruteNNLS(t, a, b, k)
		x := make([]float64, k)
		for j := range k {
			x[j] = float64(out[r*k+j])
			if x[j] < 0 {
				t.Fatalf("row %d: negative factor %v", r, x)
			}
		}
		// x is rounded to float32, so compare objectives loosely.
		if got := objective(a, b, k, x); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("row %d: objective %g, brute force %g", r, got, want)
		}
	}
}

func TestSolveBlockZeroRows(t *testing.T) {
	t.Parallel()
	for _, nonneg := range []bool{false, true} {
		t.Run(fmt.Sprintf("nonnegative=%v", nonneg), func(t *testing.T) {
			t.Parallel()
			const k = 4
			fixed := gaussian(newRand(1), 5*k)
			for i := range fixed {
				fixed[i] = float32(math.Abs(float64(fixed[i])))
			}
			rows := csr(4, []rating{{0, 1, 3}, {0, 2, 4}, {2, 0, 5}, {2, 4, 1}})
			out := make([]float32, 4*k)
			for i := range out {
				out[i] = 7 // must be overwritten
			}
			p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: nonneg}
			if err := SolveBlock(t.Context(), fixed, rows, p, out); err != nil {
				t.Fatalf("SolveBlock: %v", err)
			}
			for r, wantZero := range []bool{false, true, false, true} {
				if got := isZero(out[r*k : r*k+k]); got != wantZero {
					t.Errorf("row %d = %v, want zero %v", r, out[r*k:r*k+k], wantZero)
				}
			}
		})
	}
}

func TestSolveBlockEmpty(t *testing.T) {
	t.Parallel()
	p := Params{Rank: 3, Iterations: 1, Reg: 0.1}
	for _, rows := range []Rows{{}, {RowPtr: []int32{0}}} {
		if err := SolveBlock(t.Context(), nil, rows, p, nil); err != nil {
			t.Errorf("SolveBlock(%+v): %v", rows, err)
		}
	}
}

func TestSolveBlockErrors(t *testing.T) {
	t.Parallel()
	const k = 2
	good := Params{Rank: k, Iterations: 1, Reg: 0.1}
	fixed := []float32{1, 0, 0, 1, 1, 1} // 3 rows
	rows := csr(2, []rating{{0, 0, 1}, {0, 2, 2}, {1, 1, 3}})
	with := func(f func(*Rows)) Rows {
		r := Rows{RowPtr: slices.Clone(rows.RowPtr), Col: slices.Clone(rows.Col), Val: slices.Clone(rows.Val)}
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		fixed []float32
		rows  Rows
		p     Params
		out   int
		want  string
		is    error
	}{
		{name: "rank zero", fixed: fixed, rows: rows, p: Params{Reg: 0.1}, out: 4, want: "rank 0"},
		{name: "negative reg", fixed: fixed, rows: rows, p: Params{Rank: k, Reg: -1}, out: 4, want: "reg -1"},
		{name: "NaN reg", fixed: fixed, rows: rows, p: Params{Rank: k, Reg: math.NaN()}, out: 4, want: "reg NaN"},
		{name: "fixed not a multiple of rank", fixed: fixed[:5], rows: rows, p: good, out: 4, want: "len(fixed) = 5"},
		{name: "out too short", fixed: fixed, rows: rows, p: good, out: 3, want: "len(out) = 3"},
		{name: "out too long", fixed: fixed, rows: rows, p: good, out: 6, want: "len(out) = 6"},
		{name: "col out of range", fixed: fixed, rows: with(func(r *Rows) { r.Col[1] = 3 }), p: good, out: 4, want: "Col[1] = 3"},
		{name: "negative col", fixed: fixed, rows: with(func(r *Rows) { r.Col[2] = -1 }), p: good, out: 4, want: "Col[2] = -1"},
		{name: "decreasing row pointers", fixed: fixed, rows: with(func(r *Rows) { r.RowPtr[1] = 3; r.RowPtr[2] = 2 }), p: good, out: 4, want: "RowPtr[2] = 2"},
		{name: "row pointer past end", fixed: fixed, rows: with(func(r *Rows) { r.RowPtr[2] = 4 }), p: good, out: 4, want: "RowPtr[2] = 4"},
		{name: "negative first row pointer", fixed: fixed, rows: with(func(r *Rows) { r.RowPtr[0] = -1 }), p: good, out: 4, want: "RowPtr[0] = -1"},
		{name: "col and val lengths differ", fixed: fixed, rows: with(func(r *Rows) { r.Val = r.Val[:2] }), p: good, out: 4, want: "len(Col) = 3"},
		{name: "NaN rating", fixed: fixed, rows: with(func(r *Rows) { r.Val[0] = float32(math.NaN()) }), p: good, out: 4, want: "Val[0]"},
		{name: "infinite rating", fixed: fixed, rows: with(func(r *Rows) { r.Val[2] = float32(math.Inf(1)) }), p: good, out: 4, want: "Val[2]"},
		{
			// With Reg 0 a row with one rating at rank 2 has a singular A.
			name: "underdetermined without reg", fixed: fixed, rows: rows, p: Params{Rank: k, Iterations: 1}, out: 4,
			want: "solve block row 1", is: ErrNotPositiveDefinite,
		},
		{
			name: "underdetermined without reg nonnegative", fixed: fixed, rows: rows, p: Params{Rank: k, Iterations: 1, Nonnegative: true}, out: 4,
			want: "solve block row 1", is: ErrNotPositiveDefinite,
		},
		{
			name: "factor overflows float32", fixed: []float32{1, 0, 0, 0.5, 1, 1}, rows: with(func(r *Rows) { r.Val[2] = math.MaxFloat32 }), p: good, out: 4,
			want: "solve block row 1: factor 1",
		},
		{
			name: "NaN factor", fixed: []float32{1, 0, float32(math.NaN()), 1, 1, 1}, rows: rows, p: good, out: 4,
			want: "solve block row 1", is: ErrNotPositiveDefinite,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := SolveBlock(t.Context(), tt.fixed, tt.rows, tt.p, make([]float32, tt.out))
			if err == nil {
				t.Fatal("SolveBlock succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestSolveBlockCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rows := randomRows(newRand(1), 10, 10, 3)
	err := SolveBlock(ctx, gaussian(newRand(2), 10*3), rows, Params{Rank: 3, Reg: 0.1}, make([]float32, 10*3))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("SolveBlock with a canceled context = %v, want context.Canceled", err)
	}
}

// TestSolveBlockSplits solves the same rows whole and in blocks, both as
// copies rebased to 0 and as views into the whole block, and requires
// identical bits.
func TestSolveBlockSplits(t *testing.T) {
	t.Parallel()
	const k, nFixed, n = 10, 120, 300
	rng := newRand(5)
	fixed := gaussian(rng, nFixed*k)
	rows := randomRows(rng, n, nFixed, 20)
	splits := []struct {
		name   string
		bounds []int
	}{
		{name: "one row each", bounds: func() []int {
			b := make([]int, n+1)
			for i := range b {
				b[i] = i
			}
			return b
		}()},
		{name: "halves", bounds: []int{0, 150, n}},
		{name: "uneven", bounds: []int{0, 1, 37, 38, 200, 257, n}},
		{name: "with empty blocks", bounds: []int{0, 0, 100, 100, n}},
	}
	for _, nonneg := range []bool{false, true} {
		p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: nonneg}
		whole := make([]float32, n*k)
		if err := SolveBlock(t.Context(), fixed, rows, p, whole); err != nil {
			t.Fatalf("whole: %v", err)
		}
		for _, sp := range splits {
			for _, mode := range []string{"copy", "view"} {
				t.Run(fmt.Sprintf("nonnegative=%v/%s/%s", nonneg, sp.name, mode), func(t *testing.T) {
					t.Parallel()
					got := make([]float32, n*k)
					for i := range len(sp.bounds) - 1 {
						lo, hi := sp.bounds[i], sp.bounds[i+1]
						block := slice(rows, lo, hi)
						if mode == "view" {
							block = view(rows, lo, hi)
						}
						if err := SolveBlock(t.Context(), fixed, block, p, got[lo*k:hi*k]); err != nil {
							t.Fatalf("block [%d, %d): %v", lo, hi, err)
						}
					}
					if !slices.Equal(got, whole) {
						t.Fatal("split solve differs from the whole solve")
					}
				})
			}
		}
	}
}

func BenchmarkSolveBlock(b *testing.B) {
	const k, n, nFixed, perRow = 10, 2000, 5000, 50
	rng := newRand(1)
	// Gaussian fixed factors make about half the unconstrained solutions
	// negative somewhere, the hard case for NNLS.
	fixed := gaussian(rng, nFixed*k)
	var ts []rating
	for r := range n {
		for _, c := range rng.Perm(nFixed)[:perRow] {
			ts = append(ts, rating{r, c, float32(1 + rng.IntN(10))})
		}
	}
	rows := csr(n, ts)
	nnz := float64(len(rows.Col))
	flops := nnz*k*(k+1) + n*k*k*k/3.0
	for _, nonneg := range []bool{false, true} {
		b.Run(fmt.Sprintf("nonnegative=%v", nonneg), func(b *testing.B) {
			p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: nonneg}
			out := make([]float32, n*k)
			b.ReportAllocs()
			for b.Loop() {
				if err := SolveBlock(b.Context(), fixed, rows, p, out); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(nnz*float64(b.N)/sec, "ratings/s")
			b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
		})
	}
}

// TestAccumulate4 requires the fused four-rating update to give the same bits
// as four single updates, which keeps results independent of how a row's
// ratings fall into groups of four.
func TestAccumulate4(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2, 3, 7, 10, 16} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			rng := newRand(uint64(4 + k)) // one per subtest: they run in parallel
			y := make([]float64, 4*k)
			for i := range y {
				y[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(8)-4))
			}
			r := [4]float64{rng.NormFloat64(), 3, 1e-7, -5e5}
			init := make([]float64, k*k)
			for i := range init {
				init[i] = rng.NormFloat64()
			}
			ata, atb := slices.Clone(init), slices.Clone(init[:k])
			wantA, wantB := slices.Clone(init), slices.Clone(init[:k])
			accumulate4(ata, atb, y, &r, k)
			for q := range 4 {
				accumulate(wantA, wantB, y[q*k:q*k+k], r[q], k)
			}
			if !slices.Equal(ata, wantA) || !slices.Equal(atb, wantB) {
				t.Error("fused accumulation differs from four single updates")
			}
		})
	}
}
