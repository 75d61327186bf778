package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/betterread/pipeline/internal/healthcheck"
	"github.com/betterread/pipeline/shared/buildinfo"
	"github.com/betterread/pipeline/shared/connect"
)

const usage = `usage: coordinator <command> [flags]

commands:
  run       carry out one run: validate, prepare, train, similarity, load, verify
  serve     take pipeline runs from Redis (cluster mode)
  verify    check a finished run's tables again (prints the verify summary JSON)
  status    list recent runs and watched uploads, or show one run (status RUN)
  generate  write a synthetic Books.csv and Ratings.csv
  version   print the version and commit (also --version)
  healthcheck [--url URL]
            GET serve's /healthz (default http://127.0.0.1:8080/healthz); exit 0 on 2xx, else 1

Run 'coordinator <command> -h' for its flags.`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// usageError marks a command-line mistake without adding to its message.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error) int {
	var u usageError
	var sig interrupted
	switch {
	case errors.As(err, &sig):
		return 128 + int(sig.sig) // 130 for SIGINT, 143 for SIGTERM, as a shell reports them
	case errors.Is(err, errUsage) || errors.As(err, &u):
		return 2
	}
	return 1
}

// interrupted is the cause of a command's cancellation by a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string {
	if name, ok := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[i.sig]; ok {
		return "interrupted by " + name
	}
	return "interrupted by " + i.sig.String()
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return fmt.Errorf("no command: %w", errUsage)
	}
	switch args[0] {
	case "run":
		return runCommand(ctx, args[1:], connect.Env(getenv), os.Stdout, os.Stderr)
	case "serve":
		return serveCommand(ctx, args[1:], connect.Env(getenv), os.Stderr)
	case "verify":
		return verifyCommand(ctx, args[1:], connect.Env(getenv), os.Stdout, os.Stderr)
	case "status":
		return statusCommand(ctx, args[1:], connect.Env(getenv), os.Stdout, os.Stderr)
	case "generate":
		return generateCommand(ctx, args[1:], connect.Env(getenv), os.Stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(os.Stdout, buildinfo.Read())
		return nil
	case "healthcheck":
		return healthcheck.Command(ctx, "coordinator healthcheck", args[1:], "http://127.0.0.1:8080/healthz", os.Stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(os.Stdout, usage)
		return nil
	}
	fmt.Fprintln(os.Stderr, usage)
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}

func required(v, name string) error {
	if v == "" {
		return fmt.Errorf("%s is required", name)
	}
	return nil
}

func joinErrs(list []error, more ...error) error {
	return errors.Join(append(append([]error(nil), list...), more...)...)
}

// parseError is the result of a failed flag parse: nil for -h (the usage
// was printed, which is what was asked for), else a usage error.
func parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("%v: %w", err, errUsage)
}

// parseConfig parses a command's flags and validates the configuration,
// reporting every problem at once.
// After -h (usage printed) it returns errHelped, which the command turns
// into success.
func parseConfig(fs *flag.FlagSet, args []string, validate func() error) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelped
		}
		return parseError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if err := validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	return nil
}

// errHelped is -h: the usage was printed, as asked.
var errHelped = errors.New("usage printed")
