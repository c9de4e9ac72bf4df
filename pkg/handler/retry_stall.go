package handler

import (
	"math"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// StallBudget bounds a chunk's stall loop in the state machine: when
// Classify or Retry fail past their native retries, the chunk waits
// WaitSeconds and asks again, at most Limit times, then ends undecided
// (ChunkStalled) and the summary dead-letters what it did not launch. The
// machine reads no timestamps, so the deadline becomes a count here.
type StallBudget struct {
	Limit       int `json:"limit"`
	WaitSeconds int `json:"waitSeconds"`
}

// Stall loop bounds. A stall also spends the failing function's native
// retries (about a minute for a crash, four for an outage): stallRetryTime
// counts that part so the loops end near the deadline, not several times
// later.
const (
	stallMinWait   = 60 * time.Second
	stallMaxWait   = time.Hour
	stallLoops     = 8
	stallRetryTime = time.Minute
)

// NewStallBudget spreads the time left to the deadline over about
// stallLoops stalls of at least stallMinWait each; a deadline already
// passed still gets one stall (Retry, once it works, gives the chunk up).
func NewStallBudget(deadline, now time.Time) StallBudget {
	left := max(0, deadline.Sub(now))
	wait := min(max(left/stallLoops, stallMinWait), stallMaxWait)
	limit := int(math.Ceil(float64(left) / float64(wait+stallRetryTime)))
	return StallBudget{Limit: max(1, limit), WaitSeconds: int(wait / time.Second)}
}

// PlanOutput is the plan function's answer: the plan (indices and counts)
// and the chunks' stall budget.
type PlanOutput struct {
	launch.Plan
	Stall StallBudget `json:"stall"`
}
