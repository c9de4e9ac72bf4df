package awslocal_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// TestAdminChangesAtRunTime: the admin endpoints change faults, the
// co-tenant share and buckets of a running stack, and reject bad input
// naming the field.
func TestAdminChangesAtRunTime(t *testing.T) {
	t.Parallel()
	st := start(t, awslocal.Options{Clock: clock.NewFake(t0), StepInterval: -1})
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(st.Endpoint+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path, body string
		status     int
		inBody     string
	}{
		{"/_awslocal/faults", `{"serverErrorRate": 1}`, 200, `"serverErrorRate": 1`},
		{"/_awslocal/faults", `{"serverErrorRate": 2}`, 400, "ServerErrorRate"},
		{"/_awslocal/cotenant-share?share=0.5", ``, 200, `0.5`},
		{"/_awslocal/cotenant-share?share=1", ``, 400, "share"},
		{"/_awslocal/buckets", `{"ecs:RunTask": {"burst": 3, "rate": 1}}`, 200, `"burst": 3`},
		{"/_awslocal/buckets", `{"ecs:Nope": {"burst": 3, "rate": 1}}`, 400, "ecs:Nope"},
	} {
		if status, body := post(tc.path, tc.body); status != tc.status || !strings.Contains(body, tc.inBody) {
			t.Errorf("POST %s %s: got %d %q, want %d containing %q", tc.path, tc.body, status, body, tc.status, tc.inBody)
		}
	}
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Endpoint), Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{}})
	if _, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("job")}); err == nil || !strings.Contains(err.Error(), "ServerException") {
		t.Fatalf("with serverErrorRate 1: got %v, want ServerException", err)
	}
	cfg := st.Sim.Config()
	if cfg.CotenantShare != 0.5 || cfg.Buckets[sim.BucketRunTask] != (sim.Bucket{Burst: 3, Rate: 1}) {
		t.Fatalf("config after POSTs: share %v, RunTask %+v", cfg.CotenantShare, cfg.Buckets[sim.BucketRunTask])
	}
}
