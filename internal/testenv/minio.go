package testenv

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinIO is a minio server started for one test, with its own data
// directory and random root credentials.
type MinIO struct {
	*Process
	// Endpoint is the S3 API's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Dir is the server's data directory.
	Dir string
}

// MinIORegion is the region test clients sign for.
const MinIORegion = "us-east-1"

const minioHowTo = "minio is needed: run ./deploy/local/test-deps.sh (builds it once into $BETTERREAD_CACHE/bin, default ~/.cache/betterread/bin), or set BETTERREAD_MINIO_BIN to its path"

// MinIOBin is the minio binary the tests run: $BETTERREAD_MINIO_BIN, or
// CacheDir()/bin/minio.
func MinIOBin() string {
	if b := os.Getenv("BETTERREAD_MINIO_BIN"); b != "" {
		return b
	}
	return filepath.Join(CacheDir(), "bin", "minio")
}

// StartMinIO starts a single-drive minio server on free loopback ports and
// waits until it serves requests. env adds or overrides server environment
// variables ("KEY=value"), such as MINIO_NOTIFY_WEBHOOK_ENABLE_<ID>=on.
func StartMinIO(t testing.TB, env ...string) *MinIO {
	t.Helper()
	bin := MinIOBin()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("find minio: %v\n%s", err, minioHowTo)
	}
	// TempDir before Start: cleanups run last first, so the server stops
	// before its directory is removed.
	dir := t.TempDir()
	m := &MinIO{
		AccessKey: "test" + strings.ToLower(rand.Text()[:10]), // letters and digits: DynamoDB Local accepts it as a key too
		SecretKey: rand.Text(),
		Dir:       dir,
	}
	port, console := FreePort(t), FreePort(t)
	addr := Addr(port)
	m.Endpoint = "http://" + addr
	base := []string{
		"MINIO_ROOT_USER=" + m.AccessKey,
		"MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_BROWSER=off", // no web console: faster start, nothing to serve
		"MINIO_UPDATE=off",  // never look for updates
		"MINIO_CI_CD=on",    // allow a data directory on the root disk
	}
	m.Process = Start(t, "minio", minioHowTo, append(base, env...), bin,
		"server", dir, "--address", addr, "--console-address", Addr(console), "--quiet")
	m.waitReady(t, 60*time.Second)
	return m
}

// waitReady polls the liveness endpoint, then the cluster health endpoint,
// until each answers 200, failing the test if the server exits or the
// deadline passes. Live (and "ready") answer as soon as HTTP is up, while S3
// calls still get 503 XMinioServerNotInitialized; "cluster" waits for the
// object layer, bucket metadata and IAM, after which requests succeed.
func (m *MinIO) waitReady(t testing.TB, deadline time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	end := time.Now().Add(deadline)
	for _, path := range []string{"/minio/health/live", "/minio/health/cluster"} {
		for {
			resp, err := client.Get(m.Endpoint + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if m.Exited() {
				t.Fatalf("minio exited before it was ready:\n%s\n%s", m.Output(), minioHowTo)
			}
			if time.Now().After(end) {
				t.Fatalf("minio at %s not ready after %s (last: %v):\n%s", m.Endpoint, deadline, statusOf(resp, err), m.Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func statusOf(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// Client returns an S3 client for the server with the root credentials
// set explicitly, region us-east-1 and path-style addressing, so nothing
// from the machine's AWS configuration leaks in.
func (m *MinIO) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(m.Endpoint),
		Region:       MinIORegion,
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
		UsePathStyle: true,
	})
}

// NewBucket creates a bucket; the name must be a valid S3 bucket name.
func (m *MinIO) NewBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := m.Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s on minio at %s: %v", name, m.Endpoint, err)
	}
}

// Env is the environment that points the project's S3 code (store.Open,
// store.OpenURL, child processes) at this server with its credentials, and
// keeps it off any real AWS configuration on the machine.
func (m *MinIO) Env() []string {
	none := filepath.Join(m.Dir, ".no-aws-config")
	return []string{
		"BETTERREAD_S3_ENDPOINT=" + m.Endpoint,
		"AWS_ACCESS_KEY_ID=" + m.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + MinIORegion,
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// String describes the server for messages.
func (m *MinIO) String() string { return "minio at " + m.Endpoint }
