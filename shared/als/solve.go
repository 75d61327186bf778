package als

import (
	"context"
	"fmt"
	"math"
)

// ctxCheckRows is how many rows SolveBlock solves between context checks:
// a few milliseconds of work at rank 10.
const ctxCheckRows = 256

// SolveBlock solves every row of rows against fixed (nFixed×k, row-major,
// k = p.Rank) and writes rows.Len() rows × k into out. For a row with n
// ratings r against fixed rows y it solves (Σ y yᵀ + p.Reg·n·I) x = Σ r·y,
// accumulated in float64 in the row's Col order, with Cholesky, or with NNLS
// when p.Nonnegative; a row with no ratings gets the zero vector. Each row's
// result depends only on that row and fixed, so splitting rows into blocks
// does not change a bit of it.
//
// Shapes, Col ranges and rating values are checked before any work and
// reported as errors; p.Iterations and p.Seed are not used. ctx is checked
// every few hundred rows; on cancellation SolveBlock returns ctx.Err() and
// out is partly written.
func SolveBlock(ctx context.Context, fixed []float32, rows Rows, p Params, out []float32) error {
	if err := p.validateSolve(); err != nil {
		return fmt.Errorf("solve block: %w", err)
	}
	k := p.Rank
	if len(fixed)%k != 0 {
		return fmt.Errorf("solve block: len(fixed) = %d is not a multiple of rank %d", len(fixed), k)
	}
	if err := rows.Validate(len(fixed) / k); err != nil {
		return fmt.Errorf("solve block: %w", err)
	}
	n := rows.Len()
	if len(out) != n*k {
		return fmt.Errorf("solve block: len(out) = %d, want %d rows × rank %d = %d", len(out), n, k, n*k)
	}

	// One workspace for the whole block; nothing below allocates per row.
	var (
		ata = make([]float64, k*k) // upper triangle of A
		atb = make([]float64, k)
		y   = make([]float64, 4*k) // up to four fixed rows
		r4  [4]float64
		x   = make([]float64, k)
		ws  NNLSWorkspace
	)
	for r := range n {
		if r%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		dst := out[r*k : r*k+k]
		lo, hi := int(rows.RowPtr[r]), int(rows.RowPtr[r+1])
		if lo == hi {
			clear(dst)
			continue
		}
		clear(ata)
		clear(atb)
		i := lo
		for ; i+4 <= hi; i += 4 {
			for q := range 4 {
				c := int(rows.Col[i+q])
				yq := y[q*k : q*k+k]
				for j, v := range fixed[c*k : c*k+k] {
					yq[j] = float64(v)
				}
				r4[q] = float64(rows.Val[i+q])
			}
			accumulate4(ata, atb, y, &r4, k)
		}
		for ; i < hi; i++ {
			c := int(rows.Col[i])
			for j, v := range fixed[c*k : c*k+k] {
				y[j] = float64(v)
			}
			accumulate(ata, atb, y[:k], float64(rows.Val[i]), k)
		}
		// Reg is scaled by the row's rating count (ALS-WR), as Spark does.
		lambda := p.Reg * float64(hi-lo)
		for j := range k {
			ata[j*k+j] += lambda
		}
		var err error
		if p.Nonnegative {
			err = NNLS(ata, atb, k, x, &ws)
		} else {
			err = SolveCholesky(ata, atb, k, x)
		}
		if err != nil {
			return fmt.Errorf("solve block row %d (%d ratings): %w", r, hi-lo, err)
		}
		for j, v := range x {
			f := float32(v)
			if math.IsInf(float64(f), 0) {
				return fmt.Errorf("solve block row %d: factor %d = %g overflows float32", r, j, v)
			}
			dst[j] = f
		}
	}
	return nil
}

// accumulate adds y yᵀ to the upper triangle of ata and rating·y to atb.
// Products are rounded explicitly so the compiler cannot fuse them into FMAs,
// which would make results depend on the architecture and build flags.
func accumulate(ata, atb, y []float64, rating float64, k int) {
	for i := range k {
		yi := y[i]
		row := ata[i*k+i : i*k+k]
		ys := y[i:k]
		ys = ys[:len(row)]
		for j, yj := range ys {
			row[j] += float64(yi * yj)
		}
		atb[i] += float64(rating * yi)
	}
}

// accumulate4 is four calls of accumulate for the ratings r[0..3] against
// the rows y[0:k], y[k:2k], … in order, fused so that A is loaded and stored
// once per four ratings. Every element still receives its four products one
// at a time in rating order, so the sums are bit-identical to the unfused
// loop and do not depend on where a row's ratings start.
func accumulate4(ata, atb, y []float64, r *[4]float64, k int) {
	y0, y1, y2, y3 := y[0:k], y[k:2*k], y[2*k:3*k], y[3*k:4*k]
	for i := range k {
		a0, a1, a2, a3 := y0[i], y1[i], y2[i], y3[i]
		row := ata[i*k+i : i*k+k]
		n := len(row)
		z0, z1, z2, z3 := y0[i:i+n], y1[i:i+n], y2[i:i+n], y3[i:i+n]
		for j := range row {
			v := row[j]
			v += float64(a0 * z0[j])
			v += float64(a1 * z1[j])
			v += float64(a2 * z2[j])
			v += float64(a3 * z3[j])
			row[j] = v
		}
		b := atb[i]
		b += float64(r[0] * a0)
		b += float64(r[1] * a1)
		b += float64(r[2] * a2)
		b += float64(r[3] * a3)
		atb[i] = b
	}
}

// Train runs explicit ALS in memory: user factors start from
// InitFactors(p.Seed, Users, 0, …), then each of p.Iterations iterations
// solves all items against the users and all users against the items, as
// Spark does. userRows holds each user's ratings (Col = item index) and
// itemRows the same ratings by item (Col = user index). It is the reference
// the block-distributed pipeline must reproduce bit for bit.
func Train(ctx context.Context, users, items int, userRows, itemRows Rows, p Params) (userF, itemF []float32, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	if users < 0 || items < 0 {
		return nil, nil, fmt.Errorf("train: negative size %d users × %d items", users, items)
	}
	if userRows.Len() != users {
		return nil, nil, fmt.Errorf("train: user rows have %d rows, want %d", userRows.Len(), users)
	}
	if itemRows.Len() != items {
		return nil, nil, fmt.Errorf("train: item rows have %d rows, want %d", itemRows.Len(), items)
	}
	k := p.Rank
	userF = make([]float32, users*k)
	itemF = make([]float32, items*k)
	InitFactors(p.Seed, Users, 0, k, userF)
	for it := range p.Iterations {
		if err := SolveBlock(ctx, userF, itemRows, p, itemF); err != nil {
			return nil, nil, fmt.Errorf("train iteration %d items: %w", it, err)
		}
		if err := SolveBlock(ctx, itemF, userRows, p, userF); err != nil {
			return nil, nil, fmt.Errorf("train iteration %d users: %w", it, err)
		}
	}
	return userF, itemF, nil
}
