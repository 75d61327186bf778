package cloudwatch

import (
	"compress/gzip"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/hibiken/asynq"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeInspector answers GetQueueInfo from a table of queues.
type fakeInspector struct {
	queues map[string]*asynq.QueueInfo
	err    error // of both calls when set
}

func (f *fakeInspector) Queues() ([]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	var qs []string
	for q := range f.queues {
		qs = append(qs, q)
	}
	return qs, nil
}

func (f *fakeInspector) GetQueueInfo(queue string) (*asynq.QueueInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	if info, ok := f.queues[queue]; ok {
		return info, nil
	}
	return nil, errors.New("NOT_FOUND: queue not found") // as asynq's internal error reads
}

func TestQueueDepth(t *testing.T) {
	t.Parallel()
	busy := &asynq.QueueInfo{Queue: "blocks", Pending: 3, Active: 2, Retry: 1, Scheduled: 7, Archived: 5, Completed: 9}
	cases := []struct {
		name    string
		in      *fakeInspector
		want    int
		wantErr bool
	}{
		{"pending_active_retry", &fakeInspector{queues: map[string]*asynq.QueueInfo{"blocks": busy}}, 6, false},
		{"idle", &fakeInspector{queues: map[string]*asynq.QueueInfo{"blocks": {Queue: "blocks", Archived: 2}}}, 0, false},
		{"never_seen", &fakeInspector{queues: map[string]*asynq.QueueInfo{"pipeline": {Pending: 1}}}, 0, false},
		{"redis_down", &fakeInspector{err: errors.New("dial tcp: connection refused")}, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := QueueDepth(c.in, "blocks")
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("QueueDepth = %d, %v; want %d, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

// received is one PutMetricData request as the fake read it.
type received struct {
	auth, protocol, contentType, path string
	body                              cbor.Map
}

// fakeCloudWatch speaks the protocol the pinned SDK sends PutMetricData
// with: Smithy RPC v2 CBOR (POST /service/GraniteServiceVersion20100801/
// operation/PutMetricData, a gzipped CBOR map in, a CBOR map out).
type fakeCloudWatch struct {
	mu   sync.Mutex
	reqs []received
}

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The SDK gzips PutMetricData bodies (the operation's request
	// compression), small ones too.
	var src io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		src = zr
	}
	data, err := io.ReadAll(src)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v, err := cbor.Decode(data)
	body, ok := v.(cbor.Map)
	if err != nil || !ok {
		http.Error(w, fmt.Sprintf("body is not a CBOR map: %v %q %v", err, data[:min(40, len(data))], r.Header), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, received{
		auth: r.Header.Get("Authorization"), protocol: r.Header.Get("Smithy-Protocol"),
		contentType: r.Header.Get("Content-Type"), path: r.URL.Path, body: body,
	})
	f.mu.Unlock()
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(cbor.Encode(cbor.Map{}))
}

func (f *fakeCloudWatch) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// newFake starts the fake and a real SDK client pointed at it.
func newFake(t *testing.T) (*fakeCloudWatch, *cloudwatch.Client) {
	t.Helper()
	fake := &fakeCloudWatch{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := cloudwatch.New(cloudwatch.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   srv.Client(),
	})
	return fake, client
}

func TestPublishSendsDepth(t *testing.T) {
	t.Parallel()
	fake, client := newFake(t)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := &Publisher{
		Client:    client,
		Inspector: &fakeInspector{queues: map[string]*asynq.QueueInfo{"blocks": {Pending: 4, Active: 2, Retry: 1, Scheduled: 3}}},
		Namespace: "BetterRead/test", Queue: "blocks",
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return at },
	}
	depth, err := p.Publish(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if depth != 7 {
		t.Errorf("depth %d, want 7", depth)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.path != "/service/GraniteServiceVersion20100801/operation/PutMetricData" {
		t.Errorf("path %s", r.path)
	}
	if r.protocol != "rpc-v2-cbor" || r.contentType != "application/cbor" {
		t.Errorf("Smithy-Protocol %q, Content-Type %q; want rpc-v2-cbor, application/cbor", r.protocol, r.contentType)
	}
	// SigV4 with the static key, for CloudWatch's signing name.
	if !strings.HasPrefix(r.auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/20") ||
		!strings.Contains(r.auth, "/eu-west-1/monitoring/aws4_request") || !strings.Contains(r.auth, "Signature=") {
		t.Errorf("Authorization %q is not a SigV4 signature for monitoring in eu-west-1", r.auth)
	}
	if ns := r.body["Namespace"]; ns != cbor.String("BetterRead/test") {
		t.Errorf("Namespace %#v", ns)
	}
	data, _ := r.body["MetricData"].(cbor.List)
	if len(data) != 1 {
		t.Fatalf("MetricData %#v, want one datum", r.body["MetricData"])
	}
	d, _ := data[0].(cbor.Map)
	if d["MetricName"] != cbor.String(MetricName) {
		t.Errorf("MetricName %#v, want %s", d["MetricName"], MetricName)
	}
	if v, err := cbor.AsFloat64(d["Value"]); err != nil || v != 7 {
		t.Errorf("Value %#v (%v), want 7", d["Value"], err)
	}
	if d["Unit"] != cbor.String(string(Unit)) {
		t.Errorf("Unit %#v, want %s", d["Unit"], Unit)
	}
	if ts, err := cbor.AsTime(d["Timestamp"]); err != nil || !ts.Equal(at) {
		t.Errorf("Timestamp %#v (%v), want %v", d["Timestamp"], err, at)
	}
	dims, _ := d["Dimensions"].(cbor.List)
	want := cbor.Map{"Name": cbor.String(DimensionQueue), "Value": cbor.String("blocks")}
	if len(dims) != 1 || !equalMap(dims[0], want) {
		t.Errorf("Dimensions %#v, want [%v]", d["Dimensions"], want)
	}
}

func equalMap(v cbor.Value, want cbor.Map) bool {
	m, ok := v.(cbor.Map)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, x := range want {
		if m[k] != x {
			return false
		}
	}
	return true
}

func TestPublishInspectorError(t *testing.T) {
	t.Parallel()
	fake, client := newFake(t)
	p := &Publisher{Client: client, Inspector: &fakeInspector{err: errors.New("redis down")}, Namespace: "NS", Queue: "blocks"}
	if _, err := p.Publish(t.Context()); err == nil || !strings.Contains(err.Error(), "redis down") {
		t.Errorf("Publish error %v, want the inspector's", err)
	}
	if n := len(fake.requests()); n != 0 {
		t.Errorf("sent %d data without a depth", n)
	}
}

func TestPublishCloudWatchError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InvalidParameterValue"), "message": cbor.String("bad namespace")}))
	}))
	defer srv.Close()
	client := cloudwatch.New(cloudwatch.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	p := &Publisher{Client: client, Inspector: &fakeInspector{queues: map[string]*asynq.QueueInfo{"blocks": {}}}, Namespace: "NS", Queue: "blocks"}
	_, err := p.Publish(t.Context())
	if err == nil || !strings.Contains(err.Error(), "put metric NS/QueueDepth of queue blocks") {
		t.Errorf("Publish error %v, want one naming the metric", err)
	}
}

// TestRunPublishesUntilCancelled: Run sends at once and on every tick, and
// returns nil when its context ends.
func TestRunPublishesUntilCancelled(t *testing.T) {
	t.Parallel()
	fake, client := newFake(t)
	p := &Publisher{
		Client: client, Inspector: &fakeInspector{queues: map[string]*asynq.QueueInfo{"blocks": {Pending: 1}}},
		Namespace: "NS", Queue: "blocks", Interval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(fake.requests()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s only %d publishes", len(fake.requests()))
		}
		time.Sleep(5 * time.Millisecond) // polling, not waiting for an outcome
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
}
