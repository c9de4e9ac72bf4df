package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// runFake runs doctor against f with --stack-name and the given flags.
func runFake(t *testing.T, f *fakeAWS, edit func(*doctorFlags)) map[string]Check {
	t.Helper()
	cfg, err := config.Load(config.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	fl := doctorFlags{stack: fakeStack}
	if edit != nil {
		edit(&fl)
	}
	out := map[string]Check{}
	for _, c := range newDoctor(f.clients(), cfg, fl).run(context.Background()) {
		out[c.Name] = c
	}
	return out
}

// TestDoctorHealthyStack: a stack as deployed, every check passes, the
// names and roles read from the stack alone.
func TestDoctorHealthyStack(t *testing.T) {
	t.Parallel()
	checks := runFake(t, newFakeAWS(), nil)
	for name, c := range checks {
		want := statusPass
		if name == "api rate limits" {
			want = statusAssumed
		}
		if c.Status != want || (c.Status == statusPass && c.Fix != "") {
			t.Errorf("%s: %+v, want %s", name, c, want)
		}
	}
	wantDetails(t, checks, map[string]string{
		"task roles":         "job-task, job-exec",
		"quota fargate vcpu": "at 1 vCPU (task definition job:3) need 100",
		"quota ec2 vcpu":     "one RunInstances call of 100 instances at 2 vCPU needs 200",
		"stack resources":    "6 functions",
		"relaunch queue":     ":relaunch",
		"results bucket":     "throttlehandler-resultsbucket-x1",
		"lambda concurrency": "1000, 880 unreserved; the stack reserves retry 20, runtask 100",
		"limiter table":      "the product table; buckets keyed by 111122223333/us-east-1",
	})
}

// wantDetails checks each named check's detail holds its fragment.
func wantDetails(t *testing.T, checks map[string]Check, fragments map[string]string) {
	t.Helper()
	for name, fragment := range fragments {
		if !strings.Contains(checks[name].Detail, fragment) {
			t.Errorf("check %q: detail %q lacks %q", name, checks[name].Detail, fragment)
		}
	}
}

// TestDoctorFailures breaks one thing at a time: each check fails (or
// skips) alone, and its fix names what to do.
func TestDoctorFailures(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		breakIt    func(f *fakeAWS)
		flags      func(*doctorFlags)
		check      string
		status     string
		detail     string
		fix        string
		alsoFailed []string
	}{
		"stack rolled back": {breakIt: func(f *fakeAWS) { f.stackStatus = cfntypes.StackStatusRollbackComplete },
			check: "stack outputs", status: statusFail, detail: "ROLLBACK_COMPLETE", fix: "describe-stack-events"},
		"an output missing": {breakIt: func(f *fakeAWS) { delete(f.outputs, "EventBusName") },
			check: "stack outputs", status: statusFail, detail: "lacks the outputs EventBusName", fix: "make deploy",
			alsoFailed: []string{"event bus"}},
		"a resource failed": {breakIt: func(f *fakeAWS) { f.resources[0].ResourceStatus = cfntypes.ResourceStatusUpdateFailed },
			check: "stack resources", status: statusFail, detail: "1 of 9 resources not in place: ClassifyFunction1A2B3C4D UPDATE_FAILED", fix: "describe-stack-events"},
		"no stack": {flags: func(fl *doctorFlags) { fl.stack = "Other" },
			check: "stack outputs", status: statusFail, detail: "ValidationError", fix: "--stack-name",
			alsoFailed: []string{"state machine", "event bus", "table"}},
		"state machine deleted": {breakIt: func(f *fakeAWS) { f.definition = "" },
			check: "state machine", status: statusFail, detail: "StateMachineDoesNotExist", fix: "make deploy"},
		"state machine unknown: concurrency not judged": {breakIt: func(f *fakeAWS) { f.definition = "" },
			check: "lambda concurrency", status: statusSkipped, detail: "the Map's concurrency is unknown",
			alsoFailed: []string{"state machine"}},
		"rule disabled": {breakIt: func(f *fakeAWS) { f.rules["default"][0].State = ebtypes.RuleStateDisabled },
			check: "rule ecs-service-throttled", status: statusFail, detail: "is DISABLED", fix: "aws events enable-rule --name ThrottleHandler-ecs-service-throttled --event-bus-name default"},
		"rule gone": {breakIt: func(f *fakeAWS) { f.rules[fakeBus] = nil },
			check: "rule launch-requested", status: statusFail, detail: "no rule on bus ThrottleHandlerBus has the pattern of statemachines/rules/launch-requested.json", fix: "make deploy"},
		"rule to the wrong queue": {breakIt: func(f *fakeAWS) { f.targets[fakeStack+"-ecs-task-failed-to-start"] = []string{queueARN(fakeDLQ)} },
			check: "rule ecs-task-failed-to-start", status: statusFail, detail: "not the relaunch queue", fix: "make deploy"},
		"rule to another function": {breakIt: func(f *fakeAWS) {
			f.targets[fakeStack+"-ecs-service-throttled"] = []string{"arn:aws:lambda:us-east-1:1:function:other"}
		},
			check: "rule ecs-service-throttled", status: statusFail, detail: "not the retry function", fix: "make deploy"},
		"function deleted": {breakIt: func(f *fakeAWS) { delete(f.functions, fakeStack+"-SummaryFunction-x1") },
			check: "functions", status: statusFail, detail: "missing: summary", fix: "make deploy"},
		"reservation of 0": {breakIt: func(f *fakeAWS) { f.reserved[fakeStack+"-RetryFunction-x1"] = 0 },
			check: "lambda concurrency", status: statusFail, detail: "retry has reserved concurrency 0", fix: "delete-function-concurrency --function-name ThrottleHandler-RetryFunction-x1"},
		"concurrency too low": {breakIt: func(f *fakeAWS) { f.limit = 400 },
			check: "lambda concurrency", status: statusFail, detail: "account limit 400, 280 unreserved", fix: "at least 523 (aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value 523), or free 123"},
		"other reservations eat the pool": {breakIt: func(f *fakeAWS) { f.reserved["someone-else"] = 800 },
			check: "lambda concurrency", status: statusFail, detail: "80 unreserved", fix: "free 323"},
		"runtask unreserved and no floor left": {breakIt: func(f *fakeAWS) {
			delete(f.reserved, fakeStack+"-RunTaskFunction-x1")
			f.limit = 420
		}, check: "lambda concurrency", status: statusFail, detail: "400 unreserved", fix: "at least 423"},
		"new account Fargate quota": {breakIt: func(f *fakeAWS) { f.quotas[quotaFargate] = 6 },
			check: "quota fargate vcpu", status: statusFail, detail: "quota 6 vCPU; the ecs:FargateTasks burst of 100 tasks at 1 vCPU", fix: "--desired-value 100), or lower the ecs:FargateTasks burst to 6"},
		"--tasks over the quota": {flags: func(fl *doctorFlags) { fl.tasks = 5000 },
			check: "quota fargate vcpu", status: statusFail, detail: "--tasks 5000 at 1 vCPU", fix: "--desired-value 5000"},
		"EC2 quota": {breakIt: func(f *fakeAWS) { f.quotas[quotaEC2] = 32 },
			check: "quota ec2 vcpu", status: statusFail, detail: "quota 32 vCPU", fix: "--service-code ec2 --quota-code L-1216C47A --desired-value 200), or lower the ec2:Instances burst to 16"},
		"quotas not readable": {breakIt: func(f *fakeAWS) { f.errs["GetServiceQuota"] = apiErr("AccessDeniedException") },
			check: "quota fargate vcpu", status: statusFail, detail: "AccessDeniedException", fix: "allow this caller servicequotas:GetServiceQuota",
			alsoFailed: []string{"quota ec2 vcpu"}},
		"a stack without ECS": {breakIt: func(f *fakeAWS) { f.template = `{"Resources":{}}` },
			check: "quota fargate vcpu", status: statusSkipped, detail: "the stack runs no ECS task definitions"},
		"a role missing": {breakIt: func(f *fakeAWS) { delete(f.roles, "job-exec") },
			check: "task roles", status: statusFail, detail: "missing: job-exec", fix: "create the roles"},
		"roles from the flag": {flags: func(fl *doctorFlags) { fl.taskRoles = "job-task, nope" },
			check: "task roles", status: statusFail, detail: "missing: nope", fix: "create the roles"},
		"shared limiter table missing": {breakIt: func(f *fakeAWS) { f.outputs["LimiterTableName"] = "shared-limiter" },
			check: "limiter table", status: statusFail, detail: "ResourceNotFoundException", fix: "create shared-limiter in this account and Region (string partition key pk, string sort key sk"},
		"shared limiter table with other keys": {breakIt: func(f *fakeAWS) {
			f.outputs["LimiterTableName"] = "shared-limiter"
			f.tables = map[string][]ddbtypes.KeySchemaElement{"shared-limiter": {{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}}}
		},
			check: "limiter table", status: statusFail, detail: "does not have the key schema pk (HASH), sk (RANGE)", fix: "limiterTableName"},
		"no CloudFormation here": {breakIt: func(f *fakeAWS) { f.errs["DescribeStacks"] = apiErr("UnknownOperationException") },
			check: "stack outputs", status: statusSkipped, detail: "not served by this endpoint",
			alsoFailed: []string{"state machine", "event bus", "table"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAWS()
			if tc.breakIt != nil {
				tc.breakIt(f)
			}
			checks := runFake(t, f, tc.flags)
			c := checks[tc.check]
			if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("%s: %+v\nwant %s, detail with %q, fix with %q", tc.check, c, tc.status, tc.detail, tc.fix)
			}
			var failed []string
			for n, c := range checks {
				if c.Status == statusFail && n != tc.check {
					failed = append(failed, n)
				}
			}
			if !sameSet(failed, tc.alsoFailed) {
				t.Errorf("other checks failed: %v, want %v", failed, tc.alsoFailed)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestConcurrencyDemand: the Map counts once, in full, when any function
// it invokes is unreserved; each unreserved function outside it counts 1.
func TestConcurrencyDemand(t *testing.T) {
	t.Parallel()
	fns := map[string]string{"plan": "p", "runtask": "r", "classify": "c", "retry": "x", "summary": "s", "submit": "u"}
	inMap := map[string]bool{"runtask": true, "classify": true, "retry": true}
	tests := []struct {
		name     string
		reserved map[string]int
		want     int
	}{
		{"the stack's reservations", map[string]int{"runtask": 100, "retry": 20}, 403},
		{"nothing reserved", nil, 403},
		{"every Map function reserved", map[string]int{"runtask": 100, "retry": 20, "classify": 50}, 3},
		{"everything reserved", map[string]int{"runtask": 1, "retry": 1, "classify": 1, "plan": 1, "summary": 1, "submit": 1}, 0},
	}
	for _, tc := range tests {
		got, _ := target{functions: fns, inMap: inMap, reserved: tc.reserved, mapConcurrency: 400}.concurrencyDemand()
		if got != tc.want {
			t.Errorf("%s: demand %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPolicyResources reads roles, task definitions and EC2 from policy
// statements as CDK writes them (Fn::Join of ARNs, paths, wildcards).
func TestPolicyResources(t *testing.T) {
	t.Parallel()
	tmpl := map[string]any{"Statement": []any{
		map[string]any{"Action": "iam:PassRole", "Resource": []any{
			map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::", map[string]any{"Ref": "AWS::AccountId"}, ":role/job-task"}}},
			"arn:aws:iam::111122223333:role/teams/job-exec", "arn:aws:iam::111122223333:role/*"}},
		map[string]any{"Action": []any{"ecs:RunTask"}, "Resource": []any{"arn:aws:ecs:us-east-1:1:task-definition/job:3", "arn:aws:ecs:us-east-1:1:task-definition/web:*"}},
		map[string]any{"Action": "ecs:TagResource", "Resource": "arn:aws:ecs:us-east-1:1:task/jobs/*"},
	}}
	roles, defs, ec2 := policyResources(tmpl)
	if !reflect.DeepEqual(roles, []string{"job-task", "job-exec"}) || !reflect.DeepEqual(defs, []string{"job:3", "web:*"}) || ec2 {
		t.Errorf("got roles %v, task definitions %v, ec2 %v", roles, defs, ec2)
	}
	_, _, ec2 = policyResources(map[string]any{"Action": []any{"ec2:RunInstances"}, "Resource": "*"})
	if !ec2 {
		t.Error("ec2:RunInstances not seen")
	}
}

// TestDoctorUsage: doctor takes no arguments and validates its numbers.
func TestDoctorUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"doctor", "extra"}, {"doctor", "--tasks", "-1"}, {"doctor", "--timeout", "0s"}} {
		if r := run(t, Env{}, args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, r.code, ExitUsage, r.stderr)
		}
	}
	r := run(t, Env{}, "doctor", "-h")
	if r.code != ExitOK || !strings.Contains(r.stdout, "usage: throttlectl doctor") || !strings.Contains(r.stdout, "-stack-name") {
		t.Errorf("doctor -h: exit %d, %s", r.code, r.stdout)
	}
	if r := run(t, Env{}, "help"); !strings.Contains(r.stdout, "doctor") {
		t.Errorf("help lacks doctor:\n%s", r.stdout)
	}
}

// GIVEN a stack sharing a limiter table (its outputs LimiterTableName and
// AccountScope), limits with an override for the stack's account, and a
// --limiter-table flag
// WHEN doctor runs
// THEN the limiter table is checked (the flag's over the output's), and
// the quota checks read the limits of the deployed scope
func TestDoctorSharedLimiter(t *testing.T) {
	t.Parallel()
	keys := []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}}
	f := newFakeAWS()
	f.outputs["LimiterTableName"] = "shared-limiter"
	f.tables = map[string][]ddbtypes.KeySchemaElement{"shared-limiter": keys, "other-limiter": keys}
	cfg, err := config.Load(config.FromMap(map[string]string{
		config.EnvLimitsJSON: `{"accounts": {"111122223333/us-east-1": {"actions": {"ecs:FargateTasks": {"rate": 5, "burst": 40}}}}}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"": "shared-limiter ACTIVE, shared; buckets keyed by 111122223333/us-east-1", "other-limiter": "other-limiter ACTIVE"} {
		fl := doctorFlags{stack: fakeStack}
		fl.limiterTable = flag
		checks := map[string]Check{}
		for _, c := range newDoctor(f.clients(), cfg, fl).run(context.Background()) {
			checks[c.Name] = c
		}
		if c := checks["limiter table"]; c.Status != statusPass {
			t.Errorf("--limiter-table %q: %+v", flag, c)
		}
		wantDetails(t, checks, map[string]string{"limiter table": want, "quota fargate vcpu": "burst of 40 tasks"})
	}
}
