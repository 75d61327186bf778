package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/internal/healthcheck"
	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// newObserved is the worker's HTTP handler over miniredis and a temporary
// directory store, as run builds it.
func newObserved(t *testing.T) (*miniredis.Miniredis, *taskMetrics, *httptest.Server) {
	t.Helper()
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rc.Close() })
	st, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, m := newRegistry(handlers.NewCache(1<<20), new(atomic.Int64))
	srv := httptest.NewServer(httpHandler(reg, health{redis: rc, store: st}))
	t.Cleanup(srv.Close)
	return mr, m, srv
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestHealth(t *testing.T) {
	mr, _, srv := newObserved(t)
	for _, path := range []string{"/healthz", "/readyz", "/healthz?ready=1"} {
		if code, body := get(t, srv.URL+path); code != http.StatusOK {
			t.Errorf("GET %s with Redis up: %d %s, want 200", path, code, body)
		}
	}
	mr.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz with Redis down: %d %s, want 200 (liveness is the process)", code, body)
	}
	for _, path := range []string{"/readyz", "/healthz?ready=1"} {
		code, body := get(t, srv.URL+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis:") {
			t.Errorf("GET %s with Redis down: %d %q, want 503 naming redis", path, code, body)
		}
		if strings.Contains(body, "block store") {
			t.Errorf("GET %s: %q blames the store, which answers", path, body)
		}
	}
}

func TestMetrics(t *testing.T) {
	_, m, srv := newObserved(t)
	ok := m.observe(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	failing := m.observe(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return errors.New("transient") }))
	if err := ok.ProcessTask(t.Context(), asynq.NewTask(tasks.TypeALSSolve, nil)); err != nil {
		t.Fatal(err)
	}
	if err := failing.ProcessTask(t.Context(), asynq.NewTask(tasks.TypeSimMerge, nil)); err == nil {
		t.Fatal("the middleware swallowed the handler's error")
	}
	code, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`betterread_tasks_processed_total{type="als:solve"} 1`,
		`betterread_tasks_processed_total{type="sim:merge"} 1`,
		`betterread_tasks_failed_total{type="sim:merge"} 1`,
		`betterread_tasks_failed_total{type="als:solve"} 0`,
		`betterread_tasks_retried_total{type="load:write"} 0`,
		`betterread_task_duration_seconds_count{type="als:solve"} 1`,
		"betterread_store_fetched_bytes_total 0",
		"betterread_cache_hits_total 0", "betterread_cache_misses_total 0", "betterread_cache_bytes 0",
		"betterread_build_info{", "go_goroutines", "process_start_time_seconds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRunServesHTTP runs the worker as main does, with --listen, and stops
// it: the HTTP server and the asynq server both end (TestMain checks that
// no goroutine is left).
func TestRunServesHTTP(t *testing.T) {
	mr := miniredis.RunT(t)
	addr := testenv.Addr(testenv.FreePort(t))
	env := map[string]string{"BETTERREAD_LISTEN": addr}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--redis", mr.Addr(), "--store", t.TempDir(), "--concurrency", "1", "--log-level", "error"},
			func(k string) string { return env[k] })
	}()
	url := "http://" + addr + "/healthz"
	deadline := time.Now().Add(10 * time.Second)
	for err := errors.New("not tried"); err != nil; {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("worker ended before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%s did not answer within 10 s: %v", url, err)
		}
		err = healthcheck.Check(ctx, url)
	}
	if err := run(t.Context(), []string{"healthcheck", "--url", url + "?ready=1"}, nil); err != nil {
		t.Errorf("worker healthcheck of readiness: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("worker stopped with %v, want nil", err)
	}
	if err := run(t.Context(), []string{"healthcheck", "--url", url, "--timeout", "1s"}, nil); !errors.Is(err, healthcheck.ErrUnhealthy) {
		t.Errorf("healthcheck of a stopped worker: %v, want unhealthy", err)
	}
}

func TestRunRejectsBadListen(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), []string{"--redis", "127.0.0.1:1", "--store", t.TempDir(), "--listen", "9090"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `--listen "9090"`) {
		t.Errorf("run with --listen 9090: %v, want a configuration error naming it", err)
	}
}

// TestVersion builds both binaries, as a release would with the version
// set by the linker, and checks they say the same.
func TestVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const version, commit = "v9.8.7-test", "0123456789abcdef"
	ldflags := fmt.Sprintf("-X github.com/betterread/pipeline/shared/buildinfo.version=%s -X github.com/betterread/pipeline/shared/buildinfo.commit=%s", version, commit)
	build := exec.CommandContext(t.Context(), "go", "build", "-ldflags", ldflags, "-o", dir, "../coordinator", "../worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./coordinator ./worker: %v\n%s", err, out)
	}
	say := func(bin string, args ...string) string {
		out, err := exec.CommandContext(t.Context(), filepath.Join(dir, bin), args...).Output()
		if err != nil {
			t.Errorf("%s %v: %v (want exit 0)", bin, args, err)
		}
		return string(out)
	}
	worker := say("worker", "--version")
	if want := "betterread " + version + " commit " + commit + " go"; !strings.HasPrefix(worker, want) {
		t.Errorf("worker --version = %q, want it to start %q", worker, want)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if got := say("coordinator", args...); got != worker {
			t.Errorf("coordinator %v = %q, worker --version = %q: want the same", args, got, worker)
		}
	}
}
