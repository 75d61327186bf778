package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// Enqueuer adds tasks (an *asynq.Client): a handler that finds one of its
// input blocks corrupt enqueues the block's producer again.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Deps are what every handler needs.
type Deps struct {
	Store    store.Store
	Cache    *Cache
	Targets  dynamo.Opener
	Counter  runstate.Counter
	Enqueuer Enqueuer
	Kernel   similarity.PairKernel
	Logger   *slog.Logger
	// Fetched counts bytes read from the store by this process.
	Fetched *atomic.Int64
	// Name identifies this process in per-worker counters (host:pid).
	Name string
}

// ProcessName is the default Deps.Name: host:pid.
func ProcessName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

type phaseKey struct{}

// withPhase labels the store reads made under ctx with the run phase
// (a half-iteration), so they are counted per worker and phase.
func withPhase(ctx context.Context, phase string) context.Context {
	return context.WithValue(ctx, phaseKey{}, phase)
}

// fetched counts n bytes read from the store for run: in this process's
// total, in the run's total, and per worker and phase when ctx has one.
func (d *Deps) fetched(ctx context.Context, run string, n int64) {
	if d.Fetched != nil {
		d.Fetched.Add(n)
	}
	d.count(ctx, run, "bytes_fetched", n)
	if phase, ok := ctx.Value(phaseKey{}).(string); ok && d.Name != "" {
		d.count(ctx, run, runstate.FetchedPrefix+phase+"@"+d.Name, n)
	}
}

func (d *Deps) count(ctx context.Context, run, name string, n int64) {
	if d.Counter != nil {
		d.Counter.Add(ctx, run, name, n)
	}
}

// started records one delivery of a task of kind for the report.
func (d *Deps) started(ctx context.Context, run, kind string) {
	d.count(ctx, run, "tasks_run:"+kind, 1)
	if n, ok := asynq.GetRetryCount(ctx); ok && n > 0 {
		d.count(ctx, run, "tasks_retried:"+kind, 1)
	}
}

// planOf returns the plan of a task's run and generation. When the plan in
// the cache is of another generation (the run was written anew since),
// everything cached of the run is dropped and the plan read again; a task
// whose generation is not the stored plan's is of an earlier generation
// and is refused.
func (d *Deps) planOf(ctx context.Context, run, gen string) (tasks.Plan, error) {
	p, err := d.plan(ctx, run)
	if err != nil || gen == "" || p.Gen == gen {
		return p, err
	}
	d.Cache.Purge(func(key string) bool { return strings.Contains(key, run) })
	if p, err = d.plan(ctx, run); err != nil || p.Gen == gen {
		return p, err
	}
	return p, fmt.Errorf("task of generation %s of run %s, but the stored plan is generation %s: %w", gen, run, p.Gen, asynq.SkipRetry)
}

func (d *Deps) plan(ctx context.Context, run string) (tasks.Plan, error) {
	v, err := d.Cache.Get(ctx, "plan:"+run, func(ctx context.Context) (any, int64, error) {
		p, data, err := runstore.Open(d.Store, run).Plan(ctx)
		d.fetched(ctx, run, int64(len(data)))
		if err != nil && data != nil { // stored but unreadable: retrying cannot help
			err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return p, int64(len(data)), err
	})
	if err != nil {
		return tasks.Plan{}, err
	}
	return v.(tasks.Plan), nil
}

func (d *Deps) doc(ctx context.Context, run string, doc runstore.Doc, name string) (tasks.Layout, error) {
	v, err := d.Cache.Get(ctx, name+":"+run, func(ctx context.Context) (any, int64, error) {
		var l tasks.Layout
		err := runstore.Open(d.Store, run).GetJSON(ctx, doc, &l)
		return l, 64, err
	})
	if err != nil {
		return tasks.Layout{}, fmt.Errorf("read %s of run %s: %w", name, run, err)
	}
	return v.(tasks.Layout), nil
}

func (d *Deps) layout(ctx context.Context, run string) (tasks.Layout, error) {
	return d.doc(ctx, run, runstore.LayoutDoc, "layout")
}

func (d *Deps) catalogLayout(ctx context.Context, run string) (tasks.Layout, error) {
	return d.doc(ctx, run, runstore.CatalogLayoutDoc, "catalogue layout")
}

// ratings returns training rating block b of side; rating blocks never
// change during a run, so they stay cached across iterations.
func (d *Deps) ratings(ctx context.Context, plan tasks.Plan, side string, b int) (blocks.Ratings, error) {
	v, err := d.Cache.Get(ctx, runstore.RunKeys(plan.Run).Ratings(side, b), func(ctx context.Context) (any, int64, error) {
		r, n, err := runstore.Open(d.Store, plan.Run).Ratings(ctx, side, b)
		d.fetched(ctx, plan.Run, n)
		return r, int64(len(r.RowPtr)*4 + len(r.Col)*4 + len(r.Val)*4), err
	})
	if err != nil {
		return blocks.Ratings{}, d.redo(ctx, plan, err)
	}
	return v.(blocks.Ratings), nil
}

// factors returns the whole factor matrix of side after iteration (rows ×
// k): iteration 0 of users is the seeded init, computed, not stored.
func (d *Deps) factors(ctx context.Context, plan tasks.Plan, l tasks.Layout, iteration int, side string) ([]float32, error) {
	key := fmt.Sprintf("factors:%s:%d:%s", plan.Run, iteration, side)
	v, err := d.Cache.Get(ctx, key, func(ctx context.Context) (any, int64, error) {
		out, n, err := runstore.Open(d.Store, plan.Run).ReadFactors(ctx, plan, l, iteration, side)
		d.fetched(ctx, plan.Run, n)
		return out, int64(len(out) * 4), err
	})
	if err != nil {
		return nil, d.redo(ctx, plan, err)
	}
	return v.([]float32), nil
}

// redoWindow groups the consumers that find the same corrupt block at
// about the same time into one producer re-run.
const redoWindow = 10 * time.Second

// redo handles an input block found corrupt: the block is removed, never
// consumed, and the block task that produced it is enqueued again; the
// returned error makes this task retry once the block is written anew.
// Blocks the coordinator writes itself (ratings, the catalogue) cannot be
// produced by a block task: the error then fails the task for good.
func (d *Deps) redo(ctx context.Context, plan tasks.Plan, err error) error {
	var ce *runstore.CorruptError
	if !errors.As(err, &ce) {
		return err
	}
	rs := runstore.Open(d.Store, plan.Run)
	var t *asynq.Task
	var id string
	var terr error
	switch ce.Block.Kind {
	case "factors":
		p := tasks.ALSSolve{Run: plan.Run, Gen: plan.Gen, Iteration: ce.Block.Iteration, Side: ce.Block.Side, Block: ce.Block.Index}
		t, terr = tasks.NewALSSolve(p)
		id = p.ID()
	case "pair":
		p := tasks.SimPair{Run: plan.Run, Gen: plan.Gen, I: ce.Block.Pair[0], J: ce.Block.Pair[1]}
		t, terr = tasks.NewSimPair(p)
		id = p.ID()
	case "topk":
		p := tasks.SimMerge{Run: plan.Run, Gen: plan.Gen, Block: ce.Block.Index}
		t, terr = tasks.NewSimMerge(p)
		id = p.ID()
	default:
		return fmt.Errorf("%w (written by the coordinator, not a block task: run again with --fresh): %w", err, asynq.SkipRetry)
	}
	if terr != nil {
		return fmt.Errorf("%w; re-run its producer: %w", err, terr)
	}
	if rerr := rs.Remove(ctx, ce.Key); rerr != nil {
		return fmt.Errorf("%w; %w", err, rerr)
	}
	d.count(ctx, plan.Run, runstate.CorruptPrefix+ce.Block.Kind, 1)
	if d.Enqueuer == nil {
		return fmt.Errorf("%w; removed it, but this worker has no client to enqueue its producer: %w", err, asynq.SkipRetry)
	}
	redoID := fmt.Sprintf("%s:redo:%d", id, time.Now().Unix()/int64(redoWindow/time.Second))
	_, qerr := d.Enqueuer.EnqueueContext(ctx, t, asynq.TaskID(redoID), asynq.MaxRetry(plan.TaskRetries()))
	if qerr != nil && !errors.Is(qerr, asynq.ErrTaskIDConflict) && !errors.Is(qerr, asynq.ErrDuplicateTask) {
		return fmt.Errorf("%w; enqueue %s again: %w", err, id, qerr)
	}
	if d.Logger != nil {
		d.Logger.Warn("block_corrupt", "run_id", plan.Run, "block", ce.Block.String(), "key", ce.Key, "redo_task", redoID, "err", ce.Err)
	}
	return fmt.Errorf("%w; removed it and enqueued its producer %s again", err, redoID)
}
