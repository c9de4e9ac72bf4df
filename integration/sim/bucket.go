package sim

import (
	"math"
	"time"
)

// bucket is one token bucket, shared by every caller of the account: the
// product, the co-tenant caller (cotenantDraw) and the co-tenant services.
// A storm factor makes it refill at a fraction of its rate for a while. Not
// safe for concurrent use: the Sim's mutex guards it.
type bucket struct {
	name     string
	cfg      Bucket
	storm    float64 // refill factor, 1 outside storms
	stormEnd time.Time
	tokens   float64
	last     time.Time

	taken     float64 // tokens granted to the product (and co-tenant services)
	admitted  int64   // takes granted
	throttled int64   // takes refused
	cot       cotenantDraw
}

func newBucket(name string, cfg Bucket, now time.Time) *bucket {
	b := &bucket{name: name, cfg: cfg, storm: 1, last: now}
	b.tokens = b.capacity()
	return b
}

// unlimited reports whether the bucket is disabled (no burst, no rate).
func (b *bucket) unlimited() bool { return b.cfg.Burst == 0 && b.cfg.Rate == 0 }

func (b *bucket) capacity() float64 { return b.cfg.Burst }
func (b *bucket) rate() float64     { return b.cfg.Rate * b.storm }

// advance refills the bucket up to now. Time never runs backwards here: an
// earlier now is ignored.
func (b *bucket) advance(now time.Time) {
	if !now.After(b.last) {
		return
	}
	b.tokens = math.Min(b.capacity(), b.tokens+now.Sub(b.last).Seconds()*b.rate())
	b.last = now
}

// has reports whether n tokens are available at now (after advance).
func (b *bucket) has(n float64) bool {
	// A small epsilon absorbs float error from fractional refills.
	return b.unlimited() || b.tokens+1e-9 >= n
}

func (b *bucket) take(n float64) {
	if b.unlimited() {
		return
	}
	b.tokens -= n
	b.taken += n
	b.admitted++
}

// reconfigure changes the bucket at now, refilling at the old rate first so
// no time is accounted at the wrong rate.
func (b *bucket) reconfigure(now time.Time, cfg Bucket, storm float64) {
	b.advance(now)
	b.cfg, b.storm = cfg, storm
	b.tokens = math.Min(b.tokens, b.capacity())
}

// BucketStats is a bucket's state for the stats view and tests. Taken,
// Admitted and Throttled count the product's calls (and the co-tenant
// services'); the Cotenant fields count the co-tenant caller's.
type BucketStats struct {
	Burst     float64 `json:"burst"`
	Rate      float64 `json:"rate"`
	Storm     float64 `json:"stormFactor"`
	Tokens    float64 `json:"tokens"`
	Taken     float64 `json:"taken"`
	Admitted  int64   `json:"admitted"`
	Throttled int64   `json:"throttled"`
	// Share is the co-tenant caller's share of this bucket while it is
	// present (0 otherwise, and on hidden buckets).
	Share             float64 `json:"cotenantShare"`
	CotenantTaken     float64 `json:"cotenantTaken"`
	CotenantCalls     int64   `json:"cotenantCalls"`
	CotenantThrottled int64   `json:"cotenantThrottled"`
}

func (b *bucket) stats() BucketStats {
	return BucketStats{Burst: b.cfg.Burst, Rate: b.cfg.Rate, Storm: b.storm,
		Tokens: b.tokens, Taken: b.taken, Admitted: b.admitted, Throttled: b.throttled,
		Share: b.cot.share, CotenantTaken: b.cot.taken, CotenantCalls: b.cot.calls, CotenantThrottled: b.cot.throttled}
}

// take is a request for n tokens of one bucket.
type take struct {
	bucket string
	n      float64
}

// takeAll grants every take or none: a call fails if any bucket it draws on is
// short, as EC2 documents for its request and resource buckets. It returns
// the name of the first short bucket.
func (s *Sim) takeAll(now time.Time, takes ...take) (short string, ok bool) {
	for _, t := range takes {
		b := s.buckets[t.bucket]
		if b == nil {
			continue
		}
		b.advance(now)
		if !b.has(t.n) {
			b.throttled++
			return t.bucket, false
		}
	}
	for _, t := range takes {
		if b := s.buckets[t.bucket]; b != nil {
			b.take(t.n)
		}
	}
	return "", true
}
