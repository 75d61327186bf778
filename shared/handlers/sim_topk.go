package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/tasks"
)

// SimTopK finds the nearest catalogue books of one block of catalogue books.
type SimTopK struct{ *Deps }

// catalogFactors is the normalised factor matrix of the catalogue, shared
// by every sim:topk task of a run.
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

// ProcessTask implements asynq.Handler.
func (h SimTopK) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSimTopK(t.Payload())
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
	if p.Block >= l.Blocks(l.Catalog) {
		return fmt.Errorf("similarity block %d of run %s beyond the catalogue's %d: %w", p.Block, p.Run, l.Blocks(l.Catalog), asynq.SkipRetry)
	}
	cf, err := h.catalogFactors(ctx, plan)
	if err != nil {
		return err
	}
	start, end := l.Range(p.Block, l.Catalog)
	top := plan.Similarity.Top
	out := make([]similarity.Neighbor, (end-start)*top)
	kernel := h.Kernel
	if kernel == nil {
		kernel = similarity.Default
	}
	if err := kernel.TopK(ctx, cf.data, cf.k, cf.skip, start, end, top, out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("top-%d of similarity block %d of run %s: %w", top, p.Block, p.Run, err)
	}
	tk := blocks.TopK{Start: start, Top: top, Index: make([]int32, len(out)), Score: make([]float32, len(out))}
	for i, nb := range out {
		tk.Index[i], tk.Score[i] = nb.Index, nb.Score
	}
	return runstore.Open(h.Store, p.Run).PutTopK(ctx, p.Block, tk)
}
