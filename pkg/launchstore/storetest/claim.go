package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// execARN is the ARN of the launch execution called name.
func execARN(name string) string {
	return "arn:aws:states:us-east-1:000000000000:execution:launch:" + name
}

// claimer is st as a Claimer; every store of the suite must be one.
func claimer(t *testing.T, st launchstore.Store) launchstore.Claimer {
	t.Helper()
	c, ok := st.(launchstore.Claimer)
	if !ok {
		t.Fatalf("%T does not implement launchstore.Claimer", st)
	}
	return c
}

// claimStep is one ClaimExecution call and what it must answer.
type claimStep struct {
	arn, replace string
	wantHolder   string
	wantOK       bool
}

// testClaimExecution: one execution holds a request id.
func testClaimExecution(t *testing.T, newStore storeFunc) {
	testClaimSteps(t, newStore)
	testClaimApart(t, newStore)
}

// testClaimSteps: each case is a sequence of calls; the claim as stored
// after the last is checked through one more call of a stranger.
func testClaimSteps(t *testing.T, newStore storeFunc) {
	a, b, c := execARN("a"), execARN("b"), execARN("c")
	type step = claimStep
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first claim", []step{{a, "", a, true}}},
		{"the holder again (a retried plan)", []step{{a, "", a, true}, {a, "", a, true}}},
		{"a second execution is refused", []step{{a, "", a, true}, {b, "", a, false}}},
		{"a takeover from the ended holder", []step{{a, "", a, true}, {b, a, b, true}}},
		{"a takeover names a holder that is not the one", []step{{a, "", a, true}, {b, c, a, false}}},
		{"two takeovers from the same holder: the first wins", []step{{a, "", a, true}, {b, a, b, true}, {c, a, b, false}}},
		{"the old holder after a takeover is refused", []step{{a, "", a, true}, {b, a, b, true}, {a, "", b, false}}},
		{"a takeover with nothing held claims", []step{{b, a, b, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runClaimSteps(t, claimer(t, newStore(t)), tc.steps)
		})
	}
}

func runClaimSteps(t *testing.T, st launchstore.Claimer, steps []claimStep) {
	ctx := context.Background()
	now := t0
	var first time.Time
	for i, s := range steps {
		now = now.Add(time.Minute)
		got, ok, err := st.ClaimExecution(ctx, "req", s.arn, s.replace, now, now.Add(time.Hour))
		must(t, err)
		if ok != s.wantOK || got.ExecutionARN != s.wantHolder {
			t.Fatalf("step %d: ClaimExecution(%s, replace %q) = %+v, %v; want holder %s, %v", i, s.arn, s.replace, got, ok, s.wantHolder, s.wantOK)
		}
		if i == 0 {
			first = now
		}
		// A refusal or a repeat keeps the stored claim's time.
		if s.wantHolder == steps[0].arn && !got.ClaimedAt.Equal(first) {
			t.Errorf("step %d: claimedAt %v, want the first claim's %v", i, got.ClaimedAt, first)
		}
	}
	last := steps[len(steps)-1].wantHolder
	got, ok, err := st.ClaimExecution(ctx, "req", execARN("stranger"), "", now, now)
	must(t, err)
	if ok || got.ExecutionARN != last {
		t.Errorf("after the steps: held by %+v (stranger claimed: %v), want %s", got, ok, last)
	}
}

// testClaimApart: ids do not share claims, an ARN is required, and of
// racing executions one holds the id.
func testClaimApart(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("request ids are apart", func(t *testing.T) {
		t.Parallel()
		st := claimer(t, newStore(t))
		for _, id := range []string{"r1", "r2", "acct/r1"} {
			if got, ok, err := st.ClaimExecution(ctx, id, execARN(id[len(id)-2:]+"x"), "", t0, t0.Add(time.Hour)); err != nil || !ok {
				t.Fatalf("claim of %s: %+v %v %v", id, got, ok, err)
			}
		}
	})
	t.Run("an ARN is required", func(t *testing.T) {
		t.Parallel()
		st := claimer(t, newStore(t))
		if _, _, err := st.ClaimExecution(ctx, "req", "", "", t0, t0); err == nil {
			t.Fatal("ClaimExecution without an ARN: no error")
		}
	})
	t.Run("Race", func(t *testing.T) {
		t.Parallel()
		st := claimer(t, newStore(t))
		got := race(t, func(i int) (string, error) {
			c, ok, err := st.ClaimExecution(ctx, "req", execARN(string(rune('a'+i))), "", t0, t0.Add(time.Hour))
			if ok {
				return c.ExecutionARN, err
			}
			return "", err
		})
		if n := count(got, func(s string) bool { return s != "" }); n != 1 {
			t.Fatalf("%d of %d racing executions hold the request id, want 1", n, racers)
		}
	})
}
