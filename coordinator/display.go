package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/runstate"
)

// display shows a run's progress: one live line on a terminal (stage,
// step, done/total, elapsed, ETA), or a log line per step change and at
// most every few seconds otherwise. In bar mode it is also the writer of
// the command's log lines: each is printed above the live line, which is
// then drawn again, so a log line never lands inside it.
type display struct {
	w       io.Writer
	mode    string // bar, log, off
	logger  *slog.Logger
	last    runstate.Progress
	lastLog time.Time

	mu    sync.Mutex
	live  string // the live line as last drawn, "" when none is shown
	drawn bool
}

const logEvery = 5 * time.Second

// newDisplay resolves mode auto: a live line on a terminal, else log lines.
func newDisplay(w io.Writer, mode string) *display {
	if mode == "auto" {
		mode = "log"
		if connect.IsTerminal(w) {
			mode = "bar"
		}
	}
	return &display{w: w, mode: mode}
}

// logWriter is where the command's log lines go: through the display in
// bar mode, straight to w otherwise.
func (d *display) logWriter() io.Writer {
	if d.mode == "bar" {
		return d
	}
	return d.w
}

// Write prints log lines above the live line.
func (d *display) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live != "" {
		fmt.Fprint(d.w, "\r\033[K")
	}
	n, err := d.w.Write(b)
	if d.live != "" {
		fmt.Fprint(d.w, d.live)
	}
	return n, err
}

func (d *display) draw(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "\r\033[K%s", s)
	d.live, d.drawn = s, true
}

func (d *display) update(p runstate.Progress) {
	changed := p.Stage != d.last.Stage || p.Step != d.last.Step || p.Warning != d.last.Warning
	same := !changed && p.Done == d.last.Done && p.Total == d.last.Total
	d.last = p
	switch d.mode {
	case "bar":
		d.draw(line(p))
	case "log":
		if d.logger == nil || same && time.Since(d.lastLog) < logEvery || !changed && time.Since(d.lastLog) < logEvery && p.Done != p.Total {
			return
		}
		d.lastLog = time.Now()
		if p.Warning != "" {
			d.logger.Warn("progress", "stage", p.Stage, "step", p.Step, "done", p.Done, "total", p.Total, "unit", unitOf(p),
				"elapsed_s", round(time.Since(p.Started).Seconds()), "warning", p.Warning)
			return
		}
		d.logger.Info("progress", "stage", p.Stage, "step", p.Step, "done", p.Done, "total", p.Total, "unit", unitOf(p),
			"elapsed_s", round(time.Since(p.Started).Seconds()), "eta_s", round(eta(p).Seconds()))
	}
}

// finish ends the live line, so that what follows starts on a line of
// its own.
func (d *display) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drawn {
		fmt.Fprintln(d.w)
	}
	d.live, d.drawn = "", false
}

func unitOf(p runstate.Progress) string {
	if p.Unit == "" {
		return "block"
	}
	return p.Unit
}

func line(p runstate.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]", p.Stage)
	if p.Step != "" {
		fmt.Fprintf(&b, " %s", p.Step)
	}
	if p.Total > 0 {
		const width = 20
		filled := width * min(p.Done, p.Total) / p.Total
		fmt.Fprintf(&b, " [%s%s] %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), amount(p.Done, p.Total, unitOf(p)))
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

// amount is "done/total units", in MB for bytes, with the unit's plural
// when total is not one.
func amount(done, total int, unit string) string {
	if unit == "byte" {
		return fmt.Sprintf("%.1f/%.1f MB", float64(done)/1e6, float64(total)/1e6)
	}
	return fmt.Sprintf("%d/%d %s", done, total, plural(total, unit))
}

// plural is word for n of one, its plural otherwise (words ending in y
// after a consonant take -ies; the units here need no more).
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ay") {
		return word[:len(word)-1] + "ies"
	}
	return word + "s"
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
