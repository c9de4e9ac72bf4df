package limiter

import (
	"context"
	"errors"
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
// acquisition: no extra read, and the acquisition after uses it.
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
			take := []Take{{ECSFargateTasks, 10}}
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

// A lowered limit times the very next take at the new rate; booked
// positions keep their time.
func TestLiveLimitsLoweredAppliesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	fleet, clk := newTestDistributed(t, client(s), nil)
	cli, _ := newTestDistributed(t, client(s), nil, func(o *Options) { o.Clock = clk })
	take := []Take{{ECSFargateTasks, 10}}
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
	// This answer carries the new document; the take was timed at 20/s.
	s1, err := fleet.Reserve(ctx, "ecs", take)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.Reserve(ctx, "ecs", take); err != nil {
		t.Fatal(err)
	}
	if got := s1.At.Sub(last.At); got != 500*time.Millisecond {
		t.Fatalf("take carrying the change: %v after the last, want 500ms (old rate)", got)
	}
	st, _ := s.Load(ctx, fleet.Key("ecs"))
	if got := st[ECSFargateTasks].TAT.Sub(clk.Now()); got != 7500*time.Millisecond {
		t.Fatalf("frontier %v ahead, want 7.5 s: 10 calls at 20/s, one at 5/s", got)
	}
	if p, _ := last.Position(ECSFargateTasks); p.At != last.At {
		t.Fatalf("a booked position moved")
	}
}
