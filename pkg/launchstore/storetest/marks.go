package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

func testFailover(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	p1 := launch.Placement{InstanceType: "c7g.large", Subnet: "subnet-a"}
	p2 := launch.Placement{InstanceType: "c6g.large", Subnet: "subnet-b"}
	// Marks end at their until: at that instant the placement is usable.
	mark := func(t *testing.T) launchstore.Store {
		st := newStore(t)
		must(t, st.MarkUnavailable(ctx, "acct", p1, t0.Add(time.Minute)))
		must(t, st.MarkUnavailable(ctx, "acct", p2, t0.Add(5*time.Minute).In(time.FixedZone("UTC+1", 3600))))
		must(t, st.MarkUnavailable(ctx, "other", p1, t0.Add(time.Hour)))
		return st
	}
	for name, c := range map[string]struct {
		scope string
		at    time.Duration
		want  map[string]time.Duration
	}{
		"before the marks":  {"acct", -time.Hour, map[string]time.Duration{p1.Key(): time.Minute, p2.Key(): 5 * time.Minute}},
		"while both hold":   {"acct", time.Minute - time.Nanosecond, map[string]time.Duration{p1.Key(): time.Minute, p2.Key(): 5 * time.Minute}},
		"as the first ends": {"acct", time.Minute, map[string]time.Duration{p2.Key(): 5 * time.Minute}},
		"after both":        {"acct", 5 * time.Minute, nil},
		"another scope":     {"other", 5 * time.Minute, map[string]time.Duration{p1.Key(): time.Hour}},
		"an unknown scope":  {"none", 0, nil},
	} {
		t.Run("Unavailable/"+name, func(t *testing.T) {
			t.Parallel()
			got, err := mark(t).Unavailable(ctx, c.scope, t0.Add(c.at))
			must(t, err)
			want := map[string]time.Time{}
			for k, d := range c.want {
				want[k] = t0.Add(d)
			}
			if !maps.EqualFunc(got, want, time.Time.Equal) {
				t.Fatalf("Unavailable(%s, T0%+v) = %v, want %v", c.scope, c.at, got, want)
			}
		})
	}
	t.Run("TheLastMarkHolds", func(t *testing.T) {
		t.Parallel()
		st := mark(t)
		must(t, st.MarkUnavailable(ctx, "acct", p2, t0.Add(2*time.Minute))) // shorter: replaces
		must(t, st.MarkUnavailable(ctx, "acct", p1, t0.Add(3*time.Minute))) // longer: replaces
		got, err := st.Unavailable(ctx, "acct", t0.Add(150*time.Second))
		must(t, err)
		if want := map[string]time.Time{p1.Key(): t0.Add(3 * time.Minute)}; !maps.EqualFunc(got, want, time.Time.Equal) {
			t.Fatalf("Unavailable = %v, want %v", got, want)
		}
		got[p2.Key()] = t0.Add(time.Hour) // the answer is the caller's
		if again, _ := st.Unavailable(ctx, "acct", t0.Add(150*time.Second)); len(again) != 1 {
			t.Fatalf("changing Unavailable's answer changed the store: %v", again)
		}
	})
}

// testMissing: reads of items never written.
func testMissing(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		create(t, st, launch.Request{RequestID: "present", ECS: ecsSpec()}, t0)
		for name, read := range map[string]func() error{
			"Request": func() error { _, err := st.Request(ctx, "missing"); return err },
			"RequestIDForHash": func() error {
				_, err := st.RequestIDForHash(ctx, launch.RequestHash("missing"))
				return err
			},
			"MarkSummaryCheck": func() error { _, err := st.MarkSummaryCheck(ctx, "missing", t0); return err },
		} {
			if err := read(); !errors.Is(err, launchstore.ErrNotFound) {
				t.Errorf("%s of a missing request: %v, want ErrNotFound", name, err)
			}
		}
	})
	t.Run("EmptyAnswers", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if c := chunk(t, st, "missing", 3); c.Index != 3 || c.IDs != nil || c.Stopped != nil || c.Relaunching != nil ||
			c.Attempts == nil || len(c.Attempts) != 0 || c.Retries != 0 || c.GaveUp {
			t.Errorf("Chunk never written: %+v, want empty with an empty attempts map", c)
		}
		if cs, lost, err := st.Chunks(ctx, "missing"); err != nil || len(cs) != 0 || len(lost) != 0 {
			t.Errorf("Chunks of a missing request: %v, %v, %v; want none", cs, lost, err)
		}
		if u, since, err := st.RelaunchUnsettledSince(ctx, "arn:missing"); err != nil || u || !since.IsZero() {
			t.Errorf("RelaunchUnsettled of a missing claim: %v since %v, %v; want false", u, since, err)
		}
		if m, err := st.Unavailable(ctx, "acct", t0); err != nil || len(m) != 0 {
			t.Errorf("Unavailable with no marks: %v, %v", m, err)
		}
	})
	// Every method fails with the context's error, even where the item is
	// missing (no read is answered from nothing).
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		c := launch.RelaunchClaim{TaskARN: "arn:t", RequestID: "r", Chunk: 0}
		for name, call := range map[string]func() error{
			"CreateRequest": func() error {
				_, err := st.CreateRequest(cctx, launch.Request{RequestID: "r", ECS: ecsSpec()}, t0)
				return err
			},
			"Request":              func() error { _, err := st.Request(cctx, "r"); return err },
			"RequestIDForHash":     func() error { _, err := st.RequestIDForHash(cctx, "h"); return err },
			"Chunk":                func() error { _, err := st.Chunk(cctx, "r", 0); return err },
			"Chunks":               func() error { _, _, err := st.Chunks(cctx, "r"); return err },
			"BeginAttempt":         func() error { _, err := st.BeginAttempt(cctx, "r", ecs(0), rec(1, "a"), t0); return err },
			"FinishAttempt":        func() error { _, err := st.FinishAttempt(cctx, "r", 0, 1, nil, nil, time.Time{}); return err },
			"FailAttempt":          func() error { return st.FailAttempt(cctx, "r", 0, 1, 1, "X") },
			"ClaimSend":            func() error { _, err := st.ClaimSend(cctx, "r", 0, 1, 0, t0); return err },
			"SettleAttempt":        func() error { _, err := st.SettleAttempt(cctx, "r", 0, 1, 1, nil, "X", time.Time{}); return err },
			"NoteUnsettled":        func() error { return st.NoteUnsettled(cctx, "r", 0, 1, 1, "X") },
			"AddRetry":             func() error { _, err := st.AddRetry(cctx, "r", 0); return err },
			"GiveUp":               func() error { _, err := st.GiveUp(cctx, "r", 0, 1, "", "", ""); return err },
			"MarkSummaryCheck":     func() error { _, err := st.MarkSummaryCheck(cctx, "r", t0); return err },
			"MarkUnavailable":      func() error { return st.MarkUnavailable(cctx, "s", launch.Placement{}, t0) },
			"Unavailable":          func() error { _, err := st.Unavailable(cctx, "s", t0); return err },
			"ClaimRelaunch":        func() error { _, _, err := st.ClaimRelaunch(cctx, c, t0); return err },
			"RegisterRelaunch":     func() error { _, err := st.RegisterRelaunch(cctx, "r", 0, "arn:t"); return err },
			"ChargeRelaunch":       func() error { _, err := st.ChargeRelaunch(cctx, "r", 0, 1); return err },
			"SetRelaunchSlot":      func() error { return st.SetRelaunchSlot(cctx, "arn:t", t0) },
			"AdvanceRelaunchToken": func() error { return st.AdvanceRelaunchToken(cctx, "arn:t", 0, 0) },
			"SetRelaunchUnsettled": func() error { return st.SetRelaunchUnsettled(cctx, "arn:t", t0) },
			"RelaunchUnsettled":    func() error { _, err := st.RelaunchUnsettled(cctx, "arn:t"); return err },
			"RelaunchUnsettledSince": func() error {
				_, _, err := st.RelaunchUnsettledSince(cctx, "arn:t")
				return err
			},
			"FinishRelaunch": func() error { return st.FinishRelaunch(cctx, c, "arn:new", time.Time{}) },
			"GiveUpRelaunch": func() error { return st.GiveUpRelaunch(cctx, c, "gone") },
		} {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context: %v, want context.Canceled", name, err)
			}
		}
		if cs, lost, err := st.Chunks(ctx, "r"); err != nil || len(cs) != 0 || len(lost) != 0 {
			t.Errorf("canceled calls wrote chunks: %v, %v, %v", cs, lost, err)
		}
	})
}

func ecsSpec() *launch.ECSSpec {
	return &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: 5, LaunchType: "EC2"}
}
