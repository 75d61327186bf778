//go:build !purego

package similarity

import (
	"context"

	"golang.org/x/sys/cpu"
)

// defaultKernel picks the AVX2 kernel when the CPU (and the OS) support it.
func defaultKernel() Kernel {
	if cpu.X86.HasAVX2 {
		return AVX2{}
	}
	return Portable{}
}

// AVX2 is the [Kernel] on AVX2Pair's machinery (pair_amd64.s): the query
// rows in groups of six against every row in panels of sixteen, with each
// query's threshold and no column side. It gives the same lists as
// [Portable], bit for bit; on a CPU without AVX2 TopK returns an error.
type AVX2 struct{}

// TopK implements [Kernel].
func (AVX2) TopK(ctx context.Context, all []float32, k int, skip []bool, qStart, qEnd, top int, out []Neighbor) error {
	if !cpu.X86.HasAVX2 {
		return errNoAVX2
	}
	if err := check(all, k, skip, qStart, qEnd, top, out); err != nil {
		return err
	}
	for i := range out {
		out[i] = Neighbor{Index: -1}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := tiledPool.Get().(*tiled)
	defer t.release()
	t.k, t.top, t.diag, t.oneSided = k, top, false, true
	t.la, t.aStart = out, qStart
	t.lb, t.bStart = nil, 0
	t.rows = packRows(t.rows[:0], skip, Range{qStart, qEnd})
	t.colBuf = packRows(t.colBuf[:0], skip, Range{0, len(skip)})
	t.cols = t.colBuf
	t.pack(all)
	return t.run(ctx)
}
