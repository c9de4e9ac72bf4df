package awslocal_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/services"
)

// TestServiceOfS3: requests signed for s3 go to S3 whatever their method
// and content type; the JSON protocols keep their routes.
func TestServiceOfS3(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		method, auth, target, ctype, want string
	}{
		"put object":  {http.MethodPut, "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/s3/aws4_request", "", "application/x-www-form-urlencoded", awslocal.ServiceS3},
		"get object":  {http.MethodGet, "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/s3/aws4_request", "", "", awslocal.ServiceS3},
		"ec2 query":   {http.MethodPost, "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ec2/aws4_request", "", "application/x-www-form-urlencoded", awslocal.ServiceEC2},
		"ecs json":    {http.MethodPost, "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ecs/aws4_request", "AmazonEC2ContainerServiceV20141113.RunTask", "application/x-amz-json-1.1", awslocal.ServiceECS},
		"unsupported": {http.MethodGet, "", "", "", awslocal.ServiceUnsupported},
	} {
		r, _ := http.NewRequest(tc.method, "http://127.0.0.1:4566/bucket/key", nil)
		r.Header.Set("Authorization", tc.auth)
		r.Header.Set("X-Amz-Target", tc.target)
		r.Header.Set("Content-Type", tc.ctype)
		if got := awslocal.ServiceOf(r); got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

// TestResultsBucketFromEnv: the stack creates the results bucket and
// exports it and the S3 endpoint; the unmodified SDK, configured from Env
// with path-style addressing, writes and reads an object through the edge.
func TestResultsBucketFromEnv(t *testing.T) {
	st := start(t, awslocal.Options{TimeScale: 20, Services: awslocal.ServicesOptions{NoDynamoDB: true}})
	env := st.Env()
	bucket := env[services.EnvResultsBucket]
	if bucket != services.DefaultResultsBucket || env["AWS_ENDPOINT_URL_S3"] != st.Endpoint {
		t.Fatalf("env: bucket %q endpoint %q", bucket, env["AWS_ENDPOINT_URL_S3"])
	}
	ctx := context.Background()
	cfg := envConfig(t, env)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	body := `{"i":0}` + "\n"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("jobs/1/input.jsonl"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("jobs/1/input.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	if string(got) != body {
		t.Errorf("got %q, want %q", got, body)
	}
}
