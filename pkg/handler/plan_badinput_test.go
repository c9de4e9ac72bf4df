package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// TestBadInputPlanStoresNothing: the plan handler (the state machine's
// first step) answers each bad request with a PermanentError — the type
// the state machine never retries — naming the field, and stores nothing,
// so nothing can be launched for it.
func TestBadInputPlanStoresNothing(t *testing.T) {
	t.Parallel()
	st, mem := newTestStore(t)
	var logs bytes.Buffer
	h := NewPlanHandler(st, func(o *HandlerOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	for _, c := range launchtest.BadCatalogue() {
		t.Run(c.Name, func(t *testing.T) {
			b := launchtest.BadRequest(c)
			_, err := h.Handle(context.Background(), b)
			var perm *failure.PermanentError
			if !errors.As(err, &perm) || err != error(perm) {
				t.Fatalf("plan: %T %v, want an unwrapped *failure.PermanentError", err, err)
			}
			if !strings.Contains(err.Error(), launchtest.WantField(c)) {
				t.Fatalf("plan error %q does not name %s", err, launchtest.WantField(c))
			}
		})
	}
	if n := mem.Len(); n != 0 {
		t.Errorf("the store holds %d items after only bad requests, want none", n)
	}
	if strings.Contains(logs.String(), strings.Repeat("y", 100)) {
		t.Errorf("the plan logs echo the request's container command")
	}
}

// GIVEN an invalid request with a usable requestId, and one whose
// requestId is itself too long
// WHEN plan refuses them
// THEN the log line names the first's requestId and not the second's
func TestBadInputLogNamesRequest(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	var logs bytes.Buffer
	h := NewPlanHandler(st, func(o *HandlerOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	long := strings.Repeat("r", 4096)
	for _, id := range []string{"job-42", long} {
		b := fmt.Appendf(nil, `{"requestId":%q,"ecs":{"cluster":"c","taskDefinition":"td:1","count":-1}}`, id)
		if _, err := h.Handle(context.Background(), b); err == nil {
			t.Fatalf("requestId %.10s…: count -1 accepted", id)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"requestId":"job-42"`) || !strings.Contains(lines[1], `"requestId":""`) {
		t.Errorf("plan logs %q: want the first line to name job-42, the second no id", lines)
	}
}
