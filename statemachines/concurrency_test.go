package statemachines

import "testing"

// The shipped launch machine bounds its chunks in flight: the limiter
// books about one slot per chunk ahead, so the value is a tuning of the
// product (docs/sharing.md, maxConcurrency), read by the bench and demo.
func TestLaunchConcurrency(t *testing.T) {
	if got := LaunchConcurrency(); got < 1 || got > 10000 {
		t.Errorf("LaunchConcurrency() = %d, want a Map MaxConcurrency in 1..10000", got)
	}
}
