// Command coordinator runs the Better Read pipeline: `run` carries out one
// run from the command line (by default entirely in this process, with no
// servers), `serve` takes pipeline runs from Redis, `generate` writes a
// synthetic Book-Crossing-shaped data set. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(exitCode(err))
	}
}
