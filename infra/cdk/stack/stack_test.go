package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"quamina.net/go/quamina"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// GIVEN the fully configured stack
// WHEN it is synthesized
// THEN it holds exactly the product's resources
func TestResourceCounts(t *testing.T) {
	s := sharedStack(t)
	for typ, n := range map[string]float64{
		"AWS::Lambda::Function":            6, // no CDK helper functions (log retention, auto-delete)
		"AWS::Lambda::EventInvokeConfig":   2, // submit and retry, EventBridge targets
		"AWS::StepFunctions::StateMachine": 1,
		"AWS::Events::EventBus":            1,
		"AWS::Events::Rule":                3,
		"AWS::DynamoDB::Table":             1,
		"AWS::S3::Bucket":                  1, // the results bucket
		"AWS::S3::BucketPolicy":            1, // its TLS-only policy
		"AWS::SQS::Queue":                  4, // product DLQ, event DLQ, relaunch queue and its DLQ
		"AWS::Lambda::EventSourceMapping":  1, // retry on the relaunch queue
		"AWS::CloudWatch::Alarm":           8,
		"AWS::CloudWatch::Dashboard":       1,
		"AWS::Logs::LogGroup":              7, // one per function, one for the machine
	} {
		assert(t, func() { s.tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
	}
}

// GIVEN the fully configured stack
// WHEN its functions are read
// THEN each is provided.al2023 on arm64 with JSON logs to its own log
// group, the shared configuration, and the reserved concurrency set
func TestFunctions(t *testing.T) {
	s := sharedStack(t)
	fns := s.resources("AWS::Lambda::Function")
	logGroups := s.resources("AWS::Logs::LogGroup")
	reserved := map[string]any{"runtask": float64(settings.DefaultRunTaskConcurrency), "retry": float64(settings.DefaultRetryConcurrency)}
	for _, name := range functionNames() {
		t.Run(name, func(t *testing.T) {
			p := props(fns[s.functionID(t, name)])
			for k, want := range map[string]any{
				"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"},
				"ReservedConcurrentExecutions": reserved[name],
			} {
				if !reflect.DeepEqual(p[k], want) {
					t.Errorf("%s: got %v, want %v", k, p[k], want)
				}
			}
			lc := p["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" || lc["ApplicationLogLevel"] != "INFO" {
				t.Errorf("LoggingConfig: got %v, want JSON at INFO", lc)
			}
			lg := lc["LogGroup"].(map[string]any)["Ref"].(string)
			if got := props(logGroups[lg])["RetentionInDays"]; got != float64(settings.DefaultLogRetentionDays) {
				t.Errorf("log retention: got %v, want %d", got, settings.DefaultLogRetentionDays)
			}
			env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			want := []string{config.EnvDLQURL, config.EnvDeferThreshold, config.EnvEventBus, config.EnvLimitsJSON, config.EnvLogLevel, config.EnvTable, config.EnvAccountScope}
			switch name {
			case "submit":
				want = append(want, config.EnvStateMachineARN)
			case "retry", "plan":
				want = append(want, config.EnvRelaunchQueueURL)
			case "summary":
				want = append(want, envResultsBucket, config.EnvRelaunchQueueURL)
			}
			var got []string
			for k := range env {
				got = append(got, k)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("environment: got %v, want %v", got, want)
			}
			if env[config.EnvLimitsJSON] != fullSettings().LimitsJSON || env[config.EnvDeferThreshold] != "1.5" {
				t.Errorf("environment: got limits %v, threshold %v", env[config.EnvLimitsJSON], env[config.EnvDeferThreshold])
			}
			if name == "retry" {
				if url := render(env[config.EnvRelaunchQueueURL]); url != "${"+queueID(t, s, "RelaunchQueue")+"}" {
					t.Errorf("%s: got %s, want the relaunch queue's URL", config.EnvRelaunchQueueURL, url)
				}
			}
			if name == "summary" {
				if b := render(env[envResultsBucket]); b != "${"+onlyID(t, s, "AWS::S3::Bucket")+"}" {
					t.Errorf("%s: got %s, want the results bucket's name", envResultsBucket, b)
				}
			}
			if name == "submit" {
				if arn := render(env[config.EnvStateMachineARN]); !strings.HasSuffix(arn, ":stateMachine:"+machineName(t, s)) {
					t.Errorf("%s: got %s, want the launch machine's ARN", config.EnvStateMachineARN, arn)
				}
			}
		})
	}
}

func machineName(t *testing.T, s *synthesized) string {
	t.Helper()
	for _, r := range s.resources("AWS::StepFunctions::StateMachine") {
		return props(r)["StateMachineName"].(string)
	}
	t.Fatal("no state machine")
	return ""
}

// GIVEN the fully configured stack
// WHEN the table and queues are read
// THEN the table has the shared key schema, TTL, on-demand billing, PITR and
// encryption; every queue is encrypted, keeps 14 days and refuses plain HTTP
func TestTableAndQueues(t *testing.T) {
	s := sharedStack(t)
	assert(t, func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"KeySchema": []any{
				map[string]any{"AttributeName": config.TablePK, "KeyType": "HASH"},
				map[string]any{"AttributeName": config.TableSK, "KeyType": "RANGE"},
			},
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": config.TablePK, "AttributeType": "S"},
				map[string]any{"AttributeName": config.TableSK, "AttributeType": "S"},
			},
			"TimeToLiveSpecification":          map[string]any{"AttributeName": config.TableTTL, "Enabled": true},
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"SSESpecification":                 map[string]any{"SSEEnabled": true},
		})
	})
	assert(t, func() {
		s.tpl.ResourcePropertiesCountIs(jsii.String("AWS::SQS::Queue"), map[string]any{
			"SqsManagedSseEnabled": true, "MessageRetentionPeriod": 14 * 24 * 3600,
		}, jsii.Number(4))
	})
	assert(t, func() {
		s.tpl.ResourcePropertiesCountIs(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Effect": "Deny", "Action": "sqs:*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				}),
			})}),
		}, jsii.Number(4))
	})
}

// GIVEN the fixture definition
// WHEN the state machine is read
// THEN it is a Standard machine from the file (an S3 asset) with exactly
// the substitutions the file uses, logging ALL and tracing on
func TestStateMachine(t *testing.T) {
	s := sharedStack(t)
	var sm map[string]any
	for _, r := range s.resources("AWS::StepFunctions::StateMachine") {
		sm = props(r)
	}
	if sm["StateMachineType"] != "STANDARD" || sm["DefinitionS3Location"] == nil || sm["DefinitionString"] != nil {
		t.Errorf("got type %v, S3 location %v, string %v; want a STANDARD machine from the file", sm["StateMachineType"], sm["DefinitionS3Location"], sm["DefinitionString"])
	}
	if !reflect.DeepEqual(sm["TracingConfiguration"], map[string]any{"Enabled": true}) {
		t.Errorf("tracing: got %v", sm["TracingConfiguration"])
	}
	lc := sm["LoggingConfiguration"].(map[string]any)
	if lc["Level"] != "ALL" || lc["IncludeExecutionData"] != false {
		t.Errorf("logging: got %v, want ALL without execution data (request payloads stay out of logs)", lc)
	}
	subs := sm["DefinitionSubstitutions"].(map[string]any)
	var got []string
	for k, v := range subs {
		got = append(got, k+"="+render(v))
	}
	slices.Sort(got)
	want := []string{
		"ClassifyFunctionArn=${" + s.functionID(t, "classify") + ".Arn}",
		"EventBusName=${" + onlyID(t, s, "AWS::Events::EventBus") + "}",
		"PlanFunctionArn=${" + s.functionID(t, "plan") + ".Arn}",
		"RetryFunctionArn=${" + s.functionID(t, "retry") + ".Arn}",
		"RunTaskFunctionArn=${" + s.functionID(t, "runtask") + ".Arn}",
		"SummaryFunctionArn=${" + s.functionID(t, "summary") + ".Arn}",
	}
	if !slices.Equal(got, want) {
		t.Errorf("substitutions:\n got %v\nwant %v", got, want)
	}
	if n := len(sm["StateMachineName"].(string)); n > 80 {
		t.Errorf("state machine name is %d characters, the limit is 80", n)
	}
}

func onlyID(t *testing.T, s *synthesized, typ string) string {
	t.Helper()
	for id := range s.resources(typ) {
		return id
	}
	t.Fatalf("no %s", typ)
	return ""
}

// synthesizedRules maps rule file names to the template's rules.
func synthesizedRules(t *testing.T, s *synthesized) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range s.resources("AWS::Events::Rule") {
		for _, f := range mustRules(t) {
			if strings.HasPrefix(id, ruleID(f.Name)) {
				out[f.Name] = props(r)
			}
		}
	}
	return out
}

func mustRules(t *testing.T) []ruleFile {
	t.Helper()
	rules, err := loadRules(dir("..", "..", "..", "statemachines", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// GIVEN the rule files of statemachines/rules (the local EventBridge's too)
// WHEN the synthesized rules are read
// THEN each has the file's pattern byte for byte (as JSON), lives on the
// file's bus, targets the file's function (or, "via" it, the relaunch
// queue) with a retry policy and the event DLQ — not the product's DLQ
func TestRulesAreTheFiles(t *testing.T) {
	s := sharedStack(t)
	rules := synthesizedRules(t, s)
	files := mustRules(t)
	if len(rules) != len(files) {
		t.Fatalf("got %d synthesized rules, want %d", len(rules), len(files))
	}
	busID := onlyID(t, s, "AWS::Events::EventBus")
	var eventDLQ string
	for id := range s.resources("AWS::SQS::Queue") {
		if strings.HasPrefix(id, "EventDeadLetterQueue") {
			eventDLQ = id
		}
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			r := rules[f.Name]
			want, _ := json.Marshal(f.Pattern)
			got, _ := json.Marshal(r["EventPattern"])
			if string(got) != string(want) {
				t.Errorf("pattern:\n got %s\nwant %s", got, want)
			}
			if f.Bus == BusProduct {
				if render(r["EventBusName"]) != "${"+busID+"}" {
					t.Errorf("bus: got %v, want the product bus", r["EventBusName"])
				}
			} else if r["EventBusName"] != nil {
				t.Errorf("bus: got %v, want the default bus", r["EventBusName"])
			}
			targets := r["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("got %d targets, want 1", len(targets))
			}
			tg := targets[0].(map[string]any)
			wantArn := "${" + s.functionID(t, f.Target) + ".Arn}"
			if f.Via == statemachines.ViaRelaunchQueue {
				wantArn = "${" + queueID(t, s, "RelaunchQueue") + ".Arn}"
			}
			if got := render(tg["Arn"]); got != wantArn {
				t.Errorf("target: got %s, want %s", got, wantArn)
			}
			if got, want := render(tg["DeadLetterConfig"].(map[string]any)["Arn"]), "${"+eventDLQ+".Arn}"; got != want {
				t.Errorf("target DLQ: got %s, want %s", got, want)
			}
			rp := tg["RetryPolicy"].(map[string]any)
			if rp["MaximumRetryAttempts"] == nil || rp["MaximumEventAgeInSeconds"] == nil {
				t.Errorf("retry policy: got %v", rp)
			}
		})
	}
}

// GIVEN the synthesized rules' patterns (what AWS will match)
// WHEN the documented ECS event samples and product events are matched
// with quamina (the local EventBridge's matcher)
// THEN each event reaches exactly the rules it should
func TestRulePatternsMatchEvents(t *testing.T) {
	s := sharedStack(t)
	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range synthesizedRules(t, s) {
		p, _ := json.Marshal(r["EventPattern"])
		if err := q.AddPattern(name, string(p)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	want := map[string][]string{
		"ecs-service-throttled.json":               {"ecs-service-throttled"},
		"ecs-service-discovery-throttled.json":     {"ecs-service-throttled"},
		"ecs-service-placement-failure.json":       nil,
		"ecs-task-failed-to-start-ours.json":       {"ecs-task-failed-to-start"},
		"ecs-task-failed-to-start-documented.json": nil,                          // no startedBy: not ours
		"ecs-task-failed-to-start-service.json":    nil,                          // started by a service
		"ecs-task-exited-ours.json":                {"ecs-task-failed-to-start"}, // ours: every state change is tracked
		"launch-requested.json":                    {"launch-requested"},
		"launch-completed.json":                    nil,
	}
	files, _ := filepath.Glob(dir("testdata", "events", "*.json"))
	if len(files) != len(want) {
		t.Fatalf("got %d event fixtures, want %d (add the new one to the table)", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		ev, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := q.MatchesForEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, id := range ids {
			got = append(got, id.(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s: got rules %v, want %v", name, got, want[name])
		}
	}
}

// GIVEN every IAM statement of the template (identity policies, inline role
// policies, queue policies)
// WHEN their actions are read
// THEN no Allow has a wildcard action or NotAction; the only wildcard is
// enforceSSL's Deny of sqs:* without TLS, which takes rights away
func TestNoWildcardActions(t *testing.T) {
	for name, s := range map[string]*synthesized{"full": sharedStack(t), "ecs-companion": ecsCompanionStack(t)} {
		n := 0
		for owner, sts := range s.statements() {
			for _, st := range sts {
				n++
				if st["NotAction"] != nil {
					t.Errorf("%s/%s: NotAction %v", name, owner, st["NotAction"])
				}
				for _, a := range asList(st["Action"]) {
					if !strings.Contains(fmt.Sprint(a), "*") {
						continue
					}
					tlsDeny := st["Effect"] == "Deny" && a == "sqs:*" &&
						reflect.DeepEqual(st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}})
					if !tlsDeny {
						t.Errorf("%s/%s: wildcard action %v in %v", name, owner, a, st)
					}
				}
			}
		}
		if n < 20 {
			t.Errorf("%s: checked only %d statements; the walk is missing policies", name, n)
		}
	}
}

const (
	arnPrefix = "arn:${AWS::Partition}:"
	regionAcc = "${AWS::Region}:${AWS::AccountId}:"
)

// GIVEN the configured clusters, task definitions, roles, launch templates
// and subnets
// WHEN runtask's policy is read
// THEN each launch permission is limited to them, with the conditions
func TestLaunchPermissions(t *testing.T) {
	s := sharedStack(t)
	sts := s.roleStatements(t, "runtask")
	ecs, ec2 := arnPrefix+"ecs:"+regionAcc, arnPrefix+"ec2:"+regionAcc
	lt := ec2 + "launch-template/lt-0123456789abcdef0"
	tests := []struct {
		sid, action, resources, condition string
	}{
		{"RunConfiguredTaskDefinitions", "ecs:RunTask",
			"arn:aws:ecs:eu-west-1:111122223333:task-definition/render:12," + ecs + "task-definition/job:3," + ecs + "task-definition/sim:*",
			`{"ArnEquals":{"ecs:cluster":["` + ecs + `cluster/jobs","arn:aws:ecs:eu-west-1:111122223333:cluster/batch"]}}`},
		{"TagTasksAtRunTask", "ecs:TagResource",
			"arn:aws:ecs:eu-west-1:111122223333:task/batch/*," + ecs + "task/jobs/*",
			`{"StringEquals":{"ecs:CreateAction":"RunTask"}}`},
		{"PassTaskRoles", "iam:PassRole",
			"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/jobTaskRole,arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
			`{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}`},
		{"UseConfiguredLaunchTemplates", "ec2:RunInstances", lt, `null`},
		{"LaunchIntoConfiguredSubnets", "ec2:RunInstances",
			ec2 + "subnet/subnet-0a1b2c3d," + ec2 + "subnet/subnet-0a1b2c3d4e5f60718",
			`{"ArnEquals":{"ec2:LaunchTemplate":["` + lt + `"]}}`},
		{"CreateFromConfiguredLaunchTemplates", "ec2:RunInstances",
			"arn:${AWS::Partition}:ec2:${AWS::Region}::image/*," + ec2 + "instance/*," + ec2 + "key-pair/*," + ec2 + "network-interface/*," +
				ec2 + "security-group/*," + ec2 + "spot-instances-request/*," + ec2 + "volume/*",
			`{"ArnEquals":{"ec2:LaunchTemplate":["` + lt + `"]}}`},
		{"TagAtRunInstances", "ec2:CreateTags",
			ec2 + "instance/*," + ec2 + "network-interface/*," + ec2 + "spot-instances-request/*," + ec2 + "volume/*",
			`{"StringEquals":{"ec2:CreateAction":"RunInstances"}}`},
		{"PassInstanceProfileRoles", "iam:PassRole",
			"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/runnerInstanceRole",
			`{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.sid, func(t *testing.T) {
			st := bySid(sts, tc.sid)
			if st == nil {
				t.Fatalf("no statement %s in runtask's policy", tc.sid)
			}
			if st["Effect"] != "Allow" || st["Action"] != tc.action {
				t.Errorf("got %v %v, want Allow %s", st["Effect"], st["Action"], tc.action)
			}
			want := strings.Split(tc.resources, ",")
			slices.Sort(want)
			if got := render(st["Resource"]); got != strings.Join(want, ",") {
				t.Errorf("resources:\n got %s\nwant %s", got, tc.resources)
			}
			if got := renderCondition(st["Condition"]); got != tc.condition {
				t.Errorf("condition:\n got %s\nwant %s", got, tc.condition)
			}
		})
	}
	// retry relaunches with the same ECS statements, and no EC2 one.
	retry := s.roleStatements(t, "retry")
	for _, tc := range tests {
		got := bySid(retry, tc.sid)
		if strings.HasPrefix(tc.action, "ecs:") || tc.sid == "PassTaskRoles" {
			if !reflect.DeepEqual(got, bySid(sts, tc.sid)) {
				t.Errorf("retry %s: got %v, want runtask's %v", tc.sid, got, bySid(sts, tc.sid))
			}
		} else if got != nil {
			t.Errorf("retry has %s: %v", tc.sid, got)
		}
	}
	// Every statement in runtask's policy is one of these, the table grant or
	// its log group: nothing else slipped in.
	for _, st := range sts {
		sid, _ := st["Sid"].(string)
		known := slices.ContainsFunc(tests, func(tc struct{ sid, action, resources, condition string }) bool { return tc.sid == sid })
		if !known && !strings.HasPrefix(fmt.Sprint(st["Action"]), "[dynamodb:") && !strings.HasPrefix(fmt.Sprint(st["Action"]), "[logs:") {
			t.Errorf("unexpected statement in runtask's policy: %v", st)
		}
	}
}

// renderCondition renders a Condition with intrinsic values flattened.
func renderCondition(c any) string {
	m, ok := c.(map[string]any)
	if !ok {
		return "null"
	}
	out := map[string]map[string]any{}
	for op, kv := range m {
		out[op] = map[string]any{}
		for k, v := range kv.(map[string]any) {
			if l, ok := v.([]any); ok {
				var parts []string
				for _, e := range l {
					parts = append(parts, render(e))
				}
				out[op][k] = parts
			} else {
				out[op][k] = render(v)
			}
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// GIVEN the fully configured stack
// WHEN each function's and the machine's policies are read
// THEN each has only the actions its handler needs
func TestServicePermissions(t *testing.T) {
	s := sharedStack(t)
	actions := func(sts []map[string]any) []string {
		var out []string
		for _, st := range sts {
			for _, a := range asList(st["Action"]) {
				out = append(out, a.(string))
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	rw := []string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
		"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:PutItem",
		"dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem"}
	logs := []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	with := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	asyncDest := []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"} // OnFailure destination
	relaunch := []string{"ecs:RunTask", "ecs:TagResource", "iam:PassRole"}
	consume := []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}        // the relaunch queue's event source
	callback := []string{"states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"} // a request's task token
	want := map[string][]string{
		"classify": logs,
		"plan": with(logs, rw, callback, []string{"events:PutEvents", "s3:GetObject", // itemsFrom objects
			"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", // heartbeats on the relaunch queue
			"states:DescribeExecution"}), // the request id's holder
		// LaunchFailed + the DLQ for unfinished units; the results object;
		// the tracker's sweep of overdue and timed-out tasks.
		// Log streams from task definitions, instances to ec2.waitFor, and
		// described stops handed to the relaunch queue.
		"summary": with(logs, rw, asyncDest, callback, []string{"events:PutEvents", "sqs:SendMessage", "s3:PutObject", "ecs:DescribeTasks", "ecs:StopTask",
			"ecs:DescribeTaskDefinition", "ec2:DescribeInstanceStatus"}),
		"submit": with(logs, asyncDest, []string{"states:DescribeExecution", "states:StartExecution", "states:SendTaskFailure"}),
		"retry":  with(logs, rw, asyncDest, relaunch, consume, callback, []string{"events:PutEvents", "ecs:DescribeTaskDefinition"}),
	}
	for name, w := range want {
		if got := actions(s.roleStatements(t, name)); !slices.Equal(got, w) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, w)
		}
	}
	// The machine invokes exactly the functions its file names, unqualified.
	var smRole string
	for _, r := range s.resources("AWS::StepFunctions::StateMachine") {
		smRole = props(r)["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	}
	var smSts []map[string]any
	for id, r := range s.resources("AWS::IAM::Policy") {
		if render(props(r)["Roles"]) == "${"+smRole+"}" {
			smSts = append(smSts, s.statements()[id]...)
		}
	}
	invoke := bySid(smSts, "InvokeFunctions")
	var fns []string
	for _, name := range []string{"classify", "plan", "retry", "runtask", "summary"} {
		fns = append(fns, "${"+s.functionID(t, name)+".Arn}")
	}
	slices.Sort(fns)
	if invoke == nil || render(invoke["Resource"]) != strings.Join(fns, ",") {
		t.Errorf("InvokeFunctions: got %v, want %v", invoke, fns)
	}
	name := machineName(t, s)
	self := bySid(smSts, "StartMapRunChildren")
	if self == nil || render(self["Resource"]) != arnPrefix+"states:"+regionAcc+"stateMachine:"+name {
		t.Errorf("StartMapRunChildren: got %v, want the machine's own ARN", self)
	}
	if pe := bySid(smSts, "PutProductEvents"); pe == nil || render(pe["Resource"]) != "${"+onlyID(t, s, "AWS::Events::EventBus")+".Arn}" {
		t.Errorf("PutProductEvents: got %v", pe)
	}
}

// GIVEN the fully configured stack with the AwsSolutions pack
// WHEN it is synthesized
// THEN cdk-nag reports no unsuppressed error, and every suppression in the
// template carries a reason
func TestCdkNagAwsSolutions(t *testing.T) {
	for name, s := range map[string]*synthesized{"full": sharedStack(t), "ecs-companion": ecsCompanionStack(t)} {
		for _, e := range s.nagErrs {
			t.Errorf("%s: unsuppressed cdk-nag error: %s", name, e)
		}
		for _, w := range s.nagWarns {
			t.Logf("%s: cdk-nag warning: %s", name, w)
		}
		n := 0
		for id, r := range s.json["Resources"].(map[string]any) {
			md, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := md["cdk_nag"].(map[string]any)
			for _, rule := range asList(nag["rules_to_suppress"]) {
				if rule == nil {
					continue
				}
				n++
				if reason, _ := rule.(map[string]any)["reason"].(string); len(reason) < 40 {
					t.Errorf("%s/%s: suppression %v has no real reason", name, id, rule)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: found no suppressions in the template metadata; the walk is broken", name)
		}
	}
}

var ecsCompanion *synthesized

// ecsCompanionStack is ECS-only, with a parent machine that starts a
// companion chunk machine (.sync:2).
func ecsCompanionStack(t *testing.T) *synthesized {
	t.Helper()
	if ecsCompanion == nil {
		ecsCompanion = synth(t, settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}}, dir("testdata", "companion"))
	}
	return ecsCompanion
}

// GIVEN ECS-only settings and a parent machine with a companion
// WHEN the stack is synthesized
// THEN there is no EC2 permission, two machines, and the parent may start
// and watch exactly the companion's executions
func TestECSOnlyWithCompanion(t *testing.T) {
	s := ecsCompanionStack(t)
	assert(t, func() { s.tpl.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachine"), jsii.Number(2)) })
	for owner, sts := range s.statements() {
		for _, st := range sts {
			for _, a := range asList(st["Action"]) {
				if strings.HasPrefix(a.(string), "ec2:") || (a == "iam:PassRole") {
					t.Errorf("%s: %v without EC2 settings or roles", owner, st)
				}
			}
		}
	}
	var launch, chunk map[string]any
	for _, r := range s.resources("AWS::StepFunctions::StateMachine") {
		p := props(r)
		if _, ok := p["DefinitionSubstitutions"].(map[string]any)["ChunkStateMachineArn"]; ok {
			launch = p
		} else {
			chunk = p
		}
	}
	if launch == nil || chunk == nil {
		t.Fatal("want a launch machine with ChunkStateMachineArn and a chunk machine")
	}
	if got := launch["DefinitionSubstitutions"].(map[string]any)["ChunkStateMachineArn"]; render(got) == "" {
		t.Errorf("ChunkStateMachineArn: got %v", got)
	}
	like := func(m map[string]any) any { return assertions.Match_ObjectLike(&m) }
	assert(t, func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]any{
			"PolicyDocument": like(map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				like(map[string]any{"Sid": "StartChildChunk", "Action": "states:StartExecution"}),
				like(map[string]any{"Sid": "WatchChildChunk", "Action": []any{"states:DescribeExecution", "states:StopExecution"}}),
				like(map[string]any{"Sid": "SyncRule", "Action": []any{"events:PutTargets", "events:PutRule", "events:DescribeRule"}}),
			})}),
		})
	})
}

// GIVEN a bad or missing setting or file
// WHEN the stack is constructed
// THEN construction fails with an error naming it
func TestBadPropsFailSynth(t *testing.T) {
	good := settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}}
	smDir := dir("testdata", "statemachines")
	tests := map[string]struct {
		props   *ThrottleStackProps
		wantErr string
	}{
		"nil props":         {nil, "clusters: missing"},
		"bad subnet":        {testProps(t, settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, LaunchTemplates: []string{"lt-0123456789abcdef0"}, Subnets: []string{"sub-1"}}, smDir), "subnets[0]"},
		"no assets":         {&ThrottleStackProps{Settings: good, AssetDir: t.TempDir(), StateMachineDir: smDir, RulesDir: dir("..", "..", "..", "statemachines", "rules")}, "assetDir"},
		"no launch machine": {testProps(t, good, t.TempDir()), "stateMachineDir"},
		"no rules":          {&ThrottleStackProps{Settings: good, AssetDir: assets(t), StateMachineDir: smDir, RulesDir: t.TempDir()}, "rulesDir"},
		"limiter table":     {testProps(t, with(good, func(s *settings.Settings) { s.LimiterTableName = "t" }), smDir), "limiterTableName"},
		"account scope":     {testProps(t, with(good, func(s *settings.Settings) { s.AccountScope = "a#b" }), smDir), "accountScope"},
		"max ahead":         {testProps(t, with(good, func(s *settings.Settings) { s.MaxAheadSeconds = -5 }), smDir), "maxAheadSeconds"},
		"busy retry":        {testProps(t, with(good, func(s *settings.Settings) { s.LimiterBusyRetrySeconds = 901 }), smDir), "limiterBusyRetrySeconds"},
		"map concurrency":   {testProps(t, with(good, func(s *settings.Settings) { n := -1; s.MaxConcurrency = &n }), smDir), "maxConcurrency"},
		"no Chunks Map":     {testProps(t, with(good, func(s *settings.Settings) { n := 10; s.MaxConcurrency = &n }), noChunks(t)), "maxConcurrency"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				NewThrottleStack(awscdk.NewApp(nil), "Bad", tc.props)
			}()
			if got == nil || !strings.Contains(fmt.Sprint(got), tc.wantErr) {
				t.Fatalf("got %v, want a failure naming %q", got, tc.wantErr)
			}
		})
	}
}

// GIVEN the product's own statemachines/ (once they exist)
// WHEN the stack is synthesized from them
// THEN it synthesizes with no unsuppressed cdk-nag error
func TestRepositoryStateMachines(t *testing.T) {
	smDir := dir("..", "..", "..", "statemachines")
	if _, err := os.Stat(filepath.Join(smDir, EntryMachine+".asl.json")); err != nil {
		t.Skipf("statemachines/%s.asl.json does not exist yet", EntryMachine)
	}
	s := synth(t, fullSettings(), smDir)
	for _, e := range s.nagErrs {
		t.Errorf("unsuppressed cdk-nag error: %s", e)
	}
}

// GIVEN thresholds (one set, the rest default) and an alarm topic
// WHEN the alarms are read
// THEN each alarm has its threshold, notifies the topic, and the custom
// metrics come from the EMF namespace
func TestAlarms(t *testing.T) {
	s := sharedStack(t)
	want := map[string]float64{
		"ThrottleRateAlarm": 2, "DeadLetterQueueAlarm": 1, "EventDeadLetterQueueAlarm": 1, "RelaunchDeadLetterQueueAlarm": 1,
		"FailedExecutionsAlarm": 1, "LimiterStoreAlarm": 1, "LimiterStoreConfigAlarm": 1, "LearnedRateLowAlarm": 0.5,
	}
	got := map[string]float64{}
	for id, r := range s.resources("AWS::CloudWatch::Alarm") {
		p := props(r)
		for prefix := range want {
			if strings.HasPrefix(id, prefix) {
				got[prefix] = p["Threshold"].(float64)
			}
		}
		if a := render(p["AlarmActions"]); a != "arn:aws:sns:eu-west-1:111122223333:ops" {
			t.Errorf("%s: got actions %s, want the alarm topic", id, a)
		}
		if p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: got TreatMissingData %v", id, p["TreatMissingData"])
		}
		if strings.HasPrefix(id, "LearnedRateLowAlarm") {
			// The maximum of runtask's gauge under 0.5 for three 5-minute periods.
			if p["ComparisonOperator"] != "LessThanThreshold" || p["EvaluationPeriods"] != 3.0 || p["Statistic"] != "Maximum" ||
				p["MetricName"] != "Limiter."+string(limiter.MetricRateRatio) || p["Period"] != 300.0 {
				t.Errorf("%s: got %v", id, p)
			}
		}
		if strings.HasPrefix(id, "ThrottleRateAlarm") || strings.HasPrefix(id, "LimiterStoreAlarm") {
			// Each EMF metric is summed over the functions, by the dimension
			// pkg/handler.EMF writes.
			want := []string{handler.MetricLimiterBusy}
			if strings.HasPrefix(id, "ThrottleRateAlarm") {
				want = []string{handler.MetricCalls, handler.MetricThrottledSync}
			}
			var got []string
			for _, q := range p["Metrics"].([]any) {
				ms, ok := q.(map[string]any)["MetricStat"].(map[string]any)
				if !ok {
					continue
				}
				m := ms["Metric"].(map[string]any)
				dims, _ := json.Marshal(m["Dimensions"])
				if m["Namespace"] != handler.MetricNamespace || ms["Stat"] != "Sum" {
					t.Errorf("%s: got %v", id, ms)
				}
				got = append(got, m["MetricName"].(string)+" "+string(dims))
			}
			var wantDims []string
			for _, name := range want {
				for _, fn := range []string{"plan", "retry", "runtask", "summary"} {
					wantDims = append(wantDims, name+` [{"Name":"Function","Value":"`+fn+`"}]`)
				}
			}
			slices.Sort(got)
			slices.Sort(wantDims)
			if !slices.Equal(got, wantDims) {
				t.Errorf("%s: metrics\n got %v\nwant %v", id, got, wantDims)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("thresholds: got %v, want %v", got, want)
	}
	var dash string
	for _, r := range s.resources("AWS::CloudWatch::Dashboard") {
		b, _ := json.Marshal(props(r)["DashboardBody"])
		dash = string(b)
	}
	for _, m := range []string{handler.MetricCalls, handler.MetricThrottledSync, handler.MetricThrottledAsync, handler.MetricLaunched,
		handler.MetricFailed, handler.MetricDeadLettered, handler.MetricRelaunched, handler.MetricDeferrals, handler.MetricRetries, handler.MetricLimiterBusy} {
		if !strings.Contains(dash, `\"`+m+`\"`) {
			t.Errorf("dashboard has no %s metric", m)
		}
	}
}
