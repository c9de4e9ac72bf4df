package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

const stoppedARN = "arn:aws:ecs:us-east-1:000000000000:task/jobs/0001"

func testRelaunch(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	mine := launch.RelaunchClaim{TaskARN: stoppedARN, RequestID: req, Chunk: 2}
	t.Run("ClaimOnce", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got, created, err := st.ClaimRelaunch(ctx, mine, t0.Add(time.Hour))
		if err != nil || !created || got.TaskARN != mine.TaskARN || got.RequestID != req || got.Chunk != 2 || got.State != launch.RelaunchPending {
			t.Fatalf("first claim: %+v, created %v, %v; want created, pending", got, created, err)
		}
		want := launch.RelaunchClaim{TaskARN: stoppedARN, RequestID: req, Chunk: 2, State: launch.RelaunchPending}
		other := launch.RelaunchClaim{TaskARN: stoppedARN, RequestID: "req-2", Chunk: 7}
		got, created, err = st.ClaimRelaunch(ctx, other, t0.Add(2*time.Hour))
		if err != nil || created || !reflect.DeepEqual(got, want) {
			t.Fatalf("second claim: %+v, created %v, %v; want the stored claim %+v", got, created, err, want)
		}
	})
	// The stored claim, as a later ClaimRelaunch returns it, after each write
	// to the relaunch item.
	slot := t0.Add(42*time.Second + 5).In(time.FixedZone("UTC+3", 3*3600))
	for name, c := range map[string]struct {
		write func(st launchstore.Store) error
		want  launch.RelaunchClaim
	}{
		"slot held": {func(st launchstore.Store) error { return st.SetRelaunchSlot(ctx, stoppedARN, slot) },
			launch.RelaunchClaim{State: launch.RelaunchPending, SlotAt: slot}},
		"slot given back": {func(st launchstore.Store) error {
			if err := st.SetRelaunchSlot(ctx, stoppedARN, slot); err != nil {
				return err
			}
			return st.SetRelaunchSlot(ctx, stoppedARN, time.Time{})
		}, launch.RelaunchClaim{State: launch.RelaunchPending}},
		"token advanced": {func(st launchstore.Store) error { return st.AdvanceRelaunchToken(ctx, stoppedARN, 0, 0) },
			launch.RelaunchClaim{State: launch.RelaunchPending, Gen: 1}},
		"relaunched": {func(st launchstore.Store) error { return st.FinishRelaunch(ctx, mine, "arn:new", time.Time{}) },
			launch.RelaunchClaim{State: launch.RelaunchDone, NewARN: "arn:new"}},
		"given up": {func(st launchstore.Store) error { return st.GiveUpRelaunch(ctx, mine, "budget spent") },
			launch.RelaunchClaim{State: launch.RelaunchGaveUp}},
	} {
		t.Run("ClaimAfter/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			if _, _, err := st.ClaimRelaunch(ctx, mine, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			must(t, c.write(st))
			want := c.want
			want.TaskARN, want.RequestID, want.Chunk = stoppedARN, req, 2
			got := claim(t, st, stoppedARN)
			if !got.SlotAt.Equal(want.SlotAt) {
				t.Fatalf("stored claim: slot at %v, want %v", got.SlotAt, want.SlotAt)
			}
			if got.SlotAt = want.SlotAt; !reflect.DeepEqual(got, want) {
				t.Fatalf("stored claim %+v, want %+v", got, want)
			}
		})
	}
	// A write to the relaunch item before any claim creates the item: the
	// claim then finds it (and none of the claim's fields).
	t.Run("WriteBeforeClaim", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		must(t, st.SetRelaunchUnsettled(ctx, stoppedARN, t0))
		got := claim(t, st, stoppedARN)
		if got.RequestID != "" || got.State != "" || got.Gen != 0 {
			t.Fatalf("claim after an unsettled mark: %+v, want an empty stored claim", got)
		}
	})
	// AdvanceRelaunchToken is a compare-and-set from gen: a stale (or
	// future) generation changes nothing, the unsettled mark included.
	t.Run("AdvanceToken", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if _, _, err := st.ClaimRelaunch(ctx, mine, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			unsettle bool // mark the claim unsettled first
			from     int
			gen      int
			settled  bool
		}{
			{true, 0, 1, true},
			{true, 0, 1, false}, // stale
			{false, 1, 2, true},
			{true, 3, 2, false}, // ahead
			{true, 1, 2, false}, // stale
			{true, 2, 3, true},
		}
		for i, s := range steps {
			if s.unsettle {
				must(t, st.SetRelaunchUnsettled(ctx, stoppedARN, t0.Add(time.Duration(i)*time.Second)))
			}
			must(t, st.AdvanceRelaunchToken(ctx, stoppedARN, s.from, 0))
			u, err := st.RelaunchUnsettled(ctx, stoppedARN)
			must(t, err)
			if got := claim(t, st, stoppedARN); got.Gen != s.gen || u == s.settled {
				t.Fatalf("step %d, advance from %d: generation %d unsettled %v; want %d, unsettled %v", i, s.from, got.Gen, u, s.gen, !s.settled)
			}
		}
	})
	// Once a chunk's give-up has begun, a task it never recorded cannot
	// join it (its unit is among the missing ones counted then); a
	// recorded task's relaunch still registers.
	t.Run("GiveUpFence", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 2, rec(1, "a"))
		finish(t, st, req, 2, 1, "arn:t1")
		snap, err := st.BeginGiveUp(ctx, req, 2)
		must(t, err)
		if !sameSet(snap.IDs, []string{"arn:t1"}) {
			t.Fatalf("snapshot ids %q, want arn:t1", snap.IDs)
		}
		if _, err := st.RegisterRelaunch(ctx, req, 2, "arn:hidden"); !errors.Is(err, launchstore.ErrFenced) {
			t.Fatalf("an unrecorded task after the give-up began: %v, want ErrFenced", err)
		}
		if _, err := st.RegisterRelaunch(ctx, req, 2, "arn:t1"); err != nil {
			t.Fatalf("a recorded task: %v", err)
		}
		if got := chunk(t, st, req, 2); !sameSet(got.IDs, []string{"arn:t1"}) || !sameSet(got.Relaunching, []string{"arn:t1"}) {
			t.Fatalf("ids %q relaunching %q: want arn:t1 in both, nothing else", got.IDs, got.Relaunching)
		}
	})
	// Sends are fenced by generation: a delivery that read generation 0
	// cannot claim a send once another advanced it; and an advance after a
	// send of its own is refused once another delivery claimed a later send
	// of the same token (that send's answer decides).
	t.Run("SendFence", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if _, _, err := st.ClaimRelaunch(ctx, mine, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		first, err := st.ClaimRelaunchSend(ctx, stoppedARN, 0)
		must(t, err)
		second, err := st.ClaimRelaunchSend(ctx, stoppedARN, 0)
		must(t, err)
		if first != 1 || second != 2 {
			t.Fatalf("sends %d, %d: want 1, 2", first, second)
		}
		must(t, st.AdvanceRelaunchToken(ctx, stoppedARN, 0, first))
		if got := claim(t, st, stoppedARN); got.Gen != 0 {
			t.Fatalf("advance after a later send: generation %d, want 0", got.Gen)
		}
		must(t, st.AdvanceRelaunchToken(ctx, stoppedARN, 0, second))
		if got := claim(t, st, stoppedARN); got.Gen != 1 {
			t.Fatalf("advance by the last send: generation %d, want 1", got.Gen)
		}
		if _, err := st.ClaimRelaunchSend(ctx, stoppedARN, 0); !errors.Is(err, launchstore.ErrFenced) {
			t.Fatalf("a send of generation 0 after the advance: %v, want ErrFenced", err)
		}
		if n, err := st.ClaimRelaunchSend(ctx, stoppedARN, 1); err != nil || n != 3 {
			t.Fatalf("a send of generation 1: %d, %v; want 3", n, err)
		}
	})
	// The unsettled mark keeps the time of the first call so marked (the
	// start of its token's replay window) until it is cleared, by a zero
	// time or by a token advance; the next mark starts a new window.
	t.Run("Unsettled", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if _, _, err := st.ClaimRelaunch(ctx, mine, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
		steps := []struct {
			mark    time.Time // zero clears
			advance bool      // AdvanceRelaunchToken instead of a mark
			want    bool
			since   time.Time
		}{
			{mark: at(1), want: true, since: at(1)},
			{mark: at(5), want: true, since: at(1)}, // a re-send keeps the first time
			{mark: time.Time{}, want: false},
			{mark: at(9), want: true, since: at(9)},
			{mark: at(12).In(time.FixedZone("UTC+3", 3*3600)), want: true, since: at(9)},
			{advance: true, want: false},
			{mark: at(20), want: true, since: at(20)},
		}
		for i, s := range steps {
			if s.advance {
				c := claim(t, st, stoppedARN)
				must(t, st.AdvanceRelaunchToken(ctx, stoppedARN, c.Gen, 0))
			} else {
				must(t, st.SetRelaunchUnsettled(ctx, stoppedARN, s.mark))
			}
			got, since, err := st.RelaunchUnsettledSince(ctx, stoppedARN)
			if u, uerr := st.RelaunchUnsettled(ctx, stoppedARN); uerr != nil || u != got {
				t.Fatalf("step %d: RelaunchUnsettled %v, %v; RelaunchUnsettledSince %v", i, u, uerr, got)
			}
			if err != nil || got != s.want || !since.Equal(s.since) {
				t.Fatalf("step %d: RelaunchUnsettled %v since %v, %v; want %v since %v", i, got, since, err, s.want, s.since)
			}
		}
	})
	t.Run("Charge", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		for i, want := range []bool{true, true, true, false, false} {
			if ok, err := st.ChargeRelaunch(ctx, req, 2, 3); err != nil || ok != want {
				t.Fatalf("charge %d of 3: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if ok, err := st.ChargeRelaunch(ctx, req, 2, 4); err != nil || !ok {
			t.Fatalf("charge with a larger budget: %v, %v; want ok", ok, err)
		}
		if ok, err := st.ChargeRelaunch(ctx, req, 3, 1); err != nil || !ok {
			t.Fatalf("charge of another chunk: %v, %v; want ok", ok, err)
		}
		if got := chunk(t, st, req, 2); got.Relaunches != 4 {
			t.Fatalf("relaunches %d, want 4", got.Relaunches)
		}
	})
	testRelaunchTransitions(t, newStore)
}

// testRelaunchTransitions: what Chunk and Chunks report about a chunk of
// three tasks after RegisterRelaunch, FinishRelaunch and GiveUpRelaunch.
func testRelaunchTransitions(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t1, t2, t3 := stoppedARN, "arn:t2", "arn:t3"
	c := launch.RelaunchClaim{TaskARN: t1, RequestID: req, Chunk: 2, State: launch.RelaunchPending}
	type step = func(launchstore.Store) error
	register := func(st launchstore.Store) error { _, err := st.RegisterRelaunch(ctx, req, 2, t1); return err }
	registerHidden := func(st launchstore.Store) error { _, err := st.RegisterRelaunch(ctx, req, 2, "arn:hidden"); return err }
	relaunch := func(st launchstore.Store) error { return st.FinishRelaunch(ctx, c, "arn:t4", time.Time{}) }
	giveUp := func(reason string) step {
		return func(st launchstore.Store) error { return st.GiveUpRelaunch(ctx, c, reason) }
	}
	type want struct {
		ids, stopped, relaunching               []string
		lost, pending, launched, settled, units int
		lostReason                              string
	}
	for name, tc := range map[string]struct {
		steps []step
		want  want
	}{
		"registered":             {[]step{register}, want{[]string{t1, t2, t3}, nil, []string{t1}, 0, 1, 3, 2, 0, ""}},
		"registered twice":       {[]step{register, register}, want{[]string{t1, t2, t3}, nil, []string{t1}, 0, 1, 3, 2, 0, ""}},
		"relaunched":             {[]step{register, relaunch}, want{[]string{t1, t2, t3, "arn:t4"}, []string{t1}, []string{t1}, 0, 0, 3, 3, 0, ""}},
		"relaunched twice":       {[]step{register, relaunch, relaunch}, want{[]string{t1, t2, t3, "arn:t4"}, []string{t1}, []string{t1}, 0, 0, 3, 3, 0, ""}},
		"given up":               {[]step{register, giveUp("budget")}, want{[]string{t1, t2, t3}, []string{t1}, []string{t1}, 1, 0, 2, 2, 1, "budget"}},
		"given up twice":         {[]step{register, giveUp("budget"), giveUp("deadline")}, want{[]string{t1, t2, t3}, []string{t1}, []string{t1}, 1, 0, 2, 2, 1, "deadline"}},
		"unregistered, given up": {[]step{giveUp("permanent")}, want{[]string{t1, t2, t3}, []string{t1}, nil, 1, 0, 2, 2, 1, "permanent"}},
		// A task the chunk launched but never recorded (its answer lost)
		// joins ids when its TaskFailedToStart registers a relaunch.
		"unrecorded, registered": {[]step{registerHidden}, want{[]string{t1, t2, t3, "arn:hidden"}, nil, []string{"arn:hidden"}, 0, 1, 4, 3, 0, ""}},
		// Not counted lost (the task is in stoppedIds already), but the lost
		// record is written before that check, so Chunks reports it.
		"relaunched, then given up": {[]step{register, relaunch, giveUp("late")}, want{[]string{t1, t2, t3, "arn:t4"}, []string{t1}, []string{t1}, 0, 0, 3, 3, 1, "late"}},
		// Given up first (its unit dead-lettered): a late record of the
		// relaunch's task does not count it on top.
		"given up, then relaunched": {[]step{register, giveUp("unknown"), relaunch}, want{[]string{t1, t2, t3}, []string{t1}, []string{t1}, 1, 0, 2, 2, 1, "unknown"}},
	} {
		t.Run("Transitions/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			begin(t, st, req, 2, rec(1, "a"))
			finish(t, st, req, 2, 1, t1, t2, t3)
			begin(t, st, req, 3, rec(1, "b")) // a neighbour that must not change
			for _, s := range tc.steps {
				must(t, s(st))
			}
			byIndex, lost := chunks(t, st, req)
			got, w := byIndex[2], tc.want
			if !sameSet(got.IDs, w.ids) || !sameSet(got.Stopped, w.stopped) || !sameSet(got.Relaunching, w.relaunching) || got.Lost != w.lost {
				t.Errorf("chunk: ids %q stopped %q relaunching %q lost %d; want %q %q %q %d", got.IDs, got.Stopped, got.Relaunching, got.Lost, w.ids, w.stopped, w.relaunching, w.lost)
			}
			if got.PendingRelaunches() != w.pending || got.Launched() != w.launched || got.Settled() != w.settled {
				t.Errorf("pending %d launched %d settled %d; want %d %d %d", got.PendingRelaunches(), got.Launched(), got.Settled(), w.pending, w.launched, w.settled)
			}
			if one := chunk(t, st, req, 2); !reflect.DeepEqual(one, got) {
				t.Errorf("Chunk %+v differs from Chunks' %+v", one, got)
			}
			var wantLost []launch.LostRecord
			if w.units > 0 {
				wantLost = []launch.LostRecord{{Chunk: 2, Reason: w.lostReason, Units: w.units}}
			}
			if len(lost) != len(wantLost) || len(lost) > 0 && lost[0] != wantLost[0] {
				t.Errorf("lost records %+v, want %+v", lost, wantLost)
			}
			if n := byIndex[3]; len(byIndex) != 2 || len(n.IDs)+len(n.Stopped)+len(n.Relaunching)+n.Lost != 0 {
				t.Errorf("chunks %+v: want chunks 2 and 3, chunk 3 untouched", byIndex)
			}
		})
	}
}
