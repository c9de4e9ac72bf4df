package limiter

import (
	"context"
	"maps"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory: exact, for tests, simulations
// and single-process use. The zero value is ready; safe for concurrent use.
type MemoryStore struct {
	mu    sync.Mutex
	items map[string]Item

	live liveMemory // stored limit documents (livelimits_store.go)
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

var _ Store = (*MemoryStore)(nil)

func (m *MemoryStore) itemLocked(key string) Item {
	if m.items == nil {
		m.items = map[string]Item{}
	}
	m.live.seeLocked(key) // every operation answers the item, limits included
	it := m.items[key]
	if it == nil {
		it = Item{}
		m.items[key] = it
	}
	return it
}

// Take implements Store.
func (m *MemoryStore) Take(ctx context.Context, key string, arrive Arrival, debits []Debit) (Item, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.itemLocked(key)
	at, limit := arrive() // under the lock: one attempt, never stale
	atUS := micros(at)
	if err := checkEpoch(maps.Clone(it), debits); err != nil {
		return nil, time.Time{}, err
	}
	if err := checkFull(it, atUS, micros(limit), debits); err != nil {
		return nil, time.Time{}, err
	}
	next, err := takeLanes(it, debits, atUS)
	if err != nil {
		return nil, time.Time{}, err
	}
	maps.Copy(it, next)
	return maps.Clone(it), at, nil
}

// Give implements Store.
func (m *MemoryStore) Give(ctx context.Context, key string, now time.Time, debits []Debit) (Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.itemLocked(key)
	nowUS := micros(now)
	for _, d := range debits {
		s, ok := it[d.Bucket]
		inc := d.Inc.Microseconds()
		if ok && s.Epoch == d.Epoch && micros(s.TAT) >= nowUS+inc {
			s.TAT = fromMicros(micros(s.TAT) - inc)
			s.Pos -= d.N
			it[d.Bucket] = s
		}
	}
	return maps.Clone(it), nil
}

// Swap implements Store.
func (m *MemoryStore) Swap(ctx context.Context, key, bucket string, prev, next BucketState) (bool, Item, error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.itemLocked(key)
	if !sameState(it[bucket], prev, prev.Epoch != next.Epoch, marksChange(prev, next)) {
		return false, maps.Clone(it), nil
	}
	it[bucket] = applyChanges(it[bucket], prev, next)
	return true, maps.Clone(it), nil
}

// Load implements Store.
func (m *MemoryStore) Load(ctx context.Context, key string) (Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.itemLocked(key)), nil
}

// takeLanes applies debits to it (GCRA at the frontier, or a lane
// preemption) and returns the changed buckets, or a *LaneConflictError
// with nothing applied.
func takeLanes(it Item, debits []Debit, atUS int64) (Item, error) {
	next := Item{}
	for _, d := range debits {
		s, ok := applyLanes(it[d.Bucket], d, atUS)
		if !ok {
			return nil, &LaneConflictError{Bucket: d.Bucket, Item: maps.Clone(it)}
		}
		next[d.Bucket] = s
	}
	return next, nil
}
