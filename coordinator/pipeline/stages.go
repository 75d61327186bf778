package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/tasks"
)

// maxRecompute bounds how often the coordinator recomputes blocks it found
// corrupt in one stage before it gives up.
const maxRecompute = 3

func (x *run) prepare(ctx context.Context) (bool, error) {
	switch err := x.rs.GetJSON(ctx, runstore.LayoutDoc, &x.layout); {
	case err == nil:
		var p prepared
		if err := x.rs.GetJSON(ctx, runstore.PrepareDoc, &p); err != nil {
			return false, err
		}
		x.rep.Counts, x.rep.Issues = p.Counts, p.Issues
		return true, nil
	case !errors.Is(err, runstore.ErrNotFound):
		return false, err
	}
	l, p, err := Prepare(ctx, x.rs, x.plan)
	x.rep.Counts, x.rep.Issues = p.Counts, p.Issues
	if err != nil {
		return false, err
	}
	x.layout = l
	x.log.Info("prepared", "users", l.Users, "books", l.Items, "ratings_train", p.Counts.RatingsTrain, "ratings_test", p.Counts.RatingsTest)
	return false, nil
}

// train runs the ALS half-iterations, items first, each a barrier over its
// blocks, then the post-train step (RMSE, catalogue). A factor block the
// post-train step finds corrupt is removed and the half-iterations are
// awaited again, which recomputes just that block.
func (x *run) train(ctx context.Context) (bool, error) {
	for try := 0; ; try++ {
		resumed, err := x.halfIterations(ctx, x.rep.Tasks["train"], try == 0)
		if err != nil {
			return false, err
		}
		err = x.metrics(ctx)
		if try < maxRecompute && x.recompute(ctx, "train", err) {
			continue
		}
		return resumed && try == 0, err
	}
}

// recompute removes the corrupt block err names, if it does, so that the
// stage's barrier computes it again; it counts it in stage's tasks.
func (x *run) recompute(ctx context.Context, stage string, err error) bool {
	var ce *runstore.CorruptError
	if !errors.As(err, &ce) || (ce.Block.Kind != "factors" && ce.Block.Kind != "topk") {
		return false
	}
	if rerr := x.rs.Remove(ctx, ce.Key); rerr != nil {
		x.log.Warn("block_remove_failed", "key", ce.Key, "err", rerr)
		return false
	}
	runstate.RedisCounter{Client: x.Redis, Logger: x.log}.Add(ctx, x.plan.Run, runstate.CorruptPrefix+ce.Block.Kind, 1)
	x.log.Warn("block_corrupt", "stage", stage, "block", ce.Block.String(), "key", ce.Key, "err", ce.Err)
	return true
}

// halfIterations awaits every half-iteration's blocks; their tasks are
// counted into the stage's as a pass over them (addPass).
func (x *run) halfIterations(ctx context.Context, stage Tasks, first bool) (bool, error) {
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
				bts = append(bts, x.block(t, p.ID(), x.rs.Keys().Factors(it, side, b)))
			}
			step := fmt.Sprintf("iteration %d/%d %s", it, iters, side)
			stepStart := time.Now()
			tk, err := x.await(ctx, tasks.ALSSolve{Iteration: it, Side: side}.Phase(), x.rs.Keys().FactorsPrefix(it, side), bts, func(done, total int) {
				x.observeFraction(ctx, step, "block", done, total, stepStart, (float64(half)+float64(done)/float64(max(total, 1)))/float64(2*iters))
			})
			total = addTasks(total, tk)
			x.rep.Tasks["train"] = addPass(stage, total, first)
			if err != nil {
				return false, fmt.Errorf("%s: %w", step, err)
			}
		}
		x.save(ctx)
	}
	return total.Enqueued == 0 && total.Blocks > 0, nil
}

// addPass counts a pass over a stage's blocks into the stage's tasks: the
// first pass is the stage's; another (recomputing blocks found corrupt)
// adds what it enqueued, not the blocks again.
func addPass(stage, pass Tasks, first bool) Tasks {
	if first {
		return pass
	}
	pass.Blocks, pass.Resumed = 0, 0
	return addTasks(stage, pass)
}

func addTasks(a, b Tasks) Tasks {
	a.Blocks += b.Blocks
	a.Enqueued += b.Enqueued
	a.Resumed += b.Resumed
	a.Requeued += b.Requeued
	a.Speculated += b.Speculated
	a.BackupWon += b.BackupWon
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
	if ok, err := x.rs.Has(ctx, runstore.CatalogLayoutDoc); err != nil {
		return err
	} else if ok {
		var m trainMetrics
		if err := x.rs.GetJSON(ctx, runstore.MetricsDoc, &m); err != nil {
			return err
		}
		x.applyMetrics(m)
		return nil
	}
	it := x.plan.ALS.Iterations
	users, _, err := x.rs.ReadFactors(ctx, x.plan, x.layout, it, "users")
	if err != nil {
		return err
	}
	items, _, err := x.rs.ReadFactors(ctx, x.plan, x.layout, it, "items")
	if err != nil {
		return err
	}
	var m trainMetrics
	if m.RMSE.Train, _, err = x.rmse(ctx, "users", users, items); err != nil {
		return err
	}
	if m.RMSE.Test, m.TestDroppedColdStart, err = x.rmse(ctx, "test", users, items); err != nil {
		return err
	}
	meta, _, err := x.rs.Metadata(ctx)
	if err != nil {
		return err
	}
	cat, f, zero := catalogOf(meta, items, x.plan.ALS.Rank)
	m.BooksZeroFactors, m.Catalog = zero, int64(len(cat.Index))
	if m.Catalog < 2 {
		return fmt.Errorf("only %d books with metadata and factors: nothing to compare: %w", m.Catalog, ErrBadInput)
	}
	if err := x.storeCatalog(ctx, cat, f, m); err != nil {
		return err
	}
	x.applyMetrics(m)
	x.log.Info("trained", "rmse_train", m.RMSE.Train, "rmse_test", m.RMSE.Test, "catalog", m.Catalog)
	return nil
}

// rmse is the root mean squared error of the model over the rating blocks
// of side ("users": training, "test": held out), and the ratings skipped
// for a user or book without factors (cold start).
func (x *run) rmse(ctx context.Context, side string, users, items []float32) (float64, int64, error) {
	l, k := x.layout, x.plan.ALS.Rank
	var sum float64
	var n, skipped int
	for b := range l.Blocks(l.Users) {
		blk, _, err := x.rs.Ratings(ctx, side, b)
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

// catalogOf keeps the books of meta whose factor is not zero, with their
// normalised factors (rows × k), and counts the zero ones.
func catalogOf(meta blocks.Catalog, items []float32, k int) (blocks.Catalog, []float32, int64) {
	var cat blocks.Catalog
	var f []float32
	var zero int64
	for i, item := range meta.Index {
		v := items[int(item)*k : int(item+1)*k]
		var norm float64
		for _, e := range v {
			norm += float64(e) * float64(e)
		}
		if norm == 0 {
			zero++
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
	return cat, f, zero
}

// storeCatalog writes the catalogue, its factors and the metrics, then the
// catalogue layout that marks the post-train step done.
func (x *run) storeCatalog(ctx context.Context, cat blocks.Catalog, f []float32, m trainMetrics) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return x.rs.PutCatalog(gctx, cat) })
	g.Go(func() error {
		return x.rs.PutCatalogFactors(gctx, blocks.Factors{Start: 0, K: x.plan.ALS.Rank, Data: f})
	})
	g.Go(func() error { return x.rs.PutJSON(gctx, runstore.MetricsDoc, m) })
	if err := g.Wait(); err != nil {
		return err
	}
	return x.rs.PutJSON(ctx, runstore.CatalogLayoutDoc, tasks.CatalogLayout(len(cat.Index), x.plan.BlockRows))
}

func (x *run) applyMetrics(m trainMetrics) {
	x.rep.RMSE = m.RMSE
	x.rep.Counts.TestDroppedColdStart = m.TestDroppedColdStart
	x.rep.Counts.BooksZeroFactors = m.BooksZeroFactors
	x.rep.Counts.Catalog = m.Catalog
}

func (x *run) catalogLayout(ctx context.Context) (tasks.Layout, error) {
	var l tasks.Layout
	err := x.rs.GetJSON(ctx, runstore.CatalogLayoutDoc, &l)
	return l, err
}

// similarity runs the two barriers of the stage: sim:pair tasks score each
// pair of catalogue groups once and write every block's partial top lists,
// then sim:merge tasks merge each block's partial lists into its top-k
// block. A top-k block the sample finds corrupt is removed and the merges
// awaited again, which recomputes just that block.
func (x *run) similarity(ctx context.Context) (bool, error) {
	l, err := x.catalogLayout(ctx)
	if err != nil {
		return false, err
	}
	if l.GroupBlocks < 1 {
		return false, fmt.Errorf("catalogue layout has no similarity groups (written by an older version): run again with --fresh")
	}
	groups := l.Groups()
	pairs := make([]blockTask, 0, groups*(groups+1)/2)
	for i := range groups {
		for j := i; j < groups; j++ {
			p := tasks.SimPair{Run: x.plan.Run, Gen: x.plan.Gen, I: i, J: j}
			t, err := tasks.NewSimPair(p)
			if err != nil {
				return false, err
			}
			pairs = append(pairs, x.block(t, p.ID(), x.rs.Keys().Paired(i, j)))
		}
	}
	n := l.Blocks(l.Catalog)
	merges := make([]blockTask, 0, n)
	for b := range n {
		p := tasks.SimMerge{Run: x.plan.Run, Gen: x.plan.Gen, Block: b}
		t, err := tasks.NewSimMerge(p)
		if err != nil {
			return false, err
		}
		merges = append(merges, x.block(t, p.ID(), x.rs.Keys().TopK(b)))
	}
	stepStart := time.Now()
	pt, err := x.await(ctx, tasks.PhaseSimilarity, x.rs.Keys().PairedPrefix(), pairs, func(done, total int) {
		x.observe(ctx, "scoring pairs", "group pair", done, total, stepStart)
	})
	x.rep.Tasks["similarity"] = pt
	if err != nil {
		return false, err
	}
	var merged Tasks
	for try := 0; ; try++ {
		stepStart := time.Now()
		mt, err := x.await(ctx, tasks.PhaseMerge, x.rs.Keys().TopKPrefix(), merges, func(done, total int) {
			x.observe(ctx, "merging top lists", "block", done, total, stepStart)
		})
		merged = addPass(merged, mt, try == 0)
		x.rep.Tasks["similarity"] = addTasks(pt, merged)
		if err != nil {
			return false, err
		}
		err = x.sample(ctx)
		if try < maxRecompute && x.recompute(ctx, "similarity", err) {
			continue
		}
		return pt.Enqueued == 0 && mt.Enqueued == 0 && try == 0, err
	}
}

// sample reads the neighbours of the most-rated catalogue book (catalogue
// position 0: the catalogue is in model index order, most-rated first).
func (x *run) sample(ctx context.Context) error {
	cat, _, err := x.rs.Catalog(ctx)
	if err != nil {
		return err
	}
	tk, _, err := x.rs.TopK(ctx, 0)
	if err != nil {
		return err
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
		bts = append(bts, x.block(t, p.ID(), x.rs.Keys().Load(b)))
	}
	stepStart := time.Now()
	tk, err := x.await(ctx, tasks.PhaseLoad, x.rs.Keys().LoadPrefix(), bts, func(done, total int) {
		x.observe(ctx, "writing", "block", done, total, stepStart)
	})
	x.rep.Tasks["load"] = tk
	if err != nil {
		return false, err
	}
	var written dynamo.Counts
	var stats dynamo.WriteStats
	for b := range n {
		res, err := x.rs.LoadResult(ctx, b)
		if err != nil {
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

// collectCounters adds what the workers counted in Redis to the report.
func (x *run) collectCounters(ctx context.Context) {
	if x.Redis == nil {
		return
	}
	c, err := runstate.Counters(ctx, x.Redis, x.plan.Run)
	if err != nil {
		x.log.Warn("counters_unavailable", "err", err)
		return
	}
	for _, s := range []struct {
		stage, kind string
		corrupt     []string
	}{
		{"train", "als", []string{"factors"}}, {"similarity", "similarity", []string{"pair", "topk"}}, {"load", "load", nil},
	} {
		t := x.rep.Tasks[s.stage]
		t.Run, t.Retried = c["tasks_run:"+s.kind], c["tasks_retried:"+s.kind]
		t.Recomputed = 0
		for _, kind := range s.corrupt {
			t.Recomputed += c[runstate.CorruptPrefix+kind]
		}
		if t.Blocks > 0 || t.Run > 0 {
			x.rep.Tasks[s.stage] = t
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
		rest, ok := strings.CutPrefix(name, runstate.FetchedPrefix)
		phase, worker, cut := strings.Cut(rest, "@")
		if !ok || !cut {
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
	spans, err := runstate.Spans(ctx, x.Redis, x.plan.Run)
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
