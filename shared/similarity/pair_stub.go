package similarity

// TEMPORARY naive pair kernel, replaced by the kernel branch.

import (
	"context"
	"fmt"
)

type Range struct{ Start, End int }

type PairKernel interface {
	Pair(ctx context.Context, all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error
	Name() string
}

var DefaultPair PairKernel = stubPair{}

func PairKernels() []PairKernel { return []PairKernel{stubPair{}} }

type stubPair struct{}

func (stubPair) Name() string { return "stub" }

func NewLists(rows, top int) []Neighbor {
	out := make([]Neighbor, rows*top)
	for i := range out {
		out[i] = Neighbor{Index: -1}
	}
	return out
}

func insert(row []Neighbor, j int32, s float32) {
	p := len(row) - 1
	last := row[p]
	if last.Index >= 0 && (s < last.Score || s == last.Score && j > last.Index) {
		return
	}
	for p > 0 && (row[p-1].Index < 0 || s > row[p-1].Score || s == row[p-1].Score && j < row[p-1].Index) {
		row[p] = row[p-1]
		p--
	}
	row[p] = Neighbor{Index: j, Score: s}
}

func (stubPair) Pair(ctx context.Context, all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error {
	diag := a == b
	if len(la) != (a.End-a.Start)*top || (!diag && len(lb) != (b.End-b.Start)*top) {
		return fmt.Errorf("similarity: bad list lengths")
	}
	for i := a.Start; i < a.End; i++ {
		if skip[i] {
			continue
		}
		ri := la[(i-a.Start)*top : (i-a.Start+1)*top]
		j0 := b.Start
		if diag {
			j0 = i + 1
		}
		for j := j0; j < b.End; j++ {
			if skip[j] {
				continue
			}
			x, y := all[i*k:i*k+k], all[j*k:j*k+k]
			s := float32(x[0] * y[0])
			for d := 1; d < k; d++ {
				s += float32(x[d] * y[d])
			}
			insert(ri, int32(j), s)
			if diag {
				insert(la[(j-a.Start)*top:(j-a.Start+1)*top], int32(i), s)
			} else {
				insert(lb[(j-b.Start)*top:(j-b.Start+1)*top], int32(i), s)
			}
		}
	}
	return ctx.Err()
}

func Merge(dst []Neighbor, top int, parts ...[]Neighbor) error {
	for i := range dst {
		dst[i] = Neighbor{Index: -1}
	}
	for _, p := range parts {
		if len(p) != len(dst) {
			return fmt.Errorf("similarity: merge part of %d entries into %d", len(p), len(dst))
		}
		for r := 0; r < len(dst); r += top {
			for _, nb := range p[r : r+top] {
				if nb.Index < 0 {
					break
				}
				insert(dst[r:r+top], nb.Index, nb.Score)
			}
		}
	}
	return nil
}
