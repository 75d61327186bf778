package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config says where an S3 store keeps its objects. Credentials come from
// the default AWS chain (environment, shared files, instance role).
type S3Config struct {
	// Bucket holds the objects; it must exist.
	Bucket string
	// Prefix is put before every key ("runs" and "/runs/" both store key
	// "a" as "runs/a").
	Prefix string
	// Endpoint is the base URL of an S3-compatible server such as MinIO
	// ("http://127.0.0.1:9000"); empty means AWS.
	Endpoint string
	// Region is the signing region; empty takes AWS_REGION or the shared
	// config, then us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key rather than
	// bucket.endpoint/key, as MinIO usually needs.
	PathStyle bool
}

// Validate reports every problem with c at once.
func (c S3Config) Validate() error {
	var errs []error
	if err := validateBucket(c.Bucket); err != nil {
		errs = append(errs, err)
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" { // as NewS3FromClient normalises it
		if err := validatePrefix(p + "/"); err != nil {
			errs = append(errs, fmt.Errorf("prefix: %w", err))
		}
	}
	if c.Endpoint != "" {
		if err := validateEndpoint(c.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validateEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		// url.Error quotes the whole input, which may carry user:password.
		return errors.New("endpoint: not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %s: want http://host[:port] or https://host[:port]", u.Redacted())
	}
	return nil
}

// S3 is a Store in an S3 bucket under a key prefix. Put streams through the
// SDK's upload manager (multipart above 5 MiB, so memory stays at a few
// parts whatever the object size) and an object appears only when its
// upload completes; Get streams the object body.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends with "/"
	// listPage and deleteBatch bound keys per ListObjectsV2 page and per
	// DeleteObjects call; tests lower them to cross page boundaries cheaply.
	listPage    int32 // 0: the server's default (1000 on S3 and MinIO)
	deleteBatch int
}

var _ Store = (*S3)(nil)

// NewS3 builds a client from the default AWS configuration chain and cfg.
// It does not contact S3.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open s3 store: %w", err)
	}
	client, err := newS3Client(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open s3 store: %w", err)
	}
	return NewS3FromClient(client, cfg.Bucket, cfg.Prefix), nil
}

func newS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}

// NewS3FromClient wraps a configured client. prefix is put before every key;
// a missing trailing slash is added and a leading one dropped.
func NewS3FromClient(client *s3.Client, bucket, prefix string) *S3 {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, uploader: manager.NewUploader(client), bucket: bucket, prefix: prefix, deleteBatch: maxDeleteBatch}
}

// Client is the underlying S3 client.
func (s *S3) Client() *s3.Client { return s.client }

// String names the store as an s3:// URL.
func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// loc names an object in errors: its full s3:// URL.
func (s *S3) loc(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// Put uploads r; the object replaces the old one only once complete, and a
// failed multipart upload is aborted.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		Body:   r,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", s.loc(key), ctxErr(ctx, err))
	}
	return nil
}

// Get returns the object body, read as it is consumed.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", s.loc(key), s3Err(ctx, err))
	}
	return out.Body, nil
}

// Stat returns the object's size from a HEAD request.
func (s *S3) Stat(ctx context.Context, key string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", s.loc(key), s3Err(ctx, err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// List pages through ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	full, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.loc(prefix), err)
	}
	keys := make([]string, len(full))
	for i, k := range full {
		keys[i] = strings.TrimPrefix(k, s.prefix)
	}
	// S3 lists in UTF-8 byte order already; this guards other servers.
	slices.Sort(keys)
	return keys, nil
}

// list returns the full object keys (store prefix included) under prefix.
func (s *S3) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}
	if s.listPage > 0 {
		in.MaxKeys = aws.Int32(s.listPage)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// maxDeleteBatch is DeleteObjects' limit on keys per request.
const maxDeleteBatch = 1000

// Delete lists the prefix and deletes what it found in batches.
func (s *S3) Delete(ctx context.Context, prefix string) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return fmt.Errorf("delete %s: %w", s.loc(prefix), err)
	}
	for batch := range slices.Chunk(keys, s.deleteBatch) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %s: %w", s.loc(prefix), ctxErr(ctx, err))
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %d of %d objects not deleted, first s3://%s/%s: %s: %s",
				s.loc(prefix), len(out.Errors), len(batch), s.bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}

// s3Err maps a missing object to ErrNotFound and otherwise returns err
// (see ctxErr).
func s3Err(ctx context.Context, err error) error {
	if isNotFound(err) {
		return ErrNotFound
	}
	return ctxErr(ctx, err)
}

// ctxErr makes sure a failure caused by cancellation wraps ctx.Err(), which
// the SDK does not promise for every path (the upload manager's among them).
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket": // a configuration error, not a missing object
			return false
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}
