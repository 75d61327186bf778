package als

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// MaxRank bounds Params.Rank. Each solve holds k×k float64 matrices, so a
// mistyped rank fails validation instead of allocating gigabytes.
const MaxRank = 1024

// Params are the ALS hyper-parameters of one training run. They travel in the
// run's plan so that every worker solves with the same values.
type Params struct {
	// Rank is k, the number of latent factors per user and per item
	// (Spark's rank; 10 in the seed job). 1 ≤ Rank ≤ MaxRank.
	Rank int
	// Iterations is the number of full alternations, each one solving all
	// items and then all users (Spark's maxIter; 10 in the seed job). ≥ 1.
	Iterations int
	// Reg is Spark's regParam λ, dimensionless. A row with n ratings adds
	// Reg·n to the diagonal of its normal equations: λ is scaled by the
	// row's rating count (ALS-WR), as Spark does. Finite and ≥ 0; with 0 a
	// row with fewer than Rank independent ratings has no unique solution
	// and the solve fails.
	Reg float64
	// Nonnegative constrains every factor to be ≥ 0 and solves with NNLS
	// instead of Cholesky (Spark's nonnegative; true in the seed job).
	Nonnegative bool
	// Seed seeds the initial user factors (Spark's seed). Any value.
	Seed int64
}

// Validate reports every problem with p at once.
func (p Params) Validate() error {
	var errs []error
	if err := p.validateSolve(); err != nil {
		errs = append(errs, err)
	}
	if p.Iterations < 1 {
		errs = append(errs, fmt.Errorf("iterations %d must be ≥ 1", p.Iterations))
	}
	return errors.Join(errs...)
}

// validateSolve checks the fields a single block solve uses.
func (p Params) validateSolve() error {
	var errs []error
	if p.Rank < 1 || p.Rank > MaxRank {
		errs = append(errs, fmt.Errorf("rank %d out of range [1, %d]", p.Rank, MaxRank))
	}
	if math.IsNaN(p.Reg) || math.IsInf(p.Reg, 0) || p.Reg < 0 {
		errs = append(errs, fmt.Errorf("reg %v must be finite and ≥ 0", p.Reg))
	}
	return errors.Join(errs...)
}

// Side names which factor matrix a block belongs to. It is part of the seed
// of the initial factors, so the values are fixed.
type Side uint8

const (
	// Users is the user side: rows of the rating matrix.
	Users Side = 0
	// Items is the item (book) side: columns of the rating matrix.
	Items Side = 1
)

// String returns "users", "items" or "side(N)".
func (s Side) String() string {
	switch s {
	case Users:
		return "users"
	case Items:
		return "items"
	}
	return "side(" + strconv.Itoa(int(s)) + ")"
}
