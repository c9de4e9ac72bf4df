package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// How a lost response reaches the client (Faults.LostMode).
const (
	LostAsReset       = "reset"   // the connection is reset: no status, no body
	LostAsServerError = "error"   // a 500 ServerException / InternalError
	LostAsTimeout     = "timeout" // no answer until the client gives up
)

// Faults are injected per API call, drawn from one generator seeded by
// Config.Seed in the order calls arrive, so the same seed and the same call
// sequence give the same faults. Rates are probabilities per call.
type Faults struct {
	// ServerErrorRate answers HTTP 500 ServerException (ECS) / InternalError
	// (EC2) without doing anything.
	ServerErrorRate float64 `json:"serverErrorRate,omitempty"`
	// ResetRate resets the connection without doing anything.
	ResetRate float64 `json:"resetRate,omitempty"`
	// LostResponseRate performs a launching call (RunTask, RunInstances) and
	// then loses its answer (LostMode); the launch is in the ledger, marked
	// LostResponse.
	LostResponseRate float64 `json:"lostResponseRate,omitempty"`
	// LostMode: "reset" (default), "error" or "timeout".
	LostMode string `json:"lostMode,omitempty"`
	// LostHoldSeconds bounds how long a "timeout" loss holds the answer
	// (simulated seconds). Default 60.
	LostHoldSeconds float64 `json:"lostHoldSeconds,omitempty"`
	// LatencyRate delays a call by LatencySeconds (simulated; real time is
	// that divided by the time scale). Default latency 1 s.
	LatencyRate    float64 `json:"latencyRate,omitempty"`
	LatencySeconds float64 `json:"latencySeconds,omitempty"`
	// StormsPerHour starts throttle storms at random (Poisson, seeded): for
	// StormSeconds the StormBuckets refill at StormFraction of their rate.
	// Defaults: 60 s, 0.1, the launch buckets.
	StormsPerHour float64  `json:"stormsPerHour,omitempty"`
	StormSeconds  float64  `json:"stormSeconds,omitempty"`
	StormFraction float64  `json:"stormFraction,omitempty"`
	StormBuckets  []string `json:"stormBuckets,omitempty"`
}

func (f Faults) withDefaults() Faults {
	if f.LostMode == "" {
		f.LostMode = LostAsReset
	}
	if f.LostHoldSeconds == 0 {
		f.LostHoldSeconds = 60
	}
	if f.LatencySeconds == 0 {
		f.LatencySeconds = 1
	}
	if f.StormSeconds == 0 {
		f.StormSeconds = 60
	}
	if f.StormFraction == 0 {
		f.StormFraction = 0.1
	}
	if len(f.StormBuckets) == 0 {
		f.StormBuckets = []string{BucketRunTask, BucketFargateTasks, BucketRunInstances}
	}
	return f
}

func (f Faults) validate() error {
	for name, v := range map[string]float64{
		"ServerErrorRate": f.ServerErrorRate, "ResetRate": f.ResetRate,
		"LostResponseRate": f.LostResponseRate, "LatencyRate": f.LatencyRate,
	} {
		if v < 0 || v > 1 {
			return fmt.Errorf("sim: Faults.%s must be in [0, 1], got %v", name, v)
		}
	}
	if s := f.ServerErrorRate + f.ResetRate + f.LostResponseRate; s > 1 {
		return fmt.Errorf("sim: Faults.ServerErrorRate+ResetRate+LostResponseRate must be ≤ 1, got %v", s)
	}
	switch f.LostMode {
	case LostAsReset, LostAsServerError, LostAsTimeout:
	default:
		return fmt.Errorf("sim: Faults.LostMode must be reset, error or timeout, got %q", f.LostMode)
	}
	if f.StormsPerHour < 0 || f.StormSeconds < 0 || f.StormFraction < 0 || f.StormFraction > 1 {
		return fmt.Errorf("sim: Faults.Storm*: rate and duration must be ≥ 0 and the fraction in [0, 1]")
	}
	if f.LatencySeconds < 0 || f.LostHoldSeconds < 0 {
		return fmt.Errorf("sim: Faults.LatencySeconds and LostHoldSeconds must be ≥ 0")
	}
	return nil
}

type faultKind int

const (
	faultNone faultKind = iota
	faultReset
	faultServer
	faultLost
)

var faultNames = [...]string{"none", "reset", "serverError", "lostResponse"}

func (k faultKind) String() string { return faultNames[k] }

type fault struct {
	kind    faultKind
	latency time.Duration
}

// faultState holds the two seeded generators: one for per-call faults, one
// for storms and co-tenants, so changing fault rates does not shift the
// storm schedule.
type faultState struct {
	calls  *rand.Rand
	events *rand.Rand
	trace  []FaultRecord // the fault sequence, for reproducibility checks
}

// FaultRecord is one injected fault, in call order.
type FaultRecord struct {
	Call   int64  `json:"call"` // 1-based index of the call
	Target string `json:"target"`
	Kind   string `json:"kind"`
}

func (fs *faultState) init(seed uint64) {
	fs.calls = rand.New(rand.NewPCG(seed, 0x5EED0001))
	fs.events = rand.New(rand.NewPCG(seed, 0x5EED0002))
}

// launching reports whether an operation launches work (only those can lose
// a response in a way that matters: the work exists, the caller does not know).
func launching(op string) bool { return op == "RunTask" || op == "RunInstances" }

// draw decides the fault of the next call. It always consumes the same
// number of values, so the sequence depends only on the seed and the order
// of calls. Callers hold s.mu.
func (fs *faultState) draw(s *Sim, service, op string) fault {
	f := s.cfg.Faults
	u, v := fs.calls.Float64(), fs.calls.Float64()
	var out fault
	switch {
	case u < f.ResetRate:
		out.kind = faultReset
	case u < f.ResetRate+f.ServerErrorRate:
		out.kind = faultServer
	case u < f.ResetRate+f.ServerErrorRate+f.LostResponseRate && launching(op):
		out.kind = faultLost
	}
	if v < f.LatencyRate {
		out.latency = time.Duration(f.LatencySeconds * float64(time.Second))
		s.stats.faults["latency"]++
	}
	n := int64(s.reqSeq)
	if out.kind != faultNone {
		s.stats.faults[out.kind.String()]++
		fs.trace = append(fs.trace, FaultRecord{Call: n, Target: service + ":" + op, Kind: out.kind.String()})
	}
	return out
}

// FaultTrace returns the faults injected so far, in call order.
func (s *Sim) FaultTrace() []FaultRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FaultRecord(nil), s.faults.trace...)
}

// SetFaults replaces the fault rates at run time (storm scheduling keeps its
// own generator). It returns the validation error of the new rates.
func (s *Sim) SetFaults(f Faults) error {
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	restart := f.StormsPerHour > 0 && s.cfg.Faults.StormsPerHour == 0
	s.cfg.Faults = f
	if restart {
		s.scheduleStorm(s.now)
	}
	return nil
}

// scheduleStorm schedules the next random storm after from, if storms are
// on. Inter-arrival times are exponential (a Poisson process). Callers hold
// s.mu (or own s exclusively).
func (s *Sim) scheduleStorm(from time.Time) {
	rate := s.cfg.Faults.StormsPerHour
	if rate <= 0 {
		return
	}
	gap := -math.Log(1-s.faults.events.Float64()) / rate * 3600
	s.sched.at(from.Add(time.Duration(gap*float64(time.Second))), func(at time.Time) {
		if s.cfg.Faults.StormsPerHour <= 0 {
			return
		}
		f := s.cfg.Faults
		s.startStorm(at, f.StormBuckets, f.StormFraction, time.Duration(f.StormSeconds*float64(time.Second)))
		s.scheduleStorm(at)
	})
}

// Storm makes the named buckets refill at fraction of their rate for d
// (simulated), starting now. Overlapping storms end at the last end.
func (s *Sim) Storm(buckets []string, fraction float64, d time.Duration) error {
	if fraction < 0 || fraction > 1 {
		return fmt.Errorf("sim: storm fraction must be in [0, 1], got %v", fraction)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range buckets {
		if s.buckets[name] == nil {
			return fmt.Errorf("sim: storm: unknown bucket %q", name)
		}
	}
	s.startStorm(s.tick(), buckets, fraction, d)
	return nil
}

func (s *Sim) startStorm(at time.Time, names []string, fraction float64, d time.Duration) {
	s.stats.storms++
	s.logger.Info("throttle storm", "buckets", names, "fraction", fraction, "seconds", d.Seconds())
	for _, name := range names {
		b := s.buckets[name]
		if b == nil {
			continue
		}
		b.reconfigure(at, b.cfg, fraction)
		b.stormEnd = laterOf(b.stormEnd, at.Add(d))
		s.sched.at(at.Add(d), func(end time.Time) {
			if end.Before(b.stormEnd) {
				return // a later storm on the same bucket is still on
			}
			b.reconfigure(end, b.cfg, 1)
		})
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
