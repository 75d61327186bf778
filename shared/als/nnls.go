package als

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoConvergence is returned (wrapped) when NNLS reaches its iteration cap.
// In exact arithmetic the active-set method terminates well within the cap;
// reaching it means rounding made the method cycle.
var ErrNoConvergence = errors.New("no convergence")

// nnlsTol is the relative tolerance below which a component of the negative
// gradient b − Ax counts as zero: far below float32 resolution (6e-8), far
// above float64 rounding in well-conditioned normal equations.
const nnlsTol = 1e-10

// NNLSWorkspace is NNLS's scratch space, so that solving many rows does not
// allocate. The zero value is ready to use and grows to the largest order
// seen. A workspace must not be used by two goroutines at once.
type NNLSWorkspace struct {
	sub     []float64 // A restricted to the passive set, m×m, factored in place
	rhs     []float64 // b restricted to the passive set
	sol     []float64 // solution on the passive set
	s       []float64 // trial point: sol scattered to k, zero elsewhere
	idx     []int     // passive indices, ascending
	passive []bool
	blocked []bool // zero-set indices that just failed to enter; cleared when x moves
}

func (ws *NNLSWorkspace) grow(k int) {
	if len(ws.s) >= k {
		return
	}
	ws.sub = make([]float64, k*k)
	ws.rhs = make([]float64, k)
	ws.sol = make([]float64, k)
	ws.s = make([]float64, k)
	ws.idx = make([]int, k)
	ws.passive = make([]bool, k)
	ws.blocked = make([]bool, k)
}

// NNLS solves min ½xᵀAx − bᵀx subject to x ≥ 0 for a symmetric positive
// definite k×k matrix A given row-major in a (only the upper triangle,
// a[i*k+j] with j ≥ i, is read). With A = MᵀM and b = Mᵀr this is
// non-negative least squares min ‖Mx − r‖², solved directly on the normal
// equations as in Bro and de Jong's fast NNLS, an exact Lawson–Hanson
// active-set method: on return x ≥ 0, the gradient Ax − b is ≥ 0 (to
// rounding) and zero wherever x > 0.
//
// When the unconstrained minimiser is strictly positive it is returned as
// is, bit-identical to SolveCholesky's. Otherwise the active set starts
// empty; variables enter by largest negative gradient (lowest index on
// ties), so the result is deterministic. a and b are not modified and x
// must not overlap them. ws may be nil, in which case NNLS allocates its
// own. A matrix that is not positive definite gives an error wrapping
// ErrNotPositiveDefinite; hitting the iteration cap gives one wrapping
// ErrNoConvergence, with x left at the last feasible iterate.
func NNLS(a, b []float64, k int, x []float64, ws *NNLSWorkspace) error {
	if k < 1 {
		return fmt.Errorf("nnls: order %d must be ≥ 1", k)
	}
	if len(a) != k*k || len(b) != k || len(x) != k {
		return fmt.Errorf("nnls: order %d needs len(a) = %d, len(b) = len(x) = %d; got %d, %d, %d",
			k, k*k, k, len(a), len(b), len(x))
	}
	if ws == nil {
		ws = new(NNLSWorkspace)
	}
	ws.grow(k)
	passive, blocked, s := ws.passive[:k], ws.blocked[:k], ws.s[:k]

	// Fast path: most rows of a well-fitted model have positive solutions.
	for i := range passive {
		passive[i] = true
	}
	if _, err := ws.solvePassive(a, b, k); err != nil {
		return fmt.Errorf("nnls: %w", err)
	}
	positive := true
	for _, v := range s {
		positive = positive && v > 0
	}
	if positive {
		copy(x, s)
		return nil
	}

	clear(x)
	clear(passive)
	clear(blocked)
	maxSolves := 10*k + 100
	solves := 1
	for {
		j := ws.enter(a, b, k, x)
		if j < 0 {
			return nil
		}
		passive[j] = true
		entering := j
		for {
			if solves >= maxSolves {
				return fmt.Errorf("nnls: order %d after %d solves: %w", k, solves, ErrNoConvergence)
			}
			solves++
			m, err := ws.solvePassive(a, b, k)
			if err != nil {
				return fmt.Errorf("nnls: %w", err)
			}
			if entering >= 0 {
				if !(s[entering] > 0) {
					// Rounding: the gradient said j should enter, the
					// subproblem disagrees. Leave x as it is and let another
					// index try.
					passive[entering] = false
					blocked[entering] = true
					break
				}
				entering = -1
			}
			// x moves in either case below, so earlier refusals are void.
			clear(blocked)
			feasible := true
			for _, i := range ws.idx[:m] {
				feasible = feasible && s[i] > 0
			}
			if feasible {
				copy(x, s)
				break
			}
			// Walk from x towards s until the first passive variable
			// reaches zero (t ≤ 1 because x_i > 0 ≥ s_i), drop it and
			// any others at zero, and solve again on the smaller set.
			alpha, q := 1.0, -1
			for _, i := range ws.idx[:m] {
				if s[i] <= 0 {
					if t := x[i] / (x[i] - s[i]); t < alpha {
						alpha, q = t, i
					}
				}
			}
			for _, i := range ws.idx[:m] {
				x[i] += float64(alpha * (s[i] - x[i]))
			}
			if q >= 0 {
				x[q] = 0
				passive[q] = false
			}
			for _, i := range ws.idx[:m] {
				if x[i] <= 0 {
					x[i] = 0
					passive[i] = false
				}
			}
		}
	}
}

// solvePassive solves A_PP s_P = b_P for the current passive set P, leaving
// the full-length result (zero off P) in ws.s and P in ws.idx[:m].
func (ws *NNLSWorkspace) solvePassive(a, b []float64, k int) (m int, err error) {
	idx := ws.idx[:0]
	for i, p := range ws.passive[:k] {
		if p {
			idx = append(idx, i)
		}
	}
	m = len(idx)
	s := ws.s[:k]
	clear(s)
	if m == 0 {
		return 0, nil
	}
	// idx is ascending, so A[idx[r], idx[c]] with c ≥ r lies in a's upper
	// triangle, and only the upper triangle of sub is filled and read.
	sub, rhs, sol := ws.sub[:m*m], ws.rhs[:m], ws.sol[:m]
	for r, ir := range idx {
		row := a[ir*k : ir*k+k]
		for c := r; c < m; c++ {
			sub[r*m+c] = row[idx[c]]
		}
		rhs[r] = b[ir]
	}
	if err := factor(sub, m); err != nil {
		return m, err
	}
	substitute(sub, rhs, m, sol)
	for r, ir := range idx {
		v := sol[r]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return m, fmt.Errorf("x[%d] = %v: %w", ir, v, errNotFinite)
		}
		s[ir] = v
	}
	return m, nil
}

// enter returns the index outside the passive set whose negative gradient
// w_j = b_j − (Ax)_j is largest and above rounding, or -1 when x is optimal.
// Each w_j is compared with nnlsTol times the magnitudes that formed it.
func (ws *NNLSWorkspace) enter(a, b []float64, k int, x []float64) int {
	best, bestW := -1, 0.0
	for j := range k {
		if ws.passive[j] || ws.blocked[j] {
			continue
		}
		w, scale := b[j], math.Abs(b[j])
		for i, xi := range x[:k] {
			if xi == 0 {
				continue
			}
			var aji float64
			if i < j {
				aji = a[i*k+j]
			} else {
				aji = a[j*k+i]
			}
			t := float64(aji * xi)
			w -= t
			scale += math.Abs(t)
		}
		if w > nnlsTol*scale && w > bestW {
			best, bestW = j, w
		}
	}
	return best
}
