package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// testAttemptFencing: two invocations of one attempt (Step Functions
// retries a Lambda invocation that may still run) each claim their own
// send, and a state change by a send that is no longer the last one, or of
// an attempt already answered, is refused with ErrFenced and writes
// nothing.
func testAttemptFencing(t *testing.T, newStore storeFunc) {
	t.Run("StaleSendCannotFail", func(t *testing.T) { staleSendCannotFail(t, newStore) })
	testNoChangeAfterAnswer(t, newStore)
	t.Run("SettleRecordsEvidence", func(t *testing.T) { settleRecordsEvidence(t, newStore) })
	t.Run("ConcurrentClaims", func(t *testing.T) { concurrentClaims(t, newStore) })
}

func staleSendCannotFail(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	{
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		claimSend(t, st, 0, 1, 0) // invocation A: send 1
		if _, err := st.ClaimSend(ctx, req, 0, 1, 0, t0.Add(time.Second)); !errors.Is(err, launchstore.ErrFenced) {
			t.Fatalf("a second claim of send 1: got %v, want ErrFenced", err)
		}
		// Invocation B: send 2, a replay of the unknown send 1, answered
		// without settling it.
		if n, err := st.ClaimSend(ctx, req, 0, 1, 1, t0.Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("B's claim: %d, %v; want send 2", n, err)
		}
		if err := st.NoteUnsettled(ctx, req, 0, 1, 1, "Late"); !errors.Is(err, launchstore.ErrFenced) {
			t.Fatalf("A notes its replay after B sent: got %v, want ErrFenced", err)
		}
		must(t, st.NoteUnsettled(ctx, req, 0, 1, 2, "ReplayUnsettled"))
		if err := st.FailAttempt(ctx, req, 0, 1, 1, "Capacity"); !errors.Is(err, launchstore.ErrFenced) {
			t.Fatalf("A fails after B sent: got %v, want ErrFenced", err)
		}
		got := chunk(t, st, req, 0).Attempts[1]
		if got.State != launch.AttemptSent || got.Sends != 2 || got.Replays != 1 || got.Code != "ReplayUnsettled" || !got.SentAt.Equal(t0) {
			t.Fatalf("attempt after the refused fail: %+v; want sent, 2 sends (1 replay), first sent at t0", got)
		}
		must(t, st.FailAttempt(ctx, req, 0, 1, 2, "Capacity"))
		if got := chunk(t, st, req, 0).Attempts[1]; got.State != launch.AttemptFailed {
			t.Fatalf("B's own fail: %+v, want failed", got)
		}
	}
}

// testNoChangeAfterAnswer: an attempt answered, refused or settled takes
// no fail or settle of the send that ended it.
func testNoChangeAfterAnswer(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	for name, answer := range map[string]func(t *testing.T, st launchstore.Store){
		"answered": func(t *testing.T, st launchstore.Store) { finish(t, st, req, 0, 1, "t1") },
		"refused":  func(t *testing.T, st launchstore.Store) { must(t, st.FailAttempt(ctx, req, 0, 1, 1, "Capacity")) },
		"settled": func(t *testing.T, st launchstore.Store) {
			_, err := st.SettleAttempt(ctx, req, 0, 1, 1, []string{"t1"}, "OutcomeUnknown", time.Time{})
			must(t, err)
		},
	} {
		t.Run("NoChangeAfter/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			begin(t, st, req, 0, rec(1, "a"))
			claimSend(t, st, 0, 1, 0)
			answer(t, st)
			before := chunk(t, st, req, 0)
			if err := st.FailAttempt(ctx, req, 0, 1, 1, "Late"); !errors.Is(err, launchstore.ErrFenced) {
				t.Fatalf("fail after the attempt ended: got %v, want ErrFenced", err)
			}
			if err := st.NoteUnsettled(ctx, req, 0, 1, 1, "Late"); !errors.Is(err, launchstore.ErrFenced) {
				t.Fatalf("note after the attempt ended: got %v, want ErrFenced", err)
			}
			if _, err := st.SettleAttempt(ctx, req, 0, 1, 1, []string{"t9"}, "Late", time.Time{}); !errors.Is(err, launchstore.ErrFenced) {
				t.Fatalf("settle after the attempt ended: got %v, want ErrFenced", err)
			}
			if after := chunk(t, st, req, 0); !slices.Equal(after.IDs, before.IDs) || !reflect.DeepEqual(after.Attempts[1], before.Attempts[1]) {
				t.Fatalf("chunk after the refused writes: %+v, want %+v", after, before)
			}
			// An answered or settled attempt is never sent again; a refused
			// one may be.
			if _, err := st.ClaimSend(ctx, req, 0, 1, 1, t0); errors.Is(err, launchstore.ErrFenced) != (name != "refused") {
				t.Fatalf("claim after the attempt was %s: got %v", name, err)
			}
		})
	}
}

func settleRecordsEvidence(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Parallel()
	{
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		claimSend(t, st, 0, 1, 0)
		got, err := st.SettleAttempt(ctx, req, 0, 1, 1, []string{"t1", "t2"}, "OutcomeUnknown", time.Time{})
		must(t, err)
		a := got.Attempts[1]
		if a.State != launch.AttemptUnknown || a.Launched != 2 || a.Code != "OutcomeUnknown" || !slices.Equal(slices.Sorted(slices.Values(got.IDs)), []string{"t1", "t2"}) {
			t.Fatalf("settled chunk %+v: want attempt unknown with 2 launched, ids t1 t2", got)
		}
		if _, ok := got.Unsettled(); ok {
			t.Fatal("a settled attempt is still unsettled")
		}
		if u, ok := got.Unknown(); !ok || u.Attempt != 1 {
			t.Fatalf("Unknown: %+v, %v; want attempt 1", u, ok)
		}
		if read := chunk(t, st, req, 0); !reflect.DeepEqual(read.Attempts[1], a) {
			t.Fatalf("Chunk: %+v, want %+v", read.Attempts[1], a)
		}
	}
}

func concurrentClaims(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Parallel()
	{
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Go(func() {
				if _, err := st.ClaimSend(ctx, req, 0, 1, 0, t0); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, launchstore.ErrFenced) {
					t.Errorf("claim: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d invocations own send 1, want 1", won)
		}
	}
}
