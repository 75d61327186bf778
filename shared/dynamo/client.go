package dynamo

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// API is the part of the DynamoDB client this package uses; a fake can
// stand in for it in unit tests. *dynamodb.Client implements it. An
// implementation must not keep the items of a BatchWriteItem input once
// the call has returned: the DynamoDB target refills them for its next
// batch (the SDK serialises them during the call).
type API interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Client settings. One BatchWriteItem of 25 small items takes milliseconds;
// 30 s without a response means the connection is gone.
const (
	httpTimeout    = 30 * time.Second
	sdkMaxAttempts = 5
	sdkMaxBackoff  = 5 * time.Second
	localRegion    = "us-east-1"
	localAccessKey = "local"
	localSecretKey = "local"
)

// credentialEnv are the variables that point the default credential chain
// at real credentials.
var credentialEnv = []string{
	"AWS_ACCESS_KEY_ID",
	"AWS_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
}

// NewClient builds a DynamoDB client from the default AWS configuration
// chain (environment, shared config files, web identity, container and
// instance roles).
//
// endpoint, when not empty, replaces the AWS endpoint (DynamoDB Local,
// http://localhost:8000). Then, if none of AWS_ACCESS_KEY_ID, AWS_PROFILE,
// AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
// AWS_CONTAINER_CREDENTIALS_FULL_URI is set, the client uses the static
// credentials local/local instead of searching further (DynamoDB Local
// accepts any credentials, and probing the instance metadata service on a
// laptop only adds seconds of timeouts); set AWS_PROFILE=default to use a
// shared credentials file with a custom endpoint. region may be empty to
// take it from the chain; with an endpoint it then defaults to us-east-1.
//
// Retries: the SDK's standard retryer with 5 attempts and backoff capped at
// 5 s, without its client-side retry quota: the batch writer does its own
// backoff for throttling, and a quota drained by a long throttled load
// would turn into errors in the middle of it. Each HTTP attempt times out
// after 30 s. With an endpoint, the CRC32 check of response bodies is
// off (DynamoDB Local omits the header on errors). optFns are applied last
// (tests add middleware there).
func NewClient(ctx context.Context, endpoint, region string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(httpTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = sdkMaxAttempts
				o.MaxBackoff = sdkMaxBackoff
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if region == "" && endpoint != "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		region = localRegion
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if endpoint != "" && !credentialsInEnv() {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(localAccessKey, localSecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config for dynamodb: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// DynamoDB Local sends no X-Amz-Crc32 header on error responses,
			// and the SDK then checks the body against 0 and logs a warning
			// on every expected error such as a missing table
			// (aws/aws-sdk-go-v2#3545).
			o.DisableValidateResponseChecksum = true
		}
	}}, optFns...)...), nil
}

func credentialsInEnv() bool {
	for _, k := range credentialEnv {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}
