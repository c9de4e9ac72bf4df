package limiter

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"
)

// Metric names a counter the limiter emits. The names are CloudWatch
// Embedded Metric Format friendly; Unit gives the EMF unit.
type Metric string

// Metrics, each counted per service (the EMF dimension "Service").
const (
	// MetricAcquisitions counts granted slots (fleet or fallback).
	MetricAcquisitions Metric = "LimiterAcquisitions"
	// MetricDeferrals counts slots granted in the future (Wait > 0).
	MetricDeferrals Metric = "LimiterDeferrals"
	// MetricDelay sums the Wait of granted slots, in seconds.
	MetricDelay Metric = "LimiterDelaySeconds"
	// MetricBacklogFull counts acquisitions refused by the look-ahead bound.
	MetricBacklogFull Metric = "LimiterBacklogFull"
	// MetricReleases counts slots given back.
	MetricReleases Metric = "LimiterReleases"
	// MetricThrottleSignals counts throttle signals received.
	MetricThrottleSignals Metric = "LimiterThrottleSignals"
	// MetricRateDecreases counts signals that lowered a rate (the others
	// were duplicates of the same storm).
	MetricRateDecreases Metric = "LimiterRateDecreases"
	// MetricStoreBusy counts store failures answered *StoreBusyError
	// (nothing admitted).
	MetricStoreBusy Metric = "LimiterStoreBusy"
	// MetricStoreConfig counts store failures no wait cures (access
	// denied, no such table): alarm on it.
	MetricStoreConfig Metric = "LimiterStoreConfigErrors"
	// MetricRetimed counts held slots a decrease moved later (Recheck).
	MetricRetimed Metric = "LimiterRetimedSlots"
	// MetricRateRatio is a gauge, one value per acquisition: the learned
	// rate of the slot's binding bucket over its configured rate. A maximum
	// under 0.5 for 15 minutes is a limit to raise or a co-tenant to find.
	MetricRateRatio Metric = "LimiterRateRatio"
)

// Unit returns the EMF unit of m.
func (m Metric) Unit() string {
	switch m {
	case MetricDelay:
		return "Seconds"
	case MetricRateRatio:
		return "None"
	}
	return "Count"
}

// Recorder receives the limiter's counters. Implementations must be safe
// for concurrent use and fast (it is called on every acquisition).
type Recorder interface {
	Add(m Metric, service string, v float64)
}

type nopRecorder struct{}

func (nopRecorder) Add(Metric, string, float64) {}

// Counters is a Recorder that sums in memory, for tests, benchmarks and for
// functions that flush one EMF line per invocation. The zero value is
// ready; safe for concurrent use.
type Counters struct {
	mu sync.Mutex
	m  map[[2]string]float64
}

var _ Recorder = (*Counters)(nil)

// Add implements Recorder.
func (c *Counters) Add(m Metric, service string, v float64) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[2]string]float64{}
	}
	c.m[[2]string{string(m), service}] += v
	c.mu.Unlock()
}

// Get returns the sum for m and service.
func (c *Counters) Get(m Metric, service string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[[2]string{string(m), service}]
}

// EMF returns one Embedded Metric Format JSON line per service with every
// counter recorded so far, in namespace, stamped at ts.
func (c *Counters) EMF(namespace string, ts time.Time) [][]byte {
	c.mu.Lock()
	byService := map[string]map[string]float64{}
	for k, v := range c.m {
		if byService[k[1]] == nil {
			byService[k[1]] = map[string]float64{}
		}
		byService[k[1]][k[0]] = v
	}
	c.mu.Unlock()
	var lines [][]byte
	for _, svc := range slices.Sorted(maps.Keys(byService)) {
		vals := byService[svc]
		var defs []map[string]string
		doc := map[string]any{"Service": svc}
		for _, name := range slices.Sorted(maps.Keys(vals)) {
			defs = append(defs, map[string]string{"Name": name, "Unit": Metric(name).Unit()})
			doc[name] = vals[name]
		}
		doc["_aws"] = map[string]any{
			"Timestamp": ts.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": namespace, "Dimensions": [][]string{{"Service"}}, "Metrics": defs,
			}},
		}
		b, _ := json.Marshal(doc)
		lines = append(lines, b)
	}
	return lines
}
