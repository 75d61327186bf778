package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/betterread/pipeline/coordinator/console"
	"github.com/betterread/pipeline/coordinator/hook"
	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// TestServeUploads is the always-on coordinator end to end on real parts:
// MinIO sends its webhook for uploads to a running `coordinator serve`,
// which starts runs that a worker process carries out into DynamoDB Local.
// Books.csv then Ratings.csv: exactly one run, verified. The same events
// posted again: nothing new. A changed Ratings.csv: one new run.
func TestServeUploads(t *testing.T) {
	coord, worker := binaries(t)
	password := "pw-serve-test"
	r := testenv.StartRedis(t, "--requirepass", password)
	ddb := testenv.StartDynamoDB(t)
	port := testenv.FreePort(t)
	token := "hook-token-123"
	hookURL := fmt.Sprintf("http://127.0.0.1:%d/hooks/s3", port)
	m := testenv.StartMinIO(t,
		"MINIO_NOTIFY_WEBHOOK_ENABLE_BR=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_BR="+hookURL,
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_BR="+token)
	s3c := m.Client()
	m.NewBucket(t, "uploads")
	// Versioned, as on AWS: runs are keyed by, and read, object versions.
	if _, err := s3c.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{Bucket: aws.String("uploads"),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	_, err := s3c.PutBucketNotificationConfiguration(t.Context(), &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("uploads"),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String("arn:minio:sqs::BR:webhook"),
			Events:   []s3types.Event{"s3:ObjectCreated:*"},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
				{Name: s3types.FilterRuleNamePrefix, Value: aws.String("in/")},
			}}},
		}}},
	})
	if err != nil {
		t.Fatalf("configure the bucket's webhook: %v", err)
	}

	blocks := t.TempDir() // the block store: a directory all processes share
	env := append(m.Env(), "BETTERREAD_REDIS_PASSWORD="+password, "BETTERREAD_HOOK_TOKEN="+token, "BETTERREAD_API_TOKEN="+testAPIToken)
	conn := []string{"--redis", r.Addr, "--store", blocks, "--log-format", "json"}
	serve := testenv.Start(t, "coordinator-serve", clusterHowTo, env, coord, append([]string{"serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--watch", "s3://uploads/in", "--debounce", "2s",
		"--dynamodb-endpoint", ddb.Endpoint, "--table-prefix", "hook_", "--min-books", "10", "--min-similarities", "100",
		"--block-rows", "16"}, conn...)...)
	testenv.WaitTCP(t, serve, testenv.Addr(port), 30*time.Second, clusterHowTo)
	workerAddr := testenv.Addr(testenv.FreePort(t))
	testenv.Start(t, "worker", clusterHowTo, env, worker, append([]string{"--concurrency", "2", "--listen", workerAddr}, conn...)...)

	put := func(key, path string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Books.csv alone: waiting, no run.
	put("in/Books.csv", "../testdata/tiny/Books.csv")
	waitWatch(t, base, serve, "waiting")
	if runs := getRuns(t, base); len(runs.Runs) != 0 {
		t.Fatalf("a run started with Books.csv alone: %+v", runs.Runs)
	}
	// Ratings.csv: one run, verified into DynamoDB Local.
	put("in/Ratings.csv", "../testdata/tiny/Ratings.csv")
	first := waitRuns(t, base, serve, 1)
	checkDynamoRun(t, ddb, m.AccessKey, m.SecretKey, first)
	if d := httpGet(t, base+"/runs/"+first); !strings.Contains(d, "Ratings.csv?versionId=") {
		t.Errorf("run %s does not read pinned versions of its inputs:\n%.800s", first, d)
	}

	// The same events again (MinIO's shape, posted by hand): nothing new.
	since := time.Now()
	body := minioEvent("uploads", "in/Ratings.csv")
	for range 3 {
		resp, err := http.Post(base+"/hooks/s3", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("post without a token: %v %v", err, resp)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks/s3", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("post the event again: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	w := waitWatch(t, base, serve, "seen")
	if w.Updated.Before(since) || w.Run != first {
		t.Fatalf("after the re-sent events the watch says %+v, want run %s seen again", w, first)
	}
	if runs := getRuns(t, base); len(runs.Runs) != 1 {
		t.Fatalf("re-sent events started runs: %+v", runs.Runs)
	}

	// A changed Ratings.csv: one new run.
	changed := filepath.Join(t.TempDir(), "Ratings.csv")
	writeWithout(t, "../testdata/tiny/Ratings.csv", changed, []string{"0001047299"})
	put("in/Ratings.csv", changed)
	second := waitRuns(t, base, serve, 2)
	if second == first {
		t.Fatalf("the changed upload did not start a new run")
	}
	checkDynamoRun(t, ddb, m.AccessKey, m.SecretKey, second)

	// /metrics counts what the hook saw; /healthz is healthy.
	metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{`betterread_hook_events_total{reason="",result="accepted",source="http"}`,
		`betterread_hook_requests_total{code="401"} 3`, `betterread_runs_total{status="succeeded"} 2`,
		`betterread_stage_duration_seconds_count{stage="train",status="succeeded"} 2`, "asynq_queue_size",
		"betterread_build_info{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if h := httpGet(t, base+"/healthz"); !strings.Contains(h, `"ok"`) {
		t.Errorf("/healthz: %s", h)
	}
	if out, err := exec.CommandContext(t.Context(), coord, "healthcheck", "--url", base+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("coordinator healthcheck: %v\n%s", err, out)
	}
	// The worker ran the runs' block tasks and counted them.
	workerMetrics := httpGet(t, "http://"+workerAddr+"/metrics")
	for _, name := range []string{"als:solve", "sim:pair", "sim:merge", "load:write"} {
		if !regexp.MustCompile(`betterread_tasks_processed_total\{type="` + name + `"\} [1-9]`).MatchString(workerMetrics) {
			t.Errorf("worker /metrics counts no %s task:\n%s", name, workerMetrics)
		}
	}
	if strings.Contains(workerMetrics, "betterread_store_fetched_bytes_total 0\n") {
		t.Error("worker /metrics counts no bytes fetched from the store")
	}
	// Every metric the Grafana dashboard queries is in the real output.
	if missing := dashboardMissing(t, "../deploy/grafana/betterread.json", metrics+workerMetrics); len(missing) > 0 {
		t.Errorf("deploy/grafana/betterread.json queries metrics that neither /metrics exports: %v", missing)
	}
	if m := dashboardMissing(t, "../deploy/grafana/betterread.json", strings.ReplaceAll(metrics+workerMetrics, "betterread_cache_hits_total", "x")); len(m) != 1 {
		t.Errorf("the dashboard check misses a metric taken away: %v", m)
	}
	if out, err := exec.CommandContext(t.Context(), worker, "healthcheck", "--url", "http://"+workerAddr+"/readyz").CombinedOutput(); err != nil {
		t.Errorf("worker healthcheck of readiness: %v\n%s", err, out)
	}
	if resp, err := http.Get(base + "/runs"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /runs without the API token: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if mon := httpGet(t, base+"/monitor/"); !strings.Contains(strings.ToLower(mon), "<html") {
		t.Errorf("/monitor/ does not serve the asynq web UI: %.200s", mon)
	}
	var stdout, stderr bytes.Buffer
	if err := statusCommand(t.Context(), append([]string{second}, "--redis", r.Addr, "--store", blocks), env2(password), &stdout, &stderr); err != nil ||
		!strings.Contains(stdout.String(), "verified=true") {
		t.Errorf("coordinator status %s: %v\n%s%s", second, err, stdout.String(), stderr.String())
	}
}

func env2(password string) func(string) string {
	return env(map[string]string{"BETTERREAD_REDIS_PASSWORD": password})
}

func minioEvent(bucket, key string) string {
	return fmt.Sprintf(`{"EventName":"s3:ObjectCreated:Put","Key":"%s/%s","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-12-01T00:00:00.000Z","eventName":"s3:ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"%s","arn":"arn:aws:s3:::%s"},"object":{"key":"%s","size":100,"eTag":"0123","sequencer":"1"}}}]}`,
		bucket, key, bucket, bucket, strings.ReplaceAll(key, "/", "%2F"))
}

// httpGet GETs url with the API token.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}

func getRuns(t *testing.T, base string) RunsList {
	t.Helper()
	var l RunsList
	if err := json.Unmarshal([]byte(httpGet(t, base+"/runs")), &l); err != nil {
		t.Fatalf("GET /runs: %v", err)
	}
	return l
}

// waitWatch waits until the watch is in state.
func waitWatch(t *testing.T, base string, serve *testenv.Process, state string) runstate.WatchState {
	t.Helper()
	end := time.Now().Add(2 * time.Minute)
	for time.Now().Before(end) {
		for _, w := range getRuns(t, base).Watches {
			if w.State == state {
				return w
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("watch never %s; /runs: %+v\n%s", state, getRuns(t, base), tail(serve.Output(), 4000))
	return runstate.WatchState{}
}

// waitRuns waits until n runs are registered and the newest succeeded
// verified, and returns its id.
func waitRuns(t *testing.T, base string, serve *testenv.Process, n int) string {
	t.Helper()
	end := time.Now().Add(4 * time.Minute)
	for time.Now().Before(end) {
		l := getRuns(t, base)
		if len(l.Runs) > n {
			t.Fatalf("%d runs, want %d: %+v", len(l.Runs), n, l.Runs)
		}
		if len(l.Runs) == n {
			r := l.Runs[0]
			if r.Status == "failed" {
				t.Fatalf("run %s failed: %s", r.RunID, r.Error)
			}
			if r.Status == "succeeded" && r.Verified != nil && *r.Verified {
				d := httpGet(t, base+"/runs/"+r.RunID)
				if !strings.Contains(d, `"verified": true`) {
					t.Fatalf("GET /runs/%s lacks the verified report:\n%.500s", r.RunID, d)
				}
				return r.RunID
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %d verified runs in 4 minutes: %+v\n%s", n, getRuns(t, base), tail(serve.Output(), 6000))
	return ""
}

// checkDynamoRun asserts that DynamoDB Local's tables hold exactly run's
// items.
func checkDynamoRun(t *testing.T, ddb *testenv.DynamoDB, key, secret, run string) {
	t.Helper()
	client := dynamodb.NewFromConfig(aws.Config{Region: ddb.Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, nil
		})}, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddb.Endpoint) })
	books, sims := scanTables(t, client, "hook_")
	if len(books) == 0 || len(sims) == 0 {
		t.Fatalf("tables empty after run %s", run)
	}
	for _, it := range append(books, sims...) {
		if it["run_id"]["S"] != run {
			t.Fatalf("item of run %s in the tables after run %s", it["run_id"]["S"], run)
		}
	}
	checkItems(t, books, sims, 20)
}

const (
	testAPIToken  = "api-token-0123456789"
	testHookToken = "hook-token-0123456789"
)

// front is serve's HTTP handler over miniredis, as serve builds it.
type front struct {
	url       string
	inspector *asynq.Inspector
	client    *asynq.Client
}

// newFront starts serve's HTTP handler for c (with --watch, the tokens
// above and defaults filled in) on an httptest server.
func newFront(t *testing.T, c serveConfig) *front {
	t.Helper()
	mr := miniredis.RunT(t)
	opt := asynq.RedisClientOpt{Addr: mr.Addr()}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	rc := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { client.Close(); inspector.Close(); rc.Close() })
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.Listen, c.Watch, c.HookAuth, c.MaxBody = "127.0.0.1:0", "s3://uploads/in", true, hook.DefaultMaxBody
	c.apiToken, c.hookToken = testAPIToken, testHookToken
	reg := prometheus.NewRegistry()
	w, _ := hook.ParseWatch(c.Watch)
	intake := &hook.Intake{Watch: w, Client: client, Inspector: inspector, Debounce: time.Second, Logger: logger}
	mon := c.monitor(opt)
	t.Cleanup(func() { mon.Close() })
	h, err := c.httpHandler(&api{rc: rc, store: st, log: logger}, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), mon,
		c.hookHandler(intake, hook.NewMetrics(reg), logger), logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &front{url: srv.URL, inspector: inspector, client: client}
}

// cred is how a test request authenticates.
type cred struct {
	name   string
	header string       // Authorization
	cookie *http.Cookie // the session cookie from POST /login
}

// creds are no token, a wrong one, the right one as a bearer token and
// as the login cookie.
func (f *front) creds(t *testing.T) []cred {
	return []cred{{name: "none"}, {name: "wrong", header: "Bearer not-the-token"},
		{name: "bearer", header: "Bearer " + testAPIToken}, {name: "cookie", cookie: f.login(t)}}
}

// login posts the API token to /login and returns the session cookie.
func (f *front) login(t *testing.T) *http.Cookie {
	t.Helper()
	resp := f.do(t, http.MethodPost, "/login", cred{}, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		"token="+testAPIToken+"&next=%2Fruns")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs" {
		t.Fatalf("POST /login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			return c
		}
	}
	t.Fatalf("POST /login set no session cookie: %v", resp.Header)
	return nil
}

// do sends one request, not following redirects, and returns the
// response with its body read.
func (f *front) do(t *testing.T, method, path string, c cred, header map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c.header != "" {
		req.Header.Set("Authorization", c.header)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp
}

// TestServeAPIAuth asks every endpoint with no token, a wrong one and the
// right one (bearer and cookie).
func TestServeAPIAuth(t *testing.T) {
	for _, metricsAuth := range []bool{false, true} {
		t.Run(fmt.Sprintf("metrics-auth=%v", metricsAuth), func(t *testing.T) {
			f := newFront(t, serveConfig{APIAuth: true, MetricsAuth: metricsAuth})
			guarded := func(ok int) map[string]int {
				return map[string]int{"none": http.StatusUnauthorized, "wrong": http.StatusForbidden, "bearer": ok, "cookie": ok}
			}
			open := map[string]int{"none": 200, "wrong": 200, "bearer": 200, "cookie": 200}
			metrics := open
			if metricsAuth {
				metrics = guarded(200)
			}
			for _, tc := range []struct {
				method, path, body string
				want               map[string]int
			}{
				{"GET", "/healthz", "", open},
				{"GET", "/runs", "", guarded(200)},
				{"GET", "/runs/no-such-run", "", guarded(http.StatusNotFound)},
				{"GET", "/metrics", "", metrics},
				{"GET", "/monitor/", "", guarded(200)},
				{"GET", "/monitor/api/queues", "", guarded(200)},
				{"GET", "/no-such-path", "", guarded(http.StatusNotFound)},
				// The hook knows only its own token: the API token is wrong there.
				{"POST", "/hooks/s3", minioEvent("uploads", "in/Books.csv"),
					map[string]int{"none": http.StatusUnauthorized, "wrong": http.StatusForbidden, "bearer": http.StatusForbidden, "cookie": http.StatusUnauthorized}},
			} {
				for _, c := range f.creds(t) {
					resp := f.do(t, tc.method, tc.path, c, nil, tc.body)
					if resp.StatusCode != tc.want[c.name] {
						t.Errorf("%s %s with %s: %d, want %d", tc.method, tc.path, c.name, resp.StatusCode, tc.want[c.name])
					}
					if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s with %s: 401 without WWW-Authenticate: Bearer", tc.method, tc.path, c.name)
					}
				}
			}
			if resp := f.do(t, "POST", "/hooks/s3", cred{header: "Bearer " + testHookToken}, nil, minioEvent("uploads", "in/Books.csv")); resp.StatusCode != http.StatusOK {
				t.Errorf("POST /hooks/s3 with the hook token: %d", resp.StatusCode)
			}
			// A browser without a session is sent to the login form, and back.
			resp := f.do(t, "GET", "/monitor/queues/blocks", cred{}, map[string]string{"Accept": "text/html,*/*"}, "")
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next=%2Fmonitor%2Fqueues%2Fblocks" {
				t.Errorf("browser GET /monitor/queues/blocks: %d to %q", resp.StatusCode, loc)
			}
			if resp := f.do(t, "GET", "/login?next=%2Fmonitor%2F", cred{}, nil, ""); resp.StatusCode != 200 ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("GET /login: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}
}

// TestServeAPIAuthOff: with --api-auth=false everything but the hook
// answers anyone.
func TestServeAPIAuthOff(t *testing.T) {
	f := newFront(t, serveConfig{APIAuth: false})
	for _, path := range []string{"/runs", "/metrics", "/monitor/api/queues"} {
		if resp := f.do(t, "GET", path, cred{}, nil, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s without a token: %d", path, resp.StatusCode)
		}
	}
	if resp := f.do(t, "POST", "/hooks/s3", cred{}, nil, minioEvent("uploads", "in/Books.csv")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /hooks/s3 without the hook token: %d", resp.StatusCode)
	}
	if resp := f.do(t, "GET", "/login", cred{}, nil, ""); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /login with --api-auth=false: %d", resp.StatusCode)
	}
}

// TestServeMonitorWrite: the asynq web UI refuses changes unless
// --monitor-write, and then takes them only with the token.
func TestServeMonitorWrite(t *testing.T) {
	pause := "/monitor/api/queues/" + tasks.QueueBlocks + ":pause"
	paused := func(t *testing.T, f *front) bool {
		t.Helper()
		q, err := f.inspector.GetQueueInfo(tasks.QueueBlocks)
		if err != nil {
			t.Fatal(err)
		}
		return q.Paused
	}
	enqueue := func(t *testing.T, f *front) string {
		t.Helper()
		info, err := f.client.Enqueue(asynq.NewTask("test:noop", nil), asynq.Queue(tasks.QueueBlocks))
		if err != nil {
			t.Fatal(err)
		}
		return "/monitor/api/queues/" + tasks.QueueBlocks + "/pending_tasks/" + info.ID
	}

	t.Run("read-only", func(t *testing.T) {
		f := newFront(t, serveConfig{APIAuth: true})
		task := enqueue(t, f)
		for _, c := range f.creds(t) {
			if resp := f.do(t, "POST", pause, c, nil, ""); resp.StatusCode/100 == 2 {
				t.Errorf("POST %s with %s: %d", pause, c.name, resp.StatusCode)
			}
			if resp := f.do(t, "DELETE", task, c, nil, ""); resp.StatusCode/100 == 2 {
				t.Errorf("DELETE %s with %s: %d", task, c.name, resp.StatusCode)
			}
		}
		if resp := f.do(t, "POST", pause, cred{header: "Bearer " + testAPIToken}, nil, ""); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s with the token on a read-only monitor: %d, want 405", pause, resp.StatusCode)
		}
		if paused(t, f) {
			t.Error("the read-only monitor paused the queue")
		}
		if _, err := f.inspector.GetTaskInfo(tasks.QueueBlocks, path.Base(task)); err != nil {
			t.Errorf("the read-only monitor deleted the task: %v", err)
		}
		if resp := f.do(t, "GET", "/monitor/api/queues/"+tasks.QueueBlocks, cred{header: "Bearer " + testAPIToken}, nil, ""); resp.StatusCode != 200 {
			t.Errorf("read-only monitor GET: %d", resp.StatusCode)
		}
	})

	t.Run("monitor-write", func(t *testing.T) {
		f := newFront(t, serveConfig{APIAuth: true, MonitorWrite: true})
		task := enqueue(t, f)
		for _, c := range []cred{{name: "none"}, {name: "wrong", header: "Bearer not-the-token"}} {
			if resp := f.do(t, "POST", pause, c, nil, ""); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d", pause, c.name, resp.StatusCode)
			}
			if resp := f.do(t, "DELETE", task, c, nil, ""); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				t.Errorf("DELETE %s with %s: %d", task, c.name, resp.StatusCode)
			}
		}
		// A cross-site page cannot ride on a logged-in browser's cookie.
		cookie := cred{name: "cookie", cookie: f.login(t)}
		if resp := f.do(t, "POST", pause, cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s with the cookie: %d, want 403", pause, resp.StatusCode)
		}
		if paused(t, f) {
			t.Fatal("the queue was paused without the token")
		}
		if resp := f.do(t, "POST", pause, cred{header: "Bearer " + testAPIToken}, nil, ""); resp.StatusCode != http.StatusNoContent || !paused(t, f) {
			t.Errorf("POST %s with the token: %d, paused %v", pause, resp.StatusCode, paused(t, f))
		}
		if resp := f.do(t, "DELETE", task, cookie, map[string]string{"Sec-Fetch-Site": "same-origin"}, ""); resp.StatusCode != http.StatusNoContent {
			t.Errorf("DELETE %s with the cookie: %d", task, resp.StatusCode)
		}
		if _, err := f.inspector.GetTaskInfo(tasks.QueueBlocks, path.Base(task)); err == nil {
			t.Error("the task is still there after DELETE with the cookie")
		}
	})
}

// TestServeRefusesWithoutAPIToken: a listening serve starts only with
// BETTERREAD_API_TOKEN, or when told --api-auth=false.
func TestServeRefusesWithoutAPIToken(t *testing.T) {
	base := []string{"--redis", "127.0.0.1:1", "--store", t.TempDir()}
	for _, tc := range []struct {
		name  string
		args  []string
		token string
		want  string // in the error; "" for none
	}{
		{"no token", nil, "", "BETTERREAD_API_TOKEN"},
		{"explicit listen", []string{"--listen", "0.0.0.0:8080"}, "", "BETTERREAD_API_TOKEN"},
		{"token", nil, "t0ken", ""},
		{"auth off", []string{"--api-auth=false"}, "", ""},
		{"no http", []string{"--listen", ""}, "", ""},
		{"monitor-write without auth", []string{"--api-auth=false", "--monitor-write"}, "", "--monitor-write needs the API token"},
		{"metrics-auth without auth", []string{"--api-auth=false", "--metrics-auth"}, "", "--metrics-auth needs the API token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseServe(append(tc.args, base...), env(map[string]string{"BETTERREAD_API_TOKEN": tc.token}), &stderr)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("parse %q: %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
	// serve itself gives up before it reaches Redis or listens.
	err := serveCommand(t.Context(), base, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BETTERREAD_API_TOKEN") {
		t.Errorf("serve without a token: %v", err)
	}
}

// TestServeHidesRedisPassword runs serve with the password in the redis
// URL and finds it in none of its output: not in the logs, not in -h,
// not in a configuration error. It also checks that serve leaves no
// goroutine running when it returns.
func TestServeHidesRedisPassword(t *testing.T) {
	const password = "pw-in-the-url-42"
	mr := miniredis.RunT(t)
	mr.RequireAuth(password)
	redisURL := "redis://:" + password + "@" + mr.Addr() + "/0"
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	environ := env(map[string]string{"BETTERREAD_API_TOKEN": testAPIToken, "BETTERREAD_REDIS": redisURL})

	var out syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(ctx, []string{"--store", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--log-format", "json", "--log-level", "debug"}, environ, &out)
	}()
	f := &front{url: base}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve never healthy: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range f.creds(t) {
		f.do(t, "GET", "/runs", c, nil, "")
		f.do(t, "GET", "/monitor/api/redis_info", c, nil, "")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"redis":"redis://:xxxxx@`+mr.Addr()+`/0"`) {
		t.Errorf("serve does not show the redacted redis address:\n%s", out.String())
	}

	var help, bad bytes.Buffer
	if err := serveCommand(t.Context(), []string{"-h"}, environ, &help); err != nil {
		t.Errorf("serve -h: %v", err)
	}
	err := serveCommand(t.Context(), []string{"--store", t.TempDir(), "--redis", "redis://:" + password + "@h:port"}, environ, &bad)
	if err == nil {
		t.Fatal("serve took a malformed redis URL")
	}
	for name, s := range map[string]string{"serve's output": out.String(), "-h": help.String(), "the configuration error": err.Error() + bad.String()} {
		if strings.Contains(s, password) {
			t.Errorf("%s shows the redis password:\n%s", name, s)
		}
	}
	checkNoGoroutines(t, "main.serveCommand", "main.serveHTTP", "net/http.(*Server).Serve", "hibiken/asynq", "hook.(*SQSPoller)")
}

// checkNoGoroutines fails if, within a few seconds, goroutines whose
// stacks mention any of funcs are still running.
func checkNoGoroutines(t *testing.T, funcs ...string) {
	t.Helper()
	var left []string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		left = left[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, f := range funcs {
				if strings.Contains(g, f) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("%d goroutines still running after serve returned:\n%s", len(left), strings.Join(left, "\n\n"))
}

// syncBuffer is a bytes.Buffer for writers on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricName finds the project's and asynq's metric names in PromQL.
var metricName = regexp.MustCompile(`\b(?:betterread|asynq)_[a-z_]+\b`)

// dashboardMissing lists the metrics the dashboard's queries name that the
// scraped text does not export (a histogram's _bucket series included).
func dashboardMissing(t *testing.T, path, scraped string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	seen := map[string]bool{}
	var missing []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q queries no metric of ours: %s", p.Title, tg.Expr)
			}
			for _, n := range names {
				if seen[n] {
					continue
				}
				seen[n] = true
				if !strings.Contains(scraped, "\n"+n+"{") && !strings.Contains(scraped, "\n"+n+" ") {
					missing = append(missing, n)
				}
			}
		}
	}
	return missing
}
