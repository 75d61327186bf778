package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/coordinator/cloudwatch"
	"github.com/betterread/pipeline/coordinator/console"
	"github.com/betterread/pipeline/coordinator/hook"
	"github.com/betterread/pipeline/shared/buildinfo"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// serveConfig is the configuration of `coordinator serve`.
type serveConfig struct {
	jobConfig
	Workers   int
	LogFormat string
	LogLevel  string

	Listen       string
	APIAuth      bool
	MonitorWrite bool
	MetricsAuth  bool
	Watch        string
	Debounce     time.Duration
	HookAuth     bool
	MaxBody      int64
	SQSQueue     string
	// CloudWatch is where the blocks queue's depth goes; empty: nowhere.
	CloudWatch         string
	CloudWatchInterval time.Duration

	apiToken  string // BETTERREAD_API_TOKEN only: a secret
	hookToken string // BETTERREAD_HOOK_TOKEN only: a secret
	envErrs   []error
}

func (c *serveConfig) register(fs *flag.FlagSet, env connect.Env) {
	f := &connect.Flags{FS: fs, Env: env}
	f.Int(&c.Workers, "workers", "BETTERREAD_WORKERS", 0, "block tasks this process also runs at once; 0 leaves them to worker processes")
	f.String(&c.Listen, "listen", "BETTERREAD_LISTEN", "127.0.0.1:8080", "HTTP address of the S3 hook (/hooks/s3), /runs, /healthz, /metrics and /monitor/; empty: no HTTP")
	f.Bool(&c.APIAuth, "api-auth", "BETTERREAD_API_AUTH", true, "require the token BETTERREAD_API_TOKEN on every HTTP path but /healthz and /hooks/s3 (bearer header, or the /login cookie); false only for local use")
	f.Bool(&c.MonitorWrite, "monitor-write", "BETTERREAD_MONITOR_WRITE", false, "let the asynq web UI at /monitor/ change tasks and queues (delete, run, archive, pause), with the API token; otherwise it is read-only")
	f.Bool(&c.MetricsAuth, "metrics-auth", "BETTERREAD_METRICS_AUTH", false, "require the API token on /metrics too (Prometheus: authorization credentials); otherwise /metrics is open for scraping")
	f.String(&c.Watch, "watch", "BETTERREAD_WATCH", "", "s3://bucket/prefix whose Books.csv and Ratings.csv uploads start runs; empty: runs only from coordinator run")
	f.Duration(&c.Debounce, "debounce", "BETTERREAD_DEBOUNCE", 10*time.Second, "wait this long after an upload event before looking at the pair, so both uploads start one run")
	f.Bool(&c.HookAuth, "hook-auth", "BETTERREAD_HOOK_AUTH", true, "require the bearer token BETTERREAD_HOOK_TOKEN on the S3 hook (MinIO's webhook auth_token); false only for local use")
	f.Int64(&c.MaxBody, "hook-max-body", "BETTERREAD_HOOK_MAX_BODY", hook.DefaultMaxBody, "largest S3 hook request body, bytes")
	f.String(&c.SQSQueue, "sqs-queue-url", "BETTERREAD_SQS_QUEUE_URL", "", "long-poll this SQS queue for the same S3 events (S3 → EventBridge → SQS)")
	f.String(&c.CloudWatch, "cloudwatch-namespace", "BETTERREAD_CLOUDWATCH_NAMESPACE", "", "publish the depth of the blocks queue (pending + active + retry) as the CloudWatch metric QueueDepth (dimension Queue=blocks) in this namespace, for scaling workers; empty: off")
	f.Duration(&c.CloudWatchInterval, "cloudwatch-interval", "BETTERREAD_CLOUDWATCH_INTERVAL", cloudwatch.DefaultInterval, "how often --cloudwatch-namespace publishes the queue depth")
	c.registerJob(f)
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto, text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level")
	c.conn.RegisterFlags(f)
	c.apiToken = f.Env("BETTERREAD_API_TOKEN")
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
	errs = append(errs, c.validateHTTP()...)
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
	if c.CloudWatch != "" && c.CloudWatchInterval <= 0 {
		errs = append(errs, fmt.Errorf("--cloudwatch-interval %v must be positive", c.CloudWatchInterval))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("--hook-max-body %d under 1024", c.MaxBody))
	}
	return errors.Join(errs...)
}

// validateHTTP checks the API token settings: closed by default, so a
// listening serve needs the token unless told --api-auth=false, and the
// settings that only narrow who may do what need it in any case.
func (c *serveConfig) validateHTTP() []error {
	if c.Listen == "" {
		return nil
	}
	var errs []error
	if c.APIAuth && c.apiToken == "" {
		errs = append(errs, errors.New("the HTTP API needs a token: set BETTERREAD_API_TOKEN (or --api-auth=false for local use)"))
	}
	if !c.APIAuth && c.MonitorWrite {
		errs = append(errs, errors.New("--monitor-write needs the API token: it cannot go with --api-auth=false"))
	}
	if !c.APIAuth && c.MetricsAuth {
		errs = append(errs, errors.New("--metrics-auth needs the API token: it cannot go with --api-auth=false"))
	}
	return errs
}

// parseServe reads serve's flags and environment (errHelped after -h).
func parseServe(args []string, env connect.Env, stderr io.Writer) (*serveConfig, error) {
	fs := flag.NewFlagSet("coordinator serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := new(serveConfig)
	c.register(fs, env)
	if err := parseConfig(fs, args, c.validate); err != nil {
		return nil, err
	}
	c.conn.DynamoDBOptions = dynamoDBOptions
	return c, nil
}

// serveCommand takes pipeline:run tasks from Redis until ctx ends, so a run
// enqueued by any coordinator (or left by a crashed one) is carried out;
// with --watch it also starts runs from S3 upload events (HTTP hook, SQS).
// Every goroutine it starts belongs to one errgroup, which it waits for
// before returning.
func serveCommand(ctx context.Context, args []string, env connect.Env, stderr io.Writer) error {
	c, err := parseServe(args, env, stderr)
	if errors.Is(err, errHelped) {
		return nil
	}
	if err != nil {
		return err
	}
	logger, err := connect.NewLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	connect.LogRedisTo(logger)
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Read().Collector())
	stats := newServeStats(reg)
	svc, err := startServices(ctx, &c.conn, st, c.Workers, "serve", logger, stats)
	if err != nil {
		return err
	}
	defer svc.stop()
	if err := c.startSettler(svc, st, logger, stats); err != nil {
		return err
	}
	reg.MustRegister(metrics.NewQueueMetricsCollector(svc.inspector))
	hookMetrics := hook.NewMetrics(reg)
	intake := c.intake(svc, logger)

	// Everything that can fail is set up before the first goroutine
	// starts, so an error return leaves none behind.
	front, err := c.openHTTP(svc, st, reg, intake, hookMetrics, logger)
	if err != nil {
		return err
	}
	defer front.close()
	var poller *hook.SQSPoller
	if c.SQSQueue != "" {
		if poller, err = c.sqsPoller(ctx, intake, hookMetrics, logger); err != nil {
			return err
		}
	}
	var depth *cloudwatch.Publisher
	if c.CloudWatch != "" {
		if depth, err = c.depthPublisher(ctx, svc, logger); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { <-gctx.Done(); return nil }) // serve until ctx ends, or a member fails
	if front != nil {
		connect.ServeHTTP(gctx, g, front.l, front.h)
		logger.Info("http_listening", "addr", front.l.Addr().String(), "hook", c.Watch != "", "api_auth", c.APIAuth,
			"monitor_write", c.MonitorWrite, "metrics_auth", c.MetricsAuth)
	}
	if poller != nil {
		g.Go(func() error { return poller.Run(gctx) })
		logger.Info("sqs_polling", "queue", c.SQSQueue)
	}
	if depth != nil {
		g.Go(func() error { return depth.Run(gctx) })
		logger.Info("queue_depth_publishing", "namespace", c.CloudWatch, "queue", depth.Queue, "interval", c.CloudWatchInterval)
	}
	if c.Watch != "" && c.jobConfig.plan("", "").Target.Kind == "files" {
		logger.Warn("files_target", "detail", "runs started by uploads write their tables as JSONL files under --out on whichever machine runs their load tasks; use --target dynamodb (or --dynamodb-endpoint) on a cluster")
	}
	logger.Info("coordinator_serving", "redis", c.conn.RedisDisplay(), "store", c.conn.Store, "workers", c.Workers, "watch", c.Watch)
	if err := g.Wait(); err != nil && ctx.Err() == nil {
		logger.Error("coordinator_failed", "err", err)
		return err
	}
	logger.Info("coordinator_stopping")
	return nil
}

// startSettler starts, with --watch, the server of the looks at the
// watched location. They run apart from the pipeline server, whose one
// slot a run holds for its whole length.
func (c *serveConfig) startSettler(svc *services, st store.Store, logger *slog.Logger, stats *serveStats) error {
	if c.Watch == "" {
		return nil
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeSettle, &settler{job: &c.jobConfig, store: st, svc: svc, log: logger, runs: stats.started})
	srv := asynq.NewServer(svc.redisOpt, asynq.Config{
		Concurrency: 2, Queues: map[string]int{tasks.QueueHooks: 1}, Logger: connect.AsynqLogger(logger),
		LogLevel: asynq.WarnLevel, TaskCheckInterval: 200 * time.Millisecond,
		RetryDelayFunc: handlers.RetryDelay,
	})
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start hook server: %w", err)
	}
	svc.servers = append(svc.servers, srv)
	return nil
}

// intake is where upload events go with --watch; nil without.
func (c *serveConfig) intake(svc *services, logger *slog.Logger) *hook.Intake {
	if c.Watch == "" {
		return nil
	}
	w, _ := hook.ParseWatch(c.Watch) // validated
	return &hook.Intake{Watch: w, Client: svc.client, Inspector: svc.inspector, Debounce: c.Debounce, Logger: logger}
}

// hookHandler is POST /hooks/s3 with --watch; nil without.
func (c *serveConfig) hookHandler(intake *hook.Intake, m *hook.Metrics, logger *slog.Logger) http.Handler {
	if intake == nil {
		return nil
	}
	return &hook.Handler{Intake: intake, Token: c.hookToken, AuthOff: !c.HookAuth, MaxBody: c.MaxBody, Metrics: m, Logger: logger}
}

// httpFront is serve's HTTP side before it serves: the listener, the
// handler, and the asynq web UI's Redis connections to close.
type httpFront struct {
	l   net.Listener
	h   http.Handler
	mon *asynqmon.HTTPHandler
}

// openHTTP builds the handler and listens on --listen; nil without
// --listen.
func (c *serveConfig) openHTTP(svc *services, st store.Store, reg *prometheus.Registry, intake *hook.Intake, m *hook.Metrics, logger *slog.Logger) (*httpFront, error) {
	if c.Listen == "" {
		return nil, nil
	}
	mon := c.monitor(svc.redisOpt)
	h, err := c.httpHandler(&api{rc: svc.rc, store: st, log: logger}, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), mon,
		c.hookHandler(intake, m, logger), logger)
	if err != nil {
		mon.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		mon.Close()
		return nil, fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	return &httpFront{l: l, h: h, mon: mon}, nil
}

// monitor is the asynq web UI at /monitor/: read-only (its API refuses
// every method but GET with 405) unless --monitor-write.
func (c *serveConfig) monitor(opt asynq.RedisConnOpt) *asynqmon.HTTPHandler {
	return asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: opt, ReadOnly: !c.MonitorWrite})
}

// close closes the listener (if Serve has not) and the web UI's Redis
// connections; nil does nothing.
func (f *httpFront) close() {
	if f != nil {
		f.l.Close()
		f.mon.Close()
	}
}

// httpHandler routes serve's HTTP paths. Open: GET /healthz, /hooks/s3
// (which checks the hook token itself), the login form, and /metrics
// unless --metrics-auth. Everything else — /runs, /runs/{id}, /monitor/
// and unknown paths — needs the API token unless --api-auth=false.
func (c *serveConfig) httpHandler(a *api, metrics, monitor, hookH http.Handler, logger *slog.Logger) (http.Handler, error) {
	guard := func(h http.Handler) http.Handler { return h }
	mux := http.NewServeMux()
	if c.APIAuth {
		auth, err := console.New(c.apiToken, "/monitor/", logger)
		if err != nil {
			return nil, err
		}
		auth.Routes(mux)
		guard = auth.Require
	} else {
		logger.Warn("api_auth_off", "detail", "--api-auth=false: /runs and /monitor/ answer anyone who reaches "+c.Listen)
	}
	private := http.NewServeMux()
	a.routes(private)
	private.Handle("/monitor/", monitor)

	mux.HandleFunc("GET /healthz", a.healthz)
	if hookH != nil {
		mux.Handle("/hooks/s3", hookH)
	}
	if c.MetricsAuth {
		metrics = guard(metrics)
	}
	mux.Handle("/metrics", metrics)
	mux.Handle("/", guard(private))
	return mux, nil
}

// sqsPoller long-polls --sqs-queue-url for upload events.
func (c *serveConfig) sqsPoller(ctx context.Context, intake *hook.Intake, m *hook.Metrics, logger *slog.Logger) (*hook.SQSPoller, error) {
	client, err := hook.NewSQSClient(ctx, c.conn.Region)
	if err != nil {
		return nil, fmt.Errorf("sqs client: %w", err)
	}
	return &hook.SQSPoller{Client: client, QueueURL: c.SQSQueue, Handle: hook.MessageHandler(intake, m, logger), Logger: logger}, nil
}

// depthPublisher sends the blocks queue's depth to CloudWatch
// (--cloudwatch-namespace), which the workers' scaling alarms read.
func (c *serveConfig) depthPublisher(ctx context.Context, svc *services, logger *slog.Logger) (*cloudwatch.Publisher, error) {
	client, err := cloudwatch.NewClient(ctx, c.conn.Region)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch client: %w", err)
	}
	return &cloudwatch.Publisher{Client: client, Inspector: svc.inspector, Namespace: c.CloudWatch,
		Queue: tasks.QueueBlocks, Interval: c.CloudWatchInterval, Logger: logger}, nil
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
			// Every run this process's runner carried out, whoever enqueued
			// it (coordinator run, an upload, a redelivery after a crash).
			Name: "betterread_runs_total", Help: "Runs this coordinator carried out, whatever started them, by final status.",
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
