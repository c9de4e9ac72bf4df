package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// taskARN is the ARN of task i of the jobs tests.
func taskARN(i int) string {
	return fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/jobs/%04x", i)
}

// ref is the launcher's reference of task i: unit i, attempt 1.
func ref(i int) launch.TaskRef {
	return launch.TaskRef{ARN: taskARN(i), Chunk: i, Index: i, Attempt: 1, LaunchedAt: t0.Add(time.Duration(i) * time.Second)}
}

// obs is an observation of task i in status at event version v.
func obs(i int, status string, v int64) launch.TaskObservation {
	o := launch.TaskObservation{ARN: taskARN(i), LastStatus: status, Version: v, ObservedAt: t0.Add(time.Duration(v) * time.Second)}
	switch status {
	case "RUNNING":
		o.StartedAt = t0.Add(time.Minute)
	case "STOPPED":
		o.StartedAt, o.StoppedAt = t0.Add(time.Minute), t0.Add(time.Hour)
		o.StopCode, o.StoppedReason, o.ExitCode, o.Reason = "EssentialContainerExited", "Essential container in task exited", new(int(v)), "exit "+fmt.Sprint(v)
		o.LogStream = "jobs/main/" + fmt.Sprint(i)
	}
	return o
}

// sameRecord compares records by their JSON (times by instant and zone).
func sameRecord(t *testing.T, what string, got, want launch.TaskRecord) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func task(t *testing.T, st launchstore.Store, arn string) launch.TaskRecord {
	t.Helper()
	rec, err := st.Task(context.Background(), req, arn)
	must(t, err)
	return rec
}

func observe(t *testing.T, st launchstore.Store, o launch.TaskObservation) (launch.TaskRecord, bool) {
	t.Helper()
	rec, adv, err := st.ObserveTask(context.Background(), req, o)
	must(t, err)
	return rec, adv
}

// testItems: items written in batches read back one by one; an index never
// written, or of another request, is ErrNotFound; a repeated write is
// harmless.
func testItems(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	item := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"containerOverrides":[{"name":"main","command":["run","%d"]}]}`, i))
	}
	// 60 items from index 5: three BatchWriteItem calls, the last partial.
	const first, count = 5, 60
	items := make([]json.RawMessage, count)
	for k := range items {
		items[k] = item(first + k)
	}
	for _, repeat := range []int{1, 2} {
		t.Run(fmt.Sprint("written ", repeat, "×"), func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			for range repeat {
				must(t, st.PutItems(ctx, req, first, items))
			}
			for i := first; i < first+count; i++ {
				got, err := st.Item(ctx, req, i)
				must(t, err)
				if string(got) != string(item(i)) {
					t.Fatalf("Item %d: %s, want %s", i, got, item(i))
				}
			}
			for _, miss := range []struct {
				req string
				i   int
			}{{req, first - 1}, {req, first + count}, {"other", first}} {
				if got, err := st.Item(ctx, miss.req, miss.i); !errors.Is(err, launchstore.ErrNotFound) {
					t.Fatalf("Item %s/%d: %s, %v; want ErrNotFound", miss.req, miss.i, got, err)
				}
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		must(t, st.PutItems(ctx, req, 0, nil))
		if _, err := st.Item(ctx, req, 0); !errors.Is(err, launchstore.ErrNotFound) {
			t.Fatalf("Item 0 after writing none: %v, want ErrNotFound", err)
		}
	})
}

// testTaskParts: the launcher's and the tracker's writes leave each
// other's attributes, in either order; a missing record is ErrNotFound.
func testTaskParts(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	r, o := ref(3), obs(3, "RUNNING", 2)
	r.Predecessor = taskARN(1)
	record := func(st launchstore.Store) error { return st.RecordTasks(ctx, req, []launch.TaskRef{r}) }
	observeIt := func(st launchstore.Store) error { _, _, err := st.ObserveTask(ctx, req, o); return err }
	decide := func(st launchstore.Store) error {
		_, _, err := st.DecideTask(ctx, req, r.ARN, launch.OutcomeSucceeded, "exit 0")
		return err
	}
	full := launch.TaskRecord{TaskRef: r, Referenced: true, Observation: o, Outcome: launch.OutcomeSucceeded, Why: "exit 0"}
	for name, steps := range map[string][]func(launchstore.Store) error{
		"record, observe, decide":        {record, observeIt, decide},
		"observe, record, decide":        {observeIt, record, decide},
		"observe, decide, record":        {observeIt, decide, record},
		"decide, observe, record":        {decide, observeIt, record},
		"record twice around the others": {record, observeIt, decide, record},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			if _, err := st.Task(ctx, req, r.ARN); !errors.Is(err, launchstore.ErrNotFound) {
				t.Fatalf("Task before any write: %v, want ErrNotFound", err)
			}
			for _, step := range steps {
				must(t, step(st))
			}
			sameRecord(t, "Task", task(t, st, r.ARN), full)
		})
	}
	testTaskPartsAlone(t, newStore, r, o)
}

// testTaskPartsAlone: a record with only the tracker's part or only the
// launcher's, and many refs recorded by one call.
func testTaskPartsAlone(t *testing.T, newStore storeFunc, r launch.TaskRef, o launch.TaskObservation) {
	ctx := context.Background()
	t.Run("observed only", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		rec, adv := observe(t, st, o)
		want := launch.TaskRecord{TaskRef: launch.TaskRef{ARN: o.ARN}, Observation: o}
		if !adv {
			t.Fatal("first observation: not advanced")
		}
		sameRecord(t, "ObserveTask", rec, want)
		sameRecord(t, "Task", task(t, st, o.ARN), want)
	})
	t.Run("many refs at once", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		var refs []launch.TaskRef
		for i := range 30 {
			refs = append(refs, ref(i))
		}
		must(t, st.RecordTasks(ctx, req, refs))
		got, err := st.Tasks(ctx, req)
		must(t, err)
		if len(got) != len(refs) {
			t.Fatalf("Tasks: %d records, want %d", len(got), len(refs))
		}
		for i := range refs {
			sameRecord(t, fmt.Sprint("Tasks[", i, "]"), got[i], launch.TaskRecord{TaskRef: refs[i], Referenced: true})
		}
	})
	t.Run("referenced only", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		must(t, st.RecordTasks(ctx, req, []launch.TaskRef{r}))
		sameRecord(t, "Task", task(t, st, r.ARN), launch.TaskRecord{TaskRef: r, Referenced: true})
	})
}

// testObserve: an observation is stored only if it is After the stored
// one (rank, then version); the exit code's absence and 0 both round-trip.
func testObserve(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	type step struct {
		status string
		ver    int64
		adv    bool
	}
	for name, tc := range map[string][]step{
		"in order":             {{"PROVISIONING", 1, true}, {"PENDING", 2, true}, {"RUNNING", 3, true}, {"STOPPED", 5, true}},
		"late running":         {{"PENDING", 2, true}, {"STOPPED", 4, true}, {"RUNNING", 9, false}},
		"duplicate":            {{"RUNNING", 3, true}, {"RUNNING", 3, false}},
		"newer version":        {{"RUNNING", 3, true}, {"RUNNING", 4, true}, {"RUNNING", 2, false}},
		"describe after event": {{"STOPPED", 6, true}, {"STOPPED", 0, false}},
		"event after describe": {{"RUNNING", 0, true}, {"RUNNING", 3, true}, {"STOPPED", 0, true}},
		"unknown status first": {{"SOMETHING", 7, true}, {"PENDING", 1, true}, {"SOMETHING", 9, false}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			must(t, st.RecordTasks(ctx, req, []launch.TaskRef{ref(1)}))
			want := launch.TaskRecord{TaskRef: ref(1), Referenced: true}
			for k, s := range tc {
				o := obs(1, s.status, s.ver)
				rec, adv := observe(t, st, o)
				if adv != s.adv {
					t.Fatalf("step %d (%s v%d): advanced %v, want %v", k, s.status, s.ver, adv, s.adv)
				}
				if adv {
					want.Observation = o
				}
				sameRecord(t, fmt.Sprint("ObserveTask step ", k), rec, want)
			}
			sameRecord(t, "Task", task(t, st, taskARN(1)), want)
		})
	}
	t.Run("exit code", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		stopped := func(i int, code *int) launch.TaskObservation {
			o := obs(i, "STOPPED", 1)
			o.ExitCode = code
			return o
		}
		for i, code := range []*int{nil, new(0), new(137), new(-1)} {
			rec, _ := observe(t, st, stopped(i, code))
			sameRecord(t, fmt.Sprint("ObserveTask ", i), rec, launch.TaskRecord{TaskRef: launch.TaskRef{ARN: taskARN(i)}, Observation: stopped(i, code)})
			if got := task(t, st, taskARN(i)).Observation.ExitCode; (got == nil) != (code == nil) || got != nil && *got != *code {
				t.Fatalf("Task %d: exit code %v, want %v", i, got, code)
			}
		}
		// A later observation without an exit code removes the stored one.
		o := stopped(1, nil)
		o.Version = 2
		if rec, adv := observe(t, st, o); !adv || rec.Observation.ExitCode != nil {
			t.Fatalf("later observation without exit code: advanced %v, exit code %v", adv, rec.Observation.ExitCode)
		}
	})
}

// testObserveRace: the same observations delivered by concurrent callers,
// out of order and duplicated, leave the highest; every answer is a state
// at least as high as the caller's own.
func testObserveRace(t *testing.T, newStore storeFunc) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	var all []launch.TaskObservation
	for v, status := range []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"} {
		all = append(all, obs(1, status, int64(v+1)), obs(1, status, int64(v+1)))
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	race(t, func(i int) (struct{}, error) {
		for k := range all {
			o := all[(k+i)%len(all)]
			rec, _, err := st.ObserveTask(ctx, req, o)
			if err != nil {
				return struct{}{}, err
			}
			if o.After(rec.Observation) {
				return struct{}{}, fmt.Errorf("ObserveTask %s v%d answered the earlier %s v%d", o.LastStatus, o.Version, rec.Observation.LastStatus, rec.Observation.Version)
			}
		}
		return struct{}{}, nil
	})
	want := obs(1, "STOPPED", 8)
	sameRecord(t, "Task", task(t, st, taskARN(1)), launch.TaskRecord{TaskRef: launch.TaskRef{ARN: want.ARN}, Observation: want})
}

// testDecide: the first outcome stays; later calls report it with first
// false; of concurrent deciders exactly one is first.
func testDecide(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("once", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		must(t, st.RecordTasks(ctx, req, []launch.TaskRef{ref(1)}))
		want := launch.TaskRecord{TaskRef: ref(1), Referenced: true, Outcome: launch.OutcomeRetried, Why: "exit 1, attempt 1 of 3"}
		rec, first, err := st.DecideTask(ctx, req, taskARN(1), launch.OutcomeRetried, want.Why)
		must(t, err)
		if !first {
			t.Fatal("first DecideTask: first false")
		}
		sameRecord(t, "first DecideTask", rec, want)
		rec, first, err = st.DecideTask(ctx, req, taskARN(1), launch.OutcomeFailed, "")
		must(t, err)
		if first {
			t.Fatal("second DecideTask: first true")
		}
		sameRecord(t, "second DecideTask", rec, want)
		if _, _, err := st.DecideTask(ctx, req, taskARN(2), "", "no outcome"); err == nil {
			t.Fatal("DecideTask with an empty outcome accepted")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		type answer struct {
			rec   launch.TaskRecord
			first bool
		}
		got := race(t, func(i int) (answer, error) {
			rec, first, err := st.DecideTask(ctx, req, taskARN(1), launch.OutcomeFailed, fmt.Sprint("decider ", i))
			return answer{rec, first}, err
		})
		if n := count(got, func(a answer) bool { return a.first }); n != 1 {
			t.Fatalf("%d of %d DecideTask calls first, want exactly one", n, racers)
		}
		w := got[0].rec.Why
		for _, a := range got {
			if a.rec.Why != w || a.rec.Outcome != launch.OutcomeFailed {
				t.Fatalf("DecideTask answered %+v, want every caller to see %q", a.rec, w)
			}
		}
		if rec := task(t, st, taskARN(1)); rec.Why != w {
			t.Fatalf("stored why %q, want the winner's %q", rec.Why, w)
		}
	})
}

// testTasks: Tasks lists every record of the request in ARN order, over
// several pages on DynamoDB (the suite's DynamoDB store pages by a few
// items), and nothing of other requests or other items of the request.
func testTasks(t *testing.T, newStore storeFunc) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	if got, err := st.Tasks(ctx, req); err != nil || len(got) != 0 {
		t.Fatalf("Tasks of no records: %v, %v", got, err)
	}
	const n = 11
	var want []launch.TaskRecord
	for _, i := range rand.Perm(n) {
		if i%2 == 0 {
			must(t, st.RecordTasks(ctx, req, []launch.TaskRef{ref(i)}))
		} else {
			observe(t, st, obs(i, "RUNNING", 3))
		}
	}
	for i := range n {
		if i%2 == 0 {
			want = append(want, launch.TaskRecord{TaskRef: ref(i), Referenced: true})
		} else {
			want = append(want, launch.TaskRecord{TaskRef: launch.TaskRef{ARN: taskARN(i)}, Observation: obs(i, "RUNNING", 3)})
		}
	}
	// Neighbours that are not this request's task records.
	must(t, st.RecordTasks(ctx, "req-0", []launch.TaskRef{ref(99)}))
	must(t, st.RecordTasks(ctx, "req-2", []launch.TaskRef{ref(98)}))
	must(t, st.PutItems(ctx, req, 0, []json.RawMessage{json.RawMessage(`{}`)}))
	must(t, st.NoteTaskStopped(ctx, req))
	must(t, st.SetQuotaWait(ctx, req, 0, t0))
	got, err := st.Tasks(ctx, req)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("Tasks: %d records, want %d", len(got), len(want))
	}
	for k := range want {
		sameRecord(t, fmt.Sprint("Tasks[", k, "]"), got[k], want[k])
	}
}
