package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/betterread/pipeline/shared/connect"
)

// serveConfig is the configuration of `coordinator serve`.
type serveConfig struct {
	conn      connect.Config
	Workers   int
	LogFormat string
	LogLevel  string
}

// serveCommand takes pipeline:run tasks from Redis until ctx ends, so a run
// enqueued by any coordinator (or left by a crashed one) is carried out.
func serveCommand(ctx context.Context, args []string, env connect.Env, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	f := &connect.Flags{FS: fs, Env: env}
	f.Int(&c.Workers, "workers", "BETTERREAD_WORKERS", 0, "block tasks this process also runs at once; 0 leaves them to worker processes")
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto, text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level")
	c.conn.RegisterFlags(f)
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if err := joinErrs(f.Errs, c.conn.Validate(), required(c.conn.Redis, "--redis"), required(c.conn.Store, "--store")); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger, err := connect.NewLogger(stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	svc, err := startServices(ctx, &c.conn, st, c.Workers, logger)
	if err != nil {
		return err
	}
	logger.Info("coordinator_serving", "redis", c.conn.Redis, "store", c.conn.Store, "workers", c.Workers)
	<-ctx.Done()
	logger.Info("coordinator_stopping")
	svc.stop()
	return nil
}
