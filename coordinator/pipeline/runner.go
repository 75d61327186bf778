package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// Runner carries out runs: it is the handler of pipeline:run tasks. Each
// stage first looks in the store for its outputs, so a run delivered again
// after a crash resumes where the stored outputs show it stopped.
type Runner struct {
	Store     store.Store
	Client    *asynq.Client
	Inspector *asynq.Inspector
	// RedisOpt, when set, lets the runner make a fresh asynq client after
	// Redis lost its data (see Republish).
	RedisOpt asynq.RedisConnOpt
	Redis    redis.UniversalClient
	Targets  handlers.TargetOpener
	Observer Observer
	Stats    Stats // optional
	Logger   *slog.Logger
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
	_, err = r.Run(ctx, p.Run)
	return err
}

// ErrNotVerified is returned when a run finished but its output did not
// pass verification.
var ErrNotVerified = errors.New("output not verified")

// block is one task of a barrier, retried as often as the plan says.
func (x *run) block(t *asynq.Task, id, key string) blockTask {
	return blockTask{task: t, id: id, key: key, opts: []asynq.Option{asynq.MaxRetry(x.plan.TaskRetries())}}
}

// run is the state of one run in progress.
type run struct {
	*Runner
	plan   tasks.Plan
	keys   store.Keys
	rep    *Report
	log    *slog.Logger
	stage  string
	start  time.Time
	layout tasks.Layout
	phases []phaseTime
}

// Run carries out the run whose plan is stored, and returns its report
// (also stored). A run that fails in a way retrying cannot fix returns an
// error wrapping asynq.SkipRetry.
func (r *Runner) Run(ctx context.Context, id string) (*Report, error) {
	keys := store.RunKeys(id)
	data, err := readKey(ctx, r.Store, keys.Plan())
	if err != nil {
		return nil, fmt.Errorf("read plan of run %s: %w", id, err)
	}
	plan, err := tasks.DecodePlan(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	x := &run{Runner: r, plan: plan, keys: keys, log: r.Logger.With("run_id", id)}
	x.rep = &Report{
		RunID: id, Status: "running", Started: time.Now().UTC(),
		Inputs: Inputs{Books: plan.Books, Ratings: plan.Ratings},
		Stages: map[string]StageReport{}, Tasks: map[string]Tasks{}, Tables: map[string]int64{},
		Params: planParams(plan),
	}
	x.log.Info("run_started", "books", plan.Books, "ratings", plan.Ratings)
	err = x.stages(ctx)
	x.finish(ctx, err)
	if err != nil && ctx.Err() == nil && !errors.Is(err, asynq.SkipRetry) && permanent(err) {
		err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return x.rep, err
}

// permanent reports errors that another delivery of the run would meet
// again: bad input, failed verification, a block task out of retries.
func permanent(err error) bool {
	return errors.Is(err, errBadInput) || errors.Is(err, ErrNotVerified) || strings.Contains(err.Error(), "failed after")
}

var errBadInput = errors.New("bad input")

func planParams(p tasks.Plan) map[string]string {
	return map[string]string{
		"rank": fmt.Sprint(p.ALS.Rank), "iterations": fmt.Sprint(p.ALS.Iterations), "reg": fmt.Sprint(p.ALS.Reg),
		"nonnegative": fmt.Sprint(p.ALS.Nonnegative), "seed": fmt.Sprint(p.ALS.Seed), "top": fmt.Sprint(p.Similarity.Top),
		"min_user_ratings": fmt.Sprint(p.Prepare.MinUserRatings), "min_book_ratings": fmt.Sprint(p.Prepare.MinBookRatings),
		"test_fraction": fmt.Sprint(p.Prepare.TestFraction), "block_rows": fmt.Sprint(p.BlockRows), "target": p.Target.Kind,
	}
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
	x.observe(ctx, "", 0, 0, x.start)
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

func (x *run) observe(ctx context.Context, step string, done, total int, stepStart time.Time) {
	f := 0.0
	if total > 0 {
		f = float64(done) / float64(total)
	}
	x.observeFraction(ctx, step, done, total, stepStart, f)
}

func (x *run) observeFraction(ctx context.Context, step string, done, total int, stepStart time.Time, fraction float64) {
	if x.Observer == nil {
		return
	}
	x.Observer.Observe(ctx, Progress{
		Run: x.plan.Run, Stage: x.stage, Step: step, Done: done, Total: total, Fraction: fraction,
		Started: x.start, StepStart: stepStart, Status: x.rep.Status, Updated: time.Now(),
	})
}

// save stores the report as it stands; a failure to save is logged, the
// report is not the run's output.
func (x *run) save(ctx context.Context) {
	if err := putJSON(ctx, x.Store, x.keys.Report(), x.rep); err != nil && ctx.Err() == nil {
		x.log.Warn("report_save_failed", "err", err)
	}
}

func (x *run) finish(ctx context.Context, err error) {
	now := time.Now().UTC()
	x.rep.Finished = &now
	x.collectCounters(ctx)
	switch {
	case err == nil:
		x.rep.Status = "succeeded"
		x.log.Info("run_succeeded", "seconds", now.Sub(x.rep.Started).Seconds())
	default:
		x.rep.Status, x.rep.Error = "failed", err.Error()
		x.log.Error("run_failed", "err", err)
	}
	if x.Stats != nil {
		x.Stats.RunDone(x.rep.Status, now.Sub(x.rep.Started).Seconds())
	}
	// The report is saved even when the run's context is gone.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	x.save(sctx)
	x.observe(sctx, "", 0, 0, time.Now())
}

func (x *run) collectCounters(ctx context.Context) {
	if x.Redis == nil {
		return
	}
	c, err := handlers.Counters(ctx, x.Redis, x.plan.Run)
	if err != nil {
		x.log.Warn("counters_unavailable", "err", err)
		return
	}
	for stage, kind := range map[string]string{"train": "als", "similarity": "similarity", "load": "load"} {
		t := x.rep.Tasks[stage]
		t.Run, t.Retried = c["tasks_run:"+kind], c["tasks_retried:"+kind]
		if t.Blocks > 0 || t.Run > 0 {
			x.rep.Tasks[stage] = t
		}
	}
	x.rep.Bytes = map[string]int64{"fetched_by_workers": c["bytes_fetched"]}
	if x.layout.Users > 0 {
		k := int64(x.plan.ALS.Rank) * 4
		x.rep.Bytes["factor_side_users"] = int64(x.layout.Users) * k
		x.rep.Bytes["factor_side_items"] = int64(x.layout.Items) * k
	}
	x.rep.Coordination = x.coordination(ctx, c)
	x.rep.FetchedPerWorker = map[string]map[string]int64{}
	for name, n := range c {
		phase, worker, ok := strings.Cut(strings.TrimPrefix(name, handlers.FetchedPrefix), "@")
		if !ok || !strings.HasPrefix(name, handlers.FetchedPrefix) {
			continue
		}
		if x.rep.FetchedPerWorker[phase] == nil {
			x.rep.FetchedPerWorker[phase] = map[string]int64{}
		}
		x.rep.FetchedPerWorker[phase][worker] = n
	}
	x.rep.WriteRetries = c["write_retries"]
}

// coordination measures the run's time outside task execution from the
// phases this coordinator waited on and the spans the workers recorded.
func (x *run) coordination(ctx context.Context, counters map[string]int64) *Coordination {
	spans, err := handlers.Spans(ctx, x.Redis, x.plan.Run)
	if err != nil {
		x.log.Warn("spans_unavailable", "err", err)
		return nil
	}
	c := &Coordination{RunSeconds: time.Since(x.rep.Started).Seconds(), TaskSeconds: map[string]float64{}}
	for _, ph := range x.phases {
		sp, ok := spans[ph.phase]
		if !ok || sp[0].IsZero() || sp[1].IsZero() {
			continue
		}
		c.Phases++
		c.TaskSpanSeconds += sp[1].Sub(sp[0]).Seconds()
		c.QueueWaitSeconds += max(sp[0].Sub(ph.began).Seconds(), 0)
		c.BarrierLagSeconds += max(ph.ended.Sub(sp[1]).Seconds(), 0)
	}
	c.OutsideTasksSeconds = max(c.RunSeconds-c.TaskSpanSeconds, 0)
	if c.RunSeconds > 0 {
		c.OutsideShare = c.OutsideTasksSeconds / c.RunSeconds
		c.BarrierShare = (c.QueueWaitSeconds + c.BarrierLagSeconds) / c.RunSeconds
	}
	for name, ms := range counters {
		if kind, ok := strings.CutPrefix(name, "task_ms:"); ok {
			c.TaskSeconds[kind] = float64(ms) / 1000
		}
	}
	return c
}

// validate: both files present, big enough, with the expected headers.
func (x *run) validate(ctx context.Context) (bool, error) {
	v := Validate(ctx, x.plan.Books, x.plan.Ratings)
	x.rep.Validate = v
	if !v.Valid {
		return false, fmt.Errorf("%s: %w", v.Message, errBadInput)
	}
	return false, nil
}

func (x *run) prepare(ctx context.Context) (bool, error) {
	var p prepared
	if ok, err := exists(ctx, x.Store, x.keys.Layout()); err != nil {
		return false, err
	} else if ok {
		if err := getJSON(ctx, x.Store, x.keys.Layout(), &x.layout); err != nil {
			return false, err
		}
		if err := getJSON(ctx, x.Store, x.keys.PrepareReport(), &p); err != nil {
			return false, err
		}
		x.rep.Counts, x.rep.Issues = p.Counts, p.Issues
		return true, nil
	}
	l, p, err := Prepare(ctx, x.Store, x.plan)
	x.rep.Counts, x.rep.Issues = p.Counts, p.Issues
	if err != nil {
		if ctx.Err() == nil && !strings.Contains(err.Error(), "write ") {
			err = fmt.Errorf("%w: %w", err, errBadInput)
		}
		return false, err
	}
	x.layout = l
	x.log.Info("prepared", "users", l.Users, "books", l.Items, "ratings_train", p.Counts.RatingsTrain, "ratings_test", p.Counts.RatingsTest)
	return false, nil
}

// train runs the ALS half-iterations, items first, each a barrier over its
// blocks.
func (x *run) train(ctx context.Context) (bool, error) {
	l := x.layout
	iters := x.plan.ALS.Iterations
	var total Tasks
	for it := 1; it <= iters; it++ {
		for si, side := range []string{"items", "users"} {
			half := 2*(it-1) + si
			n := l.Rows(side)
			bts := make([]blockTask, 0, l.Blocks(n))
			for b := range l.Blocks(n) {
				p := tasks.ALSSolve{Run: x.plan.Run, Gen: x.plan.Gen, Iteration: it, Side: side, Block: b}
				t, err := tasks.NewALSSolve(p)
				if err != nil {
					return false, err
				}
				bts = append(bts, x.block(t, p.ID(), x.keys.Factors(it, side, b)))
			}
			step := fmt.Sprintf("iteration %d/%d %s", it, iters, side)
			stepStart := time.Now()
			tk, err := x.await(ctx, tasks.ALSSolve{Iteration: it, Side: side}.Phase(), x.keys.FactorsPrefix(it, side), bts, func(done, total int) {
				x.observeFraction(ctx, step, done, total, stepStart, (float64(half)+float64(done)/float64(max(total, 1)))/float64(2*iters))
			})
			total = addTasks(total, tk)
			x.rep.Tasks["train"] = total
			if err != nil {
				return false, fmt.Errorf("%s: %w", step, err)
			}
		}
		x.save(ctx)
	}
	return total.Enqueued == 0 && total.Blocks > 0, x.metrics(ctx)
}

func addTasks(a, b Tasks) Tasks {
	a.Blocks += b.Blocks
	a.Enqueued += b.Enqueued
	a.Resumed += b.Resumed
	a.Requeued += b.Requeued
	return a
}

// trainMetrics is stored after training so a resumed run reports it.
type trainMetrics struct {
	RMSE                 RMSE  `json:"rmse"`
	TestDroppedColdStart int64 `json:"test_dropped_cold_start"`
	BooksZeroFactors     int64 `json:"books_zero_factors"`
	Catalog              int64 `json:"catalog"`
}

// metrics computes train and test RMSE with the final factors and builds
// the similarity catalogue: books with metadata and a non-zero factor, in
// model index order, with their normalised factors.
func (x *run) metrics(ctx context.Context) error {
	var m trainMetrics
	if ok, err := exists(ctx, x.Store, x.keys.CatalogLayout()); err != nil {
		return err
	} else if ok {
		if err := getJSON(ctx, x.Store, x.keys.Metrics(), &m); err != nil {
			return err
		}
		x.applyMetrics(m)
		return nil
	}
	l, k, it := x.layout, x.plan.ALS.Rank, x.plan.ALS.Iterations
	users, _, err := handlers.ReadFactors(ctx, x.Store, x.plan, l, it, "users")
	if err != nil {
		return err
	}
	items, _, err := handlers.ReadFactors(ctx, x.Store, x.plan, l, it, "items")
	if err != nil {
		return err
	}
	rmse := func(key func(int) string) (float64, int64, error) {
		var sum float64
		var n, skipped int
		for b := range l.Blocks(l.Users) {
			blk, err := handlers.ReadRatings(ctx, x.Store, key(b))
			if err != nil {
				return 0, 0, err
			}
			start, end := l.Range(b, l.Users)
			s, cnt, sk := als.SquaredError(users[start*k:end*k], items, k, als.Rows{RowPtr: blk.RowPtr, Col: blk.Col, Val: blk.Val})
			sum, n, skipped = sum+s, n+cnt, skipped+sk
		}
		if n == 0 {
			return math.NaN(), int64(skipped), nil
		}
		return math.Sqrt(sum / float64(n)), int64(skipped), nil
	}
	if m.RMSE.Train, _, err = rmse(func(b int) string { return x.keys.Ratings("users", b) }); err != nil {
		return err
	}
	if m.RMSE.Test, m.TestDroppedColdStart, err = rmse(x.keys.Test); err != nil {
		return err
	}
	metaData, err := readKey(ctx, x.Store, x.keys.Metadata())
	if err != nil {
		return err
	}
	meta, err := blocks.DecodeCatalog(bytes.NewReader(metaData))
	if err != nil {
		return fmt.Errorf("decode book metadata of run %s: %w", x.plan.Run, err)
	}
	var cat blocks.Catalog
	var f []float32
	for i, item := range meta.Index {
		v := items[int(item)*k : int(item+1)*k]
		var norm float64
		for _, e := range v {
			norm += float64(e) * float64(e)
		}
		if norm == 0 {
			m.BooksZeroFactors++
			continue
		}
		cat.Index = append(cat.Index, item)
		cat.ISBN = append(cat.ISBN, meta.ISBN[i])
		cat.Title = append(cat.Title, meta.Title[i])
		cat.Author = append(cat.Author, meta.Author[i])
		cat.Year = append(cat.Year, meta.Year[i])
		cat.Publisher = append(cat.Publisher, meta.Publisher[i])
		cat.ImageSmall = append(cat.ImageSmall, meta.ImageSmall[i])
		cat.ImageMedium = append(cat.ImageMedium, meta.ImageMedium[i])
		f = append(f, v...)
	}
	similarity.Normalize(f, k)
	m.Catalog = int64(len(cat.Index))
	if m.Catalog < 2 {
		return fmt.Errorf("only %d books with metadata and factors: nothing to compare: %w", m.Catalog, errBadInput)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return put(gctx, x.Store, x.keys.Catalog(), func(w io.Writer) error { return blocks.EncodeCatalog(w, cat) })
	})
	g.Go(func() error {
		return put(gctx, x.Store, x.keys.CatalogFactors(), func(w io.Writer) error {
			return blocks.EncodeFactors(w, blocks.Factors{Start: 0, K: k, Data: f})
		})
	})
	g.Go(func() error { return putJSON(gctx, x.Store, x.keys.Metrics(), m) })
	if err := g.Wait(); err != nil {
		return err
	}
	x.applyMetrics(m)
	x.log.Info("trained", "rmse_train", m.RMSE.Train, "rmse_test", m.RMSE.Test, "catalog", m.Catalog)
	return putJSON(ctx, x.Store, x.keys.CatalogLayout(), tasks.Layout{Catalog: len(cat.Index), BlockRows: x.plan.BlockRows})
}

func (x *run) applyMetrics(m trainMetrics) {
	x.rep.RMSE = m.RMSE
	x.rep.Counts.TestDroppedColdStart = m.TestDroppedColdStart
	x.rep.Counts.BooksZeroFactors = m.BooksZeroFactors
	x.rep.Counts.Catalog = m.Catalog
}

func (x *run) catalogLayout(ctx context.Context) (tasks.Layout, error) {
	var l tasks.Layout
	err := getJSON(ctx, x.Store, x.keys.CatalogLayout(), &l)
	return l, err
}

func (x *run) similarity(ctx context.Context) (bool, error) {
	l, err := x.catalogLayout(ctx)
	if err != nil {
		return false, err
	}
	n := l.Blocks(l.Catalog)
	bts := make([]blockTask, 0, n)
	for b := range n {
		p := tasks.SimTopK{Run: x.plan.Run, Gen: x.plan.Gen, Block: b}
		t, err := tasks.NewSimTopK(p)
		if err != nil {
			return false, err
		}
		bts = append(bts, x.block(t, p.ID(), x.keys.TopK(b)))
	}
	stepStart := time.Now()
	tk, err := x.await(ctx, tasks.PhaseSimilarity, x.keys.TopKPrefix(), bts, func(done, total int) {
		x.observe(ctx, "top-k blocks", done, total, stepStart)
	})
	x.rep.Tasks["similarity"] = tk
	if err != nil {
		return false, err
	}
	return tk.Enqueued == 0, x.sample(ctx)
}

// sample reads the neighbours of the most-rated catalogue book (catalogue
// position 0: the catalogue is in model index order, most-rated first).
func (x *run) sample(ctx context.Context) error {
	data, err := readKey(ctx, x.Store, x.keys.Catalog())
	if err != nil {
		return err
	}
	cat, err := blocks.DecodeCatalog(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode catalogue of run %s: %w", x.plan.Run, err)
	}
	data, err = readKey(ctx, x.Store, x.keys.TopK(0))
	if err != nil {
		return err
	}
	tk, err := handlers.DecodeTopK(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode similarity block 0 of run %s: %w", x.plan.Run, err)
	}
	s := &Sample{ISBN: cat.ISBN[0], Title: cat.Title[0], Author: cat.Author[0]}
	for j := 0; j < tk.Top && j < 5; j++ {
		nb := tk.Index[j]
		if nb < 0 || int(nb) >= len(cat.ISBN) {
			break
		}
		s.Neighbors = append(s.Neighbors, SampleRow{Rank: j + 1, ISBN: cat.ISBN[nb], Title: cat.Title[nb], Author: cat.Author[nb], Score: tk.Score[j]})
	}
	x.rep.Sample = s
	return nil
}

// load writes the tables through load tasks and sums what they wrote.
func (x *run) load(ctx context.Context) (bool, error) {
	l, err := x.catalogLayout(ctx)
	if err != nil {
		return false, err
	}
	target, err := x.Targets(ctx, x.plan.Run, x.plan.Target)
	if err != nil {
		return false, fmt.Errorf("open %s target: %w", x.plan.Target.Kind, err)
	}
	if err := target.Ensure(ctx); err != nil {
		return false, fmt.Errorf("ensure tables: %w", err)
	}
	n := l.Blocks(l.Catalog)
	bts := make([]blockTask, 0, n)
	for b := range n {
		p := tasks.LoadWrite{Run: x.plan.Run, Gen: x.plan.Gen, Block: b}
		t, err := tasks.NewLoadWrite(p)
		if err != nil {
			return false, err
		}
		bts = append(bts, x.block(t, p.ID(), x.keys.Load(b)))
	}
	stepStart := time.Now()
	tk, err := x.await(ctx, tasks.PhaseLoad, x.keys.LoadPrefix(), bts, func(done, total int) {
		x.observe(ctx, "load blocks", done, total, stepStart)
	})
	x.rep.Tasks["load"] = tk
	if err != nil {
		return false, err
	}
	var written dynamo.Counts
	var stats dynamo.WriteStats
	for b := range n {
		var res handlers.LoadResult
		if err := getJSON(ctx, x.Store, x.keys.Load(b), &res); err != nil {
			return false, err
		}
		written.Books += res.Books
		written.Similarities += res.Similarities
		stats.Add(res.Stats)
	}
	x.rep.Tables[x.plan.Target.BooksTable] = written.Books
	x.rep.Tables[x.plan.Target.SimilaritiesTable] = written.Similarities
	x.rep.WriteStats = &stats
	return false, nil
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
	committed, err := exists(ctx, x.Store, x.keys.Committed())
	if err != nil || committed {
		return committed, err
	}
	deleted, err := target.Commit(ctx, x.plan.Run, expected)
	if err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	x.rep.StaleDeleted = map[string]int64{x.plan.Target.BooksTable: deleted.Books, x.plan.Target.SimilaritiesTable: deleted.Similarities}
	x.log.Info("committed", "books", expected.Books, "similarities", expected.Similarities,
		"stale_books_deleted", deleted.Books, "stale_similarities_deleted", deleted.Similarities)
	return false, putJSON(ctx, x.Store, x.keys.Committed(), map[string]any{"written": expected, "deleted": deleted})
}

func readKey(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}
