package similarity

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// Range is the half-open range of rows [Start, End).
type Range struct{ Start, End int }

func (r Range) len() int { return r.End - r.Start }

// PairKernel scores pairs of rows once and feeds both rows' top lists, for
// block-pair scheduling: tasks over block pairs (I ≤ J) each call Pair, and
// the partial lists of a block are combined with [Merge].
type PairKernel interface {
	// Pair scores every pair (i in a, j in b, i<j when a==b, i!=j) of rows
	// of all (n×k normalised), skipping rows with skip[i], and inserts j
	// into row i's list la[(i-a.Start)*top:...] and i into row j's list (lb
	// when a!=b, la when a==b, lb nil then). Lists are kept sorted by score
	// desc then index asc, padded with Index -1; they may already hold
	// entries (feeding accumulates).
	//
	// a and b are equal or disjoint. Scores follow the summation order of
	// the package documentation, so every PairKernel gives the same bits.
	// Bad arguments (shapes, ranges, lists that are not sorted top lists,
	// NaN or ±Inf in a row of a or b not skipped) give an error, never a
	// panic, and leave the lists alone; on cancellation Pair returns
	// ctx.Err() and the lists hold some of the pairs.
	Pair(ctx context.Context, all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error
	// Name names the kernel in logs and benchmarks.
	Name() string
}

// DefaultPair is the fastest [PairKernel] the CPU supports: the AVX2
// kernel on amd64 CPUs that have AVX2 (unless built with the purego tag),
// otherwise [PortablePair]. Both give identical lists.
var DefaultPair PairKernel = defaultPair()

// PairKernels lists the pair kernels this build can run on this CPU,
// [DefaultPair] first: what a benchmark compares.
func PairKernels() []PairKernel {
	if _, ok := DefaultPair.(PortablePair); ok {
		return []PairKernel{DefaultPair}
	}
	return []PairKernel{DefaultPair, PortablePair{}}
}

// NewLists returns rows empty top lists of top entries each, all padding.
func NewLists(rows, top int) []Neighbor {
	out := make([]Neighbor, rows*top)
	for i := range out {
		out[i] = Neighbor{Index: -1}
	}
	return out
}

// Merge sets dst (rows of top entries) to the exact merge of parts, each
// laid out as dst: per row the top entries of the union, by score
// descending then lower index. Parts must be sorted top lists (as Pair
// leaves them); dst may be one of them.
func Merge(dst []Neighbor, top int, parts ...[]Neighbor) error {
	if top < 1 {
		return fmt.Errorf("similarity: merge top %d: must be at least 1", top)
	}
	if len(dst)%top != 0 {
		return fmt.Errorf("similarity: merge into %d entries, not a multiple of top %d", len(dst), top)
	}
	for p, part := range parts {
		if len(part) != len(dst) {
			return fmt.Errorf("similarity: merge part %d of %d entries into %d", p, len(part), len(dst))
		}
		if err := checkLists(part, top, math.MaxInt32); err != nil {
			return fmt.Errorf("similarity: merge part %d: %w", p, err)
		}
	}
	// heads[p] is the next entry of part p in the row being merged; the
	// merged row is built in row and copied over, so dst may be a part.
	heads := make([]int, len(parts))
	row := make([]Neighbor, top)
	for r := 0; r < len(dst); r += top {
		clear(heads)
		for e := range row {
			best := -1
			for p, part := range parts {
				if h := heads[p]; h < top && part[r+h].Index >= 0 &&
					(best < 0 || before(part[r+h], parts[best][r+heads[best]])) {
					best = p
				}
			}
			if best < 0 {
				row[e] = Neighbor{Index: -1}
				continue
			}
			row[e] = parts[best][r+heads[best]]
			heads[best]++
		}
		copy(dst[r:r+top], row)
	}
	return nil
}

// before reports whether x ranks above y in a top list: higher score, or
// the same score and a lower index.
func before(x, y Neighbor) bool {
	return x.Score > y.Score || x.Score == y.Score && x.Index < y.Index
}

// insert offers row j with score s to a sorted top list and reports whether
// it entered. Exact: whatever order candidates come in, a list ends up the
// top entries of its old entries and the candidates. A NaN score never
// enters (Pair's kernels only score NaN for unnormalised rows whose
// products overflow).
func insert(row []Neighbor, j int32, s float32) bool {
	nb := Neighbor{Index: j, Score: s}
	p := len(row) - 1
	if s != s || row[p].Index >= 0 && !before(nb, row[p]) {
		return false
	}
	for p > 0 && (row[p-1].Index < 0 || before(nb, row[p-1])) {
		row[p] = row[p-1]
		p--
	}
	row[p] = nb
	return true
}

// worst is the score a candidate must reach to enter a top list: its last
// score when the list is full, -Inf while it has room. A candidate equal to
// it may still enter by a lower index, so kernels filter with >=.
func worst(row []Neighbor) float32 {
	if last := row[len(row)-1]; last.Index >= 0 {
		return last.Score
	}
	return negInf
}

// checkPair validates Pair's arguments. Only the rows of a and b are
// checked for NaN and ±Inf: they are all a call reads, and scanning all n
// rows would cost as much as the block pair when n is large.
func checkPair(all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error {
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
	for _, r := range []struct {
		name string
		r    Range
	}{{"a", a}, {"b", b}} {
		if r.r.Start < 0 || r.r.End < r.r.Start || r.r.End > n {
			return fmt.Errorf("similarity: rows %s [%d,%d) outside [0,%d)", r.name, r.r.Start, r.r.End, n)
		}
	}
	diag := a == b
	if !diag && a.len() > 0 && b.len() > 0 && a.Start < b.End && b.Start < a.End {
		return fmt.Errorf("similarity: rows a [%d,%d) and b [%d,%d) overlap but are not equal", a.Start, a.End, b.Start, b.End)
	}
	if top < 1 {
		return fmt.Errorf("similarity: top %d: must be at least 1", top)
	}
	if want := a.len() * top; len(la) != want || want/top != a.len() {
		return fmt.Errorf("similarity: la has %d entries, want %d rows × top %d", len(la), a.len(), top)
	}
	if diag {
		if len(lb) != 0 {
			return fmt.Errorf("similarity: lb has %d entries, want none when a == b (pairs within a feed la)", len(lb))
		}
	} else if want := b.len() * top; len(lb) != want || want/top != b.len() {
		return fmt.Errorf("similarity: lb has %d entries, want %d rows × top %d", len(lb), b.len(), top)
	}
	if err := checkFinite(all, k, skip, a); err != nil {
		return err
	}
	if err := checkFinite(all, k, skip, b); err != nil {
		return err
	}
	if err := checkLists(la, top, n); err != nil {
		return fmt.Errorf("similarity: la: %w", err)
	}
	if err := checkLists(lb, top, n); err != nil {
		return fmt.Errorf("similarity: lb: %w", err)
	}
	return nil
}

// checkFinite rejects NaN and ±Inf in the rows of r that are not skipped,
// so that no score of normalised rows can be NaN.
func checkFinite(all []float32, k int, skip []bool, r Range) error {
	for i := r.Start; i < r.End; i++ {
		if skip[i] {
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

// checkLists checks that l holds sorted top lists of top entries: entries
// with an index in [0,n) and a score that is not NaN, strictly in list
// order, then padding (Index -1). The kernels' thresholds rely on it.
func checkLists(l []Neighbor, top, n int) error {
	for r := 0; r < len(l); r += top {
		row := l[r : r+top]
		for e, nb := range row {
			switch {
			case nb.Index == -1:
				for _, pad := range row[e+1:] {
					if pad.Index != -1 {
						return fmt.Errorf("row %d: entry %d after padding at rank %d", r/top, pad.Index, e)
					}
				}
			case nb.Index < 0 || int(nb.Index) >= n:
				return fmt.Errorf("row %d rank %d: index %d outside [0,%d)", r/top, e, nb.Index, n)
			case nb.Score != nb.Score:
				return fmt.Errorf("row %d rank %d: NaN score", r/top, e)
			case e > 0 && !before(row[e-1], nb):
				return fmt.Errorf("row %d rank %d: %+v does not rank below %+v", r/top, e, nb, row[e-1])
			default:
				continue
			}
			break
		}
	}
	return nil
}

// pairRows is the part of a Pair call both kernels share: the rows that
// take part, in packed order, and where their lists are.
type pairRows struct {
	k, top int
	diag   bool
	// rows and cols map packed positions to row indices: the rows of a and
	// of b that are not skipped, ascending. When diag they are the same;
	// colBuf keeps cols' own array across reuse.
	rows, cols []int32
	colBuf     []int32
	la, lb     []Neighbor // lb is la when diag
	aStart     int
	bStart     int
}

// rowList and colList are the top lists of packed row pi and column pj.
func (p *pairRows) rowList(pi int) []Neighbor {
	o := (int(p.rows[pi]) - p.aStart) * p.top
	return p.la[o : o+p.top]
}

func (p *pairRows) colList(pj int) []Neighbor {
	o := (int(p.cols[pj]) - p.bStart) * p.top
	return p.lb[o : o+p.top]
}

// setup fills p for a call whose arguments checkPair accepted, reusing the
// index slices it already has.
func (p *pairRows) setup(k int, skip []bool, a, b Range, top int, la, lb []Neighbor) {
	p.k, p.top, p.diag = k, top, a == b
	p.la, p.aStart = la, a.Start
	p.rows = packRows(p.rows[:0], skip, a)
	if p.diag {
		p.cols, p.lb, p.bStart = p.rows, la, a.Start
		return
	}
	p.colBuf = packRows(p.colBuf[:0], skip, b)
	p.cols, p.lb, p.bStart = p.colBuf, lb, b.Start
}

func packRows(dst []int32, skip []bool, r Range) []int32 {
	for i := r.Start; i < r.End; i++ {
		if !skip[i] {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

// PortablePair is the pure-Go [PairKernel], correct on every CPU: the
// reference the assembly kernel matches bit for bit.
type PortablePair struct{}

// Name implements [PairKernel].
func (PortablePair) Name() string { return "portable" }

// Pair implements [PairKernel]. It walks the rows of a in tiles of four
// against every column of b, so each column row loaded serves four rows,
// and keeps a threshold per row and per column so that an exact insert
// is only tried for a score that could enter a list.
func (PortablePair) Pair(ctx context.Context, all []float32, k int, skip []bool, a, b Range, top int, la, lb []Neighbor) error {
	if err := checkPair(all, k, skip, a, b, top, la, lb); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := portablePool.Get().(*portablePair)
	defer p.release()
	p.setup(k, skip, a, b, top, la, lb)
	p.all = all
	nr, nc := len(p.rows), len(p.cols)
	if p.diag {
		nc = 0
	}
	p.thrBuf = grow(p.thrBuf, nr+nc)
	p.rthr = thresholds(p.thrBuf[:nr], p.rowList)
	p.cthr = p.rthr
	if !p.diag {
		p.cthr = thresholds(p.thrBuf[nr:], p.colList)
	}
	for t := 0; t < len(p.rows); t += blockRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(t+blockRows, len(p.rows))
		r := t
		for ; r+4 <= end; r += 4 {
			p.tile4(r)
		}
		for ; r < end; r++ {
			p.one(r, p.first(r), len(p.cols))
		}
	}
	return nil
}

// thresholds sets thr[x] to the worst score of list(x).
func thresholds(thr []float32, list func(int) []Neighbor) []float32 {
	for x := range thr {
		thr[x] = worst(list(x))
	}
	return thr
}

// portablePair is the state of one PortablePair call, pooled so that a
// call allocates nothing once warm: rthr and cthr are the thresholds of the
// packed rows and columns (the same slice when diag), in thrBuf.
type portablePair struct {
	pairRows
	all        []float32
	rthr, cthr []float32
	thrBuf     []float32
}

var portablePool = sync.Pool{New: func() any { return new(portablePair) }}

// release drops the call's slices (the pool must not keep the caller's
// memory alive) and puts p back.
func (p *portablePair) release() {
	p.all, p.la, p.lb = nil, nil, nil
	portablePool.Put(p)
}

// grow returns s with length n, reusing its array when it can.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// first is the first packed column that row pi pairs with.
func (p *portablePair) first(pi int) int {
	if p.diag {
		return pi + 1
	}
	return 0
}

// offer feeds the pair of packed row pi and packed column pj with score s
// to both lists.
func (p *portablePair) offer(pi, pj int, s float32) {
	if s >= p.rthr[pi] {
		if l := p.rowList(pi); insert(l, p.cols[pj], s) {
			p.rthr[pi] = worst(l)
		}
	}
	if s >= p.cthr[pj] {
		if l := p.colList(pj); insert(l, p.rows[pi], s) {
			p.cthr[pj] = worst(l)
		}
	}
}

// tile4 scores packed rows r..r+3 against their columns. When diag the
// pairs among the four rows themselves go through one.
func (p *portablePair) tile4(r int) {
	k := p.k
	j0 := p.first(r)
	if p.diag {
		for q := r; q < r+3; q++ {
			p.one(q, q+1, min(r+4, len(p.cols)))
		}
		j0 = r + 4
	}
	a0 := p.all[int(p.rows[r])*k:][:k]
	a1 := p.all[int(p.rows[r+1])*k:][:k]
	a2 := p.all[int(p.rows[r+2])*k:][:k]
	a3 := p.all[int(p.rows[r+3])*k:][:k]
	for pj := j0; pj < len(p.cols); pj++ {
		c := p.all[int(p.cols[pj])*k:][:k]
		a0, a1, a2, a3 := a0[:len(c)], a1[:len(c)], a2[:len(c)], a3[:len(c)]
		x := c[0]
		// Every product is wrapped in a float32 conversion so the compiler
		// cannot fuse it into the addition (see sweep's scan functions).
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
		ct := p.cthr[pj]
		if s0 >= p.rthr[r] || s0 >= ct {
			p.offer(r, pj, s0)
		}
		if s1 >= p.rthr[r+1] || s1 >= ct {
			p.offer(r+1, pj, s1)
		}
		if s2 >= p.rthr[r+2] || s2 >= ct {
			p.offer(r+2, pj, s2)
		}
		if s3 >= p.rthr[r+3] || s3 >= ct {
			p.offer(r+3, pj, s3)
		}
	}
}

// one scores packed row pi against packed columns [j0, j1).
func (p *portablePair) one(pi, j0, j1 int) {
	k := p.k
	a := p.all[int(p.rows[pi])*k:][:k]
	for pj := j0; pj < j1; pj++ {
		c := p.all[int(p.cols[pj])*k:][:k]
		a := a[:len(c)]
		s := float32(a[0] * c[0])
		for d := 1; d < len(c); d++ {
			s += float32(a[d] * c[d])
		}
		if s >= p.rthr[pi] || s >= p.cthr[pj] {
			p.offer(pi, pj, s)
		}
	}
}
