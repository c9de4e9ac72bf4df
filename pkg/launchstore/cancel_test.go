package launchstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// The closed mark, on both stores: open until closed, the first close
// wins (a cancel after LaunchCompleted leaves "completed"), an unknown
// request is ErrNotFound.
func TestCloseRequest(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) launchstore.Closer{
		"memory":   func(*testing.T) launchstore.Closer { return launchstore.NewMemory() },
		"dynamodb": func(t *testing.T) launchstore.Closer { return newDynamoDB(t) },
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := mk(t)
			st := c.(launchstore.Store)
			if _, err := st.CreateRequest(ctx, launchtest.ECSRequest("r1", 10), launchtest.T0); err != nil {
				t.Fatal(err)
			}
			if got, err := c.RequestClosed(ctx, "r1"); err != nil || got != "" {
				t.Fatalf("open request: %q, %v; want \"\"", got, err)
			}
			if got, err := c.CloseRequest(ctx, "r1", launchstore.ClosedCompleted, launchtest.T0); err != nil || got != launchstore.ClosedCompleted {
				t.Fatalf("close: %q, %v", got, err)
			}
			if got, err := c.CloseRequest(ctx, "r1", launchstore.ClosedCancelled, launchtest.T0); err != nil || got != launchstore.ClosedCompleted {
				t.Fatalf("second close: %q, %v; want the first (completed) kept", got, err)
			}
			if got, err := c.RequestClosed(ctx, "r1"); err != nil || got != launchstore.ClosedCompleted {
				t.Fatalf("read: %q, %v", got, err)
			}
			if _, err := c.CloseRequest(ctx, "nope", launchstore.ClosedCancelled, launchtest.T0); !errors.Is(err, launchstore.ErrNotFound) {
				t.Fatalf("unknown request: %v, want ErrNotFound", err)
			}
		})
	}
}
