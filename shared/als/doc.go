// Package als is the arithmetic of explicit alternating least squares as
// Spark MLlib does it: seeded unit-norm initial factors, per-row normal
// equations, and a Cholesky or non-negative least-squares solve. It does no
// I/O and no logging; the worker feeds it rating and factor blocks and the
// coordinator decides which side is solved when.
//
// # Normal equations
//
// With one side's factors fixed (Y, nFixed×k), each row u of the other side
// is found on its own. If row u rated the fixed rows j₁…jₙ with values r,
// its factor x minimises
//
//	Σᵢ (rᵢ − yⱼᵢ·x)² + Reg·n·‖x‖²
//
// whose minimiser solves the k×k normal equations
//
//	(Σᵢ yⱼᵢ yⱼᵢᵀ + Reg·n·I) x = Σᵢ rᵢ yⱼᵢ        i.e. A x = b.
//
// A and b are accumulated in float64 from float32 factors and ratings, in
// the row's Col order, and the solution is rounded to float32, as Spark's
// NormalEquation does. With Nonnegative set the same A and b go to NNLS,
// which minimises ½xᵀAx − bᵀx subject to x ≥ 0 (the same objective, so the
// unconstrained and constrained solves agree whenever the unconstrained
// minimiser is positive). A row with no ratings gets the zero vector ("no
// factors"); Spark leaves such rows out of the model, which is the same
// thing for prediction with coldStartStrategy=drop.
//
// # ALS-WR
//
// The regulariser is scaled by the row's rating count n (Zhou et al., "Large-
// scale parallel collaborative filtering for the Netflix Prize", 2008), as
// Spark does for explicit feedback: heavy raters are not pulled towards zero
// harder than light ones relative to their data term. Reg is Spark's regParam.
//
// # Determinism
//
// Rows are independent and every row is solved with the same operations in
// the same order, so a row's factor does not depend on which block it is
// in or how many workers there are. Products are explicitly rounded
// (float64(x*y)) so that no compiler may fuse them into FMA instructions;
// the solves use only +, −, ×, ÷ and √, which IEEE 754 rounds correctly, so
// given the same inputs they give the same bits on every architecture. The
// initial factors come from math/rand/v2's PCG seeded per (seed, side,
// global row), so they do not depend on the block layout either.
//
// # Cost
//
// One half-iteration costs about nnz·k(k+1)/2 multiply-adds to accumulate
// the normal equations plus rows·k³/3 for the Cholesky factorisations
// (nnz·k² + rows·k³/3 in round figures). NNLS adds a few more factorisations
// of passive subsets for rows whose unconstrained solution has a negative
// component. At rank 10 with tens of ratings per row the accumulation
// dominates.
package als
