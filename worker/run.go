package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/internal/healthcheck"
	"github.com/betterread/pipeline/shared/buildinfo"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/similarity"
)

// Config is the worker's configuration.
type Config struct {
	Conn        connect.Config
	Concurrency int
	// Listen is the HTTP address of /healthz, /readyz and /metrics; empty
	// serves no HTTP.
	Listen    string
	LogFormat string
	LogLevel  string
	// Version prints the build and exits.
	Version bool
	envErrs []error
}

// RegisterFlags adds the worker's flags, defaulting from env.
func (c *Config) RegisterFlags(fs *flag.FlagSet, env connect.Env) {
	f := &connect.Flags{FS: fs, Env: env}
	f.Int(&c.Concurrency, "concurrency", "BETTERREAD_CONCURRENCY", runtime.NumCPU(), "block tasks run at once")
	f.String(&c.Listen, "listen", "BETTERREAD_LISTEN", "", "HTTP address of /healthz (liveness), /readyz or /healthz?ready=1 (Redis and the block store answer) and /metrics, e.g. :9090; empty: no HTTP")
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto (text on a terminal, else JSON), text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	c.Conn.RegisterFlags(f)
	fs.BoolVar(&c.Version, "version", false, "print the version and commit, then exit")
	c.envErrs = f.Errs
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.envErrs...)
	if c.Conn.Redis == "" {
		errs = append(errs, errors.New("--redis (or BETTERREAD_REDIS) is required"))
	}
	if c.Conn.Store == "" {
		errs = append(errs, errors.New("--store (or BETTERREAD_STORE) is required"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
		}
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d < 1", c.Concurrency))
	}
	if err := c.Conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// healthcheckUsage is the `worker healthcheck` subcommand, for container
// healthchecks (the image has no curl).
const healthcheckUsage = "healthcheck"

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) > 0 && args[0] == healthcheckUsage {
		return healthcheck.Command(ctx, "worker healthcheck", args[1:], "", os.Stderr)
	}
	c, err := parseConfig(args, connect.Env(getenv), os.Stderr)
	if err != nil || c == nil {
		return err
	}
	if c.Version {
		fmt.Println(buildinfo.Read())
		return nil
	}
	logger, err := connect.NewLogger(os.Stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	connect.LogRedisTo(logger)
	st, err := c.Conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	rc := c.Conn.RedisClient()
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to redis at %s: %w", c.Conn.RedisDisplay(), err)
	}
	fetched := new(atomic.Int64)
	client := asynq.NewClient(c.Conn.RedisOpt())
	defer client.Close()
	deps := &handlers.Deps{
		Store: st, Cache: handlers.NewCache(c.Conn.CacheBytes), Targets: c.Conn.Targets(rc), Enqueuer: client,
		Counter: runstate.RedisCounter{Client: rc, Logger: logger}, Kernel: similarity.DefaultPair,
		Logger: logger, Fetched: fetched, Name: handlers.ProcessName(),
	}
	reg, metrics := newRegistry(deps.Cache, fetched)
	mux := asynq.NewServeMux()
	mux.Use(metrics.observe)
	handlers.Register(mux, deps)

	// Everything that can fail is set up before the first goroutine
	// starts, so an error return leaves none behind.
	var l net.Listener
	if c.Listen != "" {
		if l, err = net.Listen("tcp", c.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", c.Listen, err)
		}
		defer l.Close()
	}
	srv := asynq.NewServer(c.Conn.RedisOpt(), handlers.ServerConfig(c.Concurrency, logger))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker_started", "redis", c.Conn.RedisDisplay(), "store", c.Conn.Store, "concurrency", c.Concurrency, "listen", c.Listen)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		// Stop taking new tasks, then wait for running ones; tasks that
		// do not finish within the shutdown timeout go back to the queue.
		srv.Stop()
		srv.Shutdown()
		return nil
	})
	if l != nil {
		connect.ServeHTTP(gctx, g, l, httpHandler(reg, health{redis: rc, store: st}))
	}
	err = g.Wait()
	hits, misses, held := deps.Cache.Stats()
	logger.Info("worker_stopped", "bytes_fetched", fetched.Load(), "cache_hits", hits, "cache_misses", misses, "cache_bytes", held)
	return err
}

// parseConfig reads the worker's flags and environment and validates
// them; after -h (usage printed) it returns nil, nil.
func parseConfig(args []string, env connect.Env, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := new(Config)
	c.RegisterFlags(fs, env)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil // the usage was printed, as asked
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (the only subcommand is %s)", fs.Args(), healthcheckUsage)
	}
	if c.Version {
		return c, nil
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	return c, nil
}
