package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/runstate"
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
	env := append(m.Env(), "BETTERREAD_REDIS_PASSWORD="+password, "BETTERREAD_HOOK_TOKEN="+token)
	conn := []string{"--redis", r.Addr, "--store", blocks, "--log-format", "json"}
	serve := testenv.Start(t, "coordinator-serve", clusterHowTo, env, coord, append([]string{"serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--watch", "s3://uploads/in", "--debounce", "2s",
		"--dynamodb-endpoint", ddb.Endpoint, "--table-prefix", "hook_", "--min-books", "10", "--min-similarities", "100",
		"--block-rows", "16"}, conn...)...)
	testenv.WaitTCP(t, serve, testenv.Addr(port), 30*time.Second, clusterHowTo)
	testenv.Start(t, "worker", clusterHowTo, env, worker, append([]string{"--concurrency", "2"}, conn...)...)

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
		`betterread_stage_duration_seconds_count{stage="train",status="succeeded"} 2`, "asynq_queue_size"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if h := httpGet(t, base+"/healthz"); !strings.Contains(h, `"ok"`) {
		t.Errorf("/healthz: %s", h)
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

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
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
