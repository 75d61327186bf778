package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// dynamoDBOptions adjust the DynamoDB clients of `run` and `verify`; only
// tests set it, to add fault-injecting SDK middleware.
var dynamoDBOptions []func(*dynamodb.Options)

func runCommand(ctx context.Context, args []string, env connect.Env, stdout, stderr io.Writer) error {
	c, err := parseRun(args, env, stderr)
	if errors.Is(err, errHelped) {
		return nil
	}
	if err != nil {
		return err
	}
	// On a terminal the display owns the last line: log lines go through
	// it, above the live line. "auto" is resolved on the terminal itself,
	// not on the display's writer.
	disp := newDisplay(stderr, c.Progress)
	format := c.LogFormat
	if format == "auto" && connect.IsTerminal(stderr) {
		format = "text"
	}
	logger, err := connect.NewLogger(disp.logWriter(), format, c.LogLevel)
	if err != nil {
		return err
	}
	connect.LogRedisTo(logger)
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	stopRedis, err := c.embedRedis(logger)
	if err != nil {
		return err
	}
	defer stopRedis()
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	if err := c.checkInputs(ctx); err != nil {
		return err
	}
	plan, err := c.plan(ctx)
	if err != nil {
		return err
	}
	// The services get the plain logger: the pipeline runner adds run_id
	// to its own lines, as it serves any run. They stop with ctx: on a
	// signal, or when Redis is gone for good.
	runLog := logger.With("run_id", plan.Run)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	svc, err := startServices(ctx, &c.conn, st, c.Workers, "run", logger, nil)
	if err != nil {
		return err
	}
	defer svc.stop()
	if err := svc.startRun(ctx, st, plan, c.Fresh, tasks.TriggerCLI, runLog); err != nil {
		return err
	}
	disp.logger = runLog
	state, err := waitRun(ctx, svc, plan.Run, c.RedisTimeout, disp, runLog)
	disp.finish()
	if errors.Is(err, errRedisGone) {
		cancel(err)
	}
	if err != nil && ctx.Err() != nil {
		return c.stopInterrupted(ctx, st, plan.Run, svc, stdout)
	}
	if err != nil {
		return err
	}
	return c.finishRun(ctx, st, plan.Run, state, stdout)
}

// cancelWith is asynq middleware that cancels in-process tasks when ctx
// ends, so that a signal stops them at once instead of after the server's
// shutdown timeout; they are retried, and resume, later.
func cancelWith(ctx context.Context) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(tctx context.Context, t *asynq.Task) error {
			tctx, cancel := context.WithCancel(tctx)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			return next.ProcessTask(tctx, t)
		})
	}
}

// stopInterrupted ends a run cut short by a signal, or by Redis gone for
// good: the in-process runner writes its report (copied to --out, marked
// failed when Redis is the cause; a rerun resumes), and the command fails
// with the cause.
func (c *runConfig) stopInterrupted(ctx context.Context, st store.Store, run string, svc *services, stdout io.Writer) error {
	cause := context.Cause(ctx)
	svc.stopRunner()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var rep pipeline.Report
	if err := runstore.Open(st, run).GetJSON(rctx, runstore.ReportDoc, &rep); err != nil {
		// Nothing stored yet (or the store is gone too): a report that
		// still says which run and why.
		rep = pipeline.Report{RunID: run, Started: time.Now().UTC(), Inputs: pipeline.Inputs{Books: c.Books, Ratings: c.Ratings}}
	}
	if errors.Is(cause, errRedisGone) || rep.Status == "running" || rep.Status == "" {
		now := time.Now().UTC()
		rep.Status, rep.Error, rep.Finished = "failed", cause.Error(), &now
		if errors.As(cause, new(interrupted)) {
			rep.Status = "interrupted"
		}
	}
	if err := writeFileAtomic(filepath.Join(c.Out, "report.json"), &rep); err != nil {
		return errors.Join(err, cause)
	}
	rep.WriteSummary(stdout)
	return fmt.Errorf("run %s stopped (rerun the same command to resume): %w", run, cause)
}

// parseRun reads and checks the flags of `coordinator run`; local paths
// become absolute, so the stored plan means the same files whichever
// coordinator carries it out.
func parseRun(args []string, env connect.Env, stderr io.Writer) (*runConfig, error) {
	fs := flag.NewFlagSet("coordinator run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &runConfig{}
	c.register(fs, env)
	if err := parseConfig(fs, args, c.validate); err != nil {
		return nil, err
	}
	for _, p := range []*string{&c.Books, &c.Ratings, &c.Out} {
		if err := absPath(p); err != nil {
			return nil, err
		}
	}
	c.conn.DynamoDBOptions = dynamoDBOptions
	return c, nil
}

// absPath makes a local path absolute; s3:// URLs stay as they are.
func absPath(p *string) error {
	if *p == "" || strings.HasPrefix(*p, "s3://") {
		return nil
	}
	abs, err := filepath.Abs(*p)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *p, err)
	}
	*p = abs
	return nil
}

// embedRedis starts the embedded default's in-process Redis (it runs
// asynq's scripts) when no --redis is given, and the block store under
// --out; the returned func stops it.
func (c *runConfig) embedRedis(logger *slog.Logger) (func(), error) {
	if c.conn.Store == "" {
		c.conn.Store = filepath.Join(c.Out, ".blocks")
	}
	if c.conn.Redis != "" {
		return func() {}, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	c.conn.Redis = mr.Addr()
	logger.Debug("embedded_redis", "addr", mr.Addr())
	return mr.Close, nil
}

// checkInputs validates both inputs up front, as the seed's validate
// Lambda does before anything starts (the run's own validate stage checks
// again). An invalid pair writes a failed report naming what is wrong.
func (c *runConfig) checkInputs(ctx context.Context) error {
	v := pipeline.Validate(ctx, c.Books, c.Ratings)
	if v.Valid {
		return nil
	}
	msg := v.Message
	if len(v.MissingFiles) > 0 {
		var missing []string
		for _, f := range v.MissingFiles {
			path := map[string]string{"Books.csv": c.Books, "Ratings.csv": c.Ratings}[f]
			missing = append(missing, fmt.Sprintf("%s %s: no such file", f, path))
		}
		msg = strings.Join(missing, "; ")
	}
	now := time.Now().UTC()
	rep := pipeline.Report{
		RunID: c.pathRunID(), Status: "failed", Error: msg, Started: now, Finished: &now, Validate: v,
		Inputs: pipeline.Inputs{Books: c.Books, Ratings: c.Ratings},
		Stages: map[string]pipeline.StageReport{"validate": {Status: "failed", Detail: msg}},
	}
	if err := writeFileAtomic(filepath.Join(c.Out, "report.json"), &rep); err != nil {
		return err
	}
	return fmt.Errorf("validate: %s", msg)
}

// pathRunID is the run id of inputs that cannot be read: a hash of their
// names and the parameters, for the report of a run that never started.
func (c *runConfig) pathRunID() string {
	p := c.jobConfig.plan(c.Books, c.Ratings)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", c.Books, c.Ratings)
	h.Write(modelParams(p))
	return "r-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// finishRun copies the run's report to --out, prints the summary, and
// says how the run ended.
func (c *runConfig) finishRun(ctx context.Context, st store.Store, run string, state asynq.TaskState, stdout io.Writer) error {
	var rep pipeline.Report
	if err := runstore.Open(st, run).GetJSON(ctx, runstore.ReportDoc, &rep); err != nil {
		return fmt.Errorf("read report of run %s: %w", run, err)
	}
	if err := writeFileAtomic(filepath.Join(c.Out, "report.json"), &rep); err != nil {
		return err
	}
	rep.WriteSummary(stdout)
	if c.conn.Store == filepath.Join(c.Out, ".blocks") {
		fmt.Fprintf(stdout, "block store %s kept so that a rerun resumes; remove it with: rm -r %s\n", c.conn.Store, shellQuote(c.conn.Store))
	}
	switch {
	case state == asynq.TaskStateArchived:
		return fmt.Errorf("run %s failed: %s", run, rep.Error)
	case rep.Verify == nil || !rep.Verify.Verified:
		return fmt.Errorf("run %s finished but is not verified", run)
	}
	return nil
}

// plan builds the run's plan. The run id is a hash of the inputs' contents
// and every parameter that changes the output or where it goes, so the
// same job always has the same id (and its items the same run_id),
// whatever the block layout or number of workers.
func (c *runConfig) plan(ctx context.Context) (tasks.Plan, error) {
	p := c.jobConfig.plan(c.Books, c.Ratings)
	h := sha256.New()
	for _, in := range []string{c.Books, c.Ratings} {
		if err := hashInput(ctx, h, in); err != nil {
			return p, err
		}
	}
	h.Write(modelParams(p))
	p.Run = "r-" + hex.EncodeToString(h.Sum(nil))[:16]
	return p, p.Validate()
}

// hashInput adds a local file's contents, or an S3 object's URL and size,
// to h.
func hashInput(ctx context.Context, h io.Writer, url string) error {
	if strings.HasPrefix(url, "s3://") {
		size, err := store.StatURL(ctx, url)
		if err != nil {
			return fmt.Errorf("stat %s: %w", url, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", url, size)
		return nil
	}
	f, err := os.Open(url)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	h.Write([]byte{0})
	return nil
}

// startRun stores the run's plan (unless the same plan is there), enqueues
// its task and registers it. A live run — its lease held by a coordinator
// carrying it out — is joined when the plan is the same, never rewritten:
// --fresh or another plan for it is refused, naming the holder.
func (s *services) startRun(ctx context.Context, st store.Store, plan tasks.Plan, fresh bool, trigger string, log *slog.Logger) error {
	written, err := claimPlan(ctx, s.rc, st, plan, fresh, s.name, log)
	if err != nil {
		return err
	}
	if written {
		// A new generation of the run: its counters start from zero.
		if err := runstate.ResetGeneration(ctx, s.rc, plan.Run); err != nil {
			return err
		}
	}
	if err := s.enqueueRun(ctx, plan.Run, trigger, log); err != nil {
		return err
	}
	if err := runstate.RegisterRun(ctx, s.rc, plan.Run, time.Now()); err != nil {
		return err
	}
	log.Info("run_enqueued", "books", plan.Books, "ratings", plan.Ratings, "target", plan.Target.Kind, "trigger", trigger)
	return nil
}

// claimPlan writes the plan, unless the same plan is already stored (the
// run resumes, or a live run is joined). A stored plan that differs —
// another block layout — or --fresh discards the run's stored outputs
// and starts it over, but only under the run's lease: while another
// process holds it, nothing is rewritten or deleted.
func claimPlan(ctx context.Context, rc redis.UniversalClient, st store.Store, p tasks.Plan, fresh bool, holder string, log *slog.Logger) (written bool, err error) {
	rs := runstore.Open(st, p.Run)
	stored, data, err := rs.Plan(ctx)
	if err != nil && data == nil && !errors.Is(err, runstore.ErrNotFound) {
		return false, err
	}
	exists := data != nil                     // a stored plan, valid or not
	same := err == nil && samePlan(stored, p) // a stored plan this build reads, equal to p
	lease, err := runstate.Acquire(ctx, rc, p.Run, holder, 0)
	var held *runstate.HeldError
	switch {
	case errors.As(err, &held) && same && !fresh:
		log.Info("run_joined", "reason", "the same run is live; waiting for it", "holder", held.Holder.Name)
		return false, nil
	case errors.As(err, &held) && fresh:
		return false, fmt.Errorf("--fresh: %w; wait for it to finish or stop it first", held)
	case errors.As(err, &held):
		return false, fmt.Errorf("%w, with another plan (block size or retries); wait for it to finish", held)
	case err != nil:
		return false, err
	}
	defer func() {
		if rerr := lease.Release(context.WithoutCancel(ctx)); rerr != nil {
			log.Warn("lease_release_failed", "err", rerr)
		}
	}()
	if same && !fresh {
		log.Info("run_resumed", "reason", "plan already stored; finished stages are not recomputed")
		return false, nil
	}
	if err := lease.Check(ctx); err != nil {
		return false, err
	}
	if exists || fresh {
		log.Info("run_reset", "reason", map[bool]string{true: "--fresh", false: "stored plan differs"}[fresh])
		if err := rs.RemoveAll(ctx); err != nil {
			return false, err
		}
	}
	var gen [8]byte
	if _, err := crand.Read(gen[:]); err != nil {
		return false, err
	}
	p.Gen = hex.EncodeToString(gen[:])
	if err := lease.Check(ctx); err != nil {
		return false, err
	}
	if err := rs.PutJSON(ctx, runstore.PlanDoc, p); err != nil {
		return false, fmt.Errorf("write plan of run %s: %w", p.Run, err)
	}
	return true, nil
}

// samePlan reports whether the stored plan is want, generations aside.
func samePlan(stored, want tasks.Plan) bool {
	stored.Gen, want.Gen = "", ""
	a, err1 := json.Marshal(stored)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// services are the asynq client, inspector and servers of this process.
type services struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	servers   []*asynq.Server
	redisOpt  asynq.RedisClientOpt
	rc        redis.UniversalClient
	conn      *connect.Config
	name      string // "coordinator run host:pid": holder of the leases it takes
}

// startServices starts this process's coordinator server (pipeline:run)
// and, with workers > 0, its block worker server.
func startServices(ctx context.Context, conn *connect.Config, st store.Store, workers int, role string, logger *slog.Logger, stats pipeline.Stats) (*services, error) {
	opt := conn.RedisOpt()
	rc := conn.RedisClient()
	if err := rc.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("connect to redis at %s: %w", conn.RedisDisplay(), err)
	}
	svc := &services{client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt), redisOpt: opt, rc: rc, conn: conn,
		name: "coordinator " + role + " " + handlers.ProcessName()}
	targets := conn.Targets(rc)
	if workers > 0 {
		deps := &handlers.Deps{
			Store: st, Cache: handlers.NewCache(conn.CacheBytes), Targets: targets, Enqueuer: svc.client,
			Counter: runstate.RedisCounter{Client: rc, Logger: logger}, Kernel: similarity.DefaultPair, Logger: logger,
			Name: handlers.ProcessName(),
		}
		mux := asynq.NewServeMux()
		mux.Use(cancelWith(ctx))
		handlers.Register(mux, deps)
		srv := asynq.NewServer(opt, handlers.ServerConfig(workers, logger))
		if err := srv.Start(mux); err != nil {
			svc.stop()
			return nil, fmt.Errorf("start workers: %w", err)
		}
		svc.servers = append(svc.servers, srv)
	}
	runner := &pipeline.Runner{
		Store: st, Client: svc.client, Inspector: svc.inspector, RedisOpt: opt, Redis: rc, Targets: targets,
		Observer: runstate.RedisProgress{Client: rc}, Stats: stats, Logger: logger,
		Name: svc.name, Interrupt: ctx,
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypePipelineRun, runner)
	srv := asynq.NewServer(opt, pipelineServerConfig(logger))
	if err := srv.Start(mux); err != nil {
		svc.stop()
		return nil, fmt.Errorf("start coordinator: %w", err)
	}
	svc.servers = append(svc.servers, srv)
	return svc, nil
}

// pipelineServerConfig runs one pipeline at a time per coordinator and
// retries a failed delivery after a few seconds, not asynq's minutes.
func pipelineServerConfig(logger *slog.Logger) asynq.Config {
	return asynq.Config{
		Concurrency:       1,
		Queues:            map[string]int{tasks.QueuePipeline: 1},
		TaskCheckInterval: 50 * time.Millisecond,
		Logger:            connect.AsynqLogger(logger),
		LogLevel:          asynq.WarnLevel,
		ShutdownTimeout:   10 * time.Second,
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			return time.Duration(min(n+1, 30)) * 2 * time.Second
		},
	}
}

func (s *services) stop() {
	s.stopRunner()
	s.client.Close()
	s.inspector.Close()
	s.rc.Close()
}

// stopRunner shuts this process's task servers down; their tasks, having
// been cancelled, return at once and the runner saves its report.
func (s *services) stopRunner() {
	for i := len(s.servers) - 1; i >= 0; i-- { // the runner first, then its block workers
		s.servers[i].Shutdown()
	}
	s.servers = nil
}

// enqueueRun puts the run's pipeline:run task on the queue. A task that
// is queued or running is joined. A finished one is run again: a re-run
// is a new attempt, which resumes from what the store holds (and
// recomputes what it lost), and an archived one (the run failed before)
// gets another go.
func (s *services) enqueueRun(ctx context.Context, run, trigger string, log *slog.Logger) error {
	t, err := tasks.NewPipelineRun(run, trigger)
	if err != nil {
		return err
	}
	_, err = s.client.EnqueueContext(ctx, t)
	if err == nil {
		return nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue run %s: %w", run, err)
	}
	id := "run:" + run
	info, err := s.inspector.GetTaskInfo(tasks.QueuePipeline, id)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		// Redis lost its data and our client still thinks the queue is
		// registered: register it through a new client.
		return pipeline.Republish(ctx, s.redisOpt, t)
	}
	if err != nil {
		return fmt.Errorf("inspect run %s: %w", run, err)
	}
	switch info.State {
	case asynq.TaskStateArchived:
		log.Info("run_retried", "reason", "its task had failed before", "last_error", info.LastErr)
		if err := s.inspector.RunTask(tasks.QueuePipeline, id); err != nil {
			return fmt.Errorf("run archived run %s again: %w", run, err)
		}
	case asynq.TaskStateCompleted:
		log.Info("run_again", "reason", "its task had finished; a new attempt checks and resumes the stored outputs")
		if err := s.inspector.DeleteTask(tasks.QueuePipeline, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("remove finished task of run %s: %w", run, err)
		}
		if _, err := s.client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue run %s: %w", run, err)
		}
	}
	return nil
}

// waitRun follows the run's task until it completes or is archived,
// feeding the display from the progress the runner publishes in Redis. If
// Redis loses the task (restarted without its data), it is enqueued
// again: the run resumes from the store.
func waitRun(ctx context.Context, svc *services, run string, redisTimeout time.Duration, disp *display, log *slog.Logger) (asynq.TaskState, error) {
	id := "run:" + run
	var failing time.Time // since when Redis does not answer
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		if p, ok := runstate.ReadProgress(ctx, svc.rc, run); ok {
			disp.update(p)
		}
		info, err := svc.inspector.GetTaskInfo(tasks.QueuePipeline, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			log.Warn("run_requeued", "reason", "its task is no longer in redis")
			if err := svc.enqueueRun(ctx, run, tasks.TriggerCLI, log); err != nil {
				log.Warn("run_requeue_failed", "err", err)
			}
			continue
		}
		if err != nil {
			if failing.IsZero() {
				failing = time.Now()
				log.Warn("redis_unreachable", "err", err, "gives_up_after", redisTimeout.String())
			}
			if time.Since(failing) >= redisTimeout {
				return 0, fmt.Errorf("redis at %s unreachable for %v (--redis-timeout): %w: %w", svc.conn.RedisDisplay(), redisTimeout, err, errRedisGone)
			}
			continue
		}
		if !failing.IsZero() {
			log.Info("redis_reachable", "after_s", time.Since(failing).Seconds())
			failing = time.Time{}
		}
		switch info.State {
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			return info.State, nil
		}
	}
}

// errRedisGone is Redis unreachable for longer than --redis-timeout.
var errRedisGone = errors.New("redis gone")

func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes a path for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
