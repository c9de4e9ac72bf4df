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
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

var _ Store = (*MemoryStore)(nil)

func (m *MemoryStore) itemLocked(key string) Item {
	if m.items == nil {
		m.items = map[string]Item{}
	}
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
	if err := checkFull(it, atUS, micros(limit), debits); err != nil {
		return nil, time.Time{}, err
	}
	for _, d := range debits {
		s := it[d.Bucket]
		s.TAT = fromMicros(max(micros(s.TAT), atUS) + d.Inc.Microseconds())
		it[d.Bucket] = s
	}
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
		if ok && micros(s.TAT) >= nowUS+inc {
			s.TAT = fromMicros(micros(s.TAT) - inc)
			it[d.Bucket] = s
		}
	}
	return maps.Clone(it), nil
}

// SetRate implements Store.
func (m *MemoryStore) SetRate(ctx context.Context, key, bucket string, rate float64, at, prev time.Time) (bool, Item, error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.itemLocked(key)
	s := it[bucket]
	if micros(s.RateAt) != micros(prev) {
		return false, maps.Clone(it), nil
	}
	s.Rate, s.RateAt = rate, fromMicros(micros(at))
	it[bucket] = s
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
