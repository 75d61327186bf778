package als

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestSolveCholesky(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	tests := []struct {
		name string
		k    int
		a, b []float64
		want []float64
	}{
		{name: "1x1", k: 1, a: []float64{2}, b: []float64{4}, want: []float64{2}},
		{
			name: "2x2",
			k:    2,
			a:    []float64{4, 2, 2, 3},
			b:    []float64{2, 1},
			want: []float64{0.5, 0},
		},
		{
			// The textbook example with L = [[2,0,0],[6,1,0],[-8,5,3]].
			name: "3x3",
			k:    3,
			a:    []float64{4, 12, -16, 12, 37, -43, -16, -43, 98},
			b:    []float64{-20, -43, 192},
			want: []float64{1, 2, 3},
		},
		{
			name: "lower triangle ignored",
			k:    3,
			a:    []float64{4, 12, -16, nan, 37, -43, nan, nan, 98},
			b:    []float64{-20, -43, 192},
			want: []float64{1, 2, 3},
		},
		{
			name: "diagonal",
			k:    4,
			a:    []float64{2, 0, 0, 0, 0, 4, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0.5},
			b:    []float64{1, 1, 1, 1},
			want: []float64{0.5, 0.25, 0.125, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := slices.Clone(tt.b)
			x := make([]float64, tt.k)
			if err := SolveCholesky(slices.Clone(tt.a), b, tt.k, x); err != nil {
				t.Fatalf("SolveCholesky: %v", err)
			}
			for i := range x {
				if math.Abs(x[i]-tt.want[i]) > 1e-12 {
					t.Errorf("x = %v, want %v", x, tt.want)
					break
				}
			}
			if !slices.Equal(b, tt.b) {
				t.Errorf("b modified: %v, was %v", b, tt.b)
			}
			// x may alias b.
			xb := slices.Clone(tt.b)
			if err := SolveCholesky(slices.Clone(tt.a), xb, tt.k, xb); err != nil {
				t.Fatalf("SolveCholesky in place: %v", err)
			}
			if !slices.Equal(xb, x) {
				t.Errorf("in place x = %v, want %v", xb, x)
			}
		})
	}
}

func TestSolveCholeskyErrors(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name   string
		k      int
		a, b   []float64
		x      int // len(x)
		notSPD bool
	}{
		{name: "indefinite", k: 2, a: []float64{1, 2, 2, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "singular", k: 2, a: []float64{1, 1, 1, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "negative diagonal", k: 2, a: []float64{-1, 0, 0, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "zero matrix", k: 3, a: make([]float64, 9), b: []float64{1, 1, 1}, x: 3, notSPD: true},
		{name: "NaN entry", k: 2, a: []float64{math.NaN(), 0, 0, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "NaN off diagonal", k: 2, a: []float64{1, math.NaN(), 0, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "infinite entry", k: 2, a: []float64{inf, 0, 0, 1}, b: []float64{1, 1}, x: 2, notSPD: true},
		{name: "infinite b", k: 2, a: []float64{1, 0, 0, 1}, b: []float64{inf, 1}, x: 2},
		{name: "order zero", k: 0, a: nil, b: nil, x: 0},
		{name: "short a", k: 2, a: []float64{1, 0, 0}, b: []float64{1, 1}, x: 2},
		{name: "short b", k: 2, a: []float64{1, 0, 0, 1}, b: []float64{1}, x: 2},
		{name: "long x", k: 2, a: []float64{1, 0, 0, 1}, b: []float64{1, 1}, x: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := SolveCholesky(tt.a, tt.b, tt.k, make([]float64, tt.x))
			if err == nil {
				t.Fatal("SolveCholesky succeeded, want an error")
			}
			if got := errors.Is(err, ErrNotPositiveDefinite); got != tt.notSPD {
				t.Errorf("errors.Is(%v, ErrNotPositiveDefinite) = %v, want %v", err, got, tt.notSPD)
			}
		})
	}
}

func BenchmarkSolveCholesky(b *testing.B) {
	const k = 10
	a, rhs := randomSPD(newRand(1), k)
	work := make([]float64, k*k)
	x := make([]float64, k)
	b.ReportAllocs()
	for b.Loop() {
		copy(work, a)
		if err := SolveCholesky(work, rhs, k, x); err != nil {
			b.Fatal(err)
		}
	}
}
