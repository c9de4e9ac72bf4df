package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// testQuotaGate: a probe is granted the first time, then only once every
// interval or once per stop counted since the last grant; of concurrent
// claimers exactly one wins.
func testQuotaGate(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	const every = 30 * time.Second
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type step struct {
		stops int     // NoteTaskStopped calls before the claim
		at    float64 // claim time, s after t0
		ok    bool
	}
	for name, tc := range map[string]struct {
		steps []step
		want  launch.QuotaGate
	}{
		"first probe": {[]step{{0, 0, true}}, launch.QuotaGate{Probes: 1, ProbedAt: at(0)}},
		"within every": {[]step{{0, 0, true}, {0, 1, false}, {0, 29.999, false}},
			launch.QuotaGate{Probes: 1, ProbedAt: at(0)}},
		"after every": {[]step{{0, 0, true}, {0, 30, true}, {0, 45, false}, {0, 61, true}},
			launch.QuotaGate{Probes: 3, ProbedAt: at(61)}},
		"a stop grants one": {[]step{{0, 0, true}, {1, 1, true}, {0, 2, false}, {2, 3, true}, {0, 4, false}},
			launch.QuotaGate{Stops: 3, ProbeStops: 3, Probes: 3, ProbedAt: at(3)}},
		"stops before the first probe": {[]step{{2, 0, true}, {0, 1, false}},
			launch.QuotaGate{Stops: 2, ProbeStops: 2, Probes: 1, ProbedAt: at(0)}},
		"fractions of a second": {[]step{{0, 0.5, true}, {0, 30.4, false}, {0, 30.5, true}},
			launch.QuotaGate{Probes: 2, ProbedAt: at(30.5)}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			for k, s := range tc.steps {
				for range s.stops {
					must(t, st.NoteTaskStopped(ctx, req))
				}
				ok, err := st.ClaimQuotaProbe(ctx, req, at(s.at), every)
				must(t, err)
				if ok != s.ok {
					t.Fatalf("step %d: claim at %gs: %v, want %v", k, s.at, ok, s.ok)
				}
			}
			assertGate(t, st, tc.want)
		})
	}
	testQuotaGateEdges(t, newStore)
}

// testQuotaGateEdges: the gate's zero value, stops alone, and one winner
// among concurrent claimers.
func testQuotaGateEdges(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	t.Run("absent", func(t *testing.T) {
		t.Parallel()
		assertGate(t, newStore(t), launch.QuotaGate{})
	})
	t.Run("stops only", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		must(t, st.NoteTaskStopped(ctx, req))
		must(t, st.NoteTaskStopped(ctx, req))
		assertGate(t, st, launch.QuotaGate{Stops: 2})
	})
	t.Run("concurrent claimers", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		got := race(t, func(int) (bool, error) { return st.ClaimQuotaProbe(ctx, req, t0, 30*time.Second) })
		if n := count(got, func(ok bool) bool { return ok }); n != 1 {
			t.Fatalf("%d of %d concurrent claims granted, want exactly one", n, racers)
		}
		assertGate(t, st, launch.QuotaGate{Probes: 1, ProbedAt: t0})
	})
}

func assertGate(t *testing.T, st launchstore.Store, want launch.QuotaGate) {
	t.Helper()
	g, err := st.QuotaGate(context.Background(), req)
	must(t, err)
	if g.Stops != want.Stops || g.ProbeStops != want.ProbeStops || g.Probes != want.Probes || !g.ProbedAt.Equal(want.ProbedAt) {
		t.Fatalf("QuotaGate %+v, want %+v", g, want)
	}
}

// testQuotaWait: a chunk's quota wait reads back through Chunk and
// Chunks, a zero time clears it, and neither touches the chunk's attempts.
func testQuotaWait(t *testing.T, newStore storeFunc) {
	ctx := context.Background()
	since := t0.Add(1500 * time.Millisecond)
	for name, tc := range map[string]struct {
		sets []time.Time
		want time.Time
	}{
		"set":              {[]time.Time{since}, since},
		"set again":        {[]time.Time{since, since.Add(time.Minute)}, since.Add(time.Minute)},
		"cleared":          {[]time.Time{since, {}}, time.Time{}},
		"cleared, not set": {[]time.Time{{}}, time.Time{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			begin(t, st, req, 0, rec(1, "a"))
			for _, at := range tc.sets {
				must(t, st.SetQuotaWait(ctx, req, 0, at))
			}
			c := chunk(t, st, req, 0)
			if !c.QuotaWaitSince.Equal(tc.want) || len(c.Attempts) != 1 {
				t.Fatalf("Chunk: QuotaWaitSince %v, %d attempts; want %v, 1", c.QuotaWaitSince, len(c.Attempts), tc.want)
			}
			all, _ := chunks(t, st, req)
			if got := all[0].QuotaWaitSince; !got.Equal(tc.want) {
				t.Fatalf("Chunks: QuotaWaitSince %v, want %v", got, tc.want)
			}
		})
	}
}
