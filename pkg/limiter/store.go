package limiter

import (
	"context"
	"fmt"
	"time"
)

// Debit is what one acquisition costs one bucket: N tokens, which move the
// bucket's frontier position by N and its TAT by Inc (N at the bucket's
// current rate); the slot may run at most Tau (the burst allowance) ahead
// of the TAT. Epoch is the bucket epoch Inc was computed in: a store
// refuses a debit of an older epoch with an *EpochError, since its Inc was
// computed at a rate a decrease has replaced.
type Debit struct {
	Bucket string
	N      float64
	Inc    time.Duration
	Tau    time.Duration
	Epoch  int64
	// Lane is the acquisition's lane ("" is normal); Lanes, when set, the
	// lane state the take expects and writes (a preemption, or the start
	// of a new epoch's lane state). See lanes.go.
	Lane  string
	Lanes *LaneWrite
}

// BucketState is one bucket's stored state.
type BucketState struct {
	// TAT is the theoretical arrival time of the frontier (GCRA); zero for
	// a bucket never used.
	TAT time.Time
	// Pos is the frontier position: the tokens handed out so far, less
	// those given back. A slot's position is the frontier right after its
	// take.
	Pos float64
	// Rate is the rate (tokens/s) the last decrease set; 0 when there has
	// been none (the configured rate applies). RateAt is when; the rate
	// recovers from it.
	Rate   float64
	RateAt time.Time
	// Epoch counts decreases. A slot booked in an older epoch is re-timed
	// from the anchor: position AnchorPos was due at AnchorAt, and later
	// positions follow at AnchorRate, with no burst.
	Epoch      int64
	AnchorAt   time.Time
	AnchorPos  float64
	AnchorRate float64
	// AnchorPrev is the rate before the last decrease: positions up to the
	// anchor were timed at it, back from AnchorAt.
	AnchorPrev float64
	// Throttled counts the tokens reported throttled. The mark is the last
	// throttle counted with its position: when (MarkAt), where (MarkPos),
	// and Throttled right after it (MarkThrottled). Two marks bracket what
	// the real bucket admitted between two instants it was empty.
	Throttled     float64
	MarkAt        time.Time
	MarkPos       float64
	MarkThrottled float64
	// LastSignal is the reason of the last decrease, for Status.
	LastSignal string
	// BurstAt and BurstPos are the last idle take: when the bucket went
	// from full to busy, and its frontier then. Positions beyond the first
	// half of the burst allowance from BurstPos wait for feedback on the
	// first half (Options.BurstFeedback).
	BurstAt  time.Time
	BurstPos float64
	// Lanes is the bucket's priority-lane bookkeeping (lanes.go).
	Lanes LaneState

	// loose, on a Swap's prev, compares a re-anchor on the epoch and the
	// mark only (see Distributed.Signal).
	loose bool
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
	// of arrive: for every debit, TAT ← max(TAT, at) + Inc and Pos ← Pos +
	// N (where TAT < at or is absent, also BurstAt ← at and BurstPos ← Pos
	// before the take), provided that for every debit the bucket's epoch is the debit's
	// (else an *EpochError carrying the item) and the new TAT − Tau ≤ limit
	// (arrive's second value, the look-ahead bound: now + MaxAhead; else a
	// *BacklogFullError). A store that writes more than once (a conditional
	// write that lost a race) calls arrive again for each attempt, so a
	// retry does not arrive in the past. On success it returns the item as
	// it is right after the write and the `at` it applied.
	Take(ctx context.Context, key string, arrive Arrival, debits []Debit) (Item, time.Time, error)
	// Give returns tokens at the frontier: for every debit whose bucket is
	// in the debit's epoch and whose TAT ≥ now + Inc, TAT ← TAT − Inc and
	// Pos ← Pos − N; other buckets are left alone (their tokens have
	// refilled, or a decrease re-timed them). It returns the item after the
	// write.
	Give(ctx context.Context, key string, now time.Time, debits []Debit) (Item, error)
	// Swap changes bucket's state from prev to next, writing only the
	// fields that differ, if the stored state still agrees with prev on
	// the epoch and the mark; when the mark moves or the epoch changes, on
	// the throttled count too; and when the epoch changes (a re-anchor,
	// computed from the frontier), on TAT, Pos and RateAt. A zero prev
	// matches a bucket never written. A change of the throttled count alone
	// is added, so counts neither conflict with takes nor with each other. It reports whether it applied
	// and returns the item either way. Decreases and throttle counts use it.
	Swap(ctx context.Context, key, bucket string, prev, next BucketState) (bool, Item, error)
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

// EpochError is a store's answer to a Take whose debits were computed in
// an epoch a decrease has ended: nothing was written; Item is the state
// that refused it, to compute the debits again from.
type EpochError struct {
	Bucket string
	Item   Item
}

func (e *EpochError) Error() string {
	return fmt.Sprintf("limiter: %s: a decrease changed the rate since the debit was computed", e.Bucket)
}

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
		if d.Lanes != nil && d.Lanes.Preempt {
			continue // the take lies at its insertion point, near now
		}
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

// checkEpoch returns an *EpochError if a debit's epoch is not its bucket's.
func checkEpoch(item Item, debits []Debit) error {
	for _, d := range debits {
		if item[d.Bucket].Epoch != d.Epoch {
			return &EpochError{Bucket: d.Bucket, Item: item}
		}
	}
	return nil
}

// sameState says a agrees with b on what Swap compares; reanchor adds the
// frontier and the rate's time.
func sameState(a, b BucketState, reanchor, marks bool) bool {
	if a.Epoch != b.Epoch || micros(a.MarkAt) != micros(b.MarkAt) || marks && a.Throttled != b.Throttled {
		return false
	}
	return !reanchor || b.loose || micros(a.TAT) == micros(b.TAT) && a.Pos == b.Pos && micros(a.RateAt) == micros(b.RateAt)
}

// marksChange says a Swap from prev to next moves the mark or re-anchors:
// the throttled count is then compared and set, not added to.
func marksChange(prev, next BucketState) bool {
	return prev.Epoch != next.Epoch || micros(prev.MarkAt) != micros(next.MarkAt) || prev.MarkPos != next.MarkPos
}

// applyChanges returns cur with the fields that differ between prev and
// next set to next's.
func applyChanges(cur, prev, next BucketState) BucketState {
	prev, next = prev.truncate(), next.truncate()
	if !prev.TAT.Equal(next.TAT) || prev.Pos != next.Pos {
		cur.TAT, cur.Pos = next.TAT, next.Pos
	}
	if prev.Rate != next.Rate || !prev.RateAt.Equal(next.RateAt) {
		cur.Rate, cur.RateAt = next.Rate, next.RateAt
	}
	if prev.Epoch != next.Epoch || !prev.AnchorAt.Equal(next.AnchorAt) || prev.AnchorPos != next.AnchorPos || prev.AnchorRate != next.AnchorRate {
		cur.Epoch, cur.AnchorAt, cur.AnchorPos, cur.AnchorRate, cur.AnchorPrev = next.Epoch, next.AnchorAt, next.AnchorPos, next.AnchorRate, next.AnchorPrev
	}
	if marksChange(prev, next) {
		cur.Throttled, cur.MarkAt, cur.MarkPos, cur.MarkThrottled = next.Throttled, next.MarkAt, next.MarkPos, next.MarkThrottled
	} else {
		cur.Throttled += next.Throttled - prev.Throttled // a count alone adds
	}
	if next.LastSignal != prev.LastSignal {
		cur.LastSignal = next.LastSignal
	}
	return cur
}

// truncate rounds the state's times to the store's microseconds.
func (s BucketState) truncate() BucketState {
	for _, t := range []*time.Time{&s.TAT, &s.RateAt, &s.AnchorAt, &s.MarkAt, &s.BurstAt} {
		*t = fromMicros(micros(*t))
	}
	return s
}
