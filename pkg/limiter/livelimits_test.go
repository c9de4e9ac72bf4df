package limiter

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// clientStore is one process's client of a shared MemoryStore: it counts
// its reads, sees stored limits only in the answers to its own calls (as a
// DynamoStore does), and can fail or interleave limit writes.
type clientStore struct {
	*MemoryStore
	seen              map[string]StoredLimits
	loads, limitLoads atomic.Int64
	// beforeWrite runs once before the next WriteLimits (a competing set).
	beforeWrite func()
	// failKey fails WriteLimits on that key.
	failKey string
}

func client(m *MemoryStore) *clientStore {
	return &clientStore{MemoryStore: m, seen: map[string]StoredLimits{}}
}

// see records what an answer on key carries.
func (c *clientStore) see(key string) {
	c.MemoryStore.mu.Lock()
	defer c.MemoryStore.mu.Unlock()
	if s, ok := c.MemoryStore.live.item[key]; ok && s.Version > c.seen[key].Version {
		c.seen[key] = s
	}
}

func (c *clientStore) SeenLimits(key string) (StoredLimits, bool) {
	c.MemoryStore.mu.Lock()
	defer c.MemoryStore.mu.Unlock()
	s, ok := c.seen[key]
	return s, ok
}

func (c *clientStore) Take(ctx context.Context, key string, arrive Arrival, debits []Debit) (Item, time.Time, error) {
	defer c.see(key)
	return c.MemoryStore.Take(ctx, key, arrive, debits)
}

func (c *clientStore) Give(ctx context.Context, key string, now time.Time, debits []Debit) (Item, error) {
	defer c.see(key)
	return c.MemoryStore.Give(ctx, key, now, debits)
}

func (c *clientStore) Swap(ctx context.Context, key, bucket string, prev, next BucketState) (bool, Item, error) {
	defer c.see(key)
	return c.MemoryStore.Swap(ctx, key, bucket, prev, next)
}

func (c *clientStore) Load(ctx context.Context, key string) (Item, error) {
	c.loads.Add(1)
	defer c.see(key)
	return c.MemoryStore.Load(ctx, key)
}

func (c *clientStore) LoadLimits(ctx context.Context, key string) (StoredLimits, bool, error) {
	c.limitLoads.Add(1)
	return c.MemoryStore.LoadLimits(ctx, key)
}

func (c *clientStore) WriteLimits(ctx context.Context, key string, prev int64, next StoredLimits, rates map[string]BucketState) error {
	if f := c.beforeWrite; f != nil {
		c.beforeWrite = nil
		f()
	}
	if key == c.failKey {
		return errors.New("injected write failure")
	}
	defer c.see(key)
	return c.MemoryStore.WriteLimits(ctx, key, prev, next, rates)
}

func mustRate(t *testing.T, d *Distributed, bucket string) Limit {
	t.Helper()
	l, err := d.Limit(bucket)
	if err != nil {
		t.Fatal(err)
	}
	return l.Rate
}

var services = []string{"ecs", "ec2"}

// A set reaches a running process through the answer of its next
// acquisition, with no read; that acquisition gives its take back and takes
// again under the new limits.
func TestLiveLimitsApplyAtNextAcquisition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name, doc string
		want      Limit // ecs:FargateTasks rate once applied
	}{
		{"lowered", `{"actions": {"ecs:FargateTasks": {"rate": 5}}}`, 5},
		{"raised", `{"actions": {"ecs:FargateTasks": {"burst": 200, "rate": 40}}}`, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMemoryStore()
			s := client(m)
			fleet, clk := newTestDistributed(t, s, nil)
			cli, _ := newTestDistributed(t, client(m), nil, func(o *Options) { o.Clock = clk })
			take := []Take{{Bucket: ECSFargateTasks, N: 10}}
			if _, err := fleet.Reserve(ctx, "ecs", take); err != nil {
				t.Fatal(err)
			}
			loads := s.loads.Load() + s.limitLoads.Load()
			if _, err := cli.SetLimits(ctx, services, tc.doc, "alice"); err != nil {
				t.Fatal(err)
			}
			if got := mustRate(t, fleet, ECSFargateTasks); got != 20 {
				t.Fatalf("before the next acquisition: rate %v, want the old 20", got)
			}
			clk.Advance(time.Second)
			if _, err := fleet.Reserve(ctx, "ecs", take); err != nil {
				t.Fatal(err)
			}
			if got := mustRate(t, fleet, ECSFargateTasks); got != tc.want {
				t.Fatalf("after the next acquisition: rate %v, want %v", got, tc.want)
			}
			if got := s.loads.Load() + s.limitLoads.Load(); got != loads {
				t.Fatalf("the fleet read the store %d more times: want none", got-loads)
			}
		})
	}
}

// A lowered limit times the very next take at the new rate (the take whose
// answer brings it is given back and made again); booked positions keep
// their time.
func TestLiveLimitsLoweredAppliesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	fleet, clk := newTestDistributed(t, client(s), nil)
	cli, _ := newTestDistributed(t, client(s), nil, func(o *Options) { o.Clock = clk })
	take := []Take{{Bucket: ECSFargateTasks, N: 10}}
	var last Slot
	for range 10 { // the burst (90) and one call beyond: due 0.5 s on
		var err error
		if last, err = fleet.Reserve(ctx, "ecs", take); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.SetLimits(ctx, services, `{"actions": {"ecs:FargateTasks": {"rate": 5}}}`, "alice"); err != nil {
		t.Fatal(err)
	}
	// This answer carries the new document: the take (0.5 s at 20/s) is
	// given back and made again at 5/s (2 s).
	if _, err := fleet.Reserve(ctx, "ecs", take); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Load(ctx, fleet.Key("ecs"))
	if got := st[ECSFargateTasks].TAT.Sub(clk.Now()); got != 7*time.Second {
		t.Fatalf("frontier %v ahead, want 7 s: 10 calls at 20/s, one at 5/s", got)
	}
	if got := st[ECSFargateTasks].Pos; got != 110 {
		t.Fatalf("frontier position %v, want 110 (the take given back)", got)
	}
	if p, _ := last.Position(ECSFargateTasks); p.At != last.At {
		t.Fatalf("a booked position moved")
	}
}

// A raise stores the rate in force as the learned rate from now, in the
// bucket's epoch: it holds, then climbs ×(1+recovery) per second to the new
// ceiling instead of jumping there.
func TestLiveLimitsRaiseProbes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		learned float64 // a decrease's learned rate in force (0: none)
		from    Limit   // the rate the probe starts from
	}{
		{"from the configured rate", 0, 20},
		{"from the learned rate", 12, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewMemoryStore()
			fleet, clk := newTestDistributed(t, client(s), nil)
			cli, _ := newTestDistributed(t, client(s), nil, func(o *Options) { o.Clock = clk })
			key := fleet.Key("ecs")
			if _, err := fleet.Reserve(ctx, "ecs", []Take{{Bucket: ECSFargateTasks, N: 10}}); err != nil {
				t.Fatal(err)
			}
			if tc.learned > 0 {
				item, _ := s.Load(ctx, key)
				prev := item[ECSFargateTasks]
				next := prev
				next.Rate, next.RateAt, next.Epoch = tc.learned, clk.Now().Add(-time.Minute), 1
				if ok, _, err := s.Swap(ctx, key, ECSFargateTasks, prev, next); !ok || err != nil {
					t.Fatalf("swap: %v %v", ok, err)
				}
				// 61 s after the decrease (10 s of hold) the learned rate has grown
				tc.from = Limit(tc.learned * math.Pow(1+defaultRecovery, 51))
			}
			clk.Advance(time.Second)
			now := clk.Now()
			if _, err := cli.SetLimits(ctx, services, `{"actions": {"ecs:FargateTasks": {"burst": 200, "rate": 40}}}`, "alice"); err != nil {
				t.Fatal(err)
			}
			item, _ := s.Load(ctx, key)
			st := item[ECSFargateTasks]
			if math.Abs(st.Rate-float64(tc.from)) > 1e-6 || !st.RateAt.Equal(now) {
				t.Fatalf("learned rate %v at %v, want %v at %v", st.Rate, st.RateAt, tc.from, now)
			}
			if want := int64(map[bool]int64{true: 1, false: 0}[tc.learned > 0]); st.Epoch != want {
				t.Fatalf("epoch %d, want %d (unchanged)", st.Epoch, want)
			}
			if _, err := fleet.Reserve(ctx, "ecs", []Take{{Bucket: ECSFargateTasks, N: 10}}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				after time.Duration
				want  Limit
			}{
				{0, tc.from},
				{probeHold, tc.from},
				{probeHold + 30*time.Second, min(40, tc.from*Limit(math.Pow(1+defaultRecovery, 30)))},
				{probeHold + 200*time.Second, 40},
			} {
				clk.Set(now.Add(c.after))
				got, _ := fleet.Rate("ecs", ECSFargateTasks)
				if math.Abs(float64(got-c.want)) > 1e-6 {
					t.Fatalf("%v after the raise: rate %v, want %v", c.after, got, c.want)
				}
			}
		})
	}
}

// Versions only move forward: an older document an answer carries late
// changes nothing; a reset (no document, newer version) brings back the
// initial limits.
func TestLiveLimitsVersionGateAndReset(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	key := d.Key("ecs")
	steps := []struct {
		s    StoredLimits
		want Limit
	}{
		{StoredLimits{Version: 2, Doc: `{"actions":{"ecs:FargateTasks":{"rate":7}}}`}, 7},
		{StoredLimits{Version: 1, Doc: `{"actions":{"ecs:FargateTasks":{"rate":9}}}`}, 7},
		{StoredLimits{Version: 2, Doc: `{"actions":{"ecs:FargateTasks":{"rate":9}}}`}, 7},
		{StoredLimits{Version: 3, Doc: `{"actions":{"ecs:FargateTasks":{"rate":-1}}}`}, 7}, // does not parse: kept
		{StoredLimits{Version: 4}, 20}, // reset
		{StoredLimits{Version: 5, Doc: `{"actions":{"ecs:FargateTasks":{"rate":9}}}`}, 9},
	}
	for i, st := range steps {
		d.mu.Lock()
		d.applyLocked(key, st.s)
		d.mu.Unlock()
		if got := mustRate(t, d, ECSFargateTasks); got != st.want {
			t.Fatalf("step %d (version %d): rate %v, want %v", i, st.s.Version, got, st.want)
		}
	}
	if got := mustRate(t, d, EC2RunInstances); got != 2 {
		t.Fatalf("ecs's document changed ec2: rate %v", got)
	}
}

// ResetLimits removes the document: every process goes back to the limits
// it was deployed with at its next acquisition.
func TestLiveLimitsReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	initial, _ := ParseLimits(`{"actions":{"ecs:FargateTasks":{"rate":15}}}`)
	fleet, clk := newTestDistributed(t, client(s), initial)
	cli, _ := newTestDistributed(t, client(s), initial, func(o *Options) { o.Clock = clk })
	take := []Take{{Bucket: ECSFargateTasks, N: 1}}
	for i, step := range []struct {
		set  string // "" resets
		want Limit
	}{{`{"actions":{"ecs:FargateTasks":{"rate":5}}}`, 5}, {"", 15}} {
		var err error
		if step.set != "" {
			_, err = cli.SetLimits(ctx, services, step.set, "alice")
		} else {
			_, err = cli.ResetLimits(ctx, services, "bob")
		}
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := fleet.Reserve(ctx, "ecs", take); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustRate(t, fleet, ECSFargateTasks); got != step.want {
			t.Fatalf("step %d: rate %v, want %v", i, got, step.want)
		}
	}
	got, ok, err := cli.StoredLimits(ctx, "ec2")
	if err != nil || !ok || got.Doc != "" || got.Version != 2 || got.By != "bob" || !got.At.Equal(clk.Now()) {
		t.Fatalf("stored after reset: %+v %v %v; want version 2 by bob, no document", got, ok, err)
	}
}

// A bad document is refused with ParseLimits's error, naming the key, and
// nothing is written.
func TestLiveLimitsBadDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	cli, _ := newTestDistributed(t, client(s), nil)
	for _, doc := range []string{
		`{"actions":{"ecs:FargateTasks":{"rate":-1}}}`,
		`{"accounts":{"111122223333/us-east-1":{"actions":{"ecs:RunTask":{"burst":0}}}}}`,
		`{"defaults":{"decrease":2}}`,
		`not json`,
		` `,
	} {
		_, want := ParseLimits(doc)
		_, err := cli.SetLimits(ctx, services, doc, "alice")
		if err == nil || want != nil && err.Error() != want.Error() {
			t.Fatalf("%s: error %v, want %v", doc, err, want)
		}
		for _, svc := range services {
			if got, ok, _ := cli.StoredLimits(ctx, svc); ok {
				t.Fatalf("%s: stored %+v", doc, got)
			}
		}
	}
}

// Two sets racing: the one whose version moved under it fails with a
// *LimitsConflictError and writes nothing.
func TestLiveLimitsConcurrentSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	c := client(s)
	loser, clk := newTestDistributed(t, c, nil)
	winner, _ := newTestDistributed(t, client(s), nil, func(o *Options) { o.Clock = clk })
	c.beforeWrite = func() {
		if _, err := winner.SetLimits(ctx, services, `{"actions":{"ecs:FargateTasks":{"rate":7}}}`, "bob"); err != nil {
			t.Error(err)
		}
	}
	_, err := loser.SetLimits(ctx, services, `{"actions":{"ecs:FargateTasks":{"rate":30}}}`, "alice")
	var ce *LimitsConflictError
	if !errors.As(err, &ce) || ce.Read != 0 || ce.Now != 1 {
		t.Fatalf("error %v, want a conflict read 0, now 1", err)
	}
	for _, svc := range services {
		got, _, _ := loser.StoredLimits(ctx, svc)
		if got.By != "bob" || got.Version != 1 {
			t.Fatalf("%s: stored %+v, want bob's version 1", svc, got)
		}
	}
}

// A failure on the second service puts the first back: no service is left
// with a document the others lack.
func TestLiveLimitsUndoOnPartialFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	c := client(s)
	cli, _ := newTestDistributed(t, c, nil)
	if _, err := cli.SetLimits(ctx, services, `{"actions":{"ecs:FargateTasks":{"rate":7}}}`, "alice"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Load(ctx, cli.Key("ecs"))
	c.failKey = cli.Key("ec2")
	if _, err := cli.SetLimits(ctx, services, `{"actions":{"ecs:FargateTasks":{"rate":30}}}`, "bob"); err == nil {
		t.Fatal("set with a failing service succeeded")
	}
	got, _, _ := cli.StoredLimits(ctx, "ecs")
	if got.Doc != `{"actions":{"ecs:FargateTasks":{"rate":7}}}` || got.Version != 3 {
		t.Fatalf("ecs after the failed set: %+v, want alice's document back as version 3", got)
	}
	after, _ := s.Load(ctx, cli.Key("ecs"))
	if b, a := before[ECSFargateTasks], after[ECSFargateTasks]; b.Rate != a.Rate || !b.RateAt.Equal(a.RateAt) {
		t.Fatalf("the probe was not put back: %+v → %+v", b, a)
	}
}
