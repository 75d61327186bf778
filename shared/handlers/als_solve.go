package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/tasks"
)

// ALSSolve solves one block of one side of an ALS half-iteration.
type ALSSolve struct{ *Deps }

// ProcessTask implements asynq.Handler.
func (h ALSSolve) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseALSSolve(t.Payload())
	if err != nil {
		return err
	}
	h.started(ctx, p.Run, "als")
	plan, err := h.planOf(ctx, p.Run, p.Gen)
	if err != nil {
		return err
	}
	l, err := h.layout(ctx, p.Run)
	if err != nil {
		return err
	}
	if p.Iteration > plan.ALS.Iterations {
		return fmt.Errorf("iteration %d of run %s beyond the plan's %d: %w", p.Iteration, p.Run, plan.ALS.Iterations, asynq.SkipRetry)
	}
	n := l.Rows(p.Side)
	if p.Block >= l.Blocks(n) {
		return fmt.Errorf("%s block %d of run %s beyond the layout's %d: %w", p.Side, p.Block, p.Run, l.Blocks(n), asynq.SkipRetry)
	}
	start, end := l.Range(p.Block, n)
	ctx = withPhase(ctx, p.Phase())

	rows, err := h.ratings(ctx, plan, p.Side, p.Block)
	if err != nil {
		return err
	}
	if rows.Start != start || len(rows.RowPtr)-1 != end-start {
		return fmt.Errorf("%s rating block %d of run %s holds rows %d+%d, want %d+%d: %w",
			p.Side, p.Block, p.Run, rows.Start, len(rows.RowPtr)-1, start, end-start, asynq.SkipRetry)
	}
	// Items at iteration i solve against users of i-1 (0 is the init);
	// users at iteration i solve against the items just computed.
	fixedIter := p.Iteration
	if p.Side == "items" {
		fixedIter = p.Iteration - 1
	}
	fixed, err := h.factors(ctx, plan, l, fixedIter, tasks.Other(p.Side))
	if err != nil {
		return err
	}
	k := plan.ALS.Rank
	out := make([]float32, (end-start)*k)
	if err := als.SolveBlock(ctx, fixed, als.Rows{RowPtr: rows.RowPtr, Col: rows.Col, Val: rows.Val}, plan.ALS, out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("solve %s block %d of iteration %d of run %s: %w", p.Side, p.Block, p.Iteration, p.Run, err)
	}
	return runstore.Open(h.Store, p.Run).PutFactors(ctx, p.Iteration, p.Side, p.Block, blocks.Factors{Start: start, K: k, Data: out})
}
