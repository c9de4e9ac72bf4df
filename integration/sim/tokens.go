package sim

import (
	"fmt"
	"time"
)

// Tokens sets how long RunTask and RunInstances client tokens stay bound to
// their first answer. Zero fields take the defaults named.
type Tokens struct {
	// LifetimeSeconds is a token's lifetime from its first use. Default
	// 86400: AWS documentation ("Ensuring idempotency", Amazon ECS API
	// Reference) gives RunTask tokens 24 hours, and the simulator applies
	// the same to EC2 RunInstances tokens ("Ensuring idempotency in Amazon
	// EC2 API requests"). After it, a reused token launches anew.
	LifetimeSeconds float64 `json:"lifetimeSeconds,omitempty"`
	// AfterStopSeconds is the second bound on a RunTask token: it expires
	// this long after the last task launched under it stops, if that comes
	// before LifetimeSeconds. Default 3600, the hour a stopped task stays
	// visible; negative disables the bound. A token bound only to
	// failures[] (no tasks) lives LifetimeSeconds.
	AfterStopSeconds float64 `json:"afterStopSeconds,omitempty"`
	// FailuresDoNotBind stops a RunTask answer that launched no task (only
	// failures[]) from binding its token, so a retry with the token launches
	// anew. Default false: such an answer binds the token like any other,
	// and a retry with it replays the failures — the harsher case for a
	// caller, which must take a new token after failures[].
	FailuresDoNotBind bool `json:"failuresDoNotBind,omitempty"`
}

func (t Tokens) withDefaults() Tokens {
	if t.LifetimeSeconds == 0 {
		t.LifetimeSeconds = 24 * 3600
	}
	if t.AfterStopSeconds == 0 {
		t.AfterStopSeconds = 3600
	}
	return t
}

func (t Tokens) validate() error {
	if t.LifetimeSeconds < 0 {
		return fmt.Errorf("sim: Tokens.LifetimeSeconds must be ≥ 0, got %v", t.LifetimeSeconds)
	}
	return nil
}

// ecsTokenLive reports whether a RunTask token's binding still holds at now.
// Callers hold s.mu.
func (s *Sim) ecsTokenLive(p *ecsIdem, now time.Time) bool {
	tk := s.cfg.Tokens
	if !now.Before(p.issued.Add(secs(tk.LifetimeSeconds))) {
		return false
	}
	if tk.AfterStopSeconds < 0 || len(p.tasks) == 0 {
		return true
	}
	var last time.Time
	for _, t := range p.tasks {
		if t.lastStatus != StatusStopped {
			return true
		}
		if t.stoppedAt.After(last) {
			last = t.stoppedAt
		}
	}
	return now.Before(last.Add(secs(tk.AfterStopSeconds)))
}

// bindsToken reports whether a RunTask answer binds its client token.
func (s *Sim) bindsToken(tasks []*task) bool {
	return len(tasks) > 0 || !s.cfg.Tokens.FailuresDoNotBind
}

// CertainWindow is how long after a token's first use it certainly still
// binds, whatever its tasks do: the lifetime, or the after-stop bound when
// that is shorter (tasks cannot stop before the call that launched them).
// The local stack gives the product this as its token lifetime.
func (t Tokens) CertainWindow() time.Duration {
	t = t.withDefaults()
	w := t.LifetimeSeconds
	if t.AfterStopSeconds > 0 {
		w = min(w, t.AfterStopSeconds)
	}
	return time.Duration(w * float64(time.Second))
}
