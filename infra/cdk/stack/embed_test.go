package stack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/examples/embed/platform"
	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/infra/cdk/stack"
)

// embedded is examples/embed's stack as a template.
type embedded struct {
	tpl  assertions.Template
	res  map[string]map[string]any // logical ID → resource
	outs map[string]any
}

func (e *embedded) byType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range e.res {
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func propsOf(r map[string]any) map[string]any { p, _ := r["Properties"].(map[string]any); return p }

// roleStatements are the statements of the policies attached to role.
func (e *embedded) roleStatements(role string) []map[string]any {
	var out []map[string]any
	for _, r := range e.byType("AWS::IAM::Policy") {
		p := propsOf(r)
		if stack.TestRender(p["Roles"]) != "${"+role+"}" {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// statement finds the one statement whose actions are exactly actions.
func statement(t *testing.T, sts []map[string]any, actions ...string) map[string]any {
	t.Helper()
	for _, st := range sts {
		var got []string
		if l, ok := st["Action"].([]any); ok {
			for _, a := range l {
				got = append(got, a.(string))
			}
		} else {
			got = []string{st["Action"].(string)}
		}
		if slices.Equal(got, actions) {
			return st
		}
	}
	t.Fatalf("no statement allowing exactly %v in %v", actions, sts)
	return nil
}

// GIVEN examples/embed: a user's stack (MyPlatform) with the construct
// "Launcher" beside the user's parent workflow, submitter role and
// outcomes queue
// WHEN it is synthesized with the AwsSolutions pack
// THEN the product is whole inside the user's stack; the parent may start,
// watch and stop launch executions and wait through the .sync rule; the
// submitter may put only LaunchRequested events on the product bus and
// read results objects; the user's rule listens on the product bus; the
// outputs are exported as MyPlatform-Launcher-<output>; cdk-nag finds
// nothing unsuppressed in the construct
func TestEmbedExample(t *testing.T) {
	pf := platform.New(stack.TestNagApp(), "MyPlatform", platform.Options{
		Settings: settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, TaskRoles: []string{"jobTaskRole"}},
		AssetDir: stack.TestAssets(t),
	})
	// The construct is a scope for the user's own constructs too.
	note := awsssm.NewStringParameter(pf.Launcher, jsii.String("MachineArnParameter"), &awsssm.StringParameterProps{
		StringValue: pf.Launcher.StateMachine.StateMachineArn(),
	})
	if got := *note.Node().Path(); got != "MyPlatform/Launcher/MachineArnParameter" {
		t.Errorf("a construct under the ThrottleHandler: got path %s", got)
	}
	tpl := assertions.Template_FromStack(pf.Stack, nil)
	js := *tpl.ToJSON()
	e := &embedded{tpl: tpl, res: map[string]map[string]any{}, outs: js["Outputs"].(map[string]any)}
	for id, r := range js["Resources"].(map[string]any) {
		e.res[id] = r.(map[string]any)
	}
	for typ, n := range map[string]float64{
		"AWS::Lambda::Function": 6, "AWS::StepFunctions::StateMachine": 2, "AWS::Events::EventBus": 1,
		"AWS::Events::Rule": 4, "AWS::SQS::Queue": 5, "AWS::DynamoDB::Table": 1, "AWS::S3::Bucket": 1, "AWS::SSM::Parameter": 1,
	} {
		stack.TestAssert(t, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
	}
	launchID, launchName, parentRole := e.machines(t)
	if !strings.HasPrefix(launchName, "MyPlatform-Launcher-Launch-") || len(launchName) > 80 {
		t.Errorf("launch machine name %q: want MyPlatform-Launcher-Launch-<hash>, at most 80 characters", launchName)
	}
	e.checkParent(t, launchID, launchName, parentRole)
	e.checkSubmitter(t, *pf.Stack.GetLogicalId(pf.Submitter.Node().DefaultChild().(awscdk.CfnElement)))
	e.checkOutcomes(t)
	e.checkOutputs(t)
	// The construct's findings are all suppressed, and so are those its
	// grants raise in the user's roles; the rest is the example's own.
	errs := assertions.Annotations_FromStack(pf.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	own := 0
	for _, m := range *errs {
		//lint:ignore SA1019 assertions.Annotations returns only this (deprecated) cxapi type.
		id, data := *m.Id, fmt.Sprint(m.Entry.Data)
		if strings.HasPrefix(id, "/MyPlatform/Launcher/") || strings.Contains(data, "ResultsBucket") || strings.Contains(data, ":execution:") {
			t.Errorf("unsuppressed cdk-nag error from the construct or its grants: %s: %s", id, data)
			continue
		}
		own++
	}
	if own == 0 {
		t.Error("cdk-nag reported nothing about the example's own resources (its parent logs no events): the check is not running")
	}
}

// machines returns the launch machine's logical ID and name, and the
// parent's role.
func (e *embedded) machines(t *testing.T) (launchID, launchName, parentRole string) {
	t.Helper()
	for id, r := range e.byType("AWS::StepFunctions::StateMachine") {
		p := propsOf(r)
		if def := stack.TestRender(p["DefinitionString"]); strings.Contains(def, "startExecution.sync:2") {
			if !json.Valid([]byte(def)) {
				t.Errorf("the parent's definition is not JSON: %s", def)
			}
			parentRole = p["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			continue
		}
		launchID, launchName = id, p["StateMachineName"].(string)
	}
	if launchID == "" || parentRole == "" {
		t.Fatalf("want the launch machine and the parent in the template, got %v", e.byType("AWS::StepFunctions::StateMachine"))
	}
	return launchID, launchName, parentRole
}

func (e *embedded) checkParent(t *testing.T, launchID, launchName, role string) {
	t.Helper()
	stack.TestAssert(t, func() {
		e.tpl.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"DefinitionSubstitutions": map[string]any{"LaunchStateMachineArn": map[string]any{"Ref": launchID}},
		})
	})
	sts := e.roleStatements(role)
	arn := "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
	for _, c := range []struct {
		actions  []string
		resource string
	}{
		{[]string{"states:StartExecution"}, arn + "stateMachine:" + launchName},
		{[]string{"states:DescribeExecution", "states:StopExecution"}, arn + "execution:" + launchName + ":*"},
		{[]string{"events:PutTargets", "events:PutRule", "events:DescribeRule"},
			"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"},
	} {
		st := statement(t, sts, c.actions...)
		if got := stack.TestRender(st["Resource"]); st["Effect"] != "Allow" || got != c.resource {
			t.Errorf("parent %v: got %v on %s, want Allow on %s", c.actions, st["Effect"], got, c.resource)
		}
	}
}

func (e *embedded) checkSubmitter(t *testing.T, role string) {
	t.Helper()
	bus, bucket := e.only(t, "AWS::Events::EventBus"), e.only(t, "AWS::S3::Bucket")
	sts := e.roleStatements(role)
	if len(sts) != 2 {
		t.Errorf("submitter: got %d statements, want 2 (put LaunchRequested, read results): %v", len(sts), sts)
	}
	put := statement(t, sts, "events:PutEvents")
	cond := fmt.Sprint(put["Condition"])
	if stack.TestRender(put["Resource"]) != "${"+bus+".Arn}" ||
		cond != "map[ForAllValues:StringEquals:map[events:source:[throttle-handler]] StringEquals:map[events:detail-type:LaunchRequested]]" {
		t.Errorf("submitter PutEvents: got %v with %s, want the product bus, LaunchRequested of throttle-handler only", put["Resource"], cond)
	}
	read := statement(t, sts, "s3:GetObject")
	if got := stack.TestRender(read["Resource"]); got != "${"+bucket+".Arn}/results/*" {
		t.Errorf("submitter GetObject: got %s, want the results bucket's results/*", got)
	}
}

func (e *embedded) checkOutcomes(t *testing.T) {
	t.Helper()
	bus := e.only(t, "AWS::Events::EventBus")
	var queue string
	for id := range e.byType("AWS::SQS::Queue") {
		if strings.HasPrefix(id, "Outcomes") {
			queue = id
		}
	}
	stack.TestAssert(t, func() {
		e.tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"EventBusName": map[string]any{"Ref": bus},
			"EventPattern": map[string]any{"source": []any{"throttle-handler"}, "detail-type": []any{"LaunchCompleted", "LaunchFailed"}},
			"Targets": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Arn": map[string]any{"Fn::GetAtt": []any{queue, "Arn"}},
			})}),
		})
	})
}

func (e *embedded) checkOutputs(t *testing.T) {
	t.Helper()
	var exports []string
	for id, o := range e.outs {
		if !strings.HasPrefix(id, "Launcher") {
			t.Errorf("output %s is not the construct's", id)
		}
		exports = append(exports, stack.TestRender(o.(map[string]any)["Export"].(map[string]any)["Name"]))
	}
	slices.Sort(exports)
	var want []string
	for _, k := range []string{stack.OutputStateMachineArn, stack.OutputEventBusName, stack.OutputTableName,
		stack.OutputDeadLetterQueueURL, stack.OutputRelaunchQueueURL, stack.OutputResultsBucketName,
		stack.OutputLimiterTableName, stack.OutputAccountScope} {
		want = append(want, "MyPlatform-Launcher-"+k)
	}
	slices.Sort(want)
	if !slices.Equal(exports, want) {
		t.Errorf("exports:\n got %v\nwant %v", exports, want)
	}
}

func (e *embedded) only(t *testing.T, typ string) string {
	t.Helper()
	for id := range e.byType(typ) {
		return id
	}
	t.Fatalf("no %s", typ)
	return ""
}
