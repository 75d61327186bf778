package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/runstate"
)

// The cluster tests run the real binaries as separate processes against a
// real redis-server and MinIO (the block store), kill some of them with
// SIGKILL mid-run, and check that the run still ends verified with tables
// byte-identical to an undisturbed embedded run of the same job.
//
// A task held by a killed process stays "active" in Redis until asynq's
// lease on it expires; the coordinator does not wait for that: once the
// killed worker's heartbeat has expired (10 s) its tasks get backup
// copies, so each kill costs the run about 11 s.

const clusterHowTo = "the cluster tests build ./coordinator and ./worker with `go build` and need redis-server and MinIO: run ./deploy/local/test-deps.sh"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the coordinator and worker once per test binary.
func binaries(t *testing.T) (coordinator, worker string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "betterread-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"coordinator", "worker"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, pkg), "../"+pkg).CombinedOutput()
			if err != nil {
				buildErr = &buildError{pkg: pkg, out: string(out), err: err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("%v\n%s", buildErr, clusterHowTo)
	}
	return filepath.Join(binDir, "coordinator"), filepath.Join(binDir, "worker")
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string {
	return "go build ./" + e.pkg + ": " + e.err.Error() + "\n" + e.out
}

// TestMain removes the built binaries and fails the tests if any
// goroutine outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cluster is Redis, MinIO and the processes of one test.
type cluster struct {
	t           *testing.T
	coordinator string
	worker      string
	redis       *testenv.Redis
	password    string
	minio       *testenv.MinIO
	rc          *redis.Client
	env         []string
	store       string
	workers     []*testenv.Process
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	coord, worker := binaries(t)
	password := fmt.Sprintf("pw-%x", rand.Uint64()) // Redis needs it: secure by default
	r := testenv.StartRedis(t, "--requirepass", password)
	m := testenv.StartMinIO(t)
	m.NewBucket(t, "blocks")
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Password: password})
	t.Cleanup(func() { rc.Close() })
	return &cluster{t: t, coordinator: coord, worker: worker, redis: r, rc: rc, password: password, minio: m,
		env:   append(m.Env(), "BETTERREAD_REDIS_PASSWORD="+password),
		store: "s3://blocks/" + strings.ToLower(t.Name())}
}

// checkNoSecrets fails if the Redis password or the S3 secret key shows
// up in any process's output, in the run report, or in Redis (where the
// task payloads are).
func (c *cluster) checkNoSecrets(procs []*testenv.Process, out string) {
	c.t.Helper()
	secrets := []string{c.password}
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "AWS_SECRET_ACCESS_KEY="); ok {
			secrets = append(secrets, v)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	texts := map[string]string{"report.json": string(report)}
	for _, p := range procs {
		texts[p.Name] = p.Output()
	}
	keys, _ := c.rc.Keys(context.Background(), "*").Result()
	for _, k := range keys {
		if typ, _ := c.rc.Type(context.Background(), k).Result(); typ == "hash" {
			m, _ := c.rc.HGetAll(context.Background(), k).Result()
			texts["redis "+k] = fmt.Sprint(m)
		}
	}
	for where, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				c.t.Errorf("a secret appears in %s", where)
			}
		}
	}
}

func (c *cluster) conn() []string { return []string{"--redis", c.redis.Addr, "--store", c.store} }

func (c *cluster) startWorker(name string) *testenv.Process {
	p := testenv.Start(c.t, name, clusterHowTo, c.env, c.worker,
		append(c.conn(), "--concurrency", "2", "--log-format", "json")...)
	c.workers = append(c.workers, p)
	return p
}

// startRun starts `coordinator run --workers 0` as a process.
func (c *cluster) startRun(name string, args ...string) *testenv.Process {
	return testenv.Start(c.t, name, clusterHowTo, c.env, c.coordinator,
		append(append([]string{"run", "--workers", "0", "--progress", "log", "--log-format", "json"}, c.conn()...), args...)...)
}

// waitFor polls the run's progress in Redis until cond holds, failing the
// test if the process p exits first or the deadline passes.
func (c *cluster) waitFor(p *testenv.Process, what string, cond func(runstate.Progress) bool) runstate.Progress {
	c.t.Helper()
	end := time.Now().Add(5 * time.Minute)
	for time.Now().Before(end) {
		runs, _ := runstate.ProgressRuns(context.Background(), c.rc)
		for _, run := range runs {
			if pr, ok := runstate.ReadProgress(context.Background(), c.rc, run); ok && cond(pr) {
				return pr
			}
		}
		if p.Exited() {
			c.t.Fatalf("%s exited before %s:\n%s", p.Name, what, tail(p.Output(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no %s within 5 minutes:\n%s", what, tail(p.Output(), 4000))
	return runstate.Progress{}
}

// wait waits for p to exit and fails the test unless it exited 0.
func wait(t *testing.T, p *testenv.Process, limit time.Duration) {
	t.Helper()
	end := time.Now().Add(limit)
	for !p.Exited() {
		if time.Now().After(end) {
			t.Fatalf("%s still running after %s:\n%s", p.Name, limit, tail(p.Output(), 6000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("%s exited %d:\n%s", p.Name, code, tail(p.Output(), 6000))
	}
}

// upload puts local files into a new bucket and returns their s3:// URLs.
func (c *cluster) upload(bucket string, paths ...string) []string {
	c.t.Helper()
	c.minio.NewBucket(c.t, bucket)
	var urls []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			c.t.Fatal(err)
		}
		key := filepath.Base(p)
		_, err = c.minio.Client().PutObject(c.t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f})
		f.Close()
		if err != nil {
			c.t.Fatalf("upload %s: %v", p, err)
		}
		urls = append(urls, "s3://"+bucket+"/"+key)
	}
	return urls
}

// sameTables fails unless dir's tables are byte-identical to ref's, run
// ids aside: the output directory is part of a run's identity, so runs
// into two directories have two ids.
func sameTables(t *testing.T, ref, dir string) {
	t.Helper()
	sameTablesAs(t, ref, dir, map[string]string{readReport(t, dir).RunID: readReport(t, ref).RunID})
}

// sameTablesAs is sameTables after replacing, in dir's tables, the
// strings of replace (a run id) by their values.
func sameTablesAs(t *testing.T, ref, dir string, replace map[string]string) {
	t.Helper()
	for _, name := range []string{"Books.jsonl", "BookSimilarities.jsonl"} {
		a, err1 := os.ReadFile(filepath.Join(ref, name))
		b, err2 := os.ReadFile(filepath.Join(dir, name))
		if err1 != nil || err2 != nil {
			t.Fatalf("read %s: %v %v", name, err1, err2)
		}
		for from, to := range replace {
			b = bytes.ReplaceAll(b, []byte(from), []byte(to))
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s of the cluster run differs from the undisturbed run's (%d vs %d bytes)", name, len(b), len(a))
		}
	}
}

func reportOf(t *testing.T, dir string) pipeline.Report {
	t.Helper()
	rep := readReport(t, dir)
	data, _ := json.Marshal(rep.Tasks)
	t.Logf("tasks of run %s: %s", rep.RunID, data)
	return rep
}

func inTrain(minIter int) func(runstate.Progress) bool {
	return func(p runstate.Progress) bool {
		var it, n int
		var side string
		if p.Stage != "train" || !strings.HasPrefix(p.Step, "iteration ") {
			return false
		}
		if _, err := fmt.Sscanf(p.Step, "iteration %d/%d %s", &it, &n, &side); err != nil {
			return false
		}
		return it >= minIter && p.Done > 0 && p.Done < p.Total
	}
}

// referenceRun generates the cluster tests' data set and runs it
// undisturbed on the embedded default. It returns the job's flags (without
// --out) and the reference output directory.
func referenceRun(t *testing.T, iterations int) (args []string, ref string) {
	t.Helper()
	books, ratings := generate(t, smallShape())
	args = []string{"--books", books, "--ratings", ratings, "--min-books", "10", "--min-similarities", "100", "--iterations", strconv.Itoa(iterations)}
	ref = t.TempDir()
	runOK(t, append(slices.Clone(args), "--out", ref)...)
	return args, ref
}

// TestClusterKillWorkers kills a worker with SIGKILL in the middle of the
// ALS stage and another in the middle of the similarity stage.
func TestClusterKillWorkers(t *testing.T) {
	args, ref := referenceRun(t, 6)

	c := newCluster(t)
	for i := range 3 {
		c.startWorker("worker-" + string(rune('a'+i)))
	}
	out := t.TempDir()
	run := c.startRun("coordinator", append(args, "--out", out, "--block-rows", "32")...)
	pr := c.waitFor(run, "the ALS stage at iteration 2", inTrain(2))
	t.Logf("killing %s at %s %d/%d", c.workers[0].Name, pr.Step, pr.Done, pr.Total)
	c.workers[0].Kill()
	pr = c.waitFor(run, "the similarity stage", func(p runstate.Progress) bool {
		return p.Stage == "similarity" && p.Total > 0 && p.Done < p.Total
	})
	t.Logf("killing %s at similarity %d/%d", c.workers[1].Name, pr.Done, pr.Total)
	c.workers[1].Kill()
	wait(t, run, 6*time.Minute)
	sameTables(t, ref, out)
	rep := reportOf(t, out)
	if !rep.Verify.Verified {
		t.Fatalf("not verified: %s", rep.Verify.Message)
	}
	c.checkNoSecrets(append([]*testenv.Process{run}, c.workers...), out)
}

// TestClusterKillCoordinator kills the coordinator mid-run and starts a new
// one: it resumes from the stored outputs (the report counts resumed
// blocks) and the tables are identical.
func TestClusterKillCoordinator(t *testing.T) {
	args, ref := referenceRun(t, 6)

	c := newCluster(t)
	c.startWorker("worker-a")
	c.startWorker("worker-b")
	// The inputs come from S3 this time (streamed by prepare).
	urls := c.upload("uploads", args[1], args[3])
	args[1], args[3] = urls[0], urls[1]
	out := t.TempDir()
	first := c.startRun("coordinator-1", append(args, "--out", out, "--block-rows", "32")...)
	pr := c.waitFor(first, "the ALS stage at iteration 3", inTrain(3))
	t.Logf("killing the coordinator at %s %d/%d", pr.Step, pr.Done, pr.Total)
	first.Kill()
	second := c.startRun("coordinator-2", append(args, "--out", out, "--block-rows", "32")...)
	wait(t, second, 6*time.Minute)
	rep := reportOf(t, out)
	// The run id of S3 inputs hashes their URLs and sizes, not contents:
	// it differs from the local reference run's.
	sameTablesAs(t, ref, out, map[string]string{rep.RunID: readReport(t, ref).RunID})
	if rep.Stages["prepare"].Status != "resumed" {
		t.Errorf("prepare stage %+v: the new coordinator should have found its outputs", rep.Stages["prepare"])
	}
	if rep.Tasks["train"].Resumed == 0 {
		t.Errorf("train tasks %+v: no block was resumed from the store", rep.Tasks["train"])
	}
}

// TestClusterRedisRestart restarts Redis with its data gone in the middle
// of the ALS stage: the coordinator notices that its block tasks and the
// run's own task are missing, enqueues them again, and the run ends with
// identical tables.
func TestClusterRedisRestart(t *testing.T) {
	args, ref := referenceRun(t, 6)

	c := newCluster(t)
	c.startWorker("worker-a")
	c.startWorker("worker-b")
	out := t.TempDir()
	run := c.startRun("coordinator", append(args, "--out", out, "--block-rows", "32")...)
	pr := c.waitFor(run, "the ALS stage at iteration 2", inTrain(2))
	t.Logf("restarting redis without its data at %s %d/%d", pr.Step, pr.Done, pr.Total)
	_, port, _ := strings.Cut(c.redis.Addr, "127.0.0.1:")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("redis address %s: %v", c.redis.Addr, err)
	}
	c.redis.Kill()
	c.redis = testenv.StartRedisPort(t, n, "--requirepass", c.password)
	wait(t, run, 6*time.Minute)
	sameTables(t, ref, out)
	rep := reportOf(t, out)
	if !rep.Verify.Verified {
		t.Fatalf("not verified: %s", rep.Verify.Message)
	}
	if !strings.Contains(run.Output(), "run_requeued") && !strings.Contains(run.Output(), "task_requeued") {
		t.Errorf("the coordinator never said it re-enqueued anything after Redis lost its data:\n%s", tail(run.Output(), 4000))
	}
}

// TestClusterLayouts runs the same job on 1, 2 and 3 worker processes with
// two block sizes: the tables are byte-identical to the embedded run's.
func TestClusterLayouts(t *testing.T) {
	args, ref := referenceRun(t, 4)

	c := newCluster(t)
	for i, layout := range []struct {
		workers   int
		blockRows string
	}{{1, "64"}, {2, "500"}, {3, "64"}, {3, "500"}} {
		for len(c.workers) < layout.workers {
			c.startWorker(fmt.Sprintf("worker-%d", len(c.workers)+1))
		}
		out := t.TempDir()
		// --fresh: the same run again, computed anew, not resumed.
		run := c.startRun(fmt.Sprintf("coordinator-%d", i), append(args, "--fresh", "--out", out, "--block-rows", layout.blockRows)...)
		wait(t, run, 5*time.Minute)
		sameTables(t, ref, out)
		rep := reportOf(t, out)
		if rep.Tasks["train"].Resumed != 0 {
			t.Errorf("layout %d resumed %d blocks: it should have computed everything", i, rep.Tasks["train"].Resumed)
		}
	}
}
