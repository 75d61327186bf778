// Command worker runs block tasks — als:solve, sim:pair, sim:merge, load:write — from
// Redis until SIGTERM, then stops taking work and returns unfinished tasks
// to the queue. Scale by starting more of them. See README.md.
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
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
