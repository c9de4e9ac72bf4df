package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

const req = "req-1"

func testAttempts(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("AttemptKeepsItsIDsInOrder", func(t *testing.T) {
		// The unit index of a task derives from its position in its
		// attempt's ids (launch.RefFromChunk): a set would lose it.
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "tok-1"))
		begin(t, st, req, 0, rec(2, "tok-2"))
		ids := []string{"task-z", "task-a", "task-m"}
		finish(t, st, req, 0, 1, ids...)
		_, err := st.SettleAttempt(ctx, req, 0, 2, 0, []string{"task-q", "task-b"}, "OutcomeUnknown", t0)
		must(t, err)
		c := chunk(t, st, req, 0)
		if got := c.Attempts[1].IDs; !reflect.DeepEqual(got, ids) {
			t.Errorf("attempt 1 ids %v, want %v", got, ids)
		}
		if got := c.Attempts[2].IDs; !reflect.DeepEqual(got, []string{"task-q", "task-b"}) {
			t.Errorf("attempt 2 ids %v, want [task-q task-b]", got)
		}
	})
	t.Run("BeginRecordsASentAttempt", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		in := launch.AttemptRecord{Attempt: 1, Count: 7, Token: "tok-1", StartedBy: "th/0123456789ab/2/1",
			InstanceType: "c7g.large", Subnet: "subnet-a", State: launch.AttemptDone, Launched: 0,
			Failures: []launch.Failure{{Reason: "RESOURCE:CPU"}}, Code: "Stale"}
		// Stored as sent, without an answer's failures or code.
		want := in
		want.State, want.Failures, want.Code = launch.AttemptSent, nil, ""
		got := begin(t, st, req, 2, in)
		if got.Index != 2 || !reflect.DeepEqual(got.Attempts, map[int]launch.AttemptRecord{1: want}) {
			t.Fatalf("BeginAttempt: chunk %d attempts %+v, want chunk 2 attempts {1: %+v}", got.Index, got.Attempts, want)
		}
		if read := chunk(t, st, req, 2); !reflect.DeepEqual(read, got) {
			t.Fatalf("Chunk after BeginAttempt: %+v, want %+v", read, got)
		}
	})
	// BeginAttempt on an attempt already recorded keeps the earlier record,
	// whatever happened to it, and returns it: its parameters must be reused.
	for name, c := range map[string]struct {
		then  func(t *testing.T, st launchstore.Store)
		state string
		code  string
	}{
		"sent":     {func(*testing.T, launchstore.Store) {}, launch.AttemptSent, ""},
		"answered": {func(t *testing.T, st launchstore.Store) { finish(t, st, req, 0, 1, "task-1") }, launch.AttemptDone, ""},
		"refused": {func(t *testing.T, st launchstore.Store) {
			claimSend(t, st, 0, 1, 0)
			must(t, st.FailAttempt(ctx, req, 0, 1, 1, "Capacity"))
		}, launch.AttemptFailed, "Capacity"},
		"refused, resent": {func(t *testing.T, st launchstore.Store) {
			claimSend(t, st, 0, 1, 0)
			must(t, st.FailAttempt(ctx, req, 0, 1, 1, "Capacity"))
			claimSend(t, st, 0, 1, 1)
		}, launch.AttemptSent, "Capacity"},
	} {
		t.Run("BeginAgainKeepsTheRecord/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			first := rec(1, "tok-first")
			first.InstanceType = "c7g.large"
			begin(t, st, req, 0, first)
			c.then(t, st)
			again := rec(1, "tok-second")
			again.Count, again.Subnet = 3, "subnet-b"
			got := begin(t, st, req, 0, again).Attempts[1]
			want := first
			want.State, want.Code = c.state, c.code
			if c.state == launch.AttemptDone {
				want.Launched, want.IDs = 1, []string{"task-1"}
			}
			if c.code != "" {
				want.Sends, want.SentAt = 1, t0
				if c.state == launch.AttemptSent {
					want.Sends = 2
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("BeginAttempt again returned %+v, want the earlier record %+v", got, want)
			}
			if read := chunk(t, st, req, 0).Attempts[1]; !reflect.DeepEqual(read, want) {
				t.Fatalf("Chunk: attempt %+v, want %+v", read, want)
			}
		})
	}
	t.Run("BeginAnotherAttempt", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		finish(t, st, req, 0, 1, "task-1")
		got := begin(t, st, req, 0, rec(2, "b"))
		if len(got.Attempts) != 2 || got.Attempts[1].State != launch.AttemptDone || got.Attempts[2].Token != "b" {
			t.Fatalf("attempts %+v: want 1 done and 2 sent", got.Attempts)
		}
		if u, ok := got.Unsettled(); !ok || u.Attempt != 2 {
			t.Fatalf("Unsettled() = %+v, %v; want attempt 2", u, ok)
		}
	})
	// FinishAttempt: the launched ids join the chunk's set once however often
	// an answer is recorded; the attempt's own count is its last answer.
	for name, c := range map[string]struct {
		answers  [][]string // of attempt 1, then of attempt 2 if more
		attempts int
		wantIDs  []string
		launched int // of the last attempt
	}{
		"first answer":               {[][]string{{"t1", "t2"}}, 1, []string{"t1", "t2"}, 2},
		"replayed answer":            {[][]string{{"t1", "t2"}, {"t1", "t2"}}, 1, []string{"t1", "t2"}, 2},
		"overlapping answer":         {[][]string{{"t1", "t2"}, {"t2", "t3"}}, 1, []string{"t1", "t2", "t3"}, 2},
		"nothing launched":           {[][]string{{}}, 1, nil, 0},
		"nothing, then a replay":     {[][]string{{"t1"}, nil}, 1, []string{"t1"}, 0},
		"two attempts share the set": {[][]string{{"t1"}, {"t1", "t2"}}, 2, []string{"t1", "t2"}, 2},
	} {
		t.Run("Finish/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			var got launch.ChunkState
			for i, ids := range c.answers {
				a := min(i+1, c.attempts)
				begin(t, st, req, 0, rec(a, "tok"))
				got = finish(t, st, req, 0, a, ids...)
			}
			last := got.Attempts[c.attempts]
			if !sameSet(got.IDs, c.wantIDs) || last.State != launch.AttemptDone || last.Launched != c.launched {
				t.Fatalf("FinishAttempt: ids %q, attempt %+v; want ids %q, done, launched %d", got.IDs, last, c.wantIDs, c.launched)
			}
			if read := chunk(t, st, req, 0); !reflect.DeepEqual(read, got) {
				t.Fatalf("Chunk: %+v, want FinishAttempt's answer %+v", read, got)
			}
		})
	}
	t.Run("FinishKeepsFailures", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		fs := []launch.Failure{{Reason: "RESOURCE:MEMORY", Detail: "d", ARN: "arn:x"}, {Reason: "AGENT"}}
		got, err := st.FinishAttempt(ctx, req, 0, 1, []string{"t1"}, fs, time.Time{})
		must(t, err)
		if !reflect.DeepEqual(got.Attempts[1].Failures, fs) {
			t.Fatalf("failures %+v, want %+v", got.Attempts[1].Failures, fs)
		}
		// A replay answers again: its failures replace the first ones.
		got, err = st.FinishAttempt(ctx, req, 0, 1, []string{"t1"}, nil, time.Time{})
		must(t, err)
		if len(got.Attempts[1].Failures) != 0 {
			t.Fatalf("failures after a replay without any: %+v", got.Attempts[1].Failures)
		}
	})
	t.Run("FailThenResend", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		claimSend(t, st, 0, 1, 0)
		steps := []struct {
			do          func() error
			state, code string
		}{
			{func() error { return st.FailAttempt(ctx, req, 0, 1, 1, "InsufficientCapacity") }, launch.AttemptFailed, "InsufficientCapacity"},
			{func() error { _, err := st.ClaimSend(ctx, req, 0, 1, 1, t0); return err }, launch.AttemptSent, "InsufficientCapacity"},
			{func() error { _, err := st.FinishAttempt(ctx, req, 0, 1, []string{"t1"}, nil, time.Time{}); return err }, launch.AttemptDone, "InsufficientCapacity"},
		}
		for i, s := range steps {
			must(t, s.do())
			if got := chunk(t, st, req, 0).Attempts[1]; got.State != s.state || got.Code != s.code {
				t.Fatalf("step %d: attempt %+v, want state %s code %q", i, got, s.state, s.code)
			}
		}
	})
	// Finish, Fail, ClaimSend and Settle need the attempt begun: otherwise the write's
	// condition fails, as an error, and nothing is written.
	for name, op := range map[string]func(st launchstore.Store, chunk, attempt int) error{
		"FinishAttempt": func(st launchstore.Store, c, a int) error {
			_, err := st.FinishAttempt(ctx, req, c, a, []string{"t9"}, nil, time.Time{})
			return err
		},
		"FailAttempt": func(st launchstore.Store, c, a int) error { return st.FailAttempt(ctx, req, c, a, 1, "X") },
		"ClaimSend": func(st launchstore.Store, c, a int) error {
			_, err := st.ClaimSend(ctx, req, c, a, 0, t0)
			return err
		},
		"NoteUnsettled": func(st launchstore.Store, c, a int) error { return st.NoteUnsettled(ctx, req, c, a, 1, "X") },
		"SettleAttempt": func(st launchstore.Store, c, a int) error {
			_, err := st.SettleAttempt(ctx, req, c, a, 1, nil, "X", time.Time{})
			return err
		},
	} {
		t.Run("NotBegun/"+name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			begin(t, st, req, 0, rec(1, "a"))
			before, _ := chunks(t, st, req)
			for _, at := range []struct{ chunk, attempt int }{{0, 2}, {1, 1}} {
				if err := op(st, at.chunk, at.attempt); !isConditionFailed(err) {
					t.Fatalf("chunk %d attempt %d never begun: got %v, want a failed condition", at.chunk, at.attempt, err)
				}
			}
			if after, _ := chunks(t, st, req); !reflect.DeepEqual(after, before) {
				t.Fatalf("chunks after the refused writes: %+v, want %+v", after, before)
			}
		})
	}
	t.Run("AnswerNamingAnIDTwice", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		before := begin(t, st, req, 0, rec(1, "a"))
		if _, err := st.FinishAttempt(ctx, req, 0, 1, []string{"t1", "t1"}, nil, time.Time{}); err == nil {
			t.Fatal("FinishAttempt with ids [t1 t1]: nil error, want DynamoDB's refusal of a set with duplicates")
		}
		if got := chunk(t, st, req, 0); !reflect.DeepEqual(got, before) {
			t.Fatalf("chunk after the refused answer: %+v, want %+v", got, before)
		}
	})
	t.Run("AddRetryCounts", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		for want := 1; want <= 3; want++ {
			if got, err := st.AddRetry(ctx, req, 4); err != nil || got != want {
				t.Fatalf("AddRetry: %d, %v; want %d", got, err, want)
			}
		}
		if got, err := st.AddRetry(ctx, req, 5); err != nil || got != 1 {
			t.Fatalf("AddRetry of another chunk: %d, %v; want 1", got, err)
		}
		if got := chunk(t, st, req, 4); got.Retries != 3 {
			t.Fatalf("Chunk: retries %d, want 3", got.Retries)
		}
	})
	// Chunks lists the request's chunk items by index, and its lost
	// relaunches, not another request's (not even one whose id extends it).
	t.Run("ChunksOfOneRequest", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		for _, i := range []int{7, 0, 3} {
			if _, err := st.AddRetry(ctx, "r", i); err != nil {
				t.Fatal(err)
			}
		}
		begin(t, st, "r1", 1, rec(1, "x"))
		begin(t, st, "other", 2, rec(1, "y"))
		for _, c := range []launch.RelaunchClaim{{TaskARN: "arn:b", RequestID: "r", Chunk: 3}, {TaskARN: "arn:a", RequestID: "r", Chunk: 0}, {TaskARN: "arn:c", RequestID: "r1", Chunk: 1}} {
			must(t, st.GiveUpRelaunch(ctx, c, "gone"))
		}
		cs, lost, err := st.Chunks(ctx, "r")
		must(t, err)
		var idx, lostIdx []int
		for _, c := range cs {
			idx = append(idx, c.Index)
		}
		for _, l := range lost {
			lostIdx = append(lostIdx, l.Chunk)
		}
		if !reflect.DeepEqual(idx, []int{0, 3, 7}) || !reflect.DeepEqual(lostIdx, []int{0, 3}) {
			t.Fatalf("Chunks of r: chunks %v, lost %v; want chunks [0 3 7], lost [0 3]", idx, lostIdx)
		}
	})
	t.Run("ReturnedStateIsACopy", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 0, rec(1, "a"))
		got, err := st.FinishAttempt(ctx, req, 0, 1, []string{"t1", "t2"}, []launch.Failure{{Reason: "AGENT"}}, time.Time{})
		must(t, err)
		want := chunk(t, st, req, 0)
		for _, c := range []launch.ChunkState{got, want} {
			if len(c.IDs) != 2 || len(c.Attempts[1].Failures) != 1 {
				t.Fatalf("chunk %+v: want 2 ids and attempt 1 with 1 failure", c)
			}
			c.IDs[0] = "changed"
			c.Attempts[1].Failures[0].Reason = "changed"
			c.Attempts[2] = launch.AttemptRecord{Attempt: 2}
		}
		if again := chunk(t, st, req, 0); !sameSet(again.IDs, []string{"t1", "t2"}) ||
			again.Attempts[1].Failures[0].Reason != "AGENT" || len(again.Attempts) != 1 {
			t.Fatalf("changing a returned chunk changed the store: %+v", again)
		}
	})
}

func testGiveUp(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("OnlyTheFirstCounts", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		calls := []struct {
			missing            int
			class, code, cause string
			first              bool
		}{
			{4, "capacity", "InsufficientInstanceCapacity", "attempts spent", true},
			{4, "capacity", "InsufficientInstanceCapacity", "attempts spent", false},
			{9, "throttled", "ThrottlingException", "deadline", false},
		}
		for i, c := range calls {
			first, err := st.GiveUp(ctx, req, 3, c.missing, c.class, c.code, c.cause)
			if err != nil || first != c.first {
				t.Fatalf("GiveUp %d: first %v, %v; want %v", i, first, err, c.first)
			}
		}
		got := chunk(t, st, req, 3)
		if !got.GaveUp || got.DeadLettered != 4 || got.Class != "capacity" || got.Code != "InsufficientInstanceCapacity" || got.Reason != "attempts spent" {
			t.Fatalf("chunk %+v: want given up once, 4 dead-lettered, the first call's class, code and reason", got)
		}
	})
	t.Run("KeepsTheChunk", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		begin(t, st, req, 1, rec(1, "a"))
		finish(t, st, req, 1, 1, "t1")
		if _, err := st.AddRetry(ctx, req, 1); err != nil {
			t.Fatal(err)
		}
		first, err := st.GiveUp(ctx, req, 1, 9, "transient", "ServerException", "attempts spent")
		if err != nil || !first {
			t.Fatalf("GiveUp: %v, %v", first, err)
		}
		got := chunk(t, st, req, 1)
		if !sameSet(got.IDs, []string{"t1"}) || got.Retries != 1 || got.Attempts[1].State != launch.AttemptDone || got.Launched() != 1 {
			t.Fatalf("chunk after GiveUp: %+v; want its ids, retries and attempts kept", got)
		}
	})
}
