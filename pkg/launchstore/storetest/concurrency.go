package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// racers is how many goroutines race on one item.
const racers = 24

// race runs f(i) for i in [0, racers) at once and returns the results.
func race[T any](t *testing.T, f func(i int) (T, error)) []T {
	t.Helper()
	out := make([]T, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			out[i], errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func count[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

func testConcurrency(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("ClaimRelaunch", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		type answer struct {
			c       launch.RelaunchClaim
			created bool
		}
		got := race(t, func(i int) (answer, error) {
			c, created, err := st.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: stoppedARN, RequestID: fmt.Sprint("req-", i), Chunk: i}, t0.Add(time.Hour))
			return answer{c, created}, err
		})
		if n := count(got, func(a answer) bool { return a.created }); n != 1 {
			t.Fatalf("%d of %d claims created, want exactly one", n, racers)
		}
		w := got[slices.IndexFunc(got, func(a answer) bool { return a.created })].c
		for _, a := range got {
			if a.c.RequestID != w.RequestID || a.c.Chunk != w.Chunk || a.c.State != launch.RelaunchPending {
				t.Fatalf("claim %+v: want the winner's %+v", a.c, w)
			}
		}
	})
	t.Run("GiveUp", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got := race(t, func(i int) (bool, error) {
			return st.GiveUp(ctx, req, 0, 5, "capacity", fmt.Sprint("code-", i), "attempts spent")
		})
		if n := count(got, func(first bool) bool { return first }); n != 1 {
			t.Fatalf("%d of %d give-ups were first, want exactly one", n, racers)
		}
		if c := chunk(t, st, req, 0); c.DeadLettered != 5 || c.Code != fmt.Sprint("code-", slices.Index(got, true)) {
			t.Fatalf("chunk %+v: want 5 dead-lettered once, the first's code", c)
		}
	})
	t.Run("ChargeRelaunch", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		const budget = 5
		got := race(t, func(int) (bool, error) { return st.ChargeRelaunch(ctx, req, 0, budget) })
		if n := count(got, func(ok bool) bool { return ok }); n != budget {
			t.Fatalf("%d of %d charges passed, want exactly %d", n, racers, budget)
		}
		if c := chunk(t, st, req, 0); c.Relaunches != budget {
			t.Fatalf("relaunches %d, want %d", c.Relaunches, budget)
		}
	})
	t.Run("AdvanceRelaunchToken", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if _, _, err := st.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: stoppedARN, RequestID: req}, t0); err != nil {
			t.Fatal(err)
		}
		race(t, func(int) (struct{}, error) { return struct{}{}, st.AdvanceRelaunchToken(ctx, stoppedARN, 0, 0) })
		if c := claim(t, st, stoppedARN); c.Gen != 1 {
			t.Fatalf("generation %d after %d advances from 0, want 1", c.Gen, racers)
		}
	})
	t.Run("BeginAttempt", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got := race(t, func(i int) (launch.AttemptRecord, error) {
			c, err := st.BeginAttempt(ctx, req, ecs(0), rec(1, fmt.Sprint("tok-", i)), t0)
			return c.Attempts[1], err
		})
		stored := chunk(t, st, req, 0).Attempts[1]
		for _, r := range got {
			if !reflect.DeepEqual(r, stored) {
				t.Fatalf("BeginAttempt returned %+v, want the one stored record %+v", r, stored)
			}
		}
	})
	t.Run("Sets", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		race(t, func(i int) (launch.ChunkState, error) {
			if i%2 == 0 {
				return st.FinishAttempt(ctx, req, 0, 1, []string{"t1", "t2"}, nil, time.Time{})
			}
			return st.RegisterRelaunch(ctx, req, 0, "t1")
		})
		if c := chunk(t, st, req, 0); !sameSet(c.IDs, []string{"t1", "t2"}) || !sameSet(c.Relaunching, []string{"t1"}) {
			t.Fatalf("ids %q relaunching %q: want each once", c.IDs, c.Relaunching)
		}
	})
	t.Run("AddRetry", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got := race(t, func(int) (int, error) { return st.AddRetry(ctx, req, 0) })
		slices.Sort(got)
		for i, n := range got {
			if n != i+1 {
				t.Fatalf("counts %v: want 1..%d, each once", got, racers)
			}
		}
	})
	t.Run("CreateRequest", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got := race(t, func(i int) (launch.StoredRequest, error) {
			return st.CreateRequest(ctx, launchtest.ECSRequest("same", 25), t0.Add(time.Duration(i)*time.Second))
		})
		for _, sr := range got {
			if !sr.Created.Equal(got[0].Created) {
				t.Fatalf("created %v and %v: want every caller the one stored request", sr.Created, got[0].Created)
			}
		}
		conflicts := race(t, func(i int) (bool, error) {
			_, err := st.CreateRequest(ctx, launchtest.ECSRequest("other", 1+i), t0)
			if errors.Is(err, launchstore.ErrRequestConflict) {
				return true, nil
			}
			return false, err
		})
		if n := count(conflicts, func(c bool) bool { return !c }); n != 1 {
			t.Fatalf("%d of %d different requests under one id were stored, want exactly one", n, racers)
		}
	})
}
