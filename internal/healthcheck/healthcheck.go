// Package healthcheck is the `healthcheck` subcommand of both binaries: it
// GETs a health URL and succeeds only on a 2xx answer, so a container
// healthcheck needs no curl or shell (the image is distroless).
package healthcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrUnhealthy is an answer other than 2xx, or none.
var ErrUnhealthy = errors.New("unhealthy")

// Command parses `NAME [--url URL] [--timeout D]` and checks the URL once.
// def is the URL checked when --url is not given ("": --url is required). After -h (usage printed)
// it returns nil.
func Command(ctx context.Context, name string, args []string, def string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", def, "health URL to GET; 2xx is healthy")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *url == "" {
		return errors.New("--url is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return Check(ctx, *url)
}

// Check GETs url once: nil for a 2xx answer, else an error wrapping
// ErrUnhealthy with the status and the start of the body (the reason a
// readiness check gives).
func Check(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health url %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: GET %s: %s: %s", ErrUnhealthy, url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
