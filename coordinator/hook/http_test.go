package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/betterread/pipeline/shared/tasks"
)

// records is an S3 notification body with one record.
func records(event, bucket, key string) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-01T10:00:00.000Z","eventName":%q,"s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":%q,"arn":"arn:aws:s3:::b"},"object":{"key":%q,"size":10,"eTag":"abc","sequencer":"01"}}}]}`,
		event, bucket, key)
}

type hookEnv struct {
	srv       *httptest.Server
	metrics   *Metrics
	inspector *asynq.Inspector
}

// newAsynq is an asynq client and inspector on a miniredis of the test's.
func newAsynq(t *testing.T) (*miniredis.Miniredis, asynq.RedisClientOpt, *asynq.Client, *asynq.Inspector) {
	t.Helper()
	mr := miniredis.RunT(t)
	opt := asynq.RedisClientOpt{Addr: mr.Addr()}
	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { client.Close(); inspector.Close() })
	return mr, opt, client, inspector
}

func newHookEnv(t *testing.T, authOff bool) *hookEnv {
	t.Helper()
	_, _, client, inspector := newAsynq(t)
	m := NewMetrics(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &Handler{
		Intake:  &Intake{Watch: Watch{Bucket: "uploads", Prefix: "in"}, Client: client, Inspector: inspector, Debounce: time.Hour, Logger: log},
		Token:   "s3cret",
		AuthOff: authOff,
		MaxBody: 4096,
		Metrics: m,
		Logger:  log,
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &hookEnv{srv: srv, metrics: m, inspector: inspector}
}

func (e *hookEnv) post(t *testing.T, method, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// looks counts the scheduled looks at the watched location.
func (e *hookEnv) looks(t *testing.T) int {
	t.Helper()
	infos, err := e.inspector.ListScheduledTasks(tasks.QueueHooks)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	return len(infos)
}

// TestHookBadEvents: every bad request gets the right status, is counted
// by reason, and schedules nothing.
func TestHookBadEvents(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, false)
	good := records("ObjectCreated:Put", "uploads", "in/Books.csv")
	for _, tt := range []struct {
		name, method, token, body string
		code                      int
		result, reason            string
	}{
		{"get", http.MethodGet, "s3cret", good, 405, "rejected", "method"},
		{"no token", http.MethodPost, "", good, 401, "rejected", "no_token"},
		{"wrong token", http.MethodPost, "s3cret2", good, 403, "rejected", "bad_token"},
		{"oversized", http.MethodPost, "s3cret", good + strings.Repeat(" ", 5000), 413, "rejected", "too_large"},
		{"malformed json", http.MethodPost, "s3cret", `{"Records":[`, 400, "rejected", "not_json"},
		{"unknown shape", http.MethodPost, "s3cret", `{"foo":1}`, 400, "rejected", "unknown_shape"},
		{"bad key escape", http.MethodPost, "s3cret", records("ObjectCreated:Put", "uploads", "in/Books%zz.csv"), 400, "rejected", "bad_event"},
		{"wrong bucket", http.MethodPost, "s3cret", records("ObjectCreated:Put", "other", "in/Books.csv"), 200, "ignored", "wrong_bucket"},
		{"unrelated key", http.MethodPost, "s3cret", records("ObjectCreated:Put", "uploads", "in/Notes.csv"), 200, "ignored", "unrelated_key"},
		{"outside the prefix", http.MethodPost, "s3cret", records("ObjectCreated:Put", "uploads", "Books.csv"), 200, "ignored", "unrelated_key"},
		{"removal", http.MethodPost, "s3cret", records("ObjectRemoved:Delete", "uploads", "in/Books.csv"), 200, "ignored", "not_created"},
	} {
		before := testutil.ToFloat64(e.metrics.Events.WithLabelValues("http", tt.result, tt.reason))
		if code := e.post(t, tt.method, tt.token, tt.body); code != tt.code {
			t.Errorf("%s: status %d, want %d", tt.name, code, tt.code)
		}
		if after := testutil.ToFloat64(e.metrics.Events.WithLabelValues("http", tt.result, tt.reason)); after != before+1 {
			t.Errorf("%s: %s/%s counted %v times, want once", tt.name, tt.result, tt.reason, after-before)
		}
	}
	if n := e.looks(t); n != 0 {
		t.Errorf("bad events scheduled %d looks", n)
	}
}

// TestHookDeduplicates: both uploads of a pair and repeated deliveries, in
// any shape, schedule one look; an encoded key is decoded.
func TestHookDeduplicates(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, false)
	for _, body := range []string{
		records("ObjectCreated:Put", "uploads", "in/Books.csv"),
		records("ObjectCreated:Put", "uploads", "in%2FRatings.csv"),
		records("ObjectCreated:CompleteMultipartUpload", "uploads", "in/Ratings.csv"),
		`{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","time":"2026-12-01T10:00:00Z","region":"us-east-1","resources":[],"detail":{"version":"0","bucket":{"name":"uploads"},"object":{"key":"in/Books.csv","size":10,"etag":"abc"},"reason":"PutObject"}}`,
	} {
		if code := e.post(t, http.MethodPost, "s3cret", body); code != 200 {
			t.Fatalf("status %d for %s", code, body)
		}
	}
	if got := testutil.ToFloat64(e.metrics.Events.WithLabelValues("http", "accepted", "")); got != 4 {
		t.Errorf("%v events accepted, want 4", got)
	}
	if n := e.looks(t); n != 1 {
		t.Errorf("%d looks scheduled, want 1", n)
	}
}

func TestHookAuthOff(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, true)
	if code := e.post(t, http.MethodPost, "", records("ObjectCreated:Put", "uploads", "in/Books.csv")); code != 200 {
		t.Errorf("with auth off, a request without a token got %d", code)
	}
}

// TestMessageHandler: an SQS message body in any shape is accepted; one
// that does not decode is permanent (left for the dead-letter queue).
func TestMessageHandler(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, false)
	mr, _, client, inspector := newAsynq(t)
	in := &Intake{Watch: Watch{Bucket: "uploads", Prefix: "in"}, Client: client, Debounce: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	handle := MessageHandler(in, e.metrics, in.Logger)
	if err := handle(t.Context(), []byte(records("ObjectCreated:Put", "uploads", "in/Ratings.csv"))); err != nil {
		t.Fatalf("good message: %v", err)
	}
	if err := handle(t.Context(), []byte("not json")); !errors.Is(err, ErrPermanent) {
		t.Errorf("bad message: %v, want ErrPermanent", err)
	}
	infos, err := inspector.ListScheduledTasks(tasks.QueueHooks)
	if err != nil || len(infos) != 1 {
		t.Errorf("%d looks scheduled (%v), want 1", len(infos), err)
	}
	mr.Close() // Redis down: a transient error, the message comes back
	if err := handle(t.Context(), []byte(records("ObjectCreated:Put", "uploads", "in/Ratings.csv"))); err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("with Redis down: %v, want a transient error", err)
	}
}

// TestIntakeArchivedAndActiveLooks: a look that failed for good does not
// block new uploads; a look running while an upload arrives gets one more
// look scheduled after it.
func TestIntakeArchivedAndActiveLooks(t *testing.T) {
	t.Parallel()
	_, opt, client, inspector := newAsynq(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ev := ObjectEvent{Source: "s3", Name: "ObjectCreated:Put", Bucket: "uploads", Key: "in/Books.csv"}
	id := tasks.Settle{Bucket: "uploads", Prefix: "in"}.ID()

	// Archived: the next upload schedules a new look.
	in := &Intake{Watch: Watch{Bucket: "uploads", Prefix: "in"}, Client: client, Inspector: inspector, Debounce: time.Hour, Logger: log}
	if _, err := in.Accept(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if err := inspector.ArchiveTask(tasks.QueueHooks, id); err != nil {
		t.Fatal(err)
	}
	if out, err := in.Accept(t.Context(), ev); err != nil || !out.Accepted {
		t.Fatalf("accept after an archived look: %+v %v", out, err)
	}
	if info, err := inspector.GetTaskInfo(tasks.QueueHooks, id); err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("look after the archived one: %+v %v, want scheduled", info, err)
	}
	if err := inspector.DeleteTask(tasks.QueueHooks, id); err != nil {
		t.Fatal(err)
	}

	// Active: a server runs the look and holds it while an upload arrives.
	in.Debounce = 0
	started, release := make(chan struct{}), make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{tasks.QueueHooks: 1},
		TaskCheckInterval: 10 * time.Millisecond, Logger: nopLogger{}, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	var once sync.Once
	mux.HandleFunc(tasks.TypeSettle, func(ctx context.Context, t *asynq.Task) error {
		once.Do(func() { close(started); <-release })
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if _, err := in.Accept(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the look never started")
	}
	in.Debounce = time.Hour // keep the extra look scheduled where the test can see it
	if _, err := in.Accept(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if info, err := inspector.GetTaskInfo(tasks.QueueHooks, id+":again"); err != nil || info.State != asynq.TaskStateScheduled {
		t.Errorf("upload during a running look: the extra look is %+v, %v; want scheduled", info, err)
	}
	close(release)
}

type nopLogger struct{}

func (nopLogger) Debug(...any) {}
func (nopLogger) Info(...any)  {}
func (nopLogger) Warn(...any)  {}
func (nopLogger) Error(...any) {}
func (nopLogger) Fatal(...any) {}
