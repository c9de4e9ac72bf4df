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
// stays within about 1,100 loops of the state machine (WaitLoops).
//
// next > 0 is how long until an attempt reaches its timeout: the check
// comes no later than that, but no sooner than half the interval (and
// MinWaitInterval), so that timeouts at every moment cannot multiply the
// loops by more than two: a timeout is seen at most half an interval late.
func WaitInterval(waited, next time.Duration) time.Duration {
	d := time.Duration(float64(waited) * 0.05).Round(time.Second)
	d = min(MaxWaitInterval, max(MinWaitInterval, d))
	if next > 0 && next < d {
		d = max(next, d/2, MinWaitInterval)
	}
	return d
}

// WaitLoops is the number of checks WaitInterval makes over total when
// each check's next timeout is next (0: none; 1 ns: a timeout due at every
// check, the most loops): the first at 0, each next one an interval later,
// until one at or past total.
func WaitLoops(total, next time.Duration) int {
	n := 1
	for waited := time.Duration(0); waited < total; n++ {
		waited += WaitInterval(waited, next)
	}
	return n
}
