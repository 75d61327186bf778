package als

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rating is one (row, col, value) triple for building test blocks.
type rating struct {
	row, col int
	val      float32
}

// csr builds a Rows block of n rows from triples, sorting each row by col.
func csr(n int, ts []rating) Rows {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b rating) int {
		return cmp.Or(cmp.Compare(a.row, b.row), cmp.Compare(a.col, b.col))
	})
	r := Rows{RowPtr: make([]int32, n+1), Col: make([]int32, len(ts)), Val: make([]float32, len(ts))}
	for i, t := range ts {
		r.RowPtr[t.row+1]++
		r.Col[i] = int32(t.col)
		r.Val[i] = t.val
	}
	for i := range n {
		r.RowPtr[i+1] += r.RowPtr[i]
	}
	return r
}

// transpose swaps rows and cols of triples.
func transpose(ts []rating) []rating {
	out := make([]rating, len(ts))
	for i, t := range ts {
		out[i] = rating{row: t.col, col: t.row, val: t.val}
	}
	return out
}

// slice returns rows lo..hi of r as an independent block starting at 0.
func slice(r Rows, lo, hi int) Rows {
	a, b := r.RowPtr[lo], r.RowPtr[hi]
	ptr := make([]int32, hi-lo+1)
	for i := range ptr {
		ptr[i] = r.RowPtr[lo+i] - a
	}
	return Rows{RowPtr: ptr, Col: slices.Clone(r.Col[a:b]), Val: slices.Clone(r.Val[a:b])}
}

// view returns rows lo..hi of r sharing Col and Val (RowPtr not from 0).
func view(r Rows, lo, hi int) Rows {
	return Rows{RowPtr: r.RowPtr[lo : hi+1], Col: r.Col, Val: r.Val}
}

// randomRows makes n rows with about perRow ratings each (some rows empty)
// against nCols columns, values in [1, 10].
func randomRows(rng *rand.Rand, n, nCols, perRow int) Rows {
	var ts []rating
	for r := range n {
		if rng.IntN(10) == 0 {
			continue // empty row
		}
		m := 1 + rng.IntN(2*perRow)
		for _, c := range rng.Perm(nCols)[:min(m, nCols)] {
			ts = append(ts, rating{r, c, float32(1 + rng.IntN(10))})
		}
	}
	return csr(n, ts)
}

func gaussian(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// randomSPD returns A = MᵀM + δI for a random (k+2)×k M, full (both
// triangles), and b = Mᵀr for a random r, so about half the unconstrained
// solutions have negative components.
func randomSPD(rng *rand.Rand, k int) (a, b []float64) {
	m := k + 2
	mm := make([]float64, m*k)
	for i := range mm {
		mm[i] = rng.NormFloat64()
	}
	// Mix a common component into every column so that some problems are
	// ill-conditioned and the active set has to drop variables.
	for i := range m {
		c := rng.NormFloat64()
		for j := range k {
			mm[i*k+j] += 0.8 * c
		}
	}
	r := make([]float64, m)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	a = make([]float64, k*k)
	b = make([]float64, k)
	for i := range k {
		for j := range k {
			var s float64
			for p := range m {
				s += mm[p*k+i] * mm[p*k+j]
			}
			a[i*k+j] = s
		}
		a[i*k+i] += 1e-3
		for p := range m {
			b[i] += mm[p*k+i] * r[p]
		}
	}
	return a, b
}

// objective is ½xᵀAx − bᵀx for a full symmetric A.
func objective(a, b []float64, k int, x []float64) float64 {
	var f float64
	for i := range k {
		var ax float64
		for j := range k {
			ax += a[i*k+j] * x[j]
		}
		f += 0.5*x[i]*ax - b[i]*x[i]
	}
	return f
}

// gradient is Ax − b for a full symmetric A.
func gradient(a, b []float64, k int, x []float64) []float64 {
	g := make([]float64, k)
	for i := range k {
		g[i] = -b[i]
		for j := range k {
			g[i] += a[i*k+j] * x[j]
		}
	}
	return g
}

// bruteNNLS minimises ½xᵀAx − bᵀx over x ≥ 0 by trying every free set:
// the strictly convex minimum is the unconstrained minimum on its own
// support, so the best feasible subset solution is the answer.
func bruteNNLS(t testing.TB, a, b []float64, k int) (best float64, bestX []float64) {
	t.Helper()
	best = math.Inf(1)
	for mask := range 1 << k {
		var idx []int
		for i := range k {
			if mask&(1<<i) != 0 {
				idx = append(idx, i)
			}
		}
		x := make([]float64, k)
		if m := len(idx); m > 0 {
			sub := make([]float64, m*m)
			rhs := make([]float64, m)
			for r, ir := range idx {
				for c, ic := range idx {
					sub[r*m+c] = a[ir*k+ic]
				}
				rhs[r] = b[ir]
			}
			sol := make([]float64, m)
			if err := SolveCholesky(sub, rhs, m, sol); err != nil {
				// Principal submatrices of an SPD matrix are SPD.
				t.Fatalf("brute force subset %v: %v", idx, err)
			}
			feasible := true
			for r, ir := range idx {
				feasible = feasible && sol[r] >= 0
				x[ir] = sol[r]
			}
			if !feasible {
				continue
			}
		}
		if f := objective(a, b, k, x); f < best {
			best, bestX = f, x
		}
	}
	return best, bestX
}

func finite32(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5eed))
}
