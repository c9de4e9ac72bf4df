package limiter

import (
	"context"
	"fmt"
	"time"
)

// Debit is what one acquisition costs one bucket, in the bucket's GCRA
// terms: the TAT moves forward by Inc (n tokens at the bucket's current
// rate) and may run at most Tau (burst / ceiling rate) ahead of the slot.
type Debit struct {
	Bucket string        `json:"bucket"`
	Inc    time.Duration `json:"-"`
	Tau    time.Duration `json:"-"`
}

// BucketState is one bucket's stored state.
type BucketState struct {
	// TAT is the theoretical arrival time; zero for a bucket never used.
	TAT time.Time
	// Rate is the rate (tokens/s) set by the last adaptive decrease; 0 when
	// there has been none (the configured rate applies).
	Rate float64
	// RateAt is when Rate was set; zero when never. Recovery counts from it.
	RateAt time.Time
}

// Item is the stored state of one service's buckets (one DynamoDB item),
// keyed by bucket name. Buckets never touched are absent.
type Item map[string]BucketState

// Store holds bucket items and applies each operation to one item
// atomically. Times are kept at microsecond precision. Implementations:
// MemoryStore (tests, single process) and DynamoStore (the fleet).
// limitertest.TestStore is the conformance suite every Store passes.
type Store interface {
	// Take applies one acquisition (GCRA) arriving at `at`, the first value
	// of arrive: for every debit, TAT ← max(TAT, at) + Inc, provided that for
	// every debit the new TAT − Tau ≤ limit (arrive's second value, the
	// look-ahead bound: now + MaxAhead). Otherwise it changes nothing and
	// returns a *BacklogFullError. A store that writes more than once (a
	// conditional write that lost a race) calls arrive again for each
	// attempt, so a retry does not arrive in the past. On success it returns
	// the item as it is right after the write and the `at` it applied.
	Take(ctx context.Context, key string, arrive Arrival, debits []Debit) (Item, time.Time, error)
	// Give returns an unused acquisition: for every debit whose bucket's
	// TAT ≥ now + Inc, TAT ← TAT − Inc; other buckets are left alone (their
	// tokens have already refilled). It returns the item after the write.
	Give(ctx context.Context, key string, now time.Time, debits []Debit) (Item, error)
	// SetRate sets a bucket's adaptive Rate and RateAt = at, only if the
	// bucket's RateAt equals prev (zero prev: no rate was ever set). It
	// reports whether it applied and returns the item either way.
	SetRate(ctx context.Context, key, bucket string, rate float64, at, prev time.Time) (bool, Item, error)
	// Load returns the item (empty, no error, when it does not exist).
	Load(ctx context.Context, key string) (Item, error)
}

// Arrival returns an acquisition's arrival time and look-ahead bound. Store
// implementations call it once per write attempt.
type Arrival func() (at, limit time.Time)

// At is the fixed Arrival (at, limit).
func At(at, limit time.Time) Arrival {
	return func() (time.Time, time.Time) { return at, limit }
}

// BacklogFullError says a bucket's next slot lies beyond the look-ahead
// bound (Options.MaxAhead): nothing was reserved. Retry after Wait.
//
// pkg/failure classifies it by its behaviour (RetryAfter, LimiterBusy) as
// throttled, code LimiterBacklogFull, with Wait as the least delay.
type BacklogFullError struct {
	Bucket string
	// Wait is how long until the bucket's next slot is back within the
	// bound.
	Wait time.Duration
}

func (e *BacklogFullError) Error() string {
	return fmt.Sprintf("limiter: backlog of %s is full (next slot beyond the look-ahead bound); retry after %v", e.Bucket, e.Wait)
}

// RetryAfter returns Wait: the least wait before asking again.
func (e *BacklogFullError) RetryAfter() time.Duration { return e.Wait }

// LimiterBusy reports false: the bucket itself refused (a rate limit), not
// its store.
func (e *BacklogFullError) LimiterBusy() bool { return false }

// micros truncates t to microseconds since the epoch (0 for the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// checkFull returns a *BacklogFullError if taking debits on item arriving
// at atUS would put a slot beyond limitUS.
func checkFull(item Item, atUS, limitUS int64, debits []Debit) error {
	var worst *BacklogFullError
	for _, d := range debits {
		tat := max(micros(item[d.Bucket].TAT), atUS)
		over := tat + d.Inc.Microseconds() - d.Tau.Microseconds() - limitUS
		if over > 0 && (worst == nil || time.Duration(over)*time.Microsecond > worst.Wait) {
			worst = &BacklogFullError{Bucket: d.Bucket, Wait: time.Duration(over) * time.Microsecond}
		}
	}
	if worst == nil {
		return nil
	}
	return worst
}
