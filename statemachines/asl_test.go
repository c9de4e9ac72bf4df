package statemachines

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// TestASLValidator runs asl-validator on every definition file as stored
// (with ${…} placeholders, which it accepts) and once substituted.
func TestASLValidator(t *testing.T) {
	t.Parallel()
	bin, err := testenv.NodeBin("asl-validator")
	if err != nil {
		t.Skipf("asl-validator missing (node_modules not installed; CI runs make deps first): %v", err)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(bin, "--json-path", filepath.Join(testenv.RepoRoot(), "statemachines", name+".asl.json")).CombinedOutput()
			if err != nil {
				t.Fatalf("asl-validator %s.asl.json: %v\n%s", name, err, out)
			}
			def, err := Load(name, LocalSubstitutions("us-east-1", "bus"))
			if err != nil {
				t.Fatal(err)
			}
			out, err = exec.Command(bin, "--json-definition", string(def)).CombinedOutput()
			if err != nil {
				t.Fatalf("asl-validator on substituted %s: %v\n%s", name, err, out)
			}
		})
	}
}

// state is the part of an ASL state these checks read.
type state struct {
	Type          string
	Retry         []retrier
	Catch         []catcher
	ItemProcessor *machine
	Next          string
	Default       string
	Choices       []struct{ Next string }
	// Map fields.
	ToleratedFailurePercentage *float64
	ToleratedFailureCount      *int
	Iterator                   *machine
	Timestamp                  string
	TimestampPath              string
	SecondsPath                string
}

type catcher struct {
	ErrorEquals []string
	Next        string
}

type retrier struct {
	ErrorEquals []string
	MaxAttempts *int
}

type machine struct {
	StartAt string
	States  map[string]state
}

func parse(t *testing.T, name string) machine {
	t.Helper()
	b, err := Raw(name)
	if err != nil {
		t.Fatal(err)
	}
	var m machine
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// walk calls f for every state, nested Map processors included.
func walk(m machine, f func(name string, s state)) {
	for name, s := range m.States {
		f(name, s)
		if s.ItemProcessor != nil {
			walk(*s.ItemProcessor, f)
		}
		if s.Iterator != nil {
			walk(*s.Iterator, f)
		}
	}
}

// lambdaRuntimeErrors are the error names Lambda gives an invocation whose
// runtime crashed or timed out (the function never answered).
var lambdaRuntimeErrors = []string{"Runtime.ExitError", "Sandbox.Timedout"}

// TestErrorEqualsNames checks every ErrorEquals name is a Step Functions
// (States.*), Lambda service (Lambda.*), Lambda runtime crash/timeout or
// product error name: a typo here would silently never match.
func TestErrorEqualsNames(t *testing.T) {
	t.Parallel()
	known := func(n string) bool {
		return strings.HasPrefix(n, "States.") || strings.HasPrefix(n, "Lambda.") ||
			slices.Contains(lambdaRuntimeErrors, n) || slices.Contains(failure.ErrorNames[:], n)
	}
	for _, name := range Names() {
		n := 0
		walk(parse(t, name), func(sn string, s state) {
			var lists [][]string
			for _, r := range s.Retry {
				lists = append(lists, r.ErrorEquals)
			}
			for _, c := range s.Catch {
				lists = append(lists, c.ErrorEquals)
			}
			for _, l := range lists {
				for _, e := range l {
					n++
					if !known(e) {
						t.Errorf("%s: state %s: ErrorEquals %q is not States.*, Lambda.*, one of %v or one of %v", name, sn, e, lambdaRuntimeErrors, failure.ErrorNames)
					}
				}
			}
		})
		if n == 0 {
			t.Errorf("%s: no ErrorEquals at all", name)
		}
	}
}

// TestRetryPolicy checks the native Retry rules of the design: the chunk's
// launch calls (RunTask, RunTaskAtSlot) retry only Lambda service errors
// natively (every other failure goes through classify and retry, which
// coordinate with the limiter); nothing anywhere retries States.ALL; every
// Lambda task retries Lambda service errors; every task but the launch
// calls also retries a crash or timeout of its function (nothing else would
// catch it) and TransientError/ThrottledError; waits take their length from
// a handler (SecondsPath), never from a timestamp, which the local runner
// cannot scale.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	for _, name := range Names() {
		m := parse(t, name)
		check := func(inChunk bool) func(string, state) {
			return func(sn string, s state) {
				if s.Timestamp != "" || s.TimestampPath != "" {
					t.Errorf("%s: state %s waits on a timestamp; use SecondsPath from a handler", name, sn)
				}
				if s.Type == "Task" {
					launchCall := inChunk && catchesTo(s, "Classify") // RunTask, RunTaskAtSlot
					retried := map[string]bool{}
					for _, r := range s.Retry {
						for _, e := range r.ErrorEquals {
							retried[e] = true
							if e == "States.ALL" || e == "States.TaskFailed" {
								t.Errorf("%s: state %s retries %s natively", name, sn, e)
							}
							if launchCall && !strings.HasPrefix(e, "Lambda.") {
								t.Errorf("%s: chunk state %s retries %s natively; only Lambda.* may be", name, sn, e)
							}
						}
					}
					// Lambda's Invoke API names ResourceNotReadyException
					// (the function is being set up) as one to wait on and retry.
					for _, e := range []string{"Lambda.ServiceException", "Lambda.ResourceNotReadyException"} {
						if !retried[e] {
							t.Errorf("%s: task %s does not retry %s", name, sn, e)
						}
					}
					if !launchCall {
						for _, e := range append([]string{"Lambda.Unknown", "States.Timeout", "TransientError", "ThrottledError"}, lambdaRuntimeErrors...) {
							if !retried[e] {
								t.Errorf("%s: task %s does not retry %s (a crash, timeout or outage would fail the execution)", name, sn, e)
							}
						}
					}
				}
			}
		}
		for sn, s := range m.States {
			check(false)(sn, s)
			if s.ItemProcessor != nil {
				walk(*s.ItemProcessor, check(true))
			}
		}
	}
}

func catchesTo(s state, next string) bool {
	return slices.ContainsFunc(s.Catch, func(c catcher) bool {
		return c.Next == next && slices.Contains(c.ErrorEquals, "States.ALL")
	})
}

// TestChunkFailureNeverAbortsTheMap: a DISTRIBUTED Map without a tolerated
// failure threshold fails its Map Run when one child execution fails, and
// Step Functions then aborts every other child (AWS Step Functions
// Developer Guide: "Setting failure thresholds for Distributed Map states
// in Step Functions"); the aborted chunks' units would be neither launched
// nor dead-lettered. So the Map tolerates every child failure, and every
// Task of the chunk loop catches States.ALL: no error a native retry could
// not absorb ends a chunk by failing it, and no chunk ends in a Fail state.
func TestChunkFailureNeverAbortsTheMap(t *testing.T) {
	t.Parallel()
	m := parse(t, Launch)
	for sn, s := range m.States {
		if s.ItemProcessor == nil {
			continue
		}
		if p := s.ToleratedFailurePercentage; p == nil || *p != 100 {
			t.Errorf("Map %s: ToleratedFailurePercentage %v, want 100", sn, p)
		}
		if s.ToleratedFailureCount != nil {
			t.Errorf("Map %s: ToleratedFailureCount %d: a count threshold would fail the Map Run again", sn, *s.ToleratedFailureCount)
		}
		for cn, c := range s.ItemProcessor.States {
			if c.Type == "Task" && !slices.ContainsFunc(c.Catch, func(c catcher) bool {
				return slices.Contains(c.ErrorEquals, "States.ALL")
			}) {
				t.Errorf("Map %s: task %s has no Catch on States.ALL: its failure would fail the chunk", sn, cn)
			}
			if c.Type == "Fail" {
				t.Errorf("Map %s: state %s fails the chunk; end it with Succeed and let the summary dead-letter it", sn, cn)
			}
		}
	}
}
