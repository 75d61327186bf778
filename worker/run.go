package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/similarity"
)

// Config is the worker's configuration.
type Config struct {
	Conn        connect.Config
	Concurrency int
	LogFormat   string
	LogLevel    string
	envErrs     []error
}

// RegisterFlags adds the worker's flags, defaulting from env.
func (c *Config) RegisterFlags(fs *flag.FlagSet, env connect.Env) {
	f := &connect.Flags{FS: fs, Env: env}
	f.Int(&c.Concurrency, "concurrency", "BETTERREAD_CONCURRENCY", runtime.NumCPU(), "block tasks run at once")
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto (text on a terminal, else JSON), text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	c.Conn.RegisterFlags(f)
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
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d < 1", c.Concurrency))
	}
	if err := c.Conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var c Config
	c.RegisterFlags(fs, connect.Env(getenv))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage was printed, as asked
		}
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
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
		Counter: runstate.RedisCounter{Client: rc, Logger: logger}, Kernel: similarity.Default,
		Logger: logger, Fetched: fetched, Name: handlers.ProcessName(),
	}
	mux := asynq.NewServeMux()
	handlers.Register(mux, deps)
	srv := asynq.NewServer(c.Conn.RedisOpt(), handlers.ServerConfig(c.Concurrency, logger))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker_started", "redis", c.Conn.RedisDisplay(), "store", c.Conn.Store, "concurrency", c.Concurrency)
	<-ctx.Done()
	// Stop taking new tasks, then wait for running ones; tasks that do not
	// finish within the shutdown timeout go back to the queue.
	srv.Stop()
	srv.Shutdown()
	hits, misses, held := deps.Cache.Stats()
	logger.Info("worker_stopped", "bytes_fetched", fetched.Load(), "cache_hits", hits, "cache_misses", misses, "cache_bytes", held)
	return nil
}
