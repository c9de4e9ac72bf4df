package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// cancelResult is cancel's JSON answer.
type cancelResult struct {
	Stopped               bool
	Execution             string
	Closed                string
	Event                 string
	Requested, Launched   int
	DeadLettered          int
	CancelledBeforeLaunch int
	StoppedLaunched       int
}

// TestCancelStopsLaunchedLocal: cancel marks the request cancelled (the
// relaunch path's check), puts LaunchCancelled with launched +
// dead-lettered + cancelled before launch = requested, and with
// --stop-launched stops every launched task once confirmed — refused
// without a "y" on stdin, not asked with --yes.
func TestCancelStopsLaunchedLocal(t *testing.T) {
	t.Parallel()
	l := startLocal(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 10, Rate: 10}}})
	if r := l.run(t, "submit", writeRequest(t, "cli-stop", 300, nil)); r.code != ExitOK {
		t.Fatalf("submit: %s", r.stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := l.run(t, "status", "cli-stop")
		var st Status
		if r.code == ExitOK && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Launched > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing launched in 30 s: %s %s", r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	env := l.env
	env.Stdin = strings.NewReader("n\n")
	r := run(t, env, "cancel", "--stop-launched", "cli-stop")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "not confirmed") || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("cancel --stop-launched answered n: exit %d, stderr %s; want refused, naming --yes", r.code, r.stderr)
	}
	var res cancelResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Stopped || res.Closed != "cancelled" || res.Event != launch.DetailLaunchCancelled {
		t.Fatalf("cancel: stdout %s (%v): want the execution stopped, the request cancelled, LaunchCancelled put", r.stdout, err)
	}
	if res.Launched+res.DeadLettered+res.CancelledBeforeLaunch != res.Requested || res.CancelledBeforeLaunch == 0 {
		t.Errorf("counts %+v: want launched + dead-lettered + cancelled before launch = requested", res)
	}
	// The invocations in flight at the stop answer; then every launched
	// task is in the table.
	var st Status
	for range 50 {
		if st = l.waitDone(t, "cli-stop"); len(st.IDs) == len(l.ledgerIDs("cli-stop")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("before --stop-launched: %s, table %d IDs (launched %d), ledger %d", st.Execution, len(st.IDs), st.Launched, len(l.ledgerIDs("cli-stop")))
	r = l.run(t, "cancel", "--stop-launched", "--yes", "cli-stop")
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &res) != nil || res.StoppedLaunched == 0 || res.Stopped {
		t.Fatalf("cancel --stop-launched --yes: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	// Runtask invocations in flight at the stop may still launch after the
	// listing (stopping an execution stops no running Lambda invocation,
	// and runtask does not read the cancelled mark); what was listed is
	// stopped: the simulator stops each task with StopTask's code after
	// its stop delay.
	if res.StoppedLaunched < len(st.IDs) {
		t.Errorf("stopped %d, want at least the %d the table listed before", res.StoppedLaunched, len(st.IDs))
	}
	stoppedByUser := func() int {
		n := 0
		for _, e := range l.stack.Sim.Ledger().For(launch.RequestHash("cli-stop")) {
			if e.StopCode == sim.StopUserInitiated {
				n++
			}
		}
		return n
	}
	for end := time.Now().Add(15 * time.Second); stoppedByUser() < res.StoppedLaunched && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("stopped %d; ledger now %d launched", res.StoppedLaunched, len(l.ledgerIDs("cli-stop")))
	if n := stoppedByUser(); n != res.StoppedLaunched {
		t.Errorf("the simulator stopped %d tasks with StopTask, cancel reports %d", n, res.StoppedLaunched)
	}
	if strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("--yes still asked: %s", r.stderr)
	}
}

func TestCancelFlagErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		want string
	}{
		"yes alone": {[]string{"cancel", "--yes", "r1"}, "--yes only confirms --stop-launched"},
		"two ids":   {[]string{"cancel", "--stop-launched", "r1", "r2"}, "cancel: want <requestId>, got 2"},
		"bad flag":  {[]string{"cancel", "--stop-launch", "r1"}, "-stop-launch"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{}, tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, tt.want)
			}
		})
	}
}
