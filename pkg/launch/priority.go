package launch

import "fmt"

// Priorities of a request (its "priority" field): the limiter lane its
// calls queue in. A higher lane is served ahead of what lower lanes have
// queued; see pkg/limiter, "Lanes".
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// Lane is the request's priority, PriorityNormal when absent.
func (r Request) Lane() string {
	if r.Priority == "" {
		return PriorityNormal
	}
	return r.Priority
}

// priorityProblems checks priority; valid in both request versions.
func (r Request) priorityProblems() []string {
	switch r.Priority {
	case "", PriorityHigh, PriorityNormal, PriorityLow:
		return nil
	}
	return []string{fmt.Sprintf("priority: must be high, normal or low, got %s", quoteClipped(r.Priority))}
}
