package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/betterread/pipeline/coordinator/hook"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/tasks"
)

// serveConfig is the configuration of `coordinator serve`.
type serveConfig struct {
	jobConfig
	Workers   int
	LogFormat string
	LogLevel  string

	Listen   string
	Watch    string
	Debounce time.Duration
	HookAuth bool
	MaxBody  int64
	SQSQueue string

	hookToken string // BETTERREAD_HOOK_TOKEN only: a secret
	envErrs   []error
}

func (c *serveConfig) register(fs *flag.FlagSet, env connect.Env) {
	f := &connect.Flags{FS: fs, Env: env}
	f.Int(&c.Workers, "workers", "BETTERREAD_WORKERS", 0, "block tasks this process also runs at once; 0 leaves them to worker processes")
	f.String(&c.Listen, "listen", "BETTERREAD_LISTEN", "127.0.0.1:8080", "HTTP address of the S3 hook (/hooks/s3), /runs, /healthz, /metrics and /monitor/; empty: no HTTP")
	f.String(&c.Watch, "watch", "BETTERREAD_WATCH", "", "s3://bucket/prefix whose Books.csv and Ratings.csv uploads start runs; empty: runs only from coordinator run")
	f.Duration(&c.Debounce, "debounce", "BETTERREAD_DEBOUNCE", 10*time.Second, "wait this long after an upload event before looking at the pair, so both uploads start one run")
	f.Bool(&c.HookAuth, "hook-auth", "BETTERREAD_HOOK_AUTH", true, "require the bearer token BETTERREAD_HOOK_TOKEN on the S3 hook (MinIO's webhook auth_token); false only for local use")
	f.Int64(&c.MaxBody, "hook-max-body", "BETTERREAD_HOOK_MAX_BODY", hook.DefaultMaxBody, "largest S3 hook request body, bytes")
	f.String(&c.SQSQueue, "sqs-queue-url", "BETTERREAD_SQS_QUEUE_URL", "", "long-poll this SQS queue for the same S3 events (S3 → EventBridge → SQS)")
	c.registerJob(f)
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto, text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level")
	c.conn.RegisterFlags(f)
	c.hookToken = f.Env("BETTERREAD_HOOK_TOKEN")
	c.envErrs = f.Errs
}

func (c *serveConfig) validate() error {
	errs := append([]error(nil), c.envErrs...)
	errs = append(errs, c.conn.Validate(), required(c.conn.Redis, "--redis"), required(c.conn.Store, "--store"))
	errs = append(errs, c.validateJob()...)
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d is negative", c.Workers))
	}
	if c.Watch != "" {
		if _, err := hook.ParseWatch(c.Watch); err != nil {
			errs = append(errs, err)
		}
		if c.Listen == "" && c.SQSQueue == "" {
			errs = append(errs, errors.New("--watch needs --listen (the HTTP hook) or --sqs-queue-url"))
		}
		if c.Listen != "" && c.HookAuth && c.hookToken == "" {
			errs = append(errs, errors.New("the S3 hook needs a token: set BETTERREAD_HOOK_TOKEN (or --hook-auth=false for local use)"))
		}
	}
	if c.SQSQueue != "" && c.Watch == "" {
		errs = append(errs, errors.New("--sqs-queue-url needs --watch (which bucket and prefix count)"))
	}
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("--debounce %v is negative", c.Debounce))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("--hook-max-body %d under 1024", c.MaxBody))
	}
	return errors.Join(errs...)
}

// serveCommand takes pipeline:run tasks from Redis until ctx ends, so a run
// enqueued by any coordinator (or left by a crashed one) is carried out;
// with --watch it also starts runs from S3 upload events (HTTP hook, SQS).
func serveCommand(ctx context.Context, args []string, env connect.Env, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
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
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stats := newServeStats(reg)
	svc, err := startServices(ctx, &c.conn, st, c.Workers, logger, stats)
	if err != nil {
		return err
	}
	defer svc.stop()
	if c.Watch != "" {
		// Looks at the watched location run apart from the pipeline
		// server, whose one slot a run holds for its whole length.
		mux := asynq.NewServeMux()
		mux.Handle(tasks.TypeSettle, &settler{job: &c.jobConfig, store: st, svc: svc, log: logger, runs: stats.started})
		srv := asynq.NewServer(svc.redisOpt, asynq.Config{
			Concurrency: 2, Queues: map[string]int{tasks.QueueHooks: 1}, Logger: handlers.AsynqLogger(logger),
			LogLevel: asynq.WarnLevel, TaskCheckInterval: 200 * time.Millisecond,
			RetryDelayFunc: handlers.RetryDelay,
		})
		if err := srv.Start(mux); err != nil {
			return fmt.Errorf("start hook server: %w", err)
		}
		svc.servers = append(svc.servers, srv)
	}
	reg.MustRegister(metrics.NewQueueMetricsCollector(svc.inspector))

	var intake *hook.Intake
	hookMetrics := hook.NewMetrics(reg)
	if c.Watch != "" {
		w, _ := hook.ParseWatch(c.Watch)
		intake = &hook.Intake{Watch: w, Client: svc.client, Inspector: svc.inspector, Debounce: c.Debounce, Logger: logger}
	}
	errc := make(chan error, 2)
	if c.Listen != "" {
		mux := http.NewServeMux()
		api := &api{rc: svc.rc, store: st, log: logger}
		api.routes(mux)
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mon := asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: svc.redisOpt, ReadOnly: false})
		defer mon.Close()
		mux.Handle("/monitor/", mon)
		if intake != nil {
			mux.Handle("/hooks/s3", &hook.Handler{Intake: intake, Token: c.hookToken, AuthOff: !c.HookAuth,
				MaxBody: c.MaxBody, Metrics: hookMetrics, Logger: logger})
		}
		l, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", c.Listen, err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
		go func() { errc <- srv.Serve(l) }()
		defer srv.Close()
		logger.Info("http_listening", "addr", l.Addr().String(), "hook", intake != nil)
	}
	if c.SQSQueue != "" {
		client, err := hook.NewSQSClient(ctx, c.conn.Region)
		if err != nil {
			return fmt.Errorf("sqs client: %w", err)
		}
		poller := &hook.SQSPoller{Client: client, QueueURL: c.SQSQueue, Handle: hook.MessageHandler(intake, hookMetrics, logger), Logger: logger}
		go func() { errc <- poller.Run(ctx) }()
		logger.Info("sqs_polling", "queue", c.SQSQueue)
	}
	if c.Watch != "" && c.jobConfig.plan("", "").Target.Kind == "files" {
		logger.Warn("files_target", "detail", "runs started by uploads write their tables as JSONL files under --out on whichever machine runs their load tasks; use --target dynamodb (or --dynamodb-endpoint) on a cluster")
	}
	logger.Info("coordinator_serving", "redis", c.conn.RedisDisplay(), "store", c.conn.Store, "workers", c.Workers, "watch", c.Watch)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("coordinator_failed", "err", err)
			return err
		}
	}
	logger.Info("coordinator_stopping")
	return nil
}

// serveStats are the serve command's own Prometheus metrics.
type serveStats struct {
	runsStarted  *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	stageSeconds *prometheus.HistogramVec
	runSeconds   prometheus.Histogram
}

func newServeStats(reg prometheus.Registerer) *serveStats {
	s := &serveStats{
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_runs_started_total", Help: "Runs this coordinator started, by source (hook).",
		}, []string{"source"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_runs_total", Help: "Runs this coordinator carried out, by final status.",
		}, []string{"status"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "betterread_stage_duration_seconds", Help: "Stage durations, by stage and status.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"stage", "status"}),
		runSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "betterread_run_duration_seconds", Help: "Whole-run durations.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
	}
	reg.MustRegister(s.runsStarted, s.runsFinished, s.stageSeconds, s.runSeconds)
	return s
}

func (s *serveStats) started(source string) { s.runsStarted.WithLabelValues(source).Inc() }

// StageDone implements pipeline.Stats.
func (s *serveStats) StageDone(stage, status string, seconds float64) {
	s.stageSeconds.WithLabelValues(stage, status).Observe(seconds)
}

// RunDone implements pipeline.Stats.
func (s *serveStats) RunDone(status string, seconds float64) {
	s.runsFinished.WithLabelValues(status).Inc()
	s.runSeconds.Observe(seconds)
}
