package launch

// Final statuses of a request and the errors of a FAILED one.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	// ErrLaunchIncomplete: units dead-lettered or never launched beyond
	// the tolerance.
	ErrLaunchIncomplete = "LaunchIncomplete"
	// ErrTasksFailed: tasks that ran and failed (after their retries)
	// pushed the failures beyond the tolerance.
	ErrTasksFailed = "TasksFailed"
)

// FinalCounts are a request's units when it ends. Without
// waitForCompletion a launched unit counts as succeeded.
type FinalCounts struct {
	Requested int `json:"requested"`
	// Succeeded: units launched (and, when waiting, ended successfully).
	Succeeded int `json:"succeeded"`
	// Failed: tasks that ran and failed with no attempt left.
	Failed int `json:"failed"`
	// DeadLettered: units the product gave up launching.
	DeadLettered int `json:"deadLettered"`
	// Cancelled: units a cancel stopped or kept from launching; neither
	// successes nor failures (the cancel ends the execution itself).
	Cancelled int `json:"cancelled"`
}

// Outcome decides the request's final status as Step Functions' Map does
// with a tolerated failure percentage and count: the failures (dead-
// lettered, never launched, failed) may not exceed either tolerance given;
// with neither (every version-1 request) one failure fails the request.
// The percentage is of Requested. Which error: LaunchIncomplete when the
// launch failures alone exceed the tolerance, else TasksFailed.
func (r Request) Outcome(c FinalCounts) (status string, errName string) {
	missing := max(0, c.Requested-c.Succeeded-c.Failed-c.DeadLettered-c.Cancelled)
	launchFailed := c.DeadLettered + missing
	switch {
	case r.tolerates(launchFailed+c.Failed, c.Requested):
		return StatusSucceeded, ""
	case !r.tolerates(launchFailed, c.Requested):
		return StatusFailed, ErrLaunchIncomplete
	}
	return StatusFailed, ErrTasksFailed
}

// tolerates reports whether failures out of requested stay within both
// tolerances given (0 failures when none is).
func (r Request) tolerates(failures, requested int) bool {
	if failures == 0 {
		return true
	}
	pct, cnt := r.ToleratedFailurePercentage, r.ToleratedFailureCount
	if pct == nil && cnt == nil {
		return false
	}
	if cnt != nil && failures > *cnt {
		return false
	}
	return pct == nil || float64(failures)*100 <= *pct*float64(requested)
}
