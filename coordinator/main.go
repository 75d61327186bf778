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
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// The first SIGINT or SIGTERM cancels the command, which stops
	// promptly and says so; a second one ends the process at once (the
	// default action is restored). This goroutine lives as long as main.
	go func() {
		s := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel(interrupted{s.(syscall.Signal)})
	}()
	err := run(ctx, os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(exitCode(err))
	}
}
