package launchstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore/storetest"
)

func TestMemory(t *testing.T) {
	t.Parallel()
	storetest.TestStore(t, func(*testing.T) launchstore.Store { return launchstore.NewMemory() })
}

// TestMemoryRequestIsACopy: the request Memory returns is the caller's to
// change (DynamoDB returns its cached request, whose pointers it shares).
func TestMemoryRequestIsACopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := launchstore.NewMemory()
	r := launchtest.ECSRequest("r", 25)
	if _, err := m.CreateRequest(ctx, r, launchtest.T0); err != nil {
		t.Fatal(err)
	}
	r.ECS.Count = 1 // the caller's own request, after storing it
	got, err := m.Request(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	got.Request.ECS.Count, got.Request.ECS.NetworkConfiguration.AwsvpcConfiguration.Subnets[0] = 2, "changed"
	got.Plan.Chunks[0] = 99
	again, err := m.Request(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if want := launchtest.ECSRequest("r", 25); launch.Fingerprint(again.Request) != launch.Fingerprint(want) || again.Plan.Chunks[0] != 0 {
		t.Fatalf("stored request %+v %+v changed with the caller's copies", again.Request.ECS, again.Plan)
	}
}

// TestMemoryLen: Len counts the items DynamoDB would hold; a refused write
// adds none.
func TestMemoryLen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := launchstore.NewMemory()
	claim := launch.RelaunchClaim{TaskARN: "arn:t1", RequestID: "r", Chunk: 0}
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"nothing", func() error { return nil }, 0},
		{"a request: meta and hash", func() error {
			_, err := m.CreateRequest(ctx, launchtest.ECSRequest("r", 25), launchtest.T0)
			return err
		}, 2},
		{"the same request", func() error {
			_, err := m.CreateRequest(ctx, launchtest.ECSRequest("r", 25), launchtest.T0)
			return err
		}, 2},
		{"a conflicting request", func() error {
			if _, err := m.CreateRequest(ctx, launchtest.ECSRequest("r", 3), launchtest.T0); !errors.Is(err, launchstore.ErrRequestConflict) {
				return errors.New("no conflict")
			}
			return nil
		}, 2},
		{"a refused finish", func() error {
			if _, err := m.FinishAttempt(ctx, "r", 0, 1, []string{"t"}, nil, time.Time{}); err == nil {
				return errors.New("finish of no attempt accepted")
			}
			return nil
		}, 2},
		{"a read", func() error { _, err := m.Chunk(ctx, "r", 0); return err }, 2},
		{"a retry: a chunk item", func() error { _, err := m.AddRetry(ctx, "r", 0); return err }, 3},
		{"a claim", func() error { _, _, err := m.ClaimRelaunch(ctx, claim, launchtest.T0); return err }, 4},
		{"a lost relaunch", func() error { return m.GiveUpRelaunch(ctx, claim, "gone") }, 5},
		{"a mark", func() error {
			return m.MarkUnavailable(ctx, "acct", launch.Placement{InstanceType: "c7g.large"}, launchtest.T0)
		}, 6},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := m.Len(); got != s.want {
			t.Fatalf("after %s: Len %d, want %d", s.name, got, s.want)
		}
	}
}
