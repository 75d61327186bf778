package als

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// checkKKT asserts the optimality conditions of min ½xᵀAx − bᵀx, x ≥ 0:
// x ≥ 0, g = Ax − b ≥ 0 and x_i·g_i = 0, to a tolerance relative to the
// magnitudes involved.
func checkKKT(t *testing.T, a, b []float64, k int, x []float64) {
	t.Helper()
	g := gradient(a, b, k, x)
	for i := range k {
		scale := math.Abs(b[i])
		for j := range k {
			scale += math.Abs(a[i*k+j] * x[j])
		}
		tol := 1e-9 * max(scale, 1e-300)
		if x[i] < 0 {
			t.Errorf("x[%d] = %g < 0", i, x[i])
		}
		if g[i] < -tol {
			t.Errorf("gradient[%d] = %g < -%g (x = %v)", i, g[i], tol, x)
		}
		if x[i] > 0 && math.Abs(g[i]) > tol {
			t.Errorf("x[%d] = %g > 0 but gradient = %g (complementarity)", i, x[i], g[i])
		}
	}
}

func TestNNLSRandom(t *testing.T) {
	t.Parallel()
	const seeds = 200
	for k := 2; k <= 10; k++ {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			var ws NNLSWorkspace
			constrained := 0
			for seed := range uint64(seeds) {
				a, b := randomSPD(newRand(seed*100+uint64(k)), k)
				a0, b0 := slices.Clone(a), slices.Clone(b)
				x := make([]float64, k)
				if err := NNLS(a, b, k, x, &ws); err != nil {
					t.Fatalf("seed %d: NNLS: %v", seed, err)
				}
				if !slices.Equal(a, a0) || !slices.Equal(b, b0) {
					t.Fatalf("seed %d: NNLS modified a or b", seed)
				}
				checkKKT(t, a, b, k, x)
				if slices.Contains(x, 0) {
					constrained++
				}
				if k > 8 {
					continue
				}
				want, wantX := bruteNNLS(t, a, b, k)
				got := objective(a, b, k, x)
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("seed %d: objective %.15g, brute force %.15g\nx     = %v\nbrute = %v", seed, got, want, x, wantX)
				}
			}
			// The generator is meant to exercise the constraints.
			if constrained < seeds/4 {
				t.Errorf("only %d of %d problems had an active constraint", constrained, seeds)
			}
		})
	}
}

func TestNNLSCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    int
		a, b []float64
		want []float64
	}{
		{name: "all negative b", k: 2, a: []float64{2, 1, 1, 2}, b: []float64{-1, -1}, want: []float64{0, 0}},
		{name: "zero b", k: 3, a: []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, b: []float64{0, 0, 0}, want: []float64{0, 0, 0}},
		{name: "diagonal clips", k: 3, a: []float64{2, 0, 0, 0, 4, 0, 0, 0, 1}, b: []float64{1, -3, 5}, want: []float64{0.5, 0, 5}},
		{
			// Unconstrained solution (2, −1). With x₂ = 0, x₁ = b₁/a₁₁ = 1.5
			// and g₂ = a₂₁x₁ − b₂ = 0.75 ≥ 0, so (1.5, 0) is optimal.
			name: "coupled",
			k:    2,
			a:    []float64{1, 0.5, 0.5, 1},
			b:    []float64{1.5, 0},
			want: []float64{1.5, 0},
		},
		{name: "order one negative", k: 1, a: []float64{3}, b: []float64{-1}, want: []float64{0}},
		{name: "order one positive", k: 1, a: []float64{4}, b: []float64{1}, want: []float64{0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := make([]float64, tt.k)
			if err := NNLS(tt.a, tt.b, tt.k, x, nil); err != nil {
				t.Fatalf("NNLS: %v", err)
			}
			for i := range x {
				if math.Abs(x[i]-tt.want[i]) > 1e-12 {
					t.Fatalf("x = %v, want %v", x, tt.want)
				}
			}
			checkKKT(t, tt.a, tt.b, tt.k, x)
		})
	}
}

func TestNNLSEqualsCholeskyWhenPositive(t *testing.T) {
	t.Parallel()
	for k := 1; k <= 10; k++ {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			rng := newRand(uint64(k))
			for range 50 {
				a, _ := randomSPD(rng, k)
				// b = A x* for a positive x*, so the unconstrained solution
				// is positive.
				want := make([]float64, k)
				for i := range want {
					want[i] = 0.5 + rng.Float64()
				}
				b := make([]float64, k)
				for i := range k {
					for j := range k {
						b[i] += a[i*k+j] * want[j]
					}
				}
				chol := make([]float64, k)
				if err := SolveCholesky(slices.Clone(a), b, k, chol); err != nil {
					t.Fatalf("SolveCholesky: %v", err)
				}
				if slices.ContainsFunc(chol, func(v float64) bool { return v <= 0 }) {
					continue // rounding in an ill-conditioned draw
				}
				x := make([]float64, k)
				if err := NNLS(a, b, k, x, nil); err != nil {
					t.Fatalf("NNLS: %v", err)
				}
				if !slices.Equal(x, chol) {
					t.Fatalf("NNLS x = %v, Cholesky x = %v; want identical", x, chol)
				}
			}
		})
	}
}

func TestNNLSErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		k      int
		a, b   []float64
		x      int
		notSPD bool
	}{
		{name: "indefinite", k: 2, a: []float64{1, 2, 2, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "singular", k: 2, a: []float64{1, 1, 1, 1}, b: []float64{1, -1}, x: 2, notSPD: true},
		{name: "NaN", k: 2, a: []float64{1, 0, 0, math.NaN()}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "infinite b", k: 2, a: []float64{1, 0, 0, 1}, b: []float64{math.Inf(-1), 1}, x: 2},
		{name: "order zero", k: 0, x: 0},
		{name: "short a", k: 2, a: []float64{1, 0, 1}, b: []float64{1, 1}, x: 2},
		{name: "short x", k: 2, a: []float64{1, 0, 0, 1}, b: []float64{1, 1}, x: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := NNLS(tt.a, tt.b, tt.k, make([]float64, tt.x), nil)
			if err == nil {
				t.Fatal("NNLS succeeded, want an error")
			}
			if got := errors.Is(err, ErrNotPositiveDefinite); got != tt.notSPD {
				t.Errorf("errors.Is(%v, ErrNotPositiveDefinite) = %v, want %v", err, got, tt.notSPD)
			}
		})
	}
}

// TestNNLSWorkspaceReuse checks that a workspace carried across problems of
// different orders gives the same bits as a fresh one.
func TestNNLSWorkspaceReuse(t *testing.T) {
	t.Parallel()
	var ws NNLSWorkspace
	rng := newRand(7)
	for i := range 100 {
		k := 1 + i%10
		a, b := randomSPD(rng, k)
		x, fresh := make([]float64, k), make([]float64, k)
		if err := NNLS(a, b, k, x, &ws); err != nil {
			t.Fatal(err)
		}
		if err := NNLS(a, b, k, fresh, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x, fresh) {
			t.Fatalf("problem %d: reused workspace x = %v, fresh %v", i, x, fresh)
		}
	}
}

func BenchmarkNNLS(b *testing.B) {
	const k = 10
	rng := newRand(3)
	type problem struct{ a, b []float64 }
	var probs []problem
	for range 64 {
		a, rhs := randomSPD(rng, k)
		probs = append(probs, problem{a, rhs})
	}
	var ws NNLSWorkspace
	x := make([]float64, k)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := probs[i%len(probs)]
		if err := NNLS(p.a, p.b, k, x, &ws); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
