package als

import (
	"errors"
	"fmt"
	"math"
)

// ErrNotPositiveDefinite is returned (wrapped) when a matrix that must be
// symmetric positive definite has a non-positive, infinite or NaN pivot.
var ErrNotPositiveDefinite = errors.New("matrix is not positive definite")

// SolveCholesky solves A x = b for a symmetric positive definite k×k matrix A
// given row-major in a. Only the upper triangle of a (a[i*k+j], j ≥ i) is
// read, and it is overwritten with the Cholesky factor U (A = UᵀU); b is not
// modified and x may be b. A matrix that is not positive definite gives an
// error wrapping ErrNotPositiveDefinite, never NaNs.
func SolveCholesky(a, b []float64, k int, x []float64) error {
	if k < 1 {
		return fmt.Errorf("cholesky: order %d must be ≥ 1", k)
	}
	if len(a) != k*k || len(b) != k || len(x) != k {
		return fmt.Errorf("cholesky: order %d needs len(a) = %d, len(b) = len(x) = %d; got %d, %d, %d",
			k, k*k, k, len(a), len(b), len(x))
	}
	if err := factor(a, k); err != nil {
		return fmt.Errorf("cholesky: %w", err)
	}
	substitute(a, b, k, x)
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("cholesky: x[%d] = %v: %w", i, v, errNotFinite)
		}
	}
	return nil
}

// factor overwrites the upper triangle of the row-major k×k matrix a with U,
// A = UᵀU, reading only the upper triangle. It is the right-looking
// (outer-product) form of LAPACK's unblocked dpotf2 with uplo = 'U': row i
// is scaled by 1/U[i][i], then the trailing upper triangle is updated row by
// row, so every inner loop runs along a contiguous row.
func factor(a []float64, k int) error {
	for i := range k {
		row := a[i*k : i*k+k]
		d := row[i]
		if !(d > 0) || math.IsInf(d, 1) {
			return fmt.Errorf("pivot %d is %v: %w", i, d, ErrNotPositiveDefinite)
		}
		d = math.Sqrt(d)
		row[i] = d
		inv := 1 / d
		for j := i + 1; j < k; j++ {
			row[j] *= inv
		}
		for j := i + 1; j < k; j++ {
			uij := row[j]
			dst := a[j*k+j : j*k+k]
			src := row[j:k]
			src = src[:len(dst)]
			for l, v := range src {
				dst[l] -= float64(uij * v)
			}
		}
	}
	return nil
}

// substitute solves UᵀU x = b given U from factor. x may be b.
func substitute(u, b []float64, k int, x []float64) {
	if &x[0] != &b[0] {
		copy(x, b)
	}
	// Uᵀ z = b in place in x: once z[i] is known, take its contribution out
	// of the later equations, walking along row i of U.
	for i := range k {
		row := u[i*k : i*k+k]
		zi := x[i] / row[i]
		x[i] = zi
		rest := x[i+1 : k]
		for j, v := range row[i+1 : k] {
			rest[j] -= float64(v * zi)
		}
	}
	// U x = z.
	for i := k - 1; i >= 0; i-- {
		row := u[i*k : i*k+k]
		s := x[i]
		for j := i + 1; j < k; j++ {
			s -= float64(row[j] * x[j])
		}
		x[i] = s / row[i]
	}
}
