package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// TestPlanReadsItemsFromS3: the wired plan handler reads an itemsFrom
// object through its S3 client, path-style at a custom endpoint (the local
// stack's), before it writes anything.
func TestPlanReadsItemsFromS3(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			mu.Lock()
			gets = append(gets, r.Host+" "+r.URL.Path)
			mu.Unlock()
			_, _ = w.Write([]byte(`{"containerOverrides":[{"name":"main","command":["a"]}]}` + "\n"))
			return
		}
		// DynamoDB (CreateRequest): refused, nothing is written.
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"test"}`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	h, err := Plan(Deps{Config: config.Config{Table: "t", Region: "us-east-1"}, AWS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	req := `{"requestId":"r1","ecs":{"cluster":"c","taskDefinition":"td:1","launchType":"FARGATE","count":1,` +
		`"networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a"]}},"itemContainer":"main",` +
		`"itemsFrom":{"bucket":"inputs","key":"jobs/1.jsonl"}}}`
	_, err = h.Handle(context.Background(), []byte(req))
	if err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Fatalf("got %v, want the table's refusal after the items were read", err)
	}
	mu.Lock()
	defer mu.Unlock()
	host := strings.TrimPrefix(srv.URL, "http://")
	if len(gets) != 1 || gets[0] != host+" /inputs/jobs/1.jsonl" {
		t.Fatalf("S3 reads %q, want one path-style GET of /inputs/jobs/1.jsonl at %s", gets, host)
	}
}

// TestNewS3AddressingStyle: path-style only at an endpoint of its own.
func TestNewS3AddressingStyle(t *testing.T) {
	t.Parallel()
	if o := NewS3(aws.Config{Region: "us-east-1"}).Options(); o.UsePathStyle {
		t.Error("AWS: path-style, want virtual-hosted")
	}
	if o := NewS3(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:4566")}).Options(); !o.UsePathStyle {
		t.Error("local endpoint: virtual-hosted, want path-style")
	}
}
