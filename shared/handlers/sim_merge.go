package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/tasks"
)

// SimMerge merges the partial top lists of one catalogue block, one from
// each group pair the block's group takes part in, into its top-k block.
type SimMerge struct{ *Deps }

// ProcessTask implements asynq.Handler.
func (h SimMerge) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSimMerge(t.Payload())
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
	rs := runstore.Open(h.Store, p.Run)
	g := l.GroupOf(p.Block)
	parts := make([][]similarity.Neighbor, 0, l.Groups())
	for o := range l.Groups() {
		i, j := min(g, o), max(g, o)
		tk, n, err := rs.Pair(ctx, i, j, p.Block)
		h.fetched(ctx, p.Run, n)
		if err != nil {
			return h.redo(ctx, plan, err)
		}
		part := make([]similarity.Neighbor, len(tk.Index))
		for e := range part {
			part[e] = similarity.Neighbor{Index: tk.Index[e], Score: tk.Score[e]}
		}
		parts = append(parts, part)
	}
	start, end := l.Range(p.Block, l.Catalog)
	top := plan.Similarity.Top
	out := make([]similarity.Neighbor, (end-start)*top)
	if err := similarity.Merge(out, top, parts...); err != nil {
		return fmt.Errorf("merge similarity block %d of run %s: %w", p.Block, p.Run, err)
	}
	return rs.PutTopK(ctx, p.Block, topKOf(start, top, out))
}
