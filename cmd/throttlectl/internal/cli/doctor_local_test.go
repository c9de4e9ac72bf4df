package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
)

// doctorReport runs doctor with --output json and decodes its list.
func doctorReport(t *testing.T, l *local, args ...string) (int, map[string]Check, string) {
	t.Helper()
	r := l.run(t, append([]string{"doctor", "--output", "json"}, args...)...)
	var checks []Check
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatalf("doctor --output json: exit %d, not a JSON list: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	byName := map[string]Check{}
	for _, c := range checks {
		if _, dup := byName[c.Name]; dup {
			t.Errorf("two checks named %q", c.Name)
		}
		if !slices.Contains([]string{statusPass, statusFail, statusSkipped, statusAssumed}, c.Status) || c.Detail == "" {
			t.Errorf("check %+v: want a status of pass/fail/skipped/assumed and a detail", c)
		}
		byName[c.Name] = c
	}
	return r.code, byName, r.stdout
}

// TestDoctorLocal: on the local AWS as every test starts it, doctor
// passes: every check that can run here passes, the stack checks and the
// EC2 quota are skipped (no CloudFormation, no EC2 launch configured), the
// API rate limits are assumed.
func TestDoctorLocal(t *testing.T) {
	t.Parallel()
	l := startLocalWith(t, awslocal.Options{Account: awslocal.AccountOptions{Roles: []string{"job-task"}}})
	code, checks, out := doctorReport(t, l, "--task-roles", "job-task", "--task-definitions", "job:1")
	if code != ExitOK {
		t.Fatalf("doctor on the local AWS: exit %d\n%s", code, out)
	}
	want := map[string]string{
		"stack outputs": statusSkipped, "stack resources": statusSkipped, "state machine": statusPass, "event bus": statusPass,
		"table": statusPass, "limiter table": statusPass, "dead-letter queue": statusPass, "relaunch queue": statusPass, "results bucket": statusPass,
		"rule ecs-service-throttled": statusPass, "rule ecs-task-failed-to-start": statusPass, "rule launch-requested": statusPass,
		"functions": statusPass, "lambda concurrency": statusPass, "quota fargate vcpu": statusPass, "quota ec2 vcpu": statusSkipped,
		"api rate limits": statusAssumed, "task roles": statusPass,
	}
	for name, status := range want {
		if c, ok := checks[name]; !ok || c.Status != status {
			t.Errorf("check %q: %+v, want %s", name, c, status)
		}
	}
	if len(checks) != len(want) {
		t.Errorf("%d checks, want %d:\n%s", len(checks), len(want), out)
	}
	wantDetails(t, checks, map[string]string{
		"functions":          "runtask (reserved 100)",
		"lambda concurrency": "account limit 1000, 880 unreserved",
		"quota fargate vcpu": "quota 4000 vCPU; the ecs:FargateTasks burst of 100 tasks at 0.25 vCPU (task definition job:1) need 25",
		"state machine":      "Map MaxConcurrency 100",
	})
	// The local AWS has no CloudFormation: --stack-name's checks are
	// skipped, the names come from the TH_* variables.
	code, checks, out = doctorReport(t, l, "--stack-name", "ThrottleHandler")
	if c := checks["stack outputs"]; code != ExitOK || c.Status != statusSkipped || !strings.Contains(c.Detail, "not served") {
		t.Errorf("--stack-name on the local AWS: exit %d, %+v\n%s", code, c, out)
	}
	// --strict: the skipped stack checks fail the run.
	if r := l.run(t, "doctor", "--strict", "--task-roles", "job-task"); r.code != ExitFailure {
		t.Errorf("doctor --strict with skipped checks: exit %d, want %d", r.code, ExitFailure)
	}
	// A role that does not exist fails the run, naming it.
	code, checks, _ = doctorReport(t, l, "--task-roles", "job-task,no-such-role")
	if c := checks["task roles"]; code != ExitFailure || c.Status != statusFail || !strings.Contains(c.Detail, "no-such-role") || c.Fix == "" {
		t.Errorf("a missing role: exit %d, %+v", code, c)
	}
	// The table output: one row per check, the fixes under failures.
	r := l.run(t, "doctor", "--output", "table")
	if r.code != ExitOK || !strings.Contains(r.stdout, "lambda concurrency") || !strings.Contains(r.stdout, "PASS") {
		t.Errorf("doctor --output table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDoctorLocalLowConcurrency: with the account's Lambda concurrency at
// 220, the stack's reservations (120) leave 100 unreserved (Lambda's
// floor), fewer than the launch Map's 100 concurrent classify invocations
// and the other unreserved functions need: doctor fails
// with exit status 1 and names the quota to ask for.
func TestDoctorLocalLowConcurrency(t *testing.T) {
	t.Parallel()
	l := startLocalWith(t, awslocal.Options{Services: awslocal.ServicesOptions{Lambda: func(o *lambdasvc.Options) { o.Concurrency = 220 }}})
	code, checks, out := doctorReport(t, l)
	c := checks["lambda concurrency"]
	if code != ExitFailure || c.Status != statusFail {
		t.Fatalf("exit %d, lambda concurrency %+v; want exit 1 and a failure\n%s", code, c, out)
	}
	// 103 needed (the Map's 100 classify calls, plan, summary, submit), 100
	// free: a limit of 220 + 3.
	for _, want := range []string{"account limit 220, 100 unreserved", "need 103 at once", "Concurrent executions to at least 223", "--quota-code L-B99A9384", "or free 3"} {
		if !strings.Contains(c.Detail+c.Fix, want) {
			t.Errorf("lambda concurrency check %+v lacks %q", c, want)
		}
	}
	if checks["functions"].Status != statusPass {
		t.Errorf("functions: %+v", checks["functions"])
	}
}
