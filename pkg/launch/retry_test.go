package launch_test

import (
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

func code(n int) *int { return &n }

// TestRetryDecide: AWS Batch's evaluateOnExit rules, one row per rule.
func TestRetryDecide(t *testing.T) {
	t.Parallel()
	rules := []launch.EvaluateOnExit{
		{OnExitCode: "137", Action: "exit"},                                        // 0: exact code, lower-case action
		{OnStatusReason: "Essential container*", OnExitCode: "1", Action: "Retry"}, // 1: two conditions
		{OnReason: "OutOfMemoryError*", Action: "EXIT"},                            // 2: prefix
		{OnExitCode: "4*", Action: "EXIT"},                                         // 3: code prefix
		{OnStatusReason: "Host EC2*", Action: "RETRY"},                             // 4
	}
	s := launch.RetryStrategy{Attempts: 3, EvaluateOnExit: rules}
	tests := []struct {
		name      string
		e         launch.TaskExit
		retry     bool
		action    string
		entry     int
		whyPrefix string
	}{
		{"succeeded", launch.TaskExit{Attempt: 1, ExitCode: code(0)}, false, "EXIT", -1, "exit code 0"},
		{"exact code, action case-insensitive", launch.TaskExit{Attempt: 1, ExitCode: code(137)}, false, "EXIT", 0, "evaluateOnExit[0]"},
		{"exact code does not match a longer one", launch.TaskExit{Attempt: 1, ExitCode: code(1370), StatusReason: "x"}, true, "RETRY", -1, "no evaluateOnExit entry"},
		{"both conditions match", launch.TaskExit{Attempt: 1, ExitCode: code(1), StatusReason: "Essential container in task exited"}, true, "RETRY", 1, "evaluateOnExit[1]"},
		{"one of two conditions fails", launch.TaskExit{Attempt: 1, ExitCode: code(2), StatusReason: "Essential container in task exited"}, true, "RETRY", -1, "no evaluateOnExit entry"},
		{"prefix on reason", launch.TaskExit{Attempt: 1, ExitCode: code(1), Reason: "OutOfMemoryError: Container killed"}, false, "EXIT", 2, "evaluateOnExit[2]"},
		{"first match wins", launch.TaskExit{Attempt: 1, ExitCode: code(1), StatusReason: "Essential container", Reason: "OutOfMemoryError"}, true, "RETRY", 1, "evaluateOnExit[1]"},
		{"code prefix", launch.TaskExit{Attempt: 1, ExitCode: code(42)}, false, "EXIT", 3, "evaluateOnExit[3]"},
		{"no code does not match a code", launch.TaskExit{Attempt: 1, StatusReason: "Task stopped by user"}, true, "RETRY", -1, "no evaluateOnExit entry"},
		{"no entry matches: retried", launch.TaskExit{Attempt: 2, ExitCode: code(3)}, true, "RETRY", -1, "no evaluateOnExit entry"},
		{"no entry matches, last attempt", launch.TaskExit{Attempt: 3, ExitCode: code(3)}, false, "RETRY", -1, "no evaluateOnExit entry"},
		{"matching RETRY, last attempt", launch.TaskExit{Attempt: 3, StatusReason: "Host EC2 (instance i-1) terminated."}, false, "RETRY", 4, "evaluateOnExit[4]"},
		{"spot by default", launch.TaskExit{Attempt: 1, StopCode: "SpotInterruption", StatusReason: "Your Spot Task was interrupted."}, true, "RETRY", -1, "Spot interruption"},
		{"spot exit 0 is not success", launch.TaskExit{Attempt: 1, ExitCode: code(0), StopCode: "SpotInterruption"}, true, "RETRY", -1, "Spot interruption"},
		{"failed to start spends no attempt", launch.TaskExit{Attempt: 3, StopCode: "TaskFailedToStart", StatusReason: "CannotPullContainerError"}, true, "RETRY", -1, "TaskFailedToStart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := s.Decide(tt.e)
			if d.Retry != tt.retry || d.Action != tt.action || d.Entry != tt.entry || !strings.HasPrefix(d.Why, tt.whyPrefix) {
				t.Fatalf("got %+v, want retry %v action %s entry %d why %q…", d, tt.retry, tt.action, tt.entry, tt.whyPrefix)
			}
		})
	}
}

// TestRetrySpotUserEntryWins: a user entry that matches a Spot
// interruption decides it; the default applies only when none does.
func TestRetrySpotUserEntryWins(t *testing.T) {
	t.Parallel()
	spot := launch.TaskExit{Attempt: 1, StopCode: "SpotInterruption", StatusReason: "Your Spot Task was interrupted."}
	exitAll := launch.RetryStrategy{Attempts: 5, EvaluateOnExit: []launch.EvaluateOnExit{{OnStatusReason: "*", Action: "EXIT"}}}
	if d := exitAll.Decide(spot); d.Retry || d.Entry != 0 {
		t.Errorf("user EXIT on *: got %+v, want the entry to end it", d)
	}
	other := launch.RetryStrategy{Attempts: 5, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "1", Action: "EXIT"}}}
	if d := other.Decide(spot); !d.Retry || d.Entry != -1 {
		t.Errorf("no entry matches: got %+v, want the Spot default (retry)", d)
	}
}

// TestRetryDefaultAttempts: without a strategy a task runs once (AWS
// Batch's default): a Spot interruption is not retried either.
func TestRetryDefaultAttempts(t *testing.T) {
	t.Parallel()
	var none *launch.RetryStrategy
	if got := none.TaskAttempts(); got != 1 {
		t.Fatalf("TaskAttempts of none: got %d, want 1", got)
	}
	if d := (launch.RetryStrategy{}).Decide(launch.TaskExit{Attempt: 1, StopCode: "SpotInterruption"}); d.Retry {
		t.Fatalf("got %+v, want no retry after the only attempt", d)
	}
}

// TestRetryStrategyValidation: Batch's limits on attempts, entries and
// patterns ("*" only at the end), each naming its field.
func TestRetryStrategyValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 513)
	tests := []struct {
		name string
		s    launch.RetryStrategy
		want string // "" = valid
	}{
		{"valid", launch.RetryStrategy{Attempts: 10, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "12*", OnReason: "Out: of. mem*", OnStatusReason: "*", Action: "retry"}}}, ""},
		{"attempts 0", launch.RetryStrategy{}, "retryStrategy.attempts: must be 1..10, got 0"},
		{"attempts 11", launch.RetryStrategy{Attempts: 11}, "retryStrategy.attempts: must be 1..10, got 11"},
		{"six entries", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: make([]launch.EvaluateOnExit, 6)}, "retryStrategy.evaluateOnExit: must have at most 5 entries, got 6"},
		{"star inside code", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "1*2", Action: "EXIT"}}}, "retryStrategy.evaluateOnExit[0].onExitCode: must be digits"},
		{"letters in code", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "-1", Action: "EXIT"}}}, "retryStrategy.evaluateOnExit[0].onExitCode"},
		{"star first in reason", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnReason: "*Error", Action: "EXIT"}}}, "retryStrategy.evaluateOnExit[0].onReason: must be letters"},
		{"punctuation in status reason", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnStatusReason: "a(b)", Action: "EXIT"}}}, "retryStrategy.evaluateOnExit[0].onStatusReason"},
		{"reason too long", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnReason: long, Action: "EXIT"}}}, "retryStrategy.evaluateOnExit[0].onReason: must be at most 512 characters, got 513"},
		{"action unknown", launch.RetryStrategy{Attempts: 2, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "1", Action: "STOP"}}}, `retryStrategy.evaluateOnExit[0].action: must be RETRY or EXIT, got "STOP"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := itemsRequest(t)
			r.RetryStrategy = &tt.s
			checkProblem(t, r.Validate(), tt.want)
		})
	}
}

// TestRetryStarAlone: "*" matches anything, an absent exit code included;
// "1*" needs a code starting with 1.
func TestRetryStarAlone(t *testing.T) {
	t.Parallel()
	s := launch.RetryStrategy{Attempts: 4, EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "1*", Action: "RETRY"}, {OnExitCode: "*", Action: "EXIT"}}}
	for _, tt := range []struct {
		e     launch.TaskExit
		entry int
	}{
		{launch.TaskExit{Attempt: 1, StatusReason: "stopped"}, 1},
		{launch.TaskExit{Attempt: 1, ExitCode: code(2)}, 1},
		{launch.TaskExit{Attempt: 1, ExitCode: code(12)}, 0},
	} {
		if d := s.Decide(tt.e); d.Entry != tt.entry || d.Retry != (tt.entry == 0) {
			t.Errorf("Decide(%+v) = %+v, want entry %d", tt.e, d, tt.entry)
		}
	}
}
