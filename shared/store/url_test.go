package store_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/betterread/pipeline/shared/store"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url      string
		bucket, prefix string
		ok             bool
	}{
		{"bucket only", "s3://books", "books", "", true},
		{"bucket slash", "s3://books/", "books", "", true},
		{"prefix", "s3://books/runs/r1", "books", "runs/r1", true},
		{"object", "s3://my-bucket.v2/in/Ratings.csv", "my-bucket.v2", "in/Ratings.csv", true},
		{"upper scheme", "S3://books/x", "books", "x", true},
		{"odd key characters", "s3://books/a b?c#d%20", "books", "a b?c#d%20", true},
		{"no scheme", "books/x", "", "", false},
		{"other scheme", "gs://books/x", "", "", false},
		{"empty bucket", "s3:///x", "", "", false},
		{"short bucket", "s3://ab/x", "", "", false},
		{"bad bucket character", "s3://bo:oks/x", "", "", false},
		{"credentials in bucket", "s3://user:pw@books/x", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, p, err := store.ParseURL(tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseURL(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if b != tt.bucket || p != tt.prefix {
				t.Errorf("ParseURL(%q) = %q, %q; want %q, %q", tt.url, b, p, tt.bucket, tt.prefix)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, u := range []string{"s3://books/runs/r1", "s3://b", "s3:///", "S3://x.y-z/é", "gs://a/b", ""} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		b, p, err := store.ParseURL(u)
		if err != nil {
			return
		}
		if b == "" || strings.Contains(b, "/") {
			t.Fatalf("ParseURL(%q) accepted bucket %q", u, b)
		}
		if !strings.EqualFold(u, "s3://"+b+"/"+p) && !strings.EqualFold(u, "s3://"+b) {
			t.Fatalf("ParseURL(%q) = %q, %q, which does not rebuild the URL", u, b, p)
		}
	})
}

func TestS3ConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  store.S3Config
		want []string // substrings of the error; none means valid
	}{
		{"minimal", store.S3Config{Bucket: "books"}, nil},
		{"full", store.S3Config{Bucket: "books", Prefix: "runs/", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", PathStyle: true}, nil},
		{"no bucket", store.S3Config{}, []string{"bucket"}},
		{"bad prefix", store.S3Config{Bucket: "books", Prefix: "a/../b"}, []string{"prefix"}},
		{"bad endpoint scheme", store.S3Config{Bucket: "books", Endpoint: "ftp://host"}, []string{"endpoint"}},
		{"endpoint without host", store.S3Config{Bucket: "books", Endpoint: "127.0.0.1:9000"}, []string{"endpoint"}},
		{"every problem", store.S3Config{Bucket: "x", Prefix: "/..", Endpoint: "nope"}, []string{"bucket", "prefix", "endpoint"}},
		{"endpoint password redacted", store.S3Config{Bucket: "books", Endpoint: "ftp://user:hunter2@host"}, []string{"endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Validate() = %v shows a password", err)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		endpoint  string
		pathStyle bool
	}{
		{"aws", nil, "", false},
		{"betterread first", map[string]string{"BETTERREAD_S3_ENDPOINT": "http://a", "AWS_ENDPOINT_URL_S3": "http://b", "AWS_ENDPOINT_URL": "http://c"}, "http://a", true},
		{"aws s3 endpoint", map[string]string{"AWS_ENDPOINT_URL_S3": "http://b", "AWS_ENDPOINT_URL": "http://c"}, "http://b", true},
		{"aws endpoint", map[string]string{"AWS_ENDPOINT_URL": "http://c"}, "http://c", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := store.ConfigFromEnv("books", "p", func(k string) string { return tt.env[k] })
			want := store.S3Config{Bucket: "books", Prefix: "p", Endpoint: tt.endpoint, PathStyle: tt.pathStyle}
			if cfg != want {
				t.Errorf("config = %+v, want %+v", cfg, want)
			}
		})
	}
}

func TestOpenLocal(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	for _, loc := range []string{filepath.Join(dir, "a"), "file://" + filepath.Join(dir, "b")} {
		s, err := store.OpenWithEnv(t.Context(), loc, noEnv)
		if err != nil {
			t.Fatalf("Open(%q): %v", loc, err)
		}
		if _, ok := s.(*store.Dir); !ok {
			t.Errorf("Open(%q) = %T, want *store.Dir", loc, s)
		}
	}
	for _, loc := range []string{"", "gs://bucket/x", "http://host/x", "file://relative", "s3://x"} {
		if s, err := store.OpenWithEnv(t.Context(), loc, noEnv); err == nil {
			t.Errorf("Open(%q) = %v, want an error", loc, s)
		}
	}
}

func TestOpenURLLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Books.csv")
	if err := os.WriteFile(path, []byte("ISBN,Title\n1,A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{path, "file://" + path} {
		rc, size, err := store.OpenURL(t.Context(), loc)
		if err != nil {
			t.Fatalf("OpenURL(%q): %v", loc, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || size != 15 || string(b) != "ISBN,Title\n1,A\n" {
			t.Errorf("OpenURL(%q) = %q (size %d), %v", loc, b, size, err)
		}
		if n, err := store.StatURL(t.Context(), loc); err != nil || n != 15 {
			t.Errorf("StatURL(%q) = %d, %v; want 15", loc, n, err)
		}
	}
	missing := filepath.Join(dir, "Ratings.csv")
	if _, _, err := store.OpenURL(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenURL(missing) = %v, want ErrNotFound", err)
	}
	if _, err := store.StatURL(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("StatURL(missing) = %v, want ErrNotFound", err)
	}
	if _, _, err := store.OpenURL(t.Context(), dir); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenURL(directory) = %v, want a non-NotFound error", err)
	}
	if _, err := store.StatURL(t.Context(), dir); err == nil {
		t.Errorf("StatURL(directory) succeeded, want an error")
	}
	for _, loc := range []string{"s3://books", "s3://books/", "s3://books/dir/", "gs://b/k"} {
		if _, err := store.StatURL(t.Context(), loc); err == nil {
			t.Errorf("StatURL(%q) succeeded, want an error", loc)
		}
	}
}
