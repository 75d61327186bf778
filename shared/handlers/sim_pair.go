package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/tasks"
)

// SimPair scores the books of one group of catalogue blocks against those
// of another (or the same) group, each pair of books once, and writes every
// block's partial top lists from that pair of groups.
type SimPair struct{ *Deps }

// catalogFactors is the normalised factor matrix of the catalogue, shared
// by every similarity task of a run.
type catalogFactors struct {
	data []float32
	skip []bool
	k    int
}

func (d *Deps) catalogFactors(ctx context.Context, plan tasks.Plan) (catalogFactors, error) {
	run := plan.Run
	v, err := d.Cache.Get(ctx, runstore.RunKeys(run).CatalogFactors(), func(ctx context.Context) (any, int64, error) {
		f, n, err := runstore.Open(d.Store, run).CatalogFactors(ctx)
		d.fetched(ctx, run, n)
		if err != nil {
			return nil, 0, err
		}
		// The coordinator stores them normalised; normalising again is a
		// no-op for unit rows and marks any zero row to skip.
		skip := similarity.Normalize(f.Data, f.K)
		return catalogFactors{data: f.Data, skip: skip, k: f.K}, int64(len(f.Data)*4 + len(skip)), nil
	})
	if err != nil {
		return catalogFactors{}, d.redo(ctx, plan, err)
	}
	return v.(catalogFactors), nil
}

// pairWriters bounds the partial-list writes one sim:pair task has in
// flight.
const pairWriters = 4

// ProcessTask implements asynq.Handler.
func (h SimPair) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSimPair(t.Payload())
	if err != nil {
		return err
	}
	h.started(ctx, p.Run, "similarity")
	plan, err := h.planOf(ctx, p.Run, p.Gen)
	if err != nil {
		return err
	}
	l, err := h.catalogLayout(ctx, p.Run)
	if err != nil {
		return err
	}
	if p.J >= l.Groups() {
		return fmt.Errorf("similarity group pair (%d, %d) of run %s beyond the catalogue's %d groups: %w", p.I, p.J, p.Run, l.Groups(), asynq.SkipRetry)
	}
	cf, err := h.catalogFactors(ctx, plan)
	if err != nil {
		return err
	}
	top := plan.Similarity.Top
	var a, b similarity.Range
	a.Start, a.End = l.GroupRows(p.I)
	b.Start, b.End = l.GroupRows(p.J)
	la := similarity.NewLists(a.End-a.Start, top)
	var lb []similarity.Neighbor
	if p.I != p.J {
		lb = similarity.NewLists(b.End-b.Start, top)
	}
	if err := h.kernel().Pair(ctx, cf.data, cf.k, cf.skip, a, b, top, la, lb); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("top-%d of similarity group pair (%d, %d) of run %s: %w", top, p.I, p.J, p.Run, err)
	}
	rs := runstore.Open(h.Store, p.Run)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pairWriters)
	put := func(group int, r similarity.Range, lists []similarity.Neighbor) {
		first, end := l.GroupBlockRange(group)
		for blk := first; blk < end; blk++ {
			start, stop := l.Range(blk, l.Catalog)
			part := lists[(start-r.Start)*top : (stop-r.Start)*top]
			g.Go(func() error { return rs.PutPair(gctx, p.I, p.J, blk, topKOf(start, top, part)) })
		}
	}
	put(p.I, a, la)
	if p.I != p.J {
		put(p.J, b, lb)
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return rs.PutPaired(ctx, p.I, p.J)
}

func (d *Deps) kernel() similarity.PairKernel {
	if d.Kernel == nil {
		return similarity.DefaultPair
	}
	return d.Kernel
}

// topKOf is the block of lists (rows from start, top entries each).
func topKOf(start, top int, lists []similarity.Neighbor) blocks.TopK {
	tk := blocks.TopK{Start: start, Top: top, Index: make([]int32, len(lists)), Score: make([]float32, len(lists))}
	for i, nb := range lists {
		tk.Index[i], tk.Score[i] = nb.Index, nb.Score
	}
	return tk
}
