package similarity

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Params are the similarity parameters of a run.
type Params struct {
	// Top is the number of neighbours kept per book (the pipeline uses 20).
	Top int
}

// Validate reports every problem with p.
func (p Params) Validate() error {
	var errs []error
	if p.Top < 1 {
		errs = append(errs, fmt.Errorf("similarity top %d: must be at least 1", p.Top))
	}
	return errors.Join(errs...)
}

// Neighbor is one entry of a top list: the neighbour's row index and its
// cosine score. Padding entries have Index -1 and Score 0.
type Neighbor struct {
	Index int32
	Score float32
}

// Kernel finds, for query rows [qStart,qEnd) of all (n×k, normalised), the
// top neighbours among all rows j != i with !skip[j], sorted by score
// descending then index ascending. Query rows with skip[i] get no
// neighbours. out has (qEnd-qStart)*top entries, row by row; rows with fewer
// neighbours are padded with Index -1, Score 0. Scores follow the summation
// order defined in the package documentation, so every Kernel returns the
// same bits. Bad arguments, NaN or ±Inf in a row not skipped among them,
// give an error, never a panic; on cancellation a Kernel returns ctx.Err()
// and out is unspecified.
type Kernel interface {
	TopK(ctx context.Context, all []float32, k int, skip []bool, qStart, qEnd, top int, out []Neighbor) error
}

// Default is the kernel [TopK] runs: [AVX2] on amd64 CPUs that have AVX2
// (unless built with the purego tag), otherwise [Portable]. Both give
// identical results.
var Default Kernel = defaultKernel()

// TopK runs [Default]; see [Kernel] for the contract.
func TopK(ctx context.Context, all []float32, k int, skip []bool, qStart, qEnd, top int, out []Neighbor) error {
	return Default.TopK(ctx, all, k, skip, qStart, qEnd, top, out)
}

// Normalize L2-normalises each row of f (n×k) in place and returns zero[i]
// true for the rows that have no direction: norm 0, or any NaN/±Inf value.
// Those rows are set to all zeros; they get and give no neighbours. The norm
// is computed in float64, so tiny and huge (finite) rows normalise too.
// When k < 1 or len(f) is not a multiple of k, f is left alone and Normalize
// returns nil (which TopK then rejects as a skip of the wrong length).
func Normalize(f []float32, k int) (zero []bool) {
	if k < 1 || len(f)%k != 0 {
		return nil
	}
	n := len(f) / k
	zero = make([]bool, n)
	for i := range n {
		row := f[i*k : i*k+k]
		var ss float64
		for _, x := range row {
			// The square of a float32 is exact in float64, so fused or
			// not, ss comes out the same on every build.
			ss += float64(x) * float64(x)
		}
		// ss is NaN or +Inf when the row holds NaN or ±Inf; the sum of
		// squares of finite float32 values cannot overflow float64.
		norm := math.Sqrt(ss)
		if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
			zero[i] = true
			clear(row)
			continue
		}
		for d, x := range row {
			row[d] = float32(float64(x) / norm)
		}
	}
	return zero
}

// check validates a kernel's arguments. Besides the shapes it rejects NaN
// and ±Inf in rows that are not skipped (one pass over all, small next to the
// q·n·k of the search), so that no score can be NaN.
func check(all []float32, k int, skip []bool, qStart, qEnd, top int, out []Neighbor) error {
	if k < 1 {
		return fmt.Errorf("similarity: rank %d: must be at least 1", k)
	}
	if len(all)%k != 0 {
		return fmt.Errorf("similarity: %d factor values are not a multiple of rank %d", len(all), k)
	}
	n := len(all) / k
	if n > math.MaxInt32 {
		return fmt.Errorf("similarity: %d rows do not fit an int32 index", n)
	}
	if len(skip) != n {
		return fmt.Errorf("similarity: skip has %d entries for %d rows", len(skip), n)
	}
	if qStart < 0 || qEnd < qStart || qEnd > n {
		return fmt.Errorf("similarity: query rows [%d,%d) outside [0,%d)", qStart, qEnd, n)
	}
	if top < 1 {
		return fmt.Errorf("similarity: top %d: must be at least 1", top)
	}
	if want := (qEnd - qStart) * top; len(out) != want || want/top != qEnd-qStart {
		return fmt.Errorf("similarity: out has %d entries, want %d query rows × top %d", len(out), qEnd-qStart, top)
	}
	for i, s := range skip {
		if s {
			continue
		}
		for d, x := range all[i*k : i*k+k] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("similarity: row %d column %d is %v (normalise first: Normalize marks such rows to skip)", i, d, x)
			}
		}
	}
	return nil
}
