package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/runstate"
)

// display shows a run's progress: one live line on a terminal (stage,
// step, blocks done/total, elapsed, ETA), or a log line per step change and
// at most every few seconds otherwise.
type display struct {
	w       io.Writer
	mode    string // bar, log, off
	logger  *slog.Logger
	last    runstate.Progress
	lastLog time.Time
	drawn   bool
}

const logEvery = 5 * time.Second

func newDisplay(w io.Writer, mode string, logger *slog.Logger) *display {
	if mode == "auto" {
		mode = "log"
		if connect.IsTerminal(w) {
			mode = "bar"
		}
	}
	return &display{w: w, mode: mode, logger: logger}
}

func (d *display) update(p runstate.Progress) {
	changed := p.Stage != d.last.Stage || p.Step != d.last.Step || p.Warning != d.last.Warning
	same := !changed && p.Done == d.last.Done && p.Total == d.last.Total
	d.last = p
	switch d.mode {
	case "bar":
		fmt.Fprintf(d.w, "\r\033[K%s", line(p))
		d.drawn = true
	case "log":
		if same && time.Since(d.lastLog) < logEvery || !changed && time.Since(d.lastLog) < logEvery && p.Done != p.Total {
			return
		}
		d.lastLog = time.Now()
		if p.Warning != "" {
			d.logger.Warn("progress", "stage", p.Stage, "step", p.Step, "done", p.Done, "total", p.Total,
				"elapsed_s", round(time.Since(p.Started).Seconds()), "warning", p.Warning)
			return
		}
		d.logger.Info("progress", "stage", p.Stage, "step", p.Step, "done", p.Done, "total", p.Total,
			"elapsed_s", round(time.Since(p.Started).Seconds()), "eta_s", round(eta(p).Seconds()))
	}
}

func (d *display) finish() {
	if d.drawn {
		fmt.Fprintln(d.w)
	}
}

func line(p runstate.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]", p.Stage)
	if p.Step != "" {
		fmt.Fprintf(&b, " %s", p.Step)
	}
	if p.Total > 0 {
		const width = 20
		filled := width * p.Done / p.Total
		fmt.Fprintf(&b, " [%s%s] %d/%d blocks", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.Done, p.Total)
	}
	fmt.Fprintf(&b, "  %s", time.Since(p.Started).Round(100*time.Millisecond))
	if e := eta(p); e > 0 {
		fmt.Fprintf(&b, "  ETA %s", e.Round(time.Second))
	}
	if p.Warning != "" {
		fmt.Fprintf(&b, "  ! %s", p.Warning)
	}
	return b.String()
}

// eta extrapolates the stage's elapsed time over the fraction done.
func eta(p runstate.Progress) time.Duration {
	if p.Fraction <= 0 || p.Fraction >= 1 {
		return 0
	}
	el := time.Since(p.Started)
	return time.Duration(float64(el) * (1 - p.Fraction) / p.Fraction)
}

func round(x float64) float64 { return float64(int64(x*10)) / 10 }
