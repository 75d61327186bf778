package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/betterread/pipeline/shared/buildinfo"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// Runner carries out runs: it is the handler of pipeline:run tasks. Each
// stage first looks in the store for its outputs, so a run delivered again
// after a crash resumes where the stored outputs show it stopped. While it
// carries a run out it holds the run's lease (runstate.Acquire): nothing
// else rewrites or deletes the run's objects meanwhile.
type Runner struct {
	Store     store.Store
	Client    *asynq.Client
	Inspector *asynq.Inspector
	// RedisOpt, when set, lets the runner make a fresh asynq client after
	// Redis lost its data (see Republish).
	RedisOpt asynq.RedisConnOpt
	Redis    redis.UniversalClient
	Targets  dynamo.Opener
	Observer runstate.Observer
	Stats    Stats // optional
	Logger   *slog.Logger
	// Name identifies this process as the holder of a run's lease and in
	// its attempts ("coordinator serve host:pid"; the coordinators set it).
	Name string
	// LeaseTTL is how long a run's lease lives unrenewed; 0 means
	// runstate.DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Interrupt, when it ends, stops the run in progress at once (the
	// process got SIGINT or SIGTERM): the report says "interrupted" and
	// the run task is retried, resuming from the store. asynq would
	// otherwise let the run go on until its shutdown timeout.
	Interrupt context.Context
}

// Stats receive stage and run outcomes (the serve command's Prometheus
// metrics).
type Stats interface {
	StageDone(stage, status string, seconds float64)
	RunDone(status string, seconds float64)
}

// ProcessTask implements asynq.Handler for pipeline:run.
func (r *Runner) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParsePipelineRun(t.Payload())
	if err != nil {
		return err
	}
	_, err = r.Run(ctx, p.Run, p.Trigger)
	return err
}

var (
	// ErrNotVerified is returned when a run finished but its output did
	// not pass verification.
	ErrNotVerified = errors.New("output not verified")
	// ErrBadInput is returned when the inputs cannot make a model: missing
	// or malformed files, nothing left after filtering.
	ErrBadInput = errors.New("bad input")
	// errBlockFailed is a block task that ran out of retries.
	errBlockFailed = errors.New("block task failed for good")
)

// block is one task of a barrier, retried as often as the plan says.
func (x *run) block(t *asynq.Task, id, key string) blockTask {
	return blockTask{task: t, id: id, key: key, opts: []asynq.Option{asynq.MaxRetry(x.plan.TaskRetries())}}
}

// run is the state of one run in progress.
type run struct {
	*Runner
	plan   tasks.Plan
	rs     *runstore.Run
	lease  *runstate.Lease
	rep    *Report
	log    *slog.Logger
	stage  string
	start  time.Time
	layout tasks.Layout
	phases []phaseTime
	// last is the progress last published; warning, when set, rides on
	// every update until cleared.
	last    runstate.Progress
	warning string
}

// Run carries out the run whose plan is stored, and returns its report
// (also stored). A run that fails in a way retrying cannot fix returns an
// error wrapping asynq.SkipRetry. A run whose lease another process holds
// is not started: the error says who holds it, and the task is retried.
func (r *Runner) Run(ctx context.Context, id, trigger string) (*Report, error) {
	rs := runstore.Open(r.Store, id)
	plan, data, err := rs.Plan(ctx)
	if err != nil {
		if data != nil {
			err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return nil, err
	}
	lease, err := r.acquire(ctx, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	if r.Interrupt != nil {
		stop := context.AfterFunc(r.Interrupt, func() { cancel(context.Cause(r.Interrupt)) })
		defer stop()
	}
	var wg sync.WaitGroup
	wg.Go(func() { lease.Keep(ctx, cancel) })
	defer func() {
		cancel(nil)
		wg.Wait()
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer done()
		if err := lease.Release(rctx); err != nil {
			r.Logger.Warn("lease_release_failed", "run_id", id, "err", err)
		}
	}()

	x := &run{Runner: r, plan: plan, rs: rs, lease: lease, log: r.Logger.With("run_id", id)}
	x.rep = &Report{
		RunID: id, Version: buildinfo.Read().String(), Status: "running", Started: time.Now().UTC(),
		Inputs: Inputs{Books: plan.Books, Ratings: plan.Ratings},
		Stages: map[string]StageReport{}, Tasks: map[string]Tasks{}, Tables: map[string]int64{},
		Params: planParams(plan),
	}
	x.beginAttempt(ctx, trigger)
	x.log.Info("run_started", "books", plan.Books, "ratings", plan.Ratings, "attempt", x.rep.Attempt.Number, "lease_token", lease.Token())
	err = x.stages(ctx)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, runstate.ErrLeaseLost) {
		err = fmt.Errorf("%w (stopped: %w)", err, cause)
	}
	x.finish(ctx, err)
	if err != nil && ctx.Err() == nil && !errors.Is(err, asynq.SkipRetry) && permanent(err) {
		err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return x.rep, err
}

// acquire takes the run's lease. A lease held by a process that stopped
// renewing it (a coordinator killed mid-run) expires within its TTL, so
// the runner waits up to two TTLs before giving the delivery back as
// failed (asynq retries it).
func (r *Runner) acquire(ctx context.Context, id string) (*runstate.Lease, error) {
	ttl := cmp.Or(r.LeaseTTL, runstate.DefaultLeaseTTL)
	deadline := time.Now().Add(2 * ttl)
	for {
		lease, err := runstate.Acquire(ctx, r.Redis, id, r.holder(), ttl)
		if !errors.Is(err, runstate.ErrLeaseHeld) || time.Now().After(deadline) {
			return lease, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (r *Runner) holder() string { return cmp.Or(r.Name, "coordinator") }

// permanent reports errors that another delivery of the run would meet
// again: bad input, failed verification, a block task out of retries.
func permanent(err error) bool {
	return errors.Is(err, ErrBadInput) || errors.Is(err, ErrNotVerified) || errors.Is(err, errBlockFailed)
}

func planParams(p tasks.Plan) map[string]string {
	return map[string]string{
		"rank": fmt.Sprint(p.ALS.Rank), "iterations": fmt.Sprint(p.ALS.Iterations), "reg": fmt.Sprint(p.ALS.Reg),
		"nonnegative": fmt.Sprint(p.ALS.Nonnegative), "seed": fmt.Sprint(p.ALS.Seed), "top": fmt.Sprint(p.Similarity.Top),
		"min_user_ratings": fmt.Sprint(p.Prepare.MinUserRatings), "min_book_ratings": fmt.Sprint(p.Prepare.MinBookRatings),
		"test_fraction": fmt.Sprint(p.Prepare.TestFraction), "block_rows": fmt.Sprint(p.BlockRows), "target": p.Target.Kind,
	}
}

// beginAttempt records this delivery as a new attempt of the run.
func (x *run) beginAttempt(ctx context.Context, trigger string) {
	if trigger == "" {
		trigger = "cli"
	}
	a, err := runstate.BeginAttempt(ctx, x.Redis, x.plan.Run, trigger, x.holder(), x.rep.Started)
	if err != nil {
		x.log.Warn("attempt_not_recorded", "err", err)
	}
	x.rep.Attempt = &a
}

// endAttempt records how the attempt ended and lists every attempt in the
// report.
func (x *run) endAttempt(ctx context.Context) {
	a := *x.rep.Attempt
	a.Ended, a.Status, a.Error = x.rep.Finished, x.rep.Status, x.rep.Error
	x.rep.Attempt = &a
	if err := runstate.EndAttempt(ctx, x.Redis, x.plan.Run, a); err != nil {
		x.log.Warn("attempt_not_recorded", "err", err)
	}
	all, err := runstate.Attempts(ctx, x.Redis, x.plan.Run)
	if err != nil {
		x.log.Warn("attempts_unavailable", "err", err)
		all = []runstate.Attempt{a}
	}
	x.rep.Attempts = all
}

func (x *run) stages(ctx context.Context) error {
	for _, s := range []struct {
		name string
		fn   func(context.Context) (resumed bool, err error)
	}{
		{"validate", x.validate},
		{"prepare", x.prepare},
		{"train", x.train},
		{"similarity", x.similarity},
		{"load", x.load},
		{"verify", x.verify},
	} {
		x.begin(ctx, s.name)
		resumed, err := s.fn(ctx)
		x.end(ctx, s.name, resumed, err)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func (x *run) begin(ctx context.Context, stage string) {
	x.stage, x.start = stage, time.Now()
	x.rep.Stages[stage] = StageReport{Status: "running"}
	x.log.Info("stage_started", "stage", stage)
	x.observe(ctx, "", "", 0, 0, x.start)
	x.save(ctx)
}

func (x *run) end(ctx context.Context, stage string, resumed bool, err error) {
	st := StageReport{Status: "succeeded", Seconds: time.Since(x.start).Seconds()}
	switch {
	case err != nil:
		st.Status, st.Detail = "failed", err.Error()
		x.log.Error("stage_failed", "stage", stage, "seconds", st.Seconds, "err", err)
	case resumed:
		st.Status = "resumed"
		x.log.Info("stage_resumed", "stage", stage)
	default:
		x.log.Info("stage_succeeded", "stage", stage, "seconds", st.Seconds)
	}
	x.rep.Stages[stage] = st
	if x.Stats != nil {
		x.Stats.StageDone(stage, st.Status, st.Seconds)
	}
	x.save(ctx)
}

func (x *run) observe(ctx context.Context, step, unit string, done, total int, stepStart time.Time) {
	f := 0.0
	if total > 0 {
		f = float64(done) / float64(total)
	}
	x.observeFraction(ctx, step, unit, done, total, stepStart, f)
}

func (x *run) observeFraction(ctx context.Context, step, unit string, done, total int, stepStart time.Time, fraction float64) {
	x.last = runstate.Progress{
		Run: x.plan.Run, Stage: x.stage, Step: step, Done: done, Total: total, Unit: unit, Fraction: fraction,
		Started: x.start, StepStart: stepStart, Status: x.rep.Status, Updated: time.Now(), Warning: x.warning,
	}
	if x.Observer != nil {
		x.Observer.Observe(ctx, x.last)
	}
}

// warn sets (or, with "", clears) the warning shown with the run's
// progress, and publishes it at once: a run that waits makes no progress
// that would carry it.
func (x *run) warn(msg string) {
	if msg == x.warning {
		return
	}
	x.warning = msg
	x.last.Warning, x.last.Updated = msg, time.Now()
	if x.Observer != nil && x.last.Run != "" {
		x.Observer.Observe(context.Background(), x.last)
	}
}

// save stores the report as it stands; a failure to save is logged, the
// report is not the run's output.
func (x *run) save(ctx context.Context) {
	if err := x.rs.PutJSON(ctx, runstore.ReportDoc, x.rep); err != nil && ctx.Err() == nil {
		x.log.Warn("report_save_failed", "err", err)
	}
}

func (x *run) finish(ctx context.Context, err error) {
	now := time.Now().UTC()
	x.rep.Finished = &now
	// The report is saved even when the run's context is gone.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	x.collectCounters(sctx)
	switch {
	case err == nil:
		x.rep.Status = "succeeded"
		x.log.Info("run_succeeded", "seconds", now.Sub(x.rep.Started).Seconds())
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), runstate.ErrLeaseLost):
		x.rep.Status, x.rep.Error = "interrupted", err.Error()
		x.log.Warn("run_interrupted", "err", err)
	default:
		x.rep.Status, x.rep.Error = "failed", err.Error()
		x.log.Error("run_failed", "err", err)
	}
	if x.Stats != nil {
		x.Stats.RunDone(x.rep.Status, now.Sub(x.rep.Started).Seconds())
	}
	x.endAttempt(sctx)
	x.save(sctx)
	x.observe(sctx, "", "", 0, 0, time.Now())
}

// validate: both files present, big enough, with the expected headers. A
// local path this host cannot see fails here, naming the path and host.
func (x *run) validate(ctx context.Context) (bool, error) {
	if err := checkLocalInputs(x.plan); err != nil {
		x.rep.Validate = ValidateResult{Message: err.Error()}
		return false, fmt.Errorf("%w: %w", err, ErrBadInput)
	}
	v := Validate(ctx, x.plan.Books, x.plan.Ratings)
	x.rep.Validate = v
	if !v.Valid {
		return false, fmt.Errorf("%s: %w", v.Message, ErrBadInput)
	}
	return false, nil
}

// checkLocalInputs fails for a local input path this host cannot read: a
// run stored by a coordinator on another machine names paths of that
// machine.
func checkLocalInputs(p tasks.Plan) error {
	host, _ := os.Hostname()
	var errs []error
	for _, in := range []struct{ name, path string }{{"Books.csv", p.Books}, {"Ratings.csv", p.Ratings}} {
		if strings.HasPrefix(in.path, "s3://") {
			continue
		}
		if _, err := os.Stat(in.path); err != nil {
			errs = append(errs, fmt.Errorf("%s input %s is not readable on host %s (%v): local paths need a shared filesystem; use s3://", in.name, in.path, host, errors.Unwrap(err)))
		}
	}
	return errors.Join(errs...)
}

// verify checks the run's items as the seed's verify Lambda does, and
// more, then commits: the target removes what earlier runs left behind
// (DESIGN.md: "after a verified load"). A run that fails before the commit
// leaves the previous output in place. A run resumed after its commit
// verifies the committed tables again.
func (x *run) verify(ctx context.Context) (bool, error) {
	target, err := x.Targets(ctx, x.plan.Run, x.plan.Target)
	if err != nil {
		return false, fmt.Errorf("open %s target: %w", x.plan.Target.Kind, err)
	}
	expected := dynamo.Counts{Books: x.rep.Tables[x.plan.Target.BooksTable], Similarities: x.rep.Tables[x.plan.Target.SimilaritiesTable]}
	sum, err := target.Verify(ctx, x.plan.Run, expected, dynamo.VerifyOptions{
		MinBooks: x.plan.Verify.MinBooks, MinSimilarities: x.plan.Verify.MinSimilarities,
		Sample: x.plan.Verify.Sample, Seed: rand.Int64(),
	})
	if err != nil {
		return false, fmt.Errorf("verify tables: %w", err)
	}
	AddStagesCheck(&sum, x.rep)
	x.rep.Verify = &sum
	if !sum.Verified {
		return false, fmt.Errorf("%s: %w", sum.Message, ErrNotVerified)
	}
	committed, err := x.rs.Has(ctx, runstore.CommittedDoc)
	if err != nil || committed {
		return committed, err
	}
	// The commit deletes other runs' items: only the lease holder may.
	if err := x.lease.Check(ctx); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	deleted, err := target.Commit(ctx, x.plan.Run, expected)
	if err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	x.rep.StaleDeleted = map[string]int64{x.plan.Target.BooksTable: deleted.Books, x.plan.Target.SimilaritiesTable: deleted.Similarities}
	x.log.Info("committed", "books", expected.Books, "similarities", expected.Similarities,
		"stale_books_deleted", deleted.Books, "stale_similarities_deleted", deleted.Similarities)
	return false, x.rs.PutJSON(ctx, runstore.CommittedDoc, map[string]any{"written": expected, "deleted": deleted})
}
