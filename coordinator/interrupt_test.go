package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/betterread/pipeline/internal/testenv"
)

// TestInterrupt: SIGINT (and SIGTERM) on an embedded `coordinator run`
// mid-train stops it promptly with exit 130 (143), an "interrupted"
// report, and a rerun of the same command resumes. Before, it trained on
// for ~10 s, exited 1 and wrote no report.
func TestInterrupt(t *testing.T) {
	coord, _ := binaries(t)
	books, ratings := generate(t, smallShape())
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			out := t.TempDir()
			args := []string{"run", "--books", books, "--ratings", ratings, "--out", out, "--progress", "log", "--log-format", "json",
				"--min-books", "10", "--min-similarities", "100", "--iterations", "12", "--block-rows", "32", "--workers", "2"}
			p := testenv.Start(t, "run", clusterHowTo, nil, coord, args...)
			waitOutput(t, p, `"stage":"train"`)
			sent := time.Now()
			if err := p.Cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(15 * time.Second):
				t.Fatalf("still running 15 s after %v:\n%s", c.sig, tail(p.Output(), 3000))
			}
			t.Logf("stopped %.2f s after %v", time.Since(sent).Seconds(), c.sig)
			if code := p.ExitCode(); code != c.code {
				t.Fatalf("exit %d after %v, want %d:\n%s", code, c.sig, c.code, tail(p.Output(), 3000))
			}
			rep := readReport(t, out)
			if rep.Status != "interrupted" || rep.RunID == "" || rep.Started.IsZero() {
				t.Fatalf("report after %v: status %q, run %q, started %v; want an interrupted, well-formed report", c.sig, rep.Status, rep.RunID, rep.Started)
			}
			again := testenv.Start(t, "rerun", clusterHowTo, nil, coord, slices.Replace(slices.Clone(args), 0, 1, "run")...)
			wait(t, again, 3*time.Minute)
			rep = readReport(t, out)
			if rep.Status != "succeeded" || rep.Stages["prepare"].Status != "resumed" || len(rep.Attempts) != 1 {
				// The embedded Redis is new for each process: one attempt on record here.
				t.Errorf("rerun: status %s, prepare %s, %d attempts; want succeeded, resumed", rep.Status, rep.Stages["prepare"].Status, len(rep.Attempts))
			}
		})
	}
}

// waitOutput polls p's output for s.
func waitOutput(t *testing.T, p *testenv.Process, s string) {
	t.Helper()
	end := time.Now().Add(2 * time.Minute)
	for time.Now().Before(end) {
		if strings.Contains(p.Output(), s) {
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited before printing %s:\n%s", p.Name, s, tail(p.Output(), 3000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not print %s", p.Name, s)
}
