// Command mkbucket creates S3 buckets (if absent) on the server named by
// BETTERREAD_S3_ENDPOINT, with credentials from the AWS environment. The
// local cluster script uses it to prepare MinIO.
//
//	mkbucket BUCKET...
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkbucket:", err)
		os.Exit(1)
	}
}

func run(buckets []string) error {
	endpoint := os.Getenv("BETTERREAD_S3_ENDPOINT")
	if endpoint == "" || len(buckets) == 0 {
		return errors.New("usage: BETTERREAD_S3_ENDPOINT=http://host:port mkbucket BUCKET...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	for _, b := range buckets {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s at %s: %w", b, endpoint, err)
		}
	}
	return nil
}
