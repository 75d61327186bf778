//go:build !purego

package similarity

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"sync"

	"golang.org/x/sys/cpu"
)

// defaultPair picks the AVX2 kernel when the CPU (and the OS) support it.
func defaultPair() PairKernel {
	if cpu.X86.HasAVX2 {
		return AVX2Pair{}
	}
	return PortablePair{}
}

var errNoAVX2 = errors.New("similarity: the avx2 kernel needs a CPU with AVX2")

const (
	// tileRows × tileCols is pairScan's tile, in twelve YMM registers.
	tileRows = 6
	tileCols = 16
	// panelChunkBytes bounds the column panels every row group sweeps before
	// the next chunk, so that they stay in L2 (512 KiB per core here). The
	// panels are packed a chunk at a time, so a call holds no more of them
	// than that however many columns it has (TopK: all n rows).
	panelChunkBytes = 256 << 10
	// ctxGroups is how many row groups run between checks of ctx.
	ctxGroups = 32
)

// tile is what pairScan leaves for a panel with a hit: the 6×16 scores,
// row-major, and per row two masks of columns: bits 0-15 those whose score
// is not below the row's threshold, bits 16-31 those whose score is not
// below the column's (a NaN score sets both). Layout fixed by the assembly.
type tile struct {
	s [tileRows * tileCols]float32
	m [tileRows]uint32
}

// pairScan scores the 6 rows at a (k×6 floats: dimension-major, row r of
// dimension d at a[d*6+r]) against panels 0..np-1 at bp (each k×16 floats,
// column c of dimension d at [d*16+c]), in order. It returns the first
// panel with a score s where !(s < rthr[r]) or !(s < cthr[16p+c]), having
// stored that tile at hit, or np when there is none. Scores are exactly
// the package's (products rounded, summed in dimension order, no FMA).
//
//go:noescape
func pairScan(k int, a *float32, bp *float32, np int, rthr *float32, cthr *float32, hit *tile) int

// openThr is a threshold every score passes: pairScan with it stores a
// tile unconditionally.
var openThr = func() (t [tileCols]float32) {
	for i := range t {
		t[i] = negInf
	}
	return t
}()

// AVX2Pair is the [PairKernel] in AVX2 assembly (pair_amd64.s). It gives
// the same lists as [PortablePair], bit for bit; on a CPU without AVX2
// Pair returns an error.
//
// The rows of a that are not skipped are packed in groups of six, the
// columns (rows of b) in panels of sixteen, transposed so that a panel's
// values for one dimension are one 64-byte load. pairScan keeps a 6×16
// tile in registers and compares it with each row's threshold (the worst
// score of its list, -Inf while it has room) and with each column's: a
// pair feeds both lists. Only tiles with a score that may enter a list
// come back to Go, where insert decides exactly.
type AVX2Pair struct{}

// Name implements [PairKernel].
func (AVX2Pair) Name() string { return "avx2" }

// Pair implements [PairKernel].
func (AVX2Pair) Pair(ctx context.Context, all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error {
	if !cpu.X86.HasAVX2 {
		return errNoAVX2
	}
	if err := checkPair(all, k, skip, a, b, top, la, lb); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := tiledPool.Get().(*tiled)
	defer t.release()
	t.setup(k, skip, a, b, top, la, lb)
	t.oneSided = false
	t.pack(all)
	return t.run(ctx)
}

// tiled is the state of one AVX2Pair or AVX2 call, pooled so that a call
// allocates nothing once warm.
type tiled struct {
	pairRows
	all            []float32
	groups, panels int
	apack          []float32 // [groups][k][6], zero padded
	bpan           []float32 // the chunk's panels: [panel][k][16], zero padded
	rthr, cthr     []float32 // per packed row / column, +Inf padded; one slice when diag
	thrBuf         []float32
	hit            tile
	// oneSided feeds the rows' lists only, and never a row itself (TopK:
	// the rows are queries, the columns all rows).
	oneSided bool
}

var tiledPool = sync.Pool{New: func() any { return new(tiled) }}

// release drops the call's slices (the pool must not keep the caller's
// memory alive) and puts t back.
func (t *tiled) release() {
	t.all, t.la, t.lb = nil, nil, nil
	tiledPool.Put(t)
}

// pack lays out the rows and the thresholds; run packs the panels.
func (t *tiled) pack(all []float32) {
	k := t.k
	t.all = all
	t.groups = (len(t.rows) + tileRows - 1) / tileRows
	t.panels = (len(t.cols) + tileCols - 1) / tileCols
	t.apack = grow(t.apack, t.groups*k*tileRows)
	clear(t.apack)
	for pi, i := range t.rows {
		g, r := pi/tileRows, pi%tileRows
		for d, x := range all[int(i)*k : int(i)*k+k] {
			t.apack[(g*k+d)*tileRows+r] = x
		}
	}
	// Padding rows and columns get +Inf thresholds: their scores (0) never
	// pass on their own account, and Go ignores them in a hit tile. So do
	// all columns when oneSided.
	nr, nc := t.groups*tileRows, t.panels*tileCols
	if t.diag {
		nr = max(nr, nc)
		nc = 0
	}
	t.thrBuf = grow(t.thrBuf, nr+nc)
	t.rthr, t.cthr = t.thrBuf[:nr], t.thrBuf[nr:]
	inf := float32(math.Inf(1))
	for pi := range t.rthr {
		if pi < len(t.rows) {
			t.rthr[pi] = worst(t.rowList(pi))
		} else {
			t.rthr[pi] = inf
		}
	}
	if t.diag {
		t.cthr = t.rthr
		return
	}
	for pj := range t.cthr {
		if pj < len(t.cols) && !t.oneSided {
			t.cthr[pj] = worst(t.colList(pj))
		} else {
			t.cthr[pj] = inf
		}
	}
}

// run sweeps every row group over the panels, a chunk of panels at a time.
// When diag, a group starts at the first panel with a column after its
// first row; the panels that also hold columns at or before its rows
// straddle the diagonal and are taken whole, for Go to drop the pairs
// with j <= i.
func (t *tiled) run(ctx context.Context) error {
	k := t.k
	chunk := max(1, panelChunkBytes/(4*k*tileCols))
	for c0 := 0; c0 < t.panels; c0 += chunk {
		c1 := min(c0+chunk, t.panels)
		t.packPanels(c0, c1)
		for g := range t.groups {
			if g%ctxGroups == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			a := &t.apack[g*k*tileRows]
			p := c0
			if t.diag {
				p = max(p, (tileRows*g+1)/tileCols)
				for end := min(c1, (tileRows*g+tileRows-1)/tileCols+1); p < end; p++ {
					pairScan(k, a, &t.bpan[(p-c0)*k*tileCols], 1, &openThr[0], &openThr[0], &t.hit)
					t.take(g, p)
				}
			}
			for p < c1 {
				h := pairScan(k, a, &t.bpan[(p-c0)*k*tileCols], c1-p, &t.rthr[g*tileRows], &t.cthr[p*tileCols], &t.hit)
				if p += h; p == c1 {
					break
				}
				t.take(g, p)
				p++
			}
		}
	}
	return nil
}

// packPanels lays out the columns of panels [p0, p1) in t.bpan.
func (t *tiled) packPanels(p0, p1 int) {
	k := t.k
	t.bpan = grow(t.bpan, (p1-p0)*k*tileCols)
	clear(t.bpan)
	for pj := p0 * tileCols; pj < min(p1*tileCols, len(t.cols)); pj++ {
		p, c := pj/tileCols-p0, pj%tileCols
		j := int(t.cols[pj])
		for d, x := range t.all[j*k : j*k+k] {
			t.bpan[(p*k+d)*tileCols+c] = x
		}
	}
}

// take feeds the pairs of the hit tile at row group g, panel p: those
// flagged for the row to the row's list, those flagged for the column to
// the column's, each when it still reaches the list's threshold (an insert
// earlier in the tile may have raised it); insert decides exactly.
func (t *tiled) take(g, p int) {
	// Columns past the last are padding.
	valid := uint32(1)<<min(tileCols, len(t.cols)-p*tileCols) - 1
	for r, m := range t.hit.m {
		pi := g*tileRows + r
		if m == 0 || pi >= len(t.rows) {
			continue
		}
		v := valid
		if t.diag && pi >= p*tileCols {
			// A tile on the diagonal: the pairs with j <= i are not this
			// call's.
			v &^= uint32(1)<<min(tileCols, pi-p*tileCols+1) - 1
		}
		s := t.hit.s[r*tileCols : r*tileCols+tileCols]
		row := t.rowList(pi)
		i := t.rows[pi]
		for rm := m & v; rm != 0; rm &= rm - 1 {
			c := bits.TrailingZeros32(rm)
			j := t.cols[p*tileCols+c]
			if sc := s[c]; sc >= t.rthr[pi] && j != i && insert(row, j, sc) {
				t.rthr[pi] = worst(row)
			}
		}
		if t.oneSided {
			continue
		}
		for cm := m >> tileCols & v; cm != 0; cm &= cm - 1 {
			c := bits.TrailingZeros32(cm)
			pj := p*tileCols + c
			if sc := s[c]; sc >= t.cthr[pj] {
				if col := t.colList(pj); insert(col, i, sc) {
					t.cthr[pj] = worst(col)
				}
			}
		}
	}
}
