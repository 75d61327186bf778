package als

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestInitFactorsUnitNorm(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2, 3, 10, 50} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			const n = 500
			out := make([]float32, n*k)
			InitFactors(42, Users, 0, k, out)
			var mean float64
			for r := range n {
				var s float64
				for _, v := range out[r*k : r*k+k] {
					s += float64(v) * float64(v)
					mean += float64(v)
				}
				if math.Abs(math.Sqrt(s)-1) > 1e-6 {
					t.Fatalf("row %d has norm %v", r, math.Sqrt(s))
				}
			}
			// Components of a uniform point on the sphere have mean 0 and
			// variance 1/k; the mean of n·k of them is within a few 1/√(n·k²).
			mean /= n * float64(k)
			if limit := 5 / math.Sqrt(n*float64(k*k)); math.Abs(mean) > limit {
				t.Errorf("mean component %v, want |mean| < %v", mean, limit)
			}
		})
	}
}

// TestInitFactorsLayout requires the same bits whatever the block split.
func TestInitFactorsLayout(t *testing.T) {
	t.Parallel()
	const k, n = 10, 1000
	whole := make([]float32, n*k)
	InitFactors(7, Items, 0, k, whole)
	tests := []struct {
		name   string
		bounds []int
	}{
		{name: "halves", bounds: []int{0, 500, n}},
		{name: "uneven", bounds: []int{0, 1, 2, 333, 999, n}},
		{name: "single rows", bounds: []int{0, 10, 11, 12, 13, n}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make([]float32, n*k)
			for i := range len(tt.bounds) - 1 {
				lo, hi := tt.bounds[i], tt.bounds[i+1]
				InitFactors(7, Items, lo, k, got[lo*k:hi*k])
			}
			if !slices.Equal(got, whole) {
				t.Fatal("split initialisation differs from the whole")
			}
		})
	}
}

func TestInitFactorsDiffer(t *testing.T) {
	t.Parallel()
	const k, n = 4, 100
	base := make([]float32, n*k)
	InitFactors(1, Users, 0, k, base)
	tests := []struct {
		name  string
		seed  int64
		side  Side
		start int
	}{
		{name: "other seed", seed: 2, side: Users},
		{name: "negative seed", seed: -1, side: Users},
		{name: "other side", seed: 1, side: Items},
		{name: "shifted rows", seed: 1, side: Users, start: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make([]float32, n*k)
			InitFactors(tt.seed, tt.side, tt.start, k, got)
			for r := range n {
				if slices.Equal(got[r*k:r*k+k], base[r*k:r*k+k]) {
					t.Fatalf("row %d equals the base initialisation", r)
				}
			}
		})
	}
}

func TestInitFactorsEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    int
		n    int // len(out)
		want int // leading values written
	}{
		{name: "k zero", k: 0, n: 5, want: 0},
		{name: "k negative", k: -3, n: 5, want: 0},
		{name: "partial row", k: 3, n: 7, want: 6},
		{name: "shorter than a row", k: 3, n: 2, want: 0},
		{name: "empty", k: 3, n: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := make([]float32, tt.n)
			InitFactors(1, Users, 0, tt.k, out)
			for i, v := range out {
				if written := v != 0; written != (i < tt.want) {
					t.Errorf("out = %v, want the first %d values written", out, tt.want)
					break
				}
			}
		})
	}
}

// TestInitFactorsGolden pins a few values: changing the initialisation
// changes every trained model, so it should be a deliberate act.
func TestInitFactorsGolden(t *testing.T) {
	t.Parallel()
	got := make([]float32, 2*3)
	InitFactors(42, Users, 0, 3, got)
	want := []float32{-0.7162983, 0.19426122, 0.67020845, 0.10716812, -0.55663604, 0.8238151}
	if !slices.Equal(got, want) {
		t.Errorf("InitFactors(42, Users, 0, 3) = %#v, want %#v", got, want)
	}
}
