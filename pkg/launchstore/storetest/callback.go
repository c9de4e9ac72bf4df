package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// testCallback: the answer is recorded once (a re-run finds it), the
// chunks' failure keeps its first write, and the heartbeat chain grants
// each sequence number to one message only — its own redelivery again, a
// duplicate never.
func testCallback(t *testing.T, newStore storeFunc) {
	open := func(t *testing.T) launchstore.Callbacks {
		st := newStore(t)
		cb, ok := st.(launchstore.Callbacks)
		if !ok {
			t.Skip("store keeps no callback state")
		}
		if _, err := st.CreateRequest(context.Background(), launchtest.ECSRequest("r1", 100), t0); err != nil {
			t.Fatal(err)
		}
		return cb
	}
	testCallbackAnswer(t, open)
	testCallbackHeartbeat(t, open)
}

func testCallbackAnswer(t *testing.T, open func(*testing.T) launchstore.Callbacks) {
	ctx := context.Background()
	t.Run("Answer", func(t *testing.T) {
		t.Parallel()
		cb := open(t)
		first, err := cb.RecordAnswer(ctx, "r1", launchstore.AnswerFailure, "LaunchIncomplete", t0)
		if err != nil || !first {
			t.Fatalf("first RecordAnswer: %v, %v; want first", first, err)
		}
		if first, err := cb.RecordAnswer(ctx, "r1", launchstore.AnswerSuccess, "", t0); err != nil || first {
			t.Fatalf("second RecordAnswer: %v, %v; want not first", first, err)
		}
		got, err := cb.Callback(ctx, "r1")
		if err != nil || got.Answer != launchstore.AnswerFailure || got.Detail != "LaunchIncomplete" || !got.AnsweredAt.Equal(t0) {
			t.Fatalf("Callback: %+v, %v; want the first answer", got, err)
		}
		if _, err := cb.RecordAnswer(ctx, "nope", launchstore.AnswerSuccess, "", t0); !errors.Is(err, launchstore.ErrNotFound) {
			t.Fatalf("RecordAnswer of an unknown request: %v, want ErrNotFound", err)
		}
	})
	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		cb := open(t)
		must(t, cb.SetFailure(ctx, "r1", "States.Runtime", "first"))
		must(t, cb.SetFailure(ctx, "r1", "States.Timeout", "second"))
		got, err := cb.Callback(ctx, "r1")
		if err != nil || got.FailError != "States.Runtime" || got.FailCause != "first" {
			t.Fatalf("Callback: %+v, %v; want the first failure", got, err)
		}
		if err := cb.SetFailure(ctx, "nope", "e", "c"); !errors.Is(err, launchstore.ErrNotFound) {
			t.Fatalf("SetFailure of an unknown request: %v, want ErrNotFound", err)
		}
	})
}

func testCallbackHeartbeat(t *testing.T, open func(*testing.T) launchstore.Callbacks) {
	ctx := context.Background()
	t.Run("Heartbeat", func(t *testing.T) {
		t.Parallel()
		cb := open(t)
		steps := []struct {
			seq   int
			owner string
			want  bool
		}{
			{1, "m0", false}, // not the chain's next
			{0, "m0", true},
			{0, "m0", true},   // m0 redelivered: its follow-up may be lost
			{0, "dup", false}, // a second message for 0: no fork
			{1, "m1", true},
			{0, "m0", false}, // m0 again, the chain moved on
			{1, "dup", false},
			{2, "m2", true},
		}
		for i, s := range steps {
			if ok, err := cb.ClaimHeartbeat(ctx, "r1", s.seq, s.owner); err != nil || ok != s.want {
				t.Fatalf("step %d ClaimHeartbeat(%d, %s) = %v, %v; want %v", i, s.seq, s.owner, ok, err, s.want)
			}
		}
		if got, _ := cb.Callback(ctx, "r1"); got.HeartbeatSeq != 3 || got.HeartbeatOwner != "m2" {
			t.Fatalf("Callback: %+v; want seq 3 by m2", got)
		}
		if ok, err := cb.ClaimHeartbeat(ctx, "nope", 0, "m"); err != nil || ok {
			t.Fatalf("ClaimHeartbeat of an unknown request: %v, %v; want refused", ok, err)
		}
	})
}
