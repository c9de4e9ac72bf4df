package limiter

import (
	"context"
	"maps"
	"slices"
	"time"
)

// BucketStatus is what the fleet believes of one bucket, for
// throttlectl status and the limiter's gauges.
type BucketStatus struct {
	Bucket string `json:"bucket"`
	// ConfiguredRate is the configured refill (tokens/s); Rate the learned
	// one now (equal when no decrease is in force).
	ConfiguredRate float64 `json:"configuredRate"`
	Rate           float64 `json:"rate"`
	Epoch          int64   `json:"epoch"`
	// Queued is the tokens booked and not yet due; QueueSeconds how far
	// ahead the frontier lies.
	Queued       float64 `json:"queued"`
	QueueSeconds float64 `json:"queueSeconds"`
	// Throttled counts the tokens reported throttled so far.
	Throttled float64 `json:"throttled"`
	// LastDecrease and LastSignal are the last decrease's time and reason
	// (zero and empty when none).
	LastDecrease time.Time `json:"lastDecrease,omitzero"`
	LastSignal   string    `json:"lastSignal,omitempty"`
	// Lanes is the queue per lane that has one (high, normal, low).
	Lanes []LaneStatus `json:"lanes,omitempty"`
}

// LaneStatus is one lane's queue in a bucket: QueueSeconds is how far
// ahead its last booked position lies; Queued the tokens that span holds
// at the current rate, at most the bucket's whole queue (an upper bound:
// lanes interleave).
type LaneStatus struct {
	Lane         string  `json:"lane"`
	Queued       float64 `json:"queued"`
	QueueSeconds float64 `json:"queueSeconds"`
}

// laneStatus returns the lanes of st with a queue at now.
func laneStatus(st BucketState, tau time.Duration, r Limit, queued float64, now time.Time) []LaneStatus {
	var out []LaneStatus
	for l := range nLanes {
		f := fromMicros(min(st.Lanes.Front[l], micros(st.TAT)))
		if ahead := f.Add(-tau).Sub(now); st.Lanes.Front[l] != 0 && ahead > 0 {
			out = append(out, LaneStatus{Lane: laneNames[l], QueueSeconds: ahead.Seconds(), Queued: min(queued, ahead.Seconds()*float64(r))})
		}
	}
	return out
}

// Status returns the state of service's buckets that have been used, by
// bucket name, from one read.
func (d *Distributed) Status(ctx context.Context, service string) ([]BucketStatus, error) {
	key := d.Key(service)
	item, err := d.load(ctx, key)
	if err != nil {
		return nil, d.storeError(ctx, key, service, err)
	}
	d.remember(key, item, true)
	now := d.now()
	var out []BucketStatus
	for _, b := range slices.Sorted(maps.Keys(item)) {
		l, err := d.Limit(b)
		if err != nil {
			continue // a bucket no longer configured
		}
		st := item[b]
		r := effRate(l, st, now)
		bs := BucketStatus{Bucket: b, ConfiguredRate: float64(l.Rate), Rate: float64(r), Epoch: st.Epoch,
			Throttled: st.Throttled, LastDecrease: st.RateAt, LastSignal: st.LastSignal}
		if ahead := st.TAT.Add(-d.tau(l)).Sub(now); ahead > 0 {
			bs.QueueSeconds = ahead.Seconds()
			bs.Queued = min(st.Pos, ahead.Seconds()*float64(r))
		}
		bs.Lanes = laneStatus(st, d.tau(l), r, bs.Queued, now)
		out = append(out, bs)
	}
	return out, nil
}
