package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
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
	return usageError{err}
}

// parseConfig parses a command's flags and validates the configuration,
// reporting every problem at once.
// After -h (usage printed) it returns errHelped, which the command turns
// into success.
func parseConfig(fs *flag.FlagSet, args []string, validate func() error) error {
	if err := parseFlags(fs, args); err != nil {
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

// parseFlags parses args quietly: -h prints the usage, a mistyped flag
// gives one line naming the nearest flag, not the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	usage := fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err == nil:
		return nil
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if near := nearestFlag(fs, strings.TrimLeft(name, "-")); near != "" {
			msg += fmt.Sprintf(" (did you mean --%s?)", near)
		}
	}
	return fmt.Errorf("%s; -h for all flags", msg)
}

// nearestFlag is the defined flag closest to name by edit distance, if
// it is close enough to be a typo.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", len(name)/2+2
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
