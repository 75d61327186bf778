package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/tasks"
)

// These tests check that runs never harm each other and that Redis and
// the block store never disagree silently, with a real redis-server and
// real coordinator and worker processes.

// TestTwoRunsAtOnce: the same inputs, two `coordinator run` processes one
// second apart with different --out. Before, the second rewrote the first
// one's plan and deleted its blocks. Now the output directory is part of
// the run's identity: both verify, each --out holds its own tables.
func TestTwoRunsAtOnce(t *testing.T) {
	args, ref := referenceRun(t, 4)
	c := newCluster(t)
	c.startWorker("worker-a")
	outA, outB := t.TempDir(), t.TempDir()
	a := c.startRun("run-a", append(slices.Clone(args), "--out", outA, "--block-rows", "64")...)
	// The measured case: the second run starts while the first is in progress.
	c.waitFor(a, "run-a to start", func(p runstate.Progress) bool { return p.Stage != "" })
	b := c.startRun("run-b", append(slices.Clone(args), "--out", outB, "--block-rows", "64")...)
	wait(t, a, 3*time.Minute)
	wait(t, b, 3*time.Minute)
	sameTables(t, ref, outA)
	sameTables(t, ref, outB)
	ra, rb := readReport(t, outA), readReport(t, outB)
	if ra.RunID == rb.RunID {
		t.Errorf("both runs have id %s: the output directory must be part of the identity", ra.RunID)
	}
}

// TestFreshOnLiveRun: --fresh on a run another coordinator is carrying out
// is refused, naming the run and its holder, and the live run is
// unharmed.
func TestFreshOnLiveRun(t *testing.T) {
	args, ref := referenceRun(t, 3)
	c := newCluster(t)
	out := t.TempDir()
	job := append(slices.Clone(args), "--out", out, "--block-rows", "64")
	// No worker yet: the run holds its lease while it waits on the ALS barrier.
	first := c.startRun("run-first", job...)
	c.waitFor(first, "the ALS stage", func(p runstate.Progress) bool { return p.Stage == "train" })
	fresh := c.startRun("run-fresh", append(slices.Clone(job), "--fresh")...)
	select {
	case <-fresh.Done():
	case <-time.After(time.Minute):
		t.Fatalf("--fresh on a live run did not return:\n%s", fresh.Output())
	}
	if code := fresh.ExitCode(); code == 0 {
		t.Fatalf("--fresh on a live run exited 0:\n%s", fresh.Output())
	}
	outp := fresh.Output()
	if !strings.Contains(outp, "is live: held by coordinator run") || !strings.Contains(outp, "--fresh") {
		t.Errorf("--fresh's error does not name the live run and its holder:\n%s", tail(outp, 2000))
	}
	// No silent waits: with no worker the run says so within ~10 s.
	pr := c.waitFor(first, "the no-worker warning", func(p runstate.Progress) bool { return p.Warning != "" })
	if !strings.Contains(pr.Warning, "no live worker") {
		t.Errorf("warning %q does not say no worker serves the queue", pr.Warning)
	}
	c.startWorker("worker-a")
	wait(t, first, 3*time.Minute)
	if !strings.Contains(first.Output(), "no_workers") {
		t.Error("the no-worker warning is not in the run's log")
	}
	sameTables(t, ref, out)
}

// TestRelativePathsWithServe: with a `coordinator serve` running in
// another directory on the same Redis, relative --books/--ratings/--out
// work whichever coordinator carries the run out. Before, serve failed
// such runs with "no input files found" whenever it took them.
func TestRelativePathsWithServe(t *testing.T) {
	args, ref := referenceRun(t, 3)
	books, ratings := args[1], args[3]
	c := newCluster(t)
	w := c.startWorker("worker-a")
	// serve and the runs name Redis by a redis:// URL with the password in
	// it (no BETTERREAD_REDIS_PASSWORD): it must appear in no output.
	var env []string
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, "BETTERREAD_REDIS_PASSWORD=") {
			env = append(env, kv)
		}
	}
	conn := []string{"--redis", "redis://:" + c.password + "@" + c.redis.Addr + "/0", "--store", c.store}
	serve := testenv.StartIn(t, t.TempDir(), "serve", clusterHowTo, env, c.coordinator,
		append([]string{"serve", "--listen", "", "--log-format", "json"}, conn...)...)
	work := t.TempDir()
	for _, f := range []string{books, ratings} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	job := slices.Clone(args[4:])
	for i := range 3 {
		out := "out" + string(rune('a'+i))
		run := testenv.StartIn(t, work, "run-"+out, clusterHowTo, env, c.coordinator,
			append(append([]string{"run", "--workers", "0", "--progress", "log", "--log-format", "json",
				"--books", filepath.Base(books), "--ratings", filepath.Base(ratings), "--out", out, "--block-rows", "64"}, conn...), job...)...)
		wait(t, run, 3*time.Minute)
		sameTables(t, ref, filepath.Join(work, out))
		c.checkNoSecrets([]*testenv.Process{run, serve, w}, filepath.Join(work, out))
	}
	if serve.Exited() {
		t.Fatalf("serve exited:\n%s", serve.Output())
	}
}

// TestRerunAfterStoreEmptied: the same job on the same Redis after the
// block store was emptied (another store path, as after the bucket's
// expiry). Before, it failed forever reading the report of the finished
// run task. Now the finished task is run again as a new attempt.
func TestRerunAfterStoreEmptied(t *testing.T) {
	args, ref := referenceRun(t, 3)
	c := newCluster(t)
	c.store = t.TempDir() // a directory store, emptied by the test
	c.startWorker("worker-a")
	out := t.TempDir()
	job := append(slices.Clone(args), "--out", out, "--block-rows", "64")
	wait(t, c.startRun("run-1", job...), 3*time.Minute)
	if err := os.RemoveAll(filepath.Join(c.store, "runs")); err != nil {
		t.Fatal(err)
	}
	wait(t, c.startRun("run-2", job...), 3*time.Minute)
	sameTables(t, ref, out)
	rep := readReport(t, out)
	if len(rep.Attempts) != 2 || rep.Attempt == nil || rep.Attempt.Number != 2 {
		t.Fatalf("attempts after a re-run: %+v (this one %+v), want 2, this one number 2", rep.Attempts, rep.Attempt)
	}
	for _, a := range rep.Attempts {
		if a.Trigger != tasks.TriggerCLI || a.Status != "succeeded" || a.Ended == nil || a.Started.IsZero() {
			t.Errorf("attempt %+v: want a finished, succeeded CLI attempt", a)
		}
	}
	status := testenv.Start(t, "status", clusterHowTo, c.env, c.coordinator, append([]string{"status", rep.RunID}, c.conn()...)...)
	<-status.Done()
	if out := status.Output(); status.ExitCode() != 0 || !strings.Contains(out, "attempts:") || strings.Count(out, " cli ") != 2 {
		t.Errorf("coordinator status does not list both attempts (exit %d):\n%s", status.ExitCode(), out)
	}
	if st := rep.Stages["prepare"].Status; st != "succeeded" {
		t.Errorf("prepare after the store was emptied: %s, want succeeded (computed again)", st)
	}
}

// TestCorruptBlocks flips bytes in a stored factor block, a partial top
// list and a top-k block while the run is in progress, before anything
// reads them: each is detected by their checksums, never consumed, computed again, and
// the tables are byte-identical to an undisturbed run.
func TestCorruptBlocks(t *testing.T) {
	args, ref := referenceRun(t, 3)
	c := newCluster(t)
	c.store = t.TempDir() // a directory store: the test flips bytes in its files
	w := testenv.Start(c.t, "worker", clusterHowTo, c.env, c.worker, append(c.conn(), "--concurrency", "1", "--log-format", "json")...)
	out := t.TempDir()
	run := c.startRun("coordinator", append(slices.Clone(args), "--out", out, "--block-rows", "16")...)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: c.redis.Addr, Password: c.password})
	defer insp.Close()
	corrupt := func(pattern string) {
		t.Helper()
		path := waitFile(t, run, filepath.Join(c.store, "runs", "*", pattern))
		// Hold the queue so nothing reads the block between the check
		// and the flip (the running task, if any, finishes).
		if err := insp.PauseQueue(tasks.QueueBlocks); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		tmp := path + ".flip"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		t.Logf("flipped a byte of %s", path)
		if err := insp.UnpauseQueue(tasks.QueueBlocks); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(filepath.Join("als", "001", "items", "00000.arrow"))
	// Block 1's partial list, so that the merge it delays is not block 0's,
	// whose top-k block is flipped next, before anything reads it.
	corrupt(filepath.Join("similarity", "pairs", "0000-0000", "00001.arrow"))
	corrupt(filepath.Join("similarity", "topk", "00000.arrow"))
	wait(t, run, 3*time.Minute)
	sameTables(t, ref, out)
	rep := reportOf(t, out)
	if rep.Tasks["train"].Recomputed < 1 || rep.Tasks["similarity"].Recomputed < 2 {
		t.Errorf("recomputed blocks: train %d, similarity %d; want at least one and two\nworker:\n%s",
			rep.Tasks["train"].Recomputed, rep.Tasks["similarity"].Recomputed, tail(w.Output(), 3000))
	}
}

// waitFile polls for a file matching pattern while p runs.
func waitFile(t *testing.T, p *testenv.Process, pattern string) string {
	t.Helper()
	end := time.Now().Add(2 * time.Minute)
	for time.Now().Before(end) {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
		if p.Exited() {
			t.Fatalf("%s exited before %s appeared:\n%s", p.Name, pattern, tail(p.Output(), 3000))
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s did not appear", pattern)
	return ""
}
