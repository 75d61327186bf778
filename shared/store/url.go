package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ParseURL splits "s3://bucket/prefix/or/key" into its bucket and the rest
// ("" for "s3://bucket" and "s3://bucket/"). The rest is returned as
// written: it may name a prefix or one object.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := cutScheme(u, "s3")
	if !ok {
		return "", "", fmt.Errorf("parse s3 url %q: want s3://bucket/prefix", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := validateBucket(bucket); err != nil {
		return "", "", fmt.Errorf("parse s3 url %q: %w", u, err)
	}
	return bucket, prefix, nil
}

// splitVersion separates the version of an s3:// URL written as
// "s3://bucket/key?versionId=V" (how runs started by uploads pin the exact
// object versions they were started for).
func splitVersion(location string) (loc, version string) {
	if _, ok := cutScheme(location, "s3"); !ok {
		return location, ""
	}
	if i := strings.LastIndex(location, "?versionId="); i >= 0 {
		return location[:i], location[i+len("?versionId="):]
	}
	return location, ""
}

// versionID is nil for "" (the current version).
func versionID(v string) *string {
	if v == "" {
		return nil
	}
	return aws.String(v)
}

// cutScheme removes "scheme://" from the front of u, ignoring case.
func cutScheme(u, scheme string) (rest string, ok bool) {
	p := scheme + "://"
	if len(u) < len(p) || !strings.EqualFold(u[:len(p)], p) {
		return u, false
	}
	return u[len(p):], true
}

// validateBucket accepts S3 bucket names, including the legacy ones with
// capitals and underscores.
func validateBucket(b string) error {
	if len(b) < 3 || len(b) > 255 {
		return fmt.Errorf("bucket %q: want 3 to 255 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("bucket %q: character %q not allowed", b, c)
		}
	}
	return nil
}

// Environment variables that Open, OpenURL and StatURL read to reach an
// S3-compatible server, in order of precedence. A set endpoint also turns on
// path-style addressing. Region and credentials come from the usual AWS
// variables (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
var endpointEnv = []string{"BETTERREAD_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}

// configFromEnv is the S3Config for bucket and prefix with the endpoint
// from the environment.
func configFromEnv(bucket, prefix string, getenv func(string) string) S3Config {
	cfg := S3Config{Bucket: bucket, Prefix: prefix}
	for _, name := range endpointEnv {
		if v := getenv(name); v != "" {
			cfg.Endpoint, cfg.PathStyle = v, true
			break
		}
	}
	return cfg
}

// Open returns the store a location names: "s3://bucket/prefix" is an S3
// store (endpoint from BETTERREAD_S3_ENDPOINT, AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL, path-style when one is set); "file:///dir" or a plain
// path is a Dir. Other schemes are an error rather than a directory named
// after them.
func Open(ctx context.Context, location string) (Store, error) {
	return open(ctx, location, os.Getenv)
}

func open(ctx context.Context, location string, getenv func(string) string) (Store, error) {
	if _, ok := cutScheme(location, "s3"); ok {
		bucket, prefix, err := ParseURL(location)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return NewS3(ctx, configFromEnv(bucket, prefix, getenv))
	}
	path, err := localPath(location)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return NewDir(path)
}

// localPath turns "file:///x" into "/x", passes plain paths through and
// rejects other URL schemes.
func localPath(location string) (string, error) {
	if rest, ok := cutScheme(location, "file"); ok {
		if rest == "" || rest[0] != '/' {
			return "", fmt.Errorf("%q: want file:///absolute/path", location)
		}
		return rest, nil
	}
	if scheme, _, ok := strings.Cut(location, "://"); ok && !strings.ContainsAny(scheme, "/.") {
		return "", fmt.Errorf("%q: unsupported scheme %q (want s3:// or a local path)", location, scheme)
	}
	if location == "" {
		return "", errors.New("empty location")
	}
	return location, nil
}

// OpenURL opens an input file, a local path or an s3://bucket/key object,
// and reports its size. The object streams as it is read; the caller closes
// it. A missing file or object returns an error wrapping ErrNotFound.
func OpenURL(ctx context.Context, location string) (io.ReadCloser, int64, error) {
	return openURL(ctx, location, os.Getenv)
}

func openURL(ctx context.Context, location string, getenv func(string) string) (io.ReadCloser, int64, error) {
	loc, version := splitVersion(location)
	client, bucket, key, err := objectURL(ctx, loc, getenv)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", location, err)
	}
	if client == nil {
		f, err := os.Open(key)
		if err != nil {
			return nil, 0, fmt.Errorf("open %s: %w", location, fileErr(err))
		}
		fi, err := f.Stat()
		if err == nil && fi.IsDir() {
			err = errors.New("is a directory")
		}
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("open %s: %w", location, err)
		}
		return f, fi.Size(), nil
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: versionID(version)})
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", location, s3Err(ctx, err))
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// StatURL reports the size of a local file or an s3://bucket/key object
// (a HEAD request). A missing one returns an error wrapping ErrNotFound.
func StatURL(ctx context.Context, location string) (int64, error) {
	return statURL(ctx, location, os.Getenv)
}

func statURL(ctx context.Context, location string, getenv func(string) string) (int64, error) {
	loc, version := splitVersion(location)
	client, bucket, key, err := objectURL(ctx, loc, getenv)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", location, err)
	}
	if client == nil {
		fi, err := os.Stat(key)
		if err != nil {
			return 0, fmt.Errorf("stat %s: %w", location, fileErr(err))
		}
		if fi.IsDir() {
			return 0, fmt.Errorf("stat %s: is a directory", location)
		}
		return fi.Size(), nil
	}
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: versionID(version)})
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", location, s3Err(ctx, err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// ObjectInfo is what a HEAD of an input object tells.
type ObjectInfo struct {
	Size      int64
	ETag      string // without quotes; "" for a local file
	VersionID string // "" when the bucket is unversioned, or for a local file
}

// HeadURL reports the size, ETag and version id of an s3://bucket/key
// object (the size only of a local file). A missing one returns an error
// wrapping ErrNotFound.
func HeadURL(ctx context.Context, location string) (ObjectInfo, error) {
	client, bucket, key, err := objectURL(ctx, location, os.Getenv)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s: %w", location, err)
	}
	if client == nil {
		size, err := statURL(ctx, location, os.Getenv)
		return ObjectInfo{Size: size}, err
	}
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s: %w", location, s3Err(ctx, err))
	}
	return ObjectInfo{Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`), VersionID: aws.ToString(out.VersionId)}, nil
}

// objectURL resolves location to an S3 client, bucket and key, or (nil
// client) to a local path returned as key.
func objectURL(ctx context.Context, location string, getenv func(string) string) (client *s3.Client, bucket, key string, err error) {
	if _, ok := cutScheme(location, "s3"); !ok {
		path, err := localPath(location)
		return nil, "", path, err
	}
	bucket, key, err = ParseURL(location)
	if err != nil {
		return nil, "", "", err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, "", "", errors.New("want s3://bucket/key naming one object")
	}
	cfg := configFromEnv(bucket, "", getenv)
	if err := cfg.Validate(); err != nil {
		return nil, "", "", err
	}
	client, err = newS3Client(ctx, cfg)
	return client, bucket, key, err
}

// fileErr maps a missing local file to ErrNotFound and drops the path an
// *fs.PathError repeats.
func fileErr(err error) error {
	if notFound(err) {
		return ErrNotFound
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
