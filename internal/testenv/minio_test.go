package testenv_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/betterread/pipeline/internal/testenv"
)

func TestStartMinIO(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t)
	m.NewBucket(t, "smoke")
	c := m.Client()
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String("smoke"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v")),
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("smoke"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer out.Body.Close()
	if b, err := io.ReadAll(out.Body); err != nil || string(b) != "v" {
		t.Errorf("object = %q, %v; want v", b, err)
	}
	m.Stop()
	if !m.Exited() {
		t.Error("minio still running after Stop")
	}
}

// TestStartMinIOEnv checks that extra environment reaches the server: told
// it lives in another region, it rejects the client's us-east-1 signature.
func TestStartMinIOEnv(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, "MINIO_REGION=eu-test-1")
	_, err := m.Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("elsewhere")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AuthorizationHeaderMalformed" {
		t.Errorf("CreateBucket signed for %s on a server in eu-test-1 = %v, want AuthorizationHeaderMalformed", testenv.MinIORegion, err)
	}
}
