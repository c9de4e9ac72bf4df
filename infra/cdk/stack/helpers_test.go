package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
)

// TestMain closes the jsii runtime once: closing it per test makes the next
// test's runtime start fail. Under the race detector it is not closed:
// jsii-runtime-go v1.128.0's Close calls exec.Cmd.Wait while its own
// watcher goroutine does too, a data race in the library that fails the run;
// the runtime exits by itself when the test binary closes its stdin.
func TestMain(m *testing.M) {
	// Node 20 prints an end-of-life banner at each runtime start (the
	// runtime starts at the first CDK call, after this).
	for k, v := range map[string]string{"JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	code := m.Run()
	if !raceEnabled {
		jsii.Close()
	}
	if assetRoot != "" {
		os.RemoveAll(assetRoot)
	}
	os.Exit(code)
}

// assetRoot is a temporary build/ with a dummy bootstrap per function, so
// the tests do not depend on `make build`.
var assetRoot string

func dir(rel ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file)}, rel...)...)
}

// fullSettings configure both launch paths.
func fullSettings() settings.Settings {
	return settings.Settings{
		Clusters:              []string{"jobs", "arn:aws:ecs:eu-west-1:111122223333:cluster/batch"},
		TaskDefinitions:       []string{"job:3", "sim", "arn:aws:ecs:eu-west-1:111122223333:task-definition/render:12"},
		TaskRoles:             []string{"jobTaskRole", "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"},
		LaunchTemplates:       []string{"lt-0123456789abcdef0"},
		Subnets:               []string{"subnet-0a1b2c3d", "subnet-0a1b2c3d4e5f60718"},
		InstanceProfileRoles:  []string{"runnerInstanceRole"},
		ItemsBuckets:          []string{"team-items"},
		LimitsJSON:            `{"ecs:RunTask":{"burst":50,"rate":20}}`,
		DeferThresholdSeconds: 1.5,
		AlarmTopicArn:         "arn:aws:sns:eu-west-1:111122223333:ops",
		Alarms:                settings.AlarmThresholds{ThrottleRatePercent: 2},
	}
}

func testProps(t testing.TB, s settings.Settings, smDir string) *ThrottleStackProps {
	t.Helper()
	return &ThrottleStackProps{
		Settings:        s,
		AssetDir:        assets(t),
		StateMachineDir: smDir,
		RulesDir:        dir("..", "..", "..", "statemachines", "rules"),
	}
}

var assetsOnce sync.Once

func assets(t testing.TB) string {
	assetsOnce.Do(func() {
		root, err := os.MkdirTemp("", "th-cdk-assets-")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range functionNames() {
			os.MkdirAll(filepath.Join(root, name), 0o755)
			if err := os.WriteFile(filepath.Join(root, name, "bootstrap"), []byte("#!/bin/sh\n# "+name+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		assetRoot = root
	})
	return assetRoot
}

// synthesized is one stack and what the tests read from it.
type synthesized struct {
	stack    awscdk.Stack
	tpl      assertions.Template
	json     map[string]any
	nagErrs  []string
	nagWarns []string
}

var (
	sharedOnce sync.Once
	shared     *synthesized
)

// sharedStack is the one fully configured stack most tests read: a synth
// costs seconds, so it is made once per test process.
func sharedStack(t *testing.T) *synthesized {
	t.Helper()
	sharedOnce.Do(func() { shared = synth(t, fullSettings(), dir("testdata", "statemachines")) })
	if shared == nil {
		t.Fatal("shared stack failed to synthesize")
	}
	return shared
}

// nagApp is an app with the AwsSolutions pack applied, as main does.
func nagApp() awscdk.App {
	app := awscdk.NewApp(nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app
}

// synth builds a stack with the AwsSolutions pack applied, as main does.
func synth(t *testing.T, s settings.Settings, smDir string) *synthesized {
	t.Helper()
	st := NewThrottleStack(nagApp(), "ThrottleHandler", testProps(t, s, smDir))
	out := &synthesized{stack: st, tpl: assertions.Template_FromStack(st, nil)}
	out.json = *out.tpl.ToJSON()
	ann := assertions.Annotations_FromStack(st)
	re := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), re) {
		//lint:ignore SA1019 assertions.Annotations returns only this (deprecated) cxapi type.
		out.nagErrs = append(out.nagErrs, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), re) {
		//lint:ignore SA1019 assertions.Annotations returns only this (deprecated) cxapi type.
		out.nagWarns = append(out.nagWarns, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	return out
}

// resources returns the template's resources of one type by logical ID.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// functionID finds the logical ID of the function named name.
func (s *synthesized) functionID(t *testing.T, name string) string {
	t.Helper()
	for id, r := range s.resources("AWS::Lambda::Function") {
		if props(r)["Description"] == "throttle-handler "+name {
			return id
		}
	}
	t.Fatalf("no function %q in the template", name)
	return ""
}

// statements returns every IAM statement of the template with the logical
// ID of the policy or role that holds it.
func (s *synthesized) statements() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	add := func(owner string, doc any) {
		d, _ := doc.(map[string]any)
		sts, _ := d["Statement"].([]any)
		for _, st := range sts {
			out[owner] = append(out[owner], st.(map[string]any))
		}
	}
	for id, r := range s.resources("AWS::IAM::Policy") {
		add(id, props(r)["PolicyDocument"])
	}
	for id, r := range s.resources("AWS::SQS::QueuePolicy") {
		add(id, props(r)["PolicyDocument"])
	}
	for id, r := range s.resources("AWS::IAM::ManagedPolicy") {
		add(id, props(r)["PolicyDocument"])
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		pols, _ := props(r)["Policies"].([]any)
		for _, p := range pols {
			add(id, p.(map[string]any)["PolicyDocument"])
		}
	}
	return out
}

// roleStatements returns the statements of the default policy of a
// function's role.
func (s *synthesized) roleStatements(t *testing.T, fn string) []map[string]any {
	t.Helper()
	fnProps := props(s.json["Resources"].(map[string]any)[s.functionID(t, fn)].(map[string]any))
	role := fnProps["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	var out []map[string]any
	for id, r := range s.resources("AWS::IAM::Policy") {
		for _, ref := range props(r)["Roles"].([]any) {
			if ref.(map[string]any)["Ref"] == role {
				out = append(out, s.statements()[id]...)
			}
		}
	}
	return out
}

func bySid(sts []map[string]any, sid string) map[string]any {
	for _, st := range sts {
		if st["Sid"] == sid {
			return st
		}
	}
	return nil
}

// render turns a CloudFormation value into a readable string:
// {"Fn::Join":["",[…]]} joined, {"Ref":"AWS::Region"} as ${AWS::Region},
// {"Fn::GetAtt":[X,"Arn"]} as ${X.Arn}; lists as sorted, comma-separated.
func render(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = render(e)
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	case map[string]any:
		if ref, ok := t["Ref"]; ok {
			return "${" + ref.(string) + "}"
		}
		if ga, ok := t["Fn::GetAtt"].([]any); ok {
			return "${" + ga[0].(string) + "." + ga[1].(string) + "}"
		}
		if j, ok := t["Fn::Join"].([]any); ok {
			var b strings.Builder
			for i, e := range j[1].([]any) {
				if i > 0 {
					b.WriteString(j[0].(string))
				}
				b.WriteString(render(e))
			}
			return b.String()
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// assert runs a CDK assertion, which panics on failure, as a test error.
func assert(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Error(r)
		}
	}()
	f()
}
