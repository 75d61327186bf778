package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/tasks"
)

// TestClusterHungWorker: one of two workers is stopped with SIGSTOP (hung,
// not dead) while it holds a block task. Before, the run waited for
// asynq's lease and recoverer (ml-100k: 67 s instead of 2.4 s). Now the
// coordinator sees the worker's heartbeat stop and starts a backup copy;
// the run finishes with identical tables.
func TestClusterHungWorker(t *testing.T) {
	args, ref := referenceRun(t, 4)
	c := newCluster(t)
	c.store = t.TempDir() // a directory store: the test looks for a held task's output
	a, b := c.startWorker("worker-a"), c.startWorker("worker-b")
	out := t.TempDir()
	run := c.startRun("coordinator", append(slices.Clone(args), "--out", out, "--block-rows", "16")...)
	// Mid-phase, with many blocks still queued, a worker of concurrency 2
	// always holds tasks.
	pr := c.waitFor(run, "the ALS stage at iteration 2", func(p runstate.Progress) bool {
		return inTrain(2)(p) && p.Total-p.Done > 10
	})
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: c.redis.Addr, Password: c.password})
	defer insp.Close()
	// Stop worker-a; if it held no unfinished task at that instant (a task
	// still active 300 ms later is its own: the others take milliseconds;
	// unfinished: its output is not written yet), let it go on and try
	// again.
	for try := 0; ; try++ {
		if err := syscall.Kill(a.Cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		before := activeIDs(t, insp)
		time.Sleep(300 * time.Millisecond)
		if held := c.unfinished(intersect(before, activeIDs(t, insp))); len(held) > 0 {
			t.Logf("stopped worker-a at %s %d/%d holding %v", pr.Step, pr.Done, pr.Total, held)
			break
		}
		if try == 20 {
			t.Fatal("worker-a never held a task when stopped")
		}
		syscall.Kill(a.Cmd.Process.Pid, syscall.SIGCONT)
		time.Sleep(20 * time.Millisecond)
	}
	stopped := time.Now()
	t.Cleanup(func() { syscall.Kill(a.Cmd.Process.Pid, syscall.SIGCONT) })
	wait(t, run, 3*time.Minute)
	t.Logf("run finished %.1f s after worker-a was stopped", time.Since(stopped).Seconds())
	sameTables(t, ref, out)
	rep := reportOf(t, out)
	var spec int64
	for _, tk := range rep.Tasks {
		spec += tk.Speculated
	}
	if spec < 1 {
		t.Errorf("no backup task was started for the hung worker's task\n%s", tail(b.Output(), 2000))
	}
}

func activeIDs(t *testing.T, insp *asynq.Inspector) []string {
	t.Helper()
	infos, err := insp.ListActiveTasks(tasks.QueueBlocks)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	return ids
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// unfinished keeps the ALS task ids whose output block is not in the
// directory store yet.
func (c *cluster) unfinished(ids []string) []string {
	var out []string
	for _, id := range ids {
		f := strings.Split(id, ":") // run:als:iteration:side:block
		if len(f) != 5 || f[1] != "als" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.store, "runs", f[0], "als", f[2], f[3], f[4]+".arrow")); os.IsNotExist(err) {
			out = append(out, id)
		}
	}
	return out
}

// TestRedisGoneForGood: with Redis gone for good, `coordinator run` fails
// after --redis-timeout with a message saying so, and writes its report.
// Before, it logged "connection refused" several times a second, forever.
func TestRedisGoneForGood(t *testing.T) {
	args, _ := referenceRun(t, 20)
	c := newCluster(t)
	c.store = t.TempDir()
	out := t.TempDir()
	run := testenv.Start(t, "coordinator", clusterHowTo, c.env, c.coordinator,
		append(append([]string{"run", "--workers", "1", "--progress", "log", "--log-format", "json", "--redis-timeout", "3s",
			"--out", out, "--block-rows", "16"}, c.conn()...), args...)...)
	c.waitFor(run, "the ALS stage", inTrain(1))
	c.redis.Kill()
	select {
	case <-run.Done():
	case <-time.After(2 * time.Minute):
		t.Fatalf("run still going 2 min after Redis went away (--redis-timeout 3s):\n%s", tail(run.Output(), 3000))
	}
	if code := run.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, tail(run.Output(), 3000))
	}
	if !strings.Contains(run.Output(), "unreachable for 3s") {
		t.Errorf("the error does not say Redis was unreachable:\n%s", tail(run.Output(), 3000))
	}
	rep := readReport(t, out)
	if rep.Status != "failed" || !strings.Contains(rep.Error, "unreachable") {
		t.Errorf("report: status %q, error %q; want failed, naming Redis", rep.Status, rep.Error)
	}
	var refused []string
	for _, l := range strings.Split(run.Output(), "\n") {
		if strings.Contains(l, "connection refused") {
			refused = append(refused, l)
		}
	}
	if len(refused) > 40 {
		t.Errorf("%d lines about the refused connection: the log repeats itself, e.g.\n%s", len(refused), strings.Join(refused[len(refused)-10:], "\n"))
	}
}
