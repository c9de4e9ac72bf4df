package stack

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

var regionPair map[string]*synthesized

// twoStacksInOneRegion synthesizes two product stacks in one app, account
// and region (as two deployments side by side would be): ThrottleHandler
// as configured by default, and ThrottleHandlerPartners whose bus accepts
// LaunchRequested from two accounts and an organization.
func twoStacksInOneRegion(t *testing.T) map[string]*synthesized {
	t.Helper()
	if regionPair == nil {
		app := nagApp()
		env := &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")}
		partners := fullSettings()
		partners.EventSourceAccounts = []string{"444455556666", "777788889999"}
		partners.OrganizationID = "o-a1b2c3d4e5"
		out := map[string]*synthesized{}
		for name, s := range map[string]*ThrottleStackProps{
			"ThrottleHandler":         testProps(t, fullSettings(), dir("testdata", "statemachines")),
			"ThrottleHandlerPartners": testProps(t, partners, dir("testdata", "statemachines")),
		} {
			s.Env = env
			st := NewThrottleStack(app, name, s)
			out[name] = &synthesized{stack: st}
		}
		for _, s := range out { // after both exist: one synthesis of the app serves both
			s.tpl = assertions.Template_FromStack(s.stack, nil)
			s.json = *s.tpl.ToJSON()
			errs := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
			for _, m := range *errs {
				//lint:ignore SA1019 assertions.Annotations returns only this (deprecated) cxapi type.
				s.nagErrs = append(s.nagErrs, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
			}
		}
		regionPair = out
	}
	return regionPair
}

// GIVEN two product stacks in one account and region
// WHEN their outputs are read
// THEN each has the outputs throttlectl and the README read, under their
// bare keys, with descriptions starting with the variable that carries
// them; each is exported as <stack name>-<key>, so no export name is
// shared between the stacks
func TestOutputsExportedPerStack(t *testing.T) {
	keys := map[string]string{
		OutputStateMachineArn: config.EnvStateMachineARN, OutputEventBusName: config.EnvEventBus, OutputTableName: config.EnvTable,
		OutputDeadLetterQueueURL: config.EnvDLQURL, OutputRelaunchQueueURL: config.EnvRelaunchQueueURL, OutputResultsBucketName: config.EnvResultsBucket,
		OutputLimiterTableName: config.EnvLimiterTable, OutputAccountScope: config.EnvAccountScope,
	}
	seen := map[string]string{}
	for name, s := range twoStacksInOneRegion(t) {
		outputs := s.json["Outputs"].(map[string]any)
		if len(outputs) != len(keys) {
			t.Errorf("%s: got %d outputs, want %d", name, len(outputs), len(keys))
		}
		for key, env := range keys {
			o, ok := outputs[key].(map[string]any)
			if !ok {
				t.Errorf("%s: no output %s", name, key)
				continue
			}
			if d, _ := o["Description"].(string); !strings.HasPrefix(d, env+" ") {
				t.Errorf("%s/%s: description %q does not start with %s", name, key, d, env)
			}
			export := render(o["Export"].(map[string]any)["Name"])
			if export != name+"-"+key {
				t.Errorf("%s/%s: export %q, want %q", name, key, export, name+"-"+key)
			}
			if other, dup := seen[export]; dup {
				t.Errorf("export %q in both %s and %s", export, other, name)
			}
			seen[export] = name
		}
	}
}

// busPolicies returns the statements of the template's event bus
// policies.
func busPolicies(s *synthesized) []map[string]any {
	var out []map[string]any
	for _, r := range s.resources("AWS::Events::EventBusPolicy") {
		st, _ := props(r)["Statement"].(map[string]any)
		out = append(out, st)
	}
	return out
}

// GIVEN eventSourceAccounts and organizationId
// WHEN the product bus's policy is read
// THEN it allows exactly those accounts, and any principal of the
// organization, events:PutEvents on the product bus only, for
// LaunchRequested events of the product's source only; a stack without
// the settings has no bus policy; cdk-nag reports nothing
func TestBusPolicy(t *testing.T) {
	stacks := twoStacksInOneRegion(t)
	if p := busPolicies(stacks["ThrottleHandler"]); len(p) != 0 {
		t.Errorf("without eventSourceAccounts or organizationId: got bus policies %v", p)
	}
	s := stacks["ThrottleHandlerPartners"]
	bus := "${" + onlyID(t, s, "AWS::Events::EventBus") + ".Arn}"
	launchOnly := `{"ForAllValues:StringEquals":{"events:source":["` + launch.EventSource + `"]},"StringEquals":{"events:detail-type":"` + launch.DetailLaunchRequested + `"}}`
	want := map[string]struct{ principal, condition string }{
		"LaunchRequestedFromAccounts": {
			`{"AWS":["arn:${AWS::Partition}:iam::444455556666:root","arn:${AWS::Partition}:iam::777788889999:root"]}`, launchOnly},
		"LaunchRequestedFromOrganization": {`{"AWS":"*"}`,
			`{"ForAllValues:StringEquals":{"events:source":["` + launch.EventSource + `"]},"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5","events:detail-type":"` + launch.DetailLaunchRequested + `"}}`},
	}
	got := map[string]bool{}
	for _, st := range busPolicies(s) {
		sid, _ := st["Sid"].(string)
		w, ok := want[sid]
		if !ok {
			t.Errorf("unexpected bus policy statement %v", st)
			continue
		}
		got[sid] = true
		if st["Effect"] != "Allow" || st["Action"] != "events:PutEvents" || render(st["Resource"]) != bus {
			t.Errorf("%s: got %v %v on %v, want Allow events:PutEvents on the product bus", sid, st["Effect"], st["Action"], render(st["Resource"]))
		}
		if p := renderPrincipal(st["Principal"]); p != w.principal {
			t.Errorf("%s: principal\n got %s\nwant %s", sid, p, w.principal)
		}
		if c := renderCondition(st["Condition"]); c != w.condition {
			t.Errorf("%s: condition\n got %s\nwant %s", sid, c, w.condition)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got statements %v, want %v", got, want)
	}
	for _, e := range s.nagErrs {
		t.Errorf("unsuppressed cdk-nag error: %s", e)
	}
}

// renderPrincipal renders a policy Principal with intrinsic values
// flattened and lists sorted.
func renderPrincipal(p any) string {
	m, _ := p.(map[string]any)
	out := map[string]any{}
	for k, v := range m {
		if l, ok := v.([]any); ok {
			var vs []string
			for _, e := range l {
				vs = append(vs, render(e))
			}
			slices.Sort(vs)
			out[k] = vs
		} else {
			out[k] = render(v)
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// GIVEN the fully configured stack
// WHEN the functions' policies are read
// THEN plan, summary and retry may answer task tokens (SendTaskSuccess,
// SendTaskFailure, SendTaskHeartbeat) on Resource "*", the only resource
// a task token allows, with a cdk-nag suppression saying so; no other
// function may
func TestCallbackPermissions(t *testing.T) {
	s := sharedStack(t)
	want := []any{"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
	for _, fn := range functionNames() {
		var found []map[string]any
		for _, st := range s.roleStatements(t, fn) {
			for _, a := range asList(st["Action"]) {
				if strings.HasPrefix(a.(string), "states:SendTask") {
					found = append(found, st)
					break
				}
			}
		}
		if fn == "submit" { // answers only the requests it refuses
			if len(found) != 1 || found[0]["Action"] != "states:SendTaskFailure" || found[0]["Resource"] != "*" {
				t.Errorf("submit: got %v, want one Allow of states:SendTaskFailure on *", found)
			}
			continue
		}
		if !slices.Contains(callbackFunctions, fn) {
			if len(found) > 0 {
				t.Errorf("%s: may answer task tokens: %v", fn, found)
			}
			continue
		}
		if len(found) != 1 || !reflect.DeepEqual(found[0]["Action"], want) || found[0]["Resource"] != "*" || found[0]["Effect"] != "Allow" {
			t.Errorf("%s: got %v, want one Allow of %v on *", fn, found, want)
		}
		if reason := roleSuppression(t, s, fn, "/^Resource::\\*$/"); !strings.Contains(reason, "task token is not an IAM resource") {
			t.Errorf("%s: the Resource::* suppression's reason %q does not explain the task tokens", fn, reason)
		}
	}
}

// roleSuppression returns the reason of the AwsSolutions-IAM5 suppression
// for appliesTo on the default policy of fn's role.
func roleSuppression(t *testing.T, s *synthesized, fn, appliesTo string) string {
	t.Helper()
	fnProps := props(s.json["Resources"].(map[string]any)[s.functionID(t, fn)].(map[string]any))
	role := fnProps["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	for id, r := range s.resources("AWS::IAM::Policy") {
		if render(props(r)["Roles"]) != "${"+role+"}" {
			continue
		}
		md, _ := s.json["Resources"].(map[string]any)[id].(map[string]any)["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, rule := range asList(nag["rules_to_suppress"]) {
			r, _ := rule.(map[string]any)
			if r["id"] == "AwsSolutions-IAM5" && strings.Contains(fmt.Sprint(r["applies_to"]), appliesTo) {
				return r["reason"].(string)
			}
		}
	}
	return ""
}
