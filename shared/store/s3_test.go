package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/store/storetest"
)

// bucketNames hands out unique bucket names within a test binary.
var bucketNames atomic.Int64

func newBucket(t *testing.T, m *testenv.MinIO) string {
	t.Helper()
	name := fmt.Sprintf("test-%d", bucketNames.Add(1))
	m.NewBucket(t, name)
	return name
}

// TestS3 runs the S3 tests against one MinIO server; each subtest works in
// buckets of its own. It is not parallel so that OpenFromEnv, which sets
// environment variables, may run first; the rest then run in parallel.
func TestS3(t *testing.T) {
	m := testenv.StartMinIO(t)
	t.Run("OpenFromEnv", func(t *testing.T) { testOpenS3FromEnv(t, m) })
	t.Run("Conformance", func(t *testing.T) {
		t.Parallel()
		client := m.Client()
		storetest.Run(t, func(t *testing.T) store.Store {
			return store.NewS3FromClient(client, newBucket(t, m), "")
		})
	})
	t.Run("Prefix", func(t *testing.T) { t.Parallel(); testS3Prefix(t, m) })
	t.Run("Paging", func(t *testing.T) { t.Parallel(); testS3Paging(t, m) })
	t.Run("Errors", func(t *testing.T) { t.Parallel(); testS3Errors(t, m) })
}

func testS3Prefix(t *testing.T, m *testenv.MinIO) {
	client := m.Client()
	bucket := newBucket(t, m)
	one := store.NewS3FromClient(client, bucket, "one")
	two := store.NewS3FromClient(client, bucket, "/two/")
	for _, s := range []*store.S3{one, two} {
		for _, k := range []string{"k", "d/k"} {
			if err := s.Put(t.Context(), k, strings.NewReader(s.String()+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var raw []string
	for _, o := range out.Contents {
		raw = append(raw, aws.ToString(o.Key))
	}
	if want := []string{"one/d/k", "one/k", "two/d/k", "two/k"}; !slices.Equal(raw, want) {
		t.Errorf("bucket holds %q, want %q", raw, want)
	}
	if keys, err := one.List(t.Context(), ""); err != nil || !slices.Equal(keys, []string{"d/k", "k"}) {
		t.Errorf("one.List = %q, %v; want [d/k k]", keys, err)
	}
	if err := one.Delete(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if keys, err := two.List(t.Context(), ""); err != nil || !slices.Equal(keys, []string{"d/k", "k"}) {
		t.Errorf("after one.Delete(\"\") two.List = %q, %v; want [d/k k]", keys, err)
	}
	if keys, err := one.List(t.Context(), ""); err != nil || len(keys) != 0 {
		t.Errorf("after one.Delete(\"\") one.List = %q, %v; want none", keys, err)
	}
}

// testS3Paging crosses ListObjectsV2 page and DeleteObjects batch
// boundaries, lowered from 1000 so the test stays small.
func testS3Paging(t *testing.T, m *testenv.MinIO) {
	s := store.NewS3FromClient(m.Client(), newBucket(t, m), "many")
	store.SetPageSizes(s, 7, 10)
	const n = 33
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(8)
	var want []string
	for i := range n {
		key := fmt.Sprintf("obj/%02d", i)
		want = append(want, key)
		g.Go(func() error { return s.Put(ctx, key, strings.NewReader(key)) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "keep", strings.NewReader("keep")); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(t.Context(), "obj/")
	if err != nil || !slices.Equal(keys, want) {
		t.Fatalf("List(obj/) = %q, %v; want %q", keys, err, want)
	}
	if err := s.Delete(t.Context(), "obj/"); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.List(t.Context(), ""); err != nil || !slices.Equal(keys, []string{"keep"}) {
		t.Errorf("after Delete(obj/) List = %q, %v; want [keep]", keys, err)
	}
}

func testS3Errors(t *testing.T, m *testenv.MinIO) {
	bucket := newBucket(t, m)
	if err := store.NewS3FromClient(m.Client(), bucket, "").Put(t.Context(), "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}

	t.Run("missing bucket is not a missing key", func(t *testing.T) {
		t.Parallel()
		s := store.NewS3FromClient(m.Client(), "no-such-bucket", "")
		_, err := s.Get(t.Context(), "k")
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get from a missing bucket = %v, want an error that is not ErrNotFound", err)
		}
		if err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/k") {
			t.Errorf("error %v does not name s3://no-such-bucket/k", err)
		}
	})

	t.Run("bad credentials stay out of errors", func(t *testing.T) {
		t.Parallel()
		const secret = "SECRETsecretSECRETsecret1234"
		bad := s3.New(s3.Options{
			BaseEndpoint: aws.String(m.Endpoint),
			Region:       testenv.MinIORegion,
			Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, secret, ""),
			UsePathStyle: true,
		})
		s := store.NewS3FromClient(bad, bucket, "")
		_, getErr := s.Get(t.Context(), "k")
		_, statErr := s.Stat(t.Context(), "k")
		_, listErr := s.List(t.Context(), "")
		for op, err := range map[string]error{
			"Put":    s.Put(t.Context(), "k", strings.NewReader("v")),
			"Get":    getErr,
			"Stat":   statErr,
			"List":   listErr,
			"Delete": s.Delete(t.Context(), ""),
		} {
			if err == nil {
				t.Errorf("%s with a wrong secret succeeded", op)
				continue
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s with a wrong secret = %v, want an error that is not ErrNotFound", op, err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), m.SecretKey) {
				t.Errorf("%s error shows a secret: %v", op, err)
			}
		}
	})
}

// testOpenS3FromEnv points Open, OpenURL and StatURL at MinIO through the
// environment, as the binaries are configured. It sets environment
// variables, so it does not run in parallel.
func testOpenS3FromEnv(t *testing.T, m *testenv.MinIO) {
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	bucket := newBucket(t, m)

	s, err := store.Open(t.Context(), "s3://"+bucket+"/runs")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(s), "s3://"+bucket+"/runs/"; got != want {
		t.Errorf("Open gave %s, want %s", got, want)
	}
	data := bytes.Repeat([]byte("ISBN;Title\n"), 100)
	if err := s.Put(t.Context(), "in/Books.csv", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	url := "s3://" + bucket + "/runs/in/Books.csv"
	n, err := store.StatURL(t.Context(), url)
	if err != nil || n != int64(len(data)) {
		t.Errorf("StatURL(%s) = %d, %v; want %d", url, n, err, len(data))
	}
	rc, size, err := store.OpenURL(t.Context(), url)
	if err != nil {
		t.Fatalf("OpenURL(%s): %v", url, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Errorf("OpenURL(%s) = %d bytes (size %d), %v; want the %d bytes put", url, len(got), size, err, len(data))
	}

	missing := "s3://" + bucket + "/runs/in/Ratings.csv"
	if _, err := store.StatURL(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("StatURL(%s) = %v, want ErrNotFound", missing, err)
	}
	if _, _, err := store.OpenURL(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenURL(%s) = %v, want ErrNotFound", missing, err)
	}

	// A versioned bucket: HeadURL reports the version, and a URL with
	// ?versionId= reads that version after a newer one was put.
	client := m.Client()
	if _, err := client.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "in/Ratings.csv", strings.NewReader("v1")); err != nil {
		t.Fatal(err)
	}
	ratings := "s3://" + bucket + "/runs/in/Ratings.csv"
	v1, err := store.HeadURL(t.Context(), ratings)
	if err != nil || v1.VersionID == "" || v1.ETag == "" || v1.Size != 2 {
		t.Fatalf("HeadURL(%s) = %+v, %v; want a version id, an etag and size 2", ratings, v1, err)
	}
	if err := s.Put(t.Context(), "in/Ratings.csv", strings.NewReader("version 2")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{{ratings, "version 2"}, {ratings + "?versionId=" + v1.VersionID, "v1"}} {
		rc, _, err := store.OpenURL(t.Context(), c.url)
		if err != nil {
			t.Fatalf("OpenURL(%s): %v", c.url, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != c.want {
			t.Errorf("OpenURL(%s) = %q, want %q", c.url, got, c.want)
		}
	}
	if n, err := store.StatURL(t.Context(), ratings+"?versionId="+v1.VersionID); err != nil || n != 2 {
		t.Errorf("StatURL of version 1 = %d, %v; want 2", n, err)
	}
}
