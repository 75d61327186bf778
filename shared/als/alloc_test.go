package als

import "testing"

// TestAllocations is not parallel: testing.AllocsPerRun counts every
// allocation in the process.
func TestAllocations(t *testing.T) {
	t.Run("NNLS with a grown workspace", func(t *testing.T) {
		a, b := randomSPD(newRand(9), 10)
		x := make([]float64, 10)
		var ws NNLSWorkspace
		allocs := testing.AllocsPerRun(20, func() {
			if err := NNLS(a, b, 10, x, &ws); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("NNLS allocates %v times per call", allocs)
		}
	})
	t.Run("SolveBlock does not allocate per row", func(t *testing.T) {
		const k = 6
		rng := newRand(10)
		fixed := gaussian(rng, 50*k)
		for _, nonneg := range []bool{false, true} {
			p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: nonneg}
			count := func(rows Rows) float64 {
				out := make([]float32, rows.Len()*k)
				return testing.AllocsPerRun(5, func() {
					if err := SolveBlock(t.Context(), fixed, rows, p, out); err != nil {
						t.Fatal(err)
					}
				})
			}
			small, large := count(randomRows(rng, 10, 50, 8)), count(randomRows(rng, 1000, 50, 8))
			if small != large {
				t.Errorf("nonnegative=%v: %v allocations for 10 rows, %v for 1000", nonneg, small, large)
			}
		}
	})
}
