package dynamo

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestNewClient checks the credential fallback for custom endpoints. It
// sets environment variables, so it does not run in parallel.
func TestNewClient(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", missing)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	for _, k := range credentialEnv {
		t.Setenv(k, "")
	}
	tests := []struct {
		name       string
		env        map[string]string
		endpoint   string
		region     string
		wantKey    string
		wantRegion string
	}{
		{"local endpoint, no credentials", nil, "http://127.0.0.1:8000", "", localAccessKey, localRegion},
		{"local endpoint, region given", nil, "http://127.0.0.1:8000", "eu-west-1", localAccessKey, "eu-west-1"},
		{"credentials in env win", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
			"http://127.0.0.1:8000", "", "AKIDEXAMPLE", localRegion},
		{"aws endpoint uses the chain", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
			"", "us-west-2", "AKIDEXAMPLE", "us-west-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := NewClient(t.Context(), tt.endpoint, tt.region)
			if err != nil {
				t.Fatal(err)
			}
			o := c.Options()
			creds, err := o.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != tt.wantKey || o.Region != tt.wantRegion {
				t.Errorf("key %q region %q, want %q %q", creds.AccessKeyID, o.Region, tt.wantKey, tt.wantRegion)
			}
			if got := o.Retryer.MaxAttempts(); got != sdkMaxAttempts {
				t.Errorf("max attempts %d", got)
			}
			if aws.ToString(o.BaseEndpoint) != tt.endpoint && tt.endpoint != "" {
				t.Errorf("endpoint %q", aws.ToString(o.BaseEndpoint))
			}
		})
	}
}
