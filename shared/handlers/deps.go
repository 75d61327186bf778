package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// TargetOpener returns the output target a plan names. Endpoints and
// credentials come from the process's configuration, not the plan.
type TargetOpener func(ctx context.Context, run string, spec tasks.TargetSpec) (dynamo.Target, error)

// Counter records per-run task statistics (tasks run, retried, bytes
// fetched) where the coordinator can read them for the report.
type Counter interface {
	Add(ctx context.Context, run, name string, n int64)
	// Span widens phase's span to include a task that ran start..end.
	Span(ctx context.Context, run, phase string, start, end time.Time)
}

// Deps are what every handler needs.
type Deps struct {
	Store   store.Store
	Cache   *Cache
	Targets TargetOpener
	Counter Counter
	Kernel  similarity.Kernel
	Logger  *slog.Logger
	// Fetched counts bytes read from the store by this process.
	Fetched *atomic.Int64
	// Name identifies this process in per-worker counters (host:pid).
	Name string
}

// FetchedPrefix starts the names of per-worker fetch counters:
// "bytes_fetched:<phase>@<worker>", phase being e.g. "train:003:items".
const FetchedPrefix = "bytes_fetched:"

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
		d.count(ctx, run, FetchedPrefix+phase+"@"+d.Name, n)
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

// read fetches a whole object, counting its bytes.
func (d *Deps) read(ctx context.Context, run, key string) ([]byte, error) {
	data, err := readAll(ctx, d.Store, key)
	if err != nil {
		return nil, err
	}
	d.fetched(ctx, run, int64(len(data)))
	return data, nil
}

// missingInput turns a missing store object into a retryable error that
// says what is missing: an upstream block may not be visible yet, or the
// run's outputs were removed, in which case retries run out and the run
// fails with this message.
func missingInput(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s is not in the block store: %w", what, err)
	}
	return fmt.Errorf("read %s: %w", what, err)
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
		data, err := d.read(ctx, run, store.RunKeys(run).Plan())
		if err != nil {
			return nil, 0, missingInput(err, "plan of run "+run)
		}
		p, err := tasks.DecodePlan(data)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return p, int64(len(data)), nil
	})
	if err != nil {
		return tasks.Plan{}, err
	}
	return v.(tasks.Plan), nil
}

func (d *Deps) jsonDoc(ctx context.Context, run, key string, v any) error {
	data, err := d.read(ctx, run, key)
	if err != nil {
		return missingInput(err, key)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func (d *Deps) layout(ctx context.Context, run string) (tasks.Layout, error) {
	v, err := d.Cache.Get(ctx, "layout:"+run, func(ctx context.Context) (any, int64, error) {
		var l tasks.Layout
		if err := d.jsonDoc(ctx, run, store.RunKeys(run).Layout(), &l); err != nil {
			return nil, 0, err
		}
		return l, 64, nil
	})
	if err != nil {
		return tasks.Layout{}, err
	}
	return v.(tasks.Layout), nil
}

func (d *Deps) catalogLayout(ctx context.Context, run string) (tasks.Layout, error) {
	v, err := d.Cache.Get(ctx, "catlayout:"+run, func(ctx context.Context) (any, int64, error) {
		var l tasks.Layout
		if err := d.jsonDoc(ctx, run, store.RunKeys(run).CatalogLayout(), &l); err != nil {
			return nil, 0, err
		}
		return l, 64, nil
	})
	if err != nil {
		return tasks.Layout{}, err
	}
	return v.(tasks.Layout), nil
}

// ratings returns training rating block b of side; rating blocks never
// change during a run, so they stay cached across iterations.
func (d *Deps) ratings(ctx context.Context, run, side string, b int) (blocks.Ratings, error) {
	key := store.RunKeys(run).Ratings(side, b)
	v, err := d.Cache.Get(ctx, key, func(ctx context.Context) (any, int64, error) {
		data, err := d.read(ctx, run, key)
		if err != nil {
			return nil, 0, missingInput(err, fmt.Sprintf("%s rating block %d", side, b))
		}
		r, err := decodeRatings(bytes.NewReader(data))
		if err != nil {
			return nil, 0, fmt.Errorf("decode %s rating block %d of run %s: %w", side, b, run, err)
		}
		return r, int64(len(r.RowPtr)*4 + len(r.Col)*4 + len(r.Val)*4), nil
	})
	if err != nil {
		return blocks.Ratings{}, err
	}
	return v.(blocks.Ratings), nil
}

// factors returns the whole factor matrix of side after iteration (rows ×
// k): iteration 0 of users is the seeded init, computed, not stored.
func (d *Deps) factors(ctx context.Context, plan tasks.Plan, l tasks.Layout, iteration int, side string) ([]float32, error) {
	key := fmt.Sprintf("factors:%s:%d:%s", plan.Run, iteration, side)
	v, err := d.Cache.Get(ctx, key, func(ctx context.Context) (any, int64, error) {
		out, n, err := ReadFactors(ctx, d.Store, plan, l, iteration, side)
		d.fetched(ctx, plan.Run, n)
		return out, int64(len(out) * 4), err
	})
	if err != nil {
		return nil, err
	}
	return v.([]float32), nil
}

// ReadFactors assembles the whole factor matrix (rows × k) of side after
// iteration from its blocks, and reports the bytes read. Iteration 0 of
// users is the seeded init, computed, not read.
func ReadFactors(ctx context.Context, st store.Store, plan tasks.Plan, l tasks.Layout, iteration int, side string) ([]float32, int64, error) {
	k := plan.ALS.Rank
	n := l.Rows(side)
	out := make([]float32, n*k)
	if iteration == 0 {
		als.InitFactors(plan.ALS.Seed, sideOf(side), 0, k, out)
		return out, 0, nil
	}
	keys := store.RunKeys(plan.Run)
	var fetched int64
	for b := range l.Blocks(n) {
		if err := ctx.Err(); err != nil {
			return nil, fetched, err
		}
		start, end := l.Range(b, n)
		data, err := readAll(ctx, st, keys.Factors(iteration, side, b))
		fetched += int64(len(data))
		if err != nil {
			return nil, fetched, missingInput(err, fmt.Sprintf("%s factor block %d of iteration %d", side, b, iteration))
		}
		f, err := decodeFactors(bytes.NewReader(data))
		if err != nil {
			return nil, fetched, fmt.Errorf("decode %s factor block %d of iteration %d of run %s: %w", side, b, iteration, plan.Run, err)
		}
		if f.Start != start || f.K != k || len(f.Data) != (end-start)*k {
			return nil, fetched, fmt.Errorf("%s factor block %d of iteration %d of run %s holds rows %d+%d×%d, want %d+%d×%d",
				side, b, iteration, plan.Run, f.Start, len(f.Data)/max(f.K, 1), f.K, start, end-start, k)
		}
		copy(out[start*k:end*k], f.Data)
	}
	return out, fetched, nil
}

// ReadRatings reads and decodes one rating block.
func ReadRatings(ctx context.Context, st store.Store, key string) (blocks.Ratings, error) {
	data, err := readAll(ctx, st, key)
	if err != nil {
		return blocks.Ratings{}, missingInput(err, key)
	}
	r, err := decodeRatings(bytes.NewReader(data))
	if err != nil {
		return blocks.Ratings{}, fmt.Errorf("decode %s: %w", key, err)
	}
	return r, nil
}

func readAll(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return data, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

func sideOf(side string) als.Side {
	if side == "users" {
		return als.Users
	}
	return als.Items
}

// put encodes with enc and writes the result under key.
func (d *Deps) put(ctx context.Context, key string, enc func(w io.Writer) error) error {
	var buf bytes.Buffer
	if err := enc(&buf); err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := d.Store.Put(ctx, key, &buf); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
