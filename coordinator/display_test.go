package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/betterread/pipeline/shared/runstate"
)

// TestLogLinesGoAboveTheLiveLine: a log line written while the live line
// is shown clears it, prints the log line on its own line, and draws the
// live line again below it; after finish nothing is redrawn.
func TestLogLinesGoAboveTheLiveLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	d := newDisplay(&out, "bar")
	logger := slog.New(slog.NewTextHandler(d.logWriter(), &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	p := runstate.Progress{Stage: "train", Step: "iteration 1/10 items", Done: 1, Total: 4, Fraction: 0.25, Started: time.Now()}
	d.update(p)
	live := line(p)
	logger.Info("trained")
	d.finish()
	logger.Info("after")
	want := "\r\033[K" + live + "\r\033[K" + "level=INFO msg=trained\n" + live + "\n" + "level=INFO msg=after\n"
	// The elapsed time in the line moves between update and the log line's
	// redraw only if a clock tick falls between them; compare shapes.
	got := out.String()
	if strings.Count(got, "msg=trained") != 1 || !strings.HasPrefix(got, "\r\033[K[train] iteration 1/10 items [#####...............] 1/4 blocks") ||
		!strings.Contains(got, "\r\033[Klevel=INFO msg=trained\n[train]") || !strings.HasSuffix(got, "\nlevel=INFO msg=after\n") || len(got) != len(want) {
		t.Errorf("terminal output:\n%q\nwant:\n%q", got, want)
	}
}

func TestAmountPlurals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		done, total int
		unit, want  string
	}{
		{0, 1, "block", "0/1 block"},
		{1, 2, "block", "1/2 blocks"},
		{3, 10, "group pair", "3/10 group pairs"},
		{5, 7, "item", "5/7 items"},
		{1_500_000, 20_000_000, "byte", "1.5/20.0 MB"},
		{0, 2, "entry", "0/2 entries"},
	} {
		if got := amount(c.done, c.total, c.unit); got != c.want {
			t.Errorf("amount(%d, %d, %q) = %q, want %q", c.done, c.total, c.unit, got, c.want)
		}
	}
}
