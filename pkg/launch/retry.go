package launch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Retry strategy limits (AWS Batch's).
const (
	MaxTaskAttempts   = 10
	MaxEvaluateOnExit = 5
	maxPatternLen     = 512
	// StopCodeSpot is ECS's stop code for a Fargate Spot interruption.
	StopCodeSpot = "SpotInterruption"
	// StopCodeFailedToStart is ECS's stop code for a task that never started.
	StopCodeFailedToStart = "TaskFailedToStart"
)

// Retry actions.
const (
	ActionRetry = "RETRY"
	ActionExit  = "EXIT"
)

// RetryStrategy is AWS Batch's retry strategy for the request's tasks.
// Attempts counts task runs (the first included): a task that started and
// stopped. It is independent of maxAttempts, which counts the RunTask
// calls made to launch one chunk (or one attempt's task): every task
// attempt has its own launch budget. A stop with TaskFailedToStart is a
// launch failure, relaunched by the relaunch path, and spends no attempt.
type RetryStrategy struct {
	Attempts       int              `json:"attempts"`
	EvaluateOnExit []EvaluateOnExit `json:"evaluateOnExit,omitempty"`
}

// EvaluateOnExit is one rule: every condition it gives must match; a
// pattern may end in * to match by prefix.
type EvaluateOnExit struct {
	OnExitCode     string `json:"onExitCode,omitempty"`
	OnStatusReason string `json:"onStatusReason,omitempty"`
	OnReason       string `json:"onReason,omitempty"`
	// Action is RETRY or EXIT, in any case.
	Action string `json:"action"`
}

// TaskExit is how one attempt of a task ended.
type TaskExit struct {
	// Attempt is the attempt that ended, 1 for the first run.
	Attempt int
	// ExitCode is the essential container's exit code; nil when it has none
	// (the container never ran, or the task was stopped before it exited).
	ExitCode *int
	// Reason is the essential container's reason.
	Reason string
	// StatusReason is the task's stoppedReason.
	StatusReason string
	// StopCode is the task's stopCode.
	StopCode string
}

// Decision says what follows an attempt's end.
type Decision struct {
	// Retry: run the task again (a new attempt).
	Retry bool
	// Action is the action that applied (RETRY or EXIT) before the attempt
	// budget is counted: RETRY with Retry false means attempts ran out.
	Action string
	// Entry is the index of the evaluateOnExit entry that matched, or -1.
	Entry int
	// Why explains the decision, for logs and failure reasons.
	Why string
}

var (
	exitCodePatternRe = regexp.MustCompile(`^[0-9]*\*?$`)
	reasonPatternRe   = regexp.MustCompile(`^[A-Za-z0-9.: ]*\*?$`)
)

// TaskAttempts is Attempts with its default (1: no retry, as AWS Batch
// without a retry strategy).
func (s *RetryStrategy) TaskAttempts() int {
	if s == nil || s.Attempts == 0 {
		return 1
	}
	return s.Attempts
}

// Decide applies AWS Batch's rules to an attempt that ended: an exit code
// of 0 succeeded; TaskFailedToStart is a launch failure (Retry, spending
// no attempt: Entry -1, Action RETRY, the relaunch path's business);
// otherwise the first entry whose conditions all match gives the action,
// and when none matches the task is retried — a Spot interruption says so
// in Why. A user entry that matches a Spot interruption wins over that
// default (an EXIT on "onStatusReason": "*" ends it). RETRY retries while
// Attempt < attempts.
func (s RetryStrategy) Decide(e TaskExit) Decision {
	if e.ExitCode != nil && *e.ExitCode == 0 && e.StopCode != StopCodeSpot {
		return Decision{Action: ActionExit, Entry: -1, Why: "exit code 0: succeeded"}
	}
	if e.StopCode == StopCodeFailedToStart {
		return Decision{Retry: true, Action: ActionRetry, Entry: -1, Why: "TaskFailedToStart: a launch failure, relaunched without spending an attempt"}
	}
	d := Decision{Action: ActionRetry, Entry: -1, Why: "no evaluateOnExit entry matched: retried"}
	if e.StopCode == StopCodeSpot {
		d.Why = "Spot interruption: retried"
	}
	for i, r := range s.EvaluateOnExit {
		if r.matches(e) {
			d = Decision{Action: strings.ToUpper(r.Action), Entry: i, Why: fmt.Sprintf("evaluateOnExit[%d] matched: %s", i, strings.ToUpper(r.Action))}
			break
		}
	}
	attempts := s.TaskAttempts()
	d.Retry = d.Action == ActionRetry && e.Attempt < attempts
	if d.Action == ActionRetry && !d.Retry {
		d.Why += fmt.Sprintf(" — but attempt %d of %d was the last", e.Attempt, attempts)
	}
	return d
}

func (r EvaluateOnExit) matches(e TaskExit) bool {
	code := ""
	if e.ExitCode != nil {
		code = strconv.Itoa(*e.ExitCode)
	}
	return matchPattern(r.OnExitCode, code) && matchPattern(r.OnReason, e.Reason) && matchPattern(r.OnStatusReason, e.StatusReason)
}

// matchPattern: an empty pattern is no condition; a trailing * matches by
// prefix (so "*" matches anything, an absent value included); otherwise
// the value must be equal.
func matchPattern(pattern, v string) bool {
	if pattern == "" {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, p)
	}
	return pattern == v
}

func (s *RetryStrategy) problems() []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if s.Attempts < 1 || s.Attempts > MaxTaskAttempts {
		add("retryStrategy.attempts: must be 1..%d, got %d", MaxTaskAttempts, s.Attempts)
	}
	if len(s.EvaluateOnExit) > MaxEvaluateOnExit {
		add("retryStrategy.evaluateOnExit: must have at most %d entries, got %d", MaxEvaluateOnExit, len(s.EvaluateOnExit))
		return p
	}
	for i, r := range s.EvaluateOnExit {
		field := fmt.Sprintf("retryStrategy.evaluateOnExit[%d]", i)
		p = append(p, patternProblem(field+".onExitCode", r.OnExitCode, exitCodePatternRe, "digits")...)
		p = append(p, patternProblem(field+".onStatusReason", r.OnStatusReason, reasonPatternRe, "letters, digits, ., : and spaces")...)
		p = append(p, patternProblem(field+".onReason", r.OnReason, reasonPatternRe, "letters, digits, ., : and spaces")...)
		if a := strings.ToUpper(r.Action); a != ActionRetry && a != ActionExit {
			add("%s.action: must be RETRY or EXIT, got %s", field, quoteClipped(r.Action))
		}
	}
	return p
}

func patternProblem(field, v string, re *regexp.Regexp, chars string) []string {
	if len(v) > maxPatternLen {
		return []string{fmt.Sprintf("%s: must be at most %d characters, got %d", field, maxPatternLen, len(v))}
	}
	if !re.MatchString(v) {
		return []string{fmt.Sprintf("%s: must be %s, optionally ending in * (only there), got %s", field, chars, quoteClipped(v))}
	}
	return nil
}
