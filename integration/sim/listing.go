package sim

import (
	"time"
)

// Listing sets what ListTasks shows. Zero fields take the defaults named.
type Listing struct {
	// StoppedVisibleSeconds is how long a STOPPED task stays in ListTasks
	// (desiredStatus STOPPED) after it stops. Default 3600: AWS documentation
	// (Amazon ECS API Reference: "ListTasks", "DescribeTasks") says recently
	// stopped tasks may be listed and stay describable for at least an
	// hour. Negative: forever.
	StoppedVisibleSeconds float64 `json:"stoppedVisibleSeconds,omitempty"`
	// NewTaskDelaySeconds bounds how long a new task is missing from
	// ListTasks: each task gets a seeded delay in [0, NewTaskDelaySeconds),
	// as the ECS API is eventually consistent (Amazon ECS API Reference:
	// "RunTask"). Default 1; negative: none.
	NewTaskDelaySeconds float64 `json:"newTaskDelaySeconds,omitempty"`
}

func (l Listing) withDefaults() Listing {
	if l.StoppedVisibleSeconds == 0 {
		l.StoppedVisibleSeconds = 3600
	}
	if l.NewTaskDelaySeconds == 0 {
		l.NewTaskDelaySeconds = 1
	}
	return l
}

// listDelay is a task's seeded delay before ListTasks shows it, drawn from
// its ID so that it does not shift the simulator's ID sequence.
func (s *Sim) listDelay(id string) time.Duration {
	d := s.cfg.Listing.NewTaskDelaySeconds
	if d <= 0 {
		return 0
	}
	frac := s.draw(id, drawList)
	return secs(d * frac)
}

// listed reports whether ListTasks shows t at now: past its visibility
// delay and, once STOPPED, within StoppedVisibleSeconds of stopping.
func (s *Sim) listed(t *task, now time.Time) bool {
	if now.Before(t.listedFrom) {
		return false
	}
	v := s.cfg.Listing.StoppedVisibleSeconds
	if t.lastStatus != StatusStopped || v < 0 {
		return true
	}
	return now.Before(t.stoppedAt.Add(secs(v)))
}
