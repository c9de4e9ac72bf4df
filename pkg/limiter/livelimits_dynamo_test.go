package limiter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// The stored limits on dynalite through the real client: a set reaches a
// running process in the answer of its next acquisition (no read), a
// reset removes the document, a stale version conflicts, and a process
// started after the bucket item expired (TTL) finds the durable copy.
func TestDynamoStoreLiveLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testenv.DynamoDBTable(t, "th-live")
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	newProc := func() (*limiter.Distributed, *limiter.DynamoStore) {
		s := limiter.NewDynamoStore(c, "th-live")
		return limiter.NewDistributed(s, nil, func(o *limiter.Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1" }), s
	}
	fleet, fs := newProc()
	cli, cs := newProc()
	rate := func(d *limiter.Distributed) limiter.Limit {
		l, err := d.Limit(limiter.ECSFargateTasks)
		if err != nil {
			t.Fatal(err)
		}
		return l.Rate
	}
	take := []limiter.Take{{Bucket: limiter.ECSFargateTasks, N: 1}}
	reserve := func(d *limiter.Distributed) {
		t.Helper()
		if _, err := d.Reserve(ctx, "ecs", take); err != nil {
			t.Fatal(err)
		}
	}
	services := []string{"ecs", "ec2"}

	reserve(fleet)
	reads := fs.Stats().Reads
	if _, err := cli.SetLimits(ctx, services, `{"actions": {"ecs:FargateTasks": {"rate": 5}}}`, "alice"); err != nil {
		t.Fatal(err)
	}
	reserve(fleet)
	if got := rate(fleet); got != 5 {
		t.Fatalf("after the next acquisition: rate %v, want 5", got)
	}
	// No read to learn of it; one for the give-back of the take timed
	// under the old limits.
	if got := fs.Stats().Reads - reads; got != 1 {
		t.Fatalf("the fleet read %d times to apply the set, want 1 (the give-back's)", got)
	}

	// A stale version conflicts and writes nothing.
	err := cs.WriteLimits(ctx, fleet.Key("ecs"), 0, limiter.StoredLimits{Doc: "{}", Version: 1, By: "mallory", At: clk.Now()}, nil)
	var ce *limiter.LimitsConflictError
	if !errors.As(err, &ce) || ce.Now != 1 {
		t.Fatalf("stale write: %v, want a conflict at version 1", err)
	}

	// The bucket item expires (TTL); a new process reads the durable copy.
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("th-live"), Key: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: fleet.Key("ecs")}, "sk": &ddbtypes.AttributeValueMemberS{Value: "bucket"}}}); err != nil {
		t.Fatal(err)
	}
	late, _ := newProc()
	reserve(late)
	if got := rate(late); got != 5 {
		t.Fatalf("process started after the item expired: rate %v, want the stored 5", got)
	}

	// A reset removes the document: the initial limits at the next
	// acquisition, the record kept.
	clk.Advance(time.Second)
	if _, err := cli.ResetLimits(ctx, services, "bob"); err != nil {
		t.Fatal(err)
	}
	reserve(fleet)
	if got := rate(fleet); got != 20 {
		t.Fatalf("after the reset: rate %v, want the built-in 20", got)
	}
	got, ok, err := cli.StoredLimits(ctx, "ecs")
	if err != nil || !ok || got.Doc != "" || got.By != "bob" || got.Version != 2 || !got.At.Equal(clk.Now()) {
		t.Fatalf("stored after the reset: %+v %v %v", got, ok, err)
	}
}
