package launch

import "time"

// Bounds of the waiting check's interval (WaitInterval).
const (
	MinWaitInterval = 5 * time.Second
	MaxWaitInterval = 10 * time.Minute
)

// WaitInterval is how long a request that waits for its tasks sleeps
// between two checks, after waited since its first check: 5 % of that,
// within [MinWaitInterval, MaxWaitInterval]. The checks then cost at most
// 5 % of the job's own time (a task that stops just after a check is seen
// at most 5 % later), and a wait of the longest deadline (MaxDeadline)
// stays within a bounded number of the state machine's loops
// (WaitLoops), each a few history events.
func WaitInterval(waited time.Duration) time.Duration {
	d := time.Duration(float64(waited) * 0.05).Round(time.Second)
	return min(MaxWaitInterval, max(MinWaitInterval, d))
}

// WaitLoops is the number of checks WaitInterval makes over total: the
// first at 0, each next one an interval later, until one at or past total.
func WaitLoops(total time.Duration) int {
	n := 1
	for waited := time.Duration(0); waited < total; n++ {
		waited += WaitInterval(waited)
	}
	return n
}
