package similarity

import (
	"context"
	"math"
)

const (
	// blockRows is how many query rows share one sweep over the candidates,
	// and how often TopK checks ctx.
	blockRows = 64
	// chunkBytes bounds the candidate rows swept by every tile of a block
	// before moving on, so that they stay in L1 (32 KiB: 819 rows at k=10)
	// and each is read from memory once per block, not once per tile. That
	// measured neutral on one core at n=20 000 (all of it fits L2); it is
	// there for millions of rows with every core streaming from DRAM.
	chunkBytes = 32 << 10
)

var negInf = float32(math.Inf(-1))

// Portable is the pure-Go kernel, correct on every CPU. It is the reference
// that faster kernels must match bit for bit.
type Portable struct{}

// TopK implements [Kernel].
func (Portable) TopK(ctx context.Context, all []float32, k int, skip []bool, qStart, qEnd, top int, out []Neighbor) error {
	if err := check(all, k, skip, qStart, qEnd, top, out); err != nil {
		return err
	}
	for i := range out {
		out[i] = Neighbor{Index: -1}
	}
	chunk := max(1, chunkBytes/(4*k))
	var qs [blockRows]query
	for b := qStart; b < qEnd; b += blockRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := 0
		for i := b; i < min(b+blockRows, qEnd); i++ {
			if skip[i] {
				continue
			}
			off := (i - qStart) * top
			qs[m] = query{row: out[off : off+top], i: i, thr: negInf}
			m++
		}
		sweep(all, k, skip, qs[:m], chunk)
	}
	return nil
}

// query is the running state of one query row: its top list (a row of out,
// sorted, cnt entries filled) and the score a candidate must beat to enter.
type query struct {
	row []Neighbor
	i   int
	cnt int
	thr float32
}

// add inserts candidate j with score s > q.thr and returns the new
// threshold. Candidates arrive in ascending j, so j is above every index in
// the list and a tie stays behind the entries already there; that is why
// callers compare with > alone. NaN never passes s > thr.
//
//go:noinline
func (q *query) add(j int, s float32) float32 {
	row := q.row
	p := q.cnt
	if p < len(row) {
		q.cnt++
	} else {
		p = len(row) - 1
	}
	for p > 0 && s > row[p-1].Score {
		row[p] = row[p-1]
		p--
	}
	row[p] = Neighbor{Index: int32(j), Score: s}
	if q.cnt < len(row) {
		return negInf
	}
	return row[len(row)-1].Score
}

// sweep runs the queries against all candidates, chunk rows at a time, so a
// chunk loaded into cache serves every query of the block.
func sweep(all []float32, k int, skip []bool, qs []query, chunk int) {
	n := len(skip)
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		t := 0
		for ; t+4 <= len(qs); t += 4 {
			if k == 10 {
				tile4k10(all, skip[:hi], lo, (*[4]query)(qs[t:]))
			} else {
				tile4(all, k, skip[:hi], lo, (*[4]query)(qs[t:]))
			}
		}
		for ; t < len(qs); t++ {
			if k == 10 {
				one10(all, skip[:hi], lo, &qs[t])
			} else {
				one(all, k, skip[:hi], lo, &qs[t])
			}
		}
	}
}

// The scan functions below visit candidates j in [lo, len(skip)) in
// ascending order and compute every score in the same order: the first
// product, then each further product added in turn. Every product, the first
// included, is wrapped in a float32 conversion: the spec lets the compiler
// fuse x*y + z into one FMA otherwise, and it does (GOAMD64=v3, arm64), which
// would change the bits between builds and between paths.

// tile4k10 scores four queries against each candidate at rank 10.
func tile4k10(all []float32, skip []bool, lo int, q *[4]query) {
	i0, i1, i2, i3 := q[0].i, q[1].i, q[2].i, q[3].i
	a0 := (*[10]float32)(all[i0*10:])
	a1 := (*[10]float32)(all[i1*10:])
	a2 := (*[10]float32)(all[i2*10:])
	a3 := (*[10]float32)(all[i3*10:])
	t0, t1, t2, t3 := q[0].thr, q[1].thr, q[2].thr, q[3].thr
	for j := lo; j < len(skip); j++ {
		if skip[j] {
			continue
		}
		c := (*[10]float32)(all[j*10:])
		x := c[0]
		s0 := float32(a0[0] * x)
		s1 := float32(a1[0] * x)
		s2 := float32(a2[0] * x)
		s3 := float32(a3[0] * x)
		x = c[1]
		s0 += float32(a0[1] * x)
		s1 += float32(a1[1] * x)
		s2 += float32(a2[1] * x)
		s3 += float32(a3[1] * x)
		x = c[2]
		s0 += float32(a0[2] * x)
		s1 += float32(a1[2] * x)
		s2 += float32(a2[2] * x)
		s3 += float32(a3[2] * x)
		x = c[3]
		s0 += float32(a0[3] * x)
		s1 += float32(a1[3] * x)
		s2 += float32(a2[3] * x)
		s3 += float32(a3[3] * x)
		x = c[4]
		s0 += float32(a0[4] * x)
		s1 += float32(a1[4] * x)
		s2 += float32(a2[4] * x)
		s3 += float32(a3[4] * x)
		x = c[5]
		s0 += float32(a0[5] * x)
		s1 += float32(a1[5] * x)
		s2 += float32(a2[5] * x)
		s3 += float32(a3[5] * x)
		x = c[6]
		s0 += float32(a0[6] * x)
		s1 += float32(a1[6] * x)
		s2 += float32(a2[6] * x)
		s3 += float32(a3[6] * x)
		x = c[7]
		s0 += float32(a0[7] * x)
		s1 += float32(a1[7] * x)
		s2 += float32(a2[7] * x)
		s3 += float32(a3[7] * x)
		x = c[8]
		s0 += float32(a0[8] * x)
		s1 += float32(a1[8] * x)
		s2 += float32(a2[8] * x)
		s3 += float32(a3[8] * x)
		x = c[9]
		s0 += float32(a0[9] * x)
		s1 += float32(a1[9] * x)
		s2 += float32(a2[9] * x)
		s3 += float32(a3[9] * x)
		if s0 > t0 && j != i0 {
			t0 = q[0].add(j, s0)
		}
		if s1 > t1 && j != i1 {
			t1 = q[1].add(j, s1)
		}
		if s2 > t2 && j != i2 {
			t2 = q[2].add(j, s2)
		}
		if s3 > t3 && j != i3 {
			t3 = q[3].add(j, s3)
		}
	}
	q[0].thr, q[1].thr, q[2].thr, q[3].thr = t0, t1, t2, t3
}

// tile4 scores four queries against each candidate at any rank.
func tile4(all []float32, k int, skip []bool, lo int, q *[4]query) {
	i0, i1, i2, i3 := q[0].i, q[1].i, q[2].i, q[3].i
	a0 := all[i0*k : i0*k+k]
	a1 := all[i1*k : i1*k+k]
	a2 := all[i2*k : i2*k+k]
	a3 := all[i3*k : i3*k+k]
	t0, t1, t2, t3 := q[0].thr, q[1].thr, q[2].thr, q[3].thr
	for j := lo; j < len(skip); j++ {
		if skip[j] {
			continue
		}
		c := all[j*k : j*k+k]
		a0, a1, a2, a3 := a0[:len(c)], a1[:len(c)], a2[:len(c)], a3[:len(c)]
		x := c[0]
		s0 := float32(a0[0] * x)
		s1 := float32(a1[0] * x)
		s2 := float32(a2[0] * x)
		s3 := float32(a3[0] * x)
		for d := 1; d < len(c); d++ {
			x := c[d]
			s0 += float32(a0[d] * x)
			s1 += float32(a1[d] * x)
			s2 += float32(a2[d] * x)
			s3 += float32(a3[d] * x)
		}
		if s0 > t0 && j != i0 {
			t0 = q[0].add(j, s0)
		}
		if s1 > t1 && j != i1 {
			t1 = q[1].add(j, s1)
		}
		if s2 > t2 && j != i2 {
			t2 = q[2].add(j, s2)
		}
		if s3 > t3 && j != i3 {
			t3 = q[3].add(j, s3)
		}
	}
	q[0].thr, q[1].thr, q[2].thr, q[3].thr = t0, t1, t2, t3
}

// one10 scores one query against each candidate at rank 10 (the tail of a
// block that does not fill a tile).
func one10(all []float32, skip []bool, lo int, q *query) {
	i := q.i
	a := (*[10]float32)(all[i*10:])
	t := q.thr
	for j := lo; j < len(skip); j++ {
		if skip[j] {
			continue
		}
		c := (*[10]float32)(all[j*10:])
		s := float32(a[0] * c[0])
		s += float32(a[1] * c[1])
		s += float32(a[2] * c[2])
		s += float32(a[3] * c[3])
		s += float32(a[4] * c[4])
		s += float32(a[5] * c[5])
		s += float32(a[6] * c[6])
		s += float32(a[7] * c[7])
		s += float32(a[8] * c[8])
		s += float32(a[9] * c[9])
		if s > t && j != i {
			t = q.add(j, s)
		}
	}
	q.thr = t
}

// one scores one query against each candidate at any rank.
func one(all []float32, k int, skip []bool, lo int, q *query) {
	i := q.i
	a := all[i*k : i*k+k]
	t := q.thr
	for j := lo; j < len(skip); j++ {
		if skip[j] {
			continue
		}
		c := all[j*k : j*k+k]
		a := a[:len(c)]
		s := float32(a[0] * c[0])
		for d := 1; d < len(c); d++ {
			s += float32(a[d] * c[d])
		}
		if s > t && j != i {
			t = q.add(j, s)
		}
	}
	q.thr = t
}
