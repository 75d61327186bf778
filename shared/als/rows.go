package als

import (
	"errors"
	"fmt"
	"math"
)

// Rows is a CSR block of ratings: row r's ratings are
// Col[RowPtr[r]:RowPtr[r+1]] (indices into the fixed side's factor matrix,
// ascending) with values Val[RowPtr[r]:RowPtr[r+1]]. RowPtr usually starts
// at 0, but a sub-slice of a larger block's RowPtr over the same Col and Val
// is also valid, so a block can be split without copying.
type Rows struct {
	RowPtr []int32
	Col    []int32
	Val    []float32
}

// Len returns the number of rows, len(RowPtr)-1, or 0 for an empty RowPtr.
func (r Rows) Len() int {
	if len(r.RowPtr) == 0 {
		return 0
	}
	return len(r.RowPtr) - 1
}

// Validate checks that r is well formed against a fixed side of nCols rows:
// RowPtr non-decreasing within [0, len(Col)], len(Col) == len(Val), every
// referenced Col in [0, nCols) and every referenced Val finite. It does not
// require Col to be ascending; the solve does not depend on it.
func (r Rows) Validate(nCols int) error {
	if len(r.Col) != len(r.Val) {
		return fmt.Errorf("rows: len(Col) = %d differs from len(Val) = %d", len(r.Col), len(r.Val))
	}
	if len(r.RowPtr) == 0 {
		return nil
	}
	prev := r.RowPtr[0]
	if prev < 0 || int(prev) > len(r.Col) {
		return fmt.Errorf("rows: RowPtr[0] = %d out of range [0, %d]", prev, len(r.Col))
	}
	for i, p := range r.RowPtr[1:] {
		if p < prev {
			return fmt.Errorf("rows: RowPtr[%d] = %d is less than RowPtr[%d] = %d", i+1, p, i, prev)
		}
		if int(p) > len(r.Col) {
			return fmt.Errorf("rows: RowPtr[%d] = %d exceeds len(Col) = %d", i+1, p, len(r.Col))
		}
		prev = p
	}
	lo, hi := int(r.RowPtr[0]), int(r.RowPtr[len(r.RowPtr)-1])
	for i := lo; i < hi; i++ {
		if c := r.Col[i]; c < 0 || int(c) >= nCols {
			return fmt.Errorf("rows: Col[%d] = %d out of range [0, %d)", i, c, nCols)
		}
		if v := float64(r.Val[i]); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("rows: Val[%d] = %v: %w", i, v, errNotFinite)
		}
	}
	return nil
}

var errNotFinite = errors.New("not a finite number")
