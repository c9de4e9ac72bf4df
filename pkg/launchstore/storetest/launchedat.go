package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// testLaunchedAt: the chunk's LaunchedAt is the time of the latest write
// that recorded ids (an attempt's answer, evidence, a relaunch); a write
// without ids leaves it, and Chunk and Chunks agree.
func testLaunchedAt(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	finishAt := func(ids []string, m int) func(launchstore.Store) error {
		return func(st launchstore.Store) error {
			_, err := st.FinishAttempt(ctx, req, 0, 1, ids, nil, at(m))
			return err
		}
	}
	settleAt := func(ids []string, m int) func(launchstore.Store) error {
		return func(st launchstore.Store) error {
			claimSend(t, st, 0, 1, 0)
			_, err := st.SettleAttempt(ctx, req, 0, 1, 1, ids, "OutcomeUnknown", at(m))
			return err
		}
	}
	relaunchAt := func(m int) func(launchstore.Store) error {
		return func(st launchstore.Store) error {
			c := launch.RelaunchClaim{TaskARN: "t1", RequestID: req, Chunk: 0, State: launch.RelaunchPending}
			return st.FinishRelaunch(ctx, c, "t9", at(m))
		}
	}
	for name, tc := range map[string]struct {
		steps []func(launchstore.Store) error
		want  time.Time
	}{
		"begun only":              {nil, time.Time{}},
		"answered":                {[]func(launchstore.Store) error{finishAt([]string{"t1"}, 1)}, at(1)},
		"answered with no ids":    {[]func(launchstore.Store) error{finishAt(nil, 1)}, time.Time{}},
		"settled by evidence":     {[]func(launchstore.Store) error{settleAt([]string{"t1"}, 2)}, at(2)},
		"settled with no ids":     {[]func(launchstore.Store) error{settleAt(nil, 2)}, time.Time{}},
		"relaunched after answer": {[]func(launchstore.Store) error{finishAt([]string{"t1"}, 1), relaunchAt(5)}, at(5)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			begin(t, st, req, 0, rec(1, "a"))
			for _, step := range tc.steps {
				must(t, step(st))
			}
			if got := chunk(t, st, req, 0).LaunchedAt; !got.Equal(tc.want) {
				t.Fatalf("Chunk: LaunchedAt %v, want %v", got, tc.want)
			}
			all, _ := chunks(t, st, req)
			if got := all[0].LaunchedAt; !got.Equal(tc.want) {
				t.Fatalf("Chunks: LaunchedAt %v, want %v", got, tc.want)
			}
		})
	}
}
