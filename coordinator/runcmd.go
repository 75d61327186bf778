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
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// dynamoDBOptions adjust the DynamoDB clients of `run` and `verify`; only
// tests set it, to add fault-injecting SDK middleware.
var dynamoDBOptions []func(*dynamodb.Options)

func runCommand(ctx context.Context, args []string, env connect.Env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	c.register(fs, env)
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	c.conn.DynamoDBOptions = dynamoDBOptions
	logger, err := connect.NewLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}

	// Embedded default: an in-process Redis that runs asynq's scripts.
	if c.conn.Redis == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer mr.Close()
		c.conn.Redis = mr.Addr()
		logger.Debug("embedded_redis", "addr", mr.Addr())
	}
	if c.conn.Store == "" {
		c.conn.Store = filepath.Join(c.Out, ".blocks")
	}
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}

	// Validate up front, as the seed's validate Lambda does before anything
	// starts; the run's own validate stage checks again.
	if v := pipeline.Validate(ctx, c.Books, c.Ratings); !v.Valid {
		rep := pipeline.Report{Status: "failed", Error: v.Message, Validate: v, Inputs: pipeline.Inputs{Books: c.Books, Ratings: c.Ratings}}
		if err := writeFileAtomic(filepath.Join(c.Out, "report.json"), &rep); err != nil {
			return err
		}
		return fmt.Errorf("validate: %s", v.Message)
	}
	plan, err := c.plan(ctx)
	if err != nil {
		return err
	}
	// The services get the plain logger: the pipeline runner adds run_id
	// to its own lines, as it serves any run.
	runLog := logger.With("run_id", plan.Run)
	written, err := storePlan(ctx, st, plan, c.Fresh, runLog)
	if err != nil {
		return err
	}

	svc, err := startServices(ctx, &c.conn, st, c.Workers, logger, nil)
	if err != nil {
		return err
	}
	defer svc.stop()
	if written {
		// A new generation of the run: its counters start from zero.
		if err := svc.resetRunState(ctx, plan.Run); err != nil {
			return err
		}
	}

	if c.Fresh {
		// A finished task of the same run would be taken for this one.
		if err := svc.inspector.DeleteTask(tasks.QueuePipeline, "run:"+plan.Run); err != nil &&
			!errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return fmt.Errorf("--fresh: remove the earlier task of run %s (is it still running?): %w", plan.Run, err)
		}
	}
	if err := svc.enqueueRun(ctx, plan.Run, runLog); err != nil {
		return err
	}
	if err := pipeline.RegisterRun(ctx, svc.rc, plan.Run, time.Now()); err != nil {
		return err
	}
	runLog.Info("run_enqueued", "books", plan.Books, "ratings", plan.Ratings, "target", plan.Target.Kind)

	disp := newDisplay(stderr, c.Progress, runLog)
	state, err := waitRun(ctx, svc, plan.Run, disp, runLog)
	disp.finish()
	if err != nil {
		return err
	}
	var rep pipeline.Report
	if err := readJSON(ctx, st, store.RunKeys(plan.Run).Report(), &rep); err != nil {
		return fmt.Errorf("read report of run %s: %w", plan.Run, err)
	}
	if err := writeFileAtomic(filepath.Join(c.Out, "report.json"), &rep); err != nil {
		return err
	}
	rep.WriteSummary(stdout)
	switch {
	case state == asynq.TaskStateArchived:
		return fmt.Errorf("run %s failed: %s", plan.Run, rep.Error)
	case rep.Verify == nil || !rep.Verify.Verified:
		return fmt.Errorf("run %s finished but is not verified", plan.Run)
	}
	return nil
}

// plan builds the run's plan. The run id is a hash of the inputs' contents
// and every parameter that changes the output, so the same job always has
// the same id (and its items the same run_id), whatever the block layout
// or number of workers.
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

// storePlan writes the plan, unless the same plan is already stored (the
// run resumes). A stored plan that differs — another block layout or
// target directory — belongs to an earlier attempt whose blocks do not fit:
// the run's outputs are discarded and it starts over.
func storePlan(ctx context.Context, st store.Store, p tasks.Plan, fresh bool, logger *slog.Logger) (written bool, err error) {
	keys := store.RunKeys(p.Run)
	p.Gen = ""
	same, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode plan: %w", err)
	}
	old, err := readAll(ctx, st, keys.Plan())
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("read stored plan of run %s: %w", p.Run, err)
	case !fresh && samePlan(old, same):
		logger.Info("run_resumed", "reason", "plan already stored; finished stages are not recomputed")
		return false, nil
	default:
		logger.Info("run_reset", "reason", map[bool]string{true: "--fresh", false: "stored plan differs"}[fresh])
		if err := st.Delete(ctx, keys.Prefix()); err != nil {
			return false, fmt.Errorf("discard stored outputs of run %s: %w", p.Run, err)
		}
	}
	var gen [8]byte
	if _, err := crand.Read(gen[:]); err != nil {
		return false, err
	}
	p.Gen = hex.EncodeToString(gen[:])
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return false, fmt.Errorf("encode plan: %w", err)
	}
	if err := st.Put(ctx, keys.Plan(), bytes.NewReader(data)); err != nil {
		return false, fmt.Errorf("write plan of run %s: %w", p.Run, err)
	}
	return true, nil
}

// samePlan reports whether the stored plan is the one encoded in want (a
// plan without its generation).
func samePlan(stored, want []byte) bool {
	p, err := tasks.DecodePlan(stored)
	if err != nil {
		return false
	}
	p.Gen = ""
	got, err := json.Marshal(p)
	return err == nil && bytes.Equal(got, want)
}

// services are the asynq client, inspector and servers of this process.
type services struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	servers   []*asynq.Server
	redisOpt  asynq.RedisClientOpt
	rc        redis.UniversalClient
	conn      *connect.Config
}

// startServices starts this process's coordinator server (pipeline:run)
// and, with workers > 0, its block worker server.
func startServices(ctx context.Context, conn *connect.Config, st store.Store, workers int, logger *slog.Logger, stats pipeline.Stats) (*services, error) {
	opt := conn.RedisOpt()
	rc := conn.RedisClient()
	if err := rc.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("connect to redis at %s: %w", conn.Redis, err)
	}
	svc := &services{client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt), redisOpt: opt, rc: rc, conn: conn}
	targets := handlers.TargetOpener(conn.Targets(rc))
	if workers > 0 {
		deps := &handlers.Deps{
			Store: st, Cache: handlers.NewCache(conn.CacheBytes), Targets: targets,
			Counter: handlers.RedisCounter{Client: rc, Logger: logger}, Kernel: similarity.Default, Logger: logger,
			Name: handlers.ProcessName(),
		}
		mux := asynq.NewServeMux()
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
		Observer: pipeline.RedisProgress{Client: rc}, Stats: stats, Logger: logger,
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
		Logger:            handlers.AsynqLogger(logger),
		LogLevel:          asynq.WarnLevel,
		ShutdownTimeout:   10 * time.Second,
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			return time.Duration(min(n+1, 30)) * 2 * time.Second
		},
	}
}

func (s *services) stop() {
	for _, srv := range s.servers {
		srv.Shutdown()
	}
	s.client.Close()
	s.inspector.Close()
	s.rc.Close()
}

// resetRunState removes the run's counters, phase spans and progress
// from Redis.
func (s *services) resetRunState(ctx context.Context, run string) error {
	first, last := handlers.SpanKeys(run)
	if err := s.rc.Del(ctx, handlers.CounterKey(run), first, last, pipeline.ProgressKey(run)).Err(); err != nil {
		return fmt.Errorf("reset counters of run %s in redis: %w", run, err)
	}
	return nil
}

// enqueueRun puts the run's pipeline:run task on the queue. A task that
// is already there (queued, running, or done) is left alone, except an
// archived one (the run failed before): that one is run again, resuming
// from what the store holds.
func (s *services) enqueueRun(ctx context.Context, run string, log *slog.Logger) error {
	t, err := tasks.NewPipelineRun(run)
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
	info, err := s.inspector.GetTaskInfo(tasks.QueuePipeline, "run:"+run)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		// Redis lost its data and our client still thinks the queue is
		// registered: register it through a new client.
		return pipeline.Republish(ctx, s.redisOpt, t)
	}
	if err != nil {
		return fmt.Errorf("inspect run %s: %w", run, err)
	}
	if info.State == asynq.TaskStateArchived {
		log.Info("run_retried", "reason", "its task had failed before", "last_error", info.LastErr)
		if err := s.inspector.RunTask(tasks.QueuePipeline, "run:"+run); err != nil {
			return fmt.Errorf("run archived run %s again: %w", run, err)
		}
	}
	return nil
}

// waitRun follows the run's task until it completes or is archived,
// feeding the display from the progress the runner publishes in Redis. If
// Redis loses the task (restarted without its data), it is enqueued
// again: the run resumes from the store.
func waitRun(ctx context.Context, svc *services, run string, disp *display, log *slog.Logger) (asynq.TaskState, error) {
	id := "run:" + run
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		if p, ok := pipeline.ReadProgress(ctx, svc.rc, run); ok {
			disp.update(p)
		}
		info, err := svc.inspector.GetTaskInfo(tasks.QueuePipeline, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			log.Warn("run_requeued", "reason", "its task is no longer in redis")
			if err := svc.enqueueRun(ctx, run, log); err != nil {
				log.Warn("run_requeue_failed", "err", err)
			}
			continue
		}
		if err != nil {
			continue
		}
		switch info.State {
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			return info.State, nil
		}
	}
}

func readAll(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func readJSON(ctx context.Context, st store.Store, key string, v any) error {
	data, err := readAll(ctx, st, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

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

var _ dynamo.Target = nil
