package cli

import (
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// On the local stack, `limits set` lowering ecs:FargateTasks slows the
// launches of a warm fleet (no deploy, no restart): 100 tasks go out in
// a burst under the built-in 20 per s, and at about 2 per s beyond the
// new burst allowance after the set.
func TestLimitsSetLocal(t *testing.T) {
	t.Parallel()
	l := startLocal(t, sim.Config{})
	span := func(id string) time.Duration {
		t.Helper()
		if r := l.run(t, "submit", writeRequest(t, id, 100, nil)); r.code != ExitOK {
			t.Fatalf("submit %s: exit %d: %s", id, r.code, r.stderr)
		}
		if st := l.waitDone(t, id); st.Launched != 100 {
			t.Fatalf("%s: %d of 100 launched", id, st.Launched)
		}
		var first, last time.Time
		for _, e := range l.stack.Sim.Ledger().For(launch.RequestHash(id)) {
			if first.IsZero() || e.LaunchedAt.Before(first) {
				first = e.LaunchedAt
			}
			if e.LaunchedAt.After(last) {
				last = e.LaunchedAt
			}
		}
		return last.Sub(first)
	}
	before := span("limits-before")
	doc := docFile(t, `{"actions":{"ecs:FargateTasks":{"burst":20,"rate":2}}}`)
	if r := l.run(t, "limits", "set", "--file", doc); r.code != ExitOK {
		t.Fatalf("limits set: exit %d: %s", r.code, r.stderr)
	}
	after := span("limits-after")
	t.Logf("100 tasks launched over %v at the built-in limits, %v after the set (simulated)", before, after)
	// About 18 tasks at once (the new burst × 0.9), the rest at 2 per s:
	// about 40 s. Without the set, every warm sandbox's first take of the
	// second request would be timed at 20 per s (4 s in all).
	if before > 10*time.Second || after < 30*time.Second {
		t.Fatalf("launch spans %v before, %v after lowering the rate to 2 per s: want ≤ 10 s, then ≥ 30 s", before, after)
	}
}
