package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// with returns s changed by f.
func with(s settings.Settings, f func(*settings.Settings)) settings.Settings {
	f(&s)
	return s
}

// noChunks is a state machine directory whose launch machine has no
// Chunks Map.
func noChunks(t *testing.T) string {
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, EntryMachine+".asl.json"), []byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

var limiterStack *synthesized

// sharedLimiterStack is the full stack with every limiter setting set.
func sharedLimiterStack(t *testing.T) *synthesized {
	t.Helper()
	if limiterStack == nil {
		limiterStack = synth(t, with(fullSettings(), func(s *settings.Settings) {
			n := 50
			s.LimiterTableName, s.AccountScope, s.MaxConcurrency = "shared-limiter", "111122223333/us-east-1", &n
			s.MaxAheadSeconds, s.LimiterBusyRetrySeconds = 120, 2.5
		}), dir("testdata", "statemachines"))
	}
	return limiterStack
}

func functionEnv(t *testing.T, s *synthesized, name string) map[string]any {
	t.Helper()
	p := props(s.json["Resources"].(map[string]any)[s.functionID(t, name)].(map[string]any))
	return p["Environment"].(map[string]any)["Variables"].(map[string]any)
}

// GIVEN the limiter settings (set, and left unset)
// WHEN the stack is synthesized
// THEN every function carries them as its TH_* variables, the account
// scope defaulting to the stack's own "<account>/<region>"; the unset
// numbers leave the functions' defaults
func TestLimiterEnvironment(t *testing.T) {
	tests := map[string]struct {
		s    *synthesized
		want map[string]string
		none []string
	}{
		"set": {s: sharedLimiterStack(t), want: map[string]string{
			config.EnvLimiterTable: "shared-limiter", config.EnvAccountScope: "111122223333/us-east-1",
			config.EnvMaxAhead: "120", config.EnvLimiterBusyRetry: "2.5",
		}},
		"default": {s: sharedStack(t), want: map[string]string{config.EnvAccountScope: "${AWS::AccountId}/${AWS::Region}"},
			none: []string{config.EnvLimiterTable, config.EnvMaxAhead, config.EnvLimiterBusyRetry}},
	}
	for name, tc := range tests {
		for _, fn := range functionNames() {
			env := functionEnv(t, tc.s, fn)
			for k, want := range tc.want {
				if got := render(env[k]); got != want {
					t.Errorf("%s/%s: %s = %s, want %s", name, fn, k, got, want)
				}
			}
			for _, k := range tc.none {
				if v, ok := env[k]; ok {
					t.Errorf("%s/%s: %s = %v, want unset (the functions' default)", name, fn, k, v)
				}
			}
		}
	}
}

// GIVEN limiterTableName
// WHEN the roles are read
// THEN runtask, retry and summary (the functions with a limiter) may call
// exactly GetItem and UpdateItem on that table, and no other function
// may touch it; a stack without it has no such statement; cdk-nag stays
// clean
func TestLimiterTableGrants(t *testing.T) {
	s := sharedLimiterStack(t)
	arn := "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/shared-limiter"
	for _, fn := range functionNames() {
		sts := s.roleStatements(t, fn)
		st := bySid(sts, "LimiterBuckets")
		if !slices.Contains(limiterFunctions, fn) {
			if st != nil {
				t.Errorf("%s: has no limiter, got %v", fn, st)
			}
			for _, other := range sts {
				if strings.Contains(render(other["Resource"]), "shared-limiter") {
					t.Errorf("%s: statement on the limiter table: %v", fn, other)
				}
			}
			continue
		}
		if st == nil {
			t.Errorf("%s: no LimiterBuckets statement", fn)
			continue
		}
		if got := render(st["Action"]); got != "dynamodb:GetItem,dynamodb:UpdateItem" {
			t.Errorf("%s: actions %s, want dynamodb:GetItem,dynamodb:UpdateItem", fn, got)
		}
		if got := render(st["Resource"]); got != arn {
			t.Errorf("%s: resource %s, want %s", fn, got, arn)
		}
	}
	for _, fn := range limiterFunctions {
		if st := bySid(sharedStack(t).roleStatements(t, fn), "LimiterBuckets"); st != nil {
			t.Errorf("default stack: %s: got %v, want no statement (the limiter is in the stack's table)", fn, st)
		}
	}
	for _, e := range s.nagErrs {
		t.Errorf("unsuppressed cdk-nag error: %s", e)
	}
}

// GIVEN limiterTableName, and a stack without it
// WHEN the outputs are read
// THEN LimiterTableName names the limiter's table (the shared one, or
// the stack's own) and AccountScope the buckets' scope
func TestLimiterOutputs(t *testing.T) {
	tableRef := "${" + onlyID(t, sharedStack(t), "AWS::DynamoDB::Table") + "}"
	for name, tc := range map[string]struct {
		s            *synthesized
		table, scope string
	}{
		"shared": {sharedLimiterStack(t), "shared-limiter", "111122223333/us-east-1"},
		"own":    {sharedStack(t), tableRef, "${AWS::AccountId}/${AWS::Region}"},
	} {
		outputs := tc.s.json["Outputs"].(map[string]any)
		for key, want := range map[string]string{OutputLimiterTableName: tc.table, OutputAccountScope: tc.scope} {
			o, _ := outputs[key].(map[string]any)
			if got := render(o["Value"]); got != want {
				t.Errorf("%s: output %s = %s, want %s", name, key, got, want)
			}
		}
	}
}

// GIVEN maxConcurrency, and a stack without it
// WHEN the launch machine's definition is read
// THEN the Chunks Map's MaxConcurrency is the setting and the rest of the
// definition is the file's; without it the file is deployed as is
func TestMapMaxConcurrency(t *testing.T) {
	raw, err := os.ReadFile(dir("testdata", "statemachines", EntryMachine+".asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	launch := func(s *synthesized) map[string]any { // testdata/statemachines: the launch machine only
		machines := s.resources("AWS::StepFunctions::StateMachine")
		if len(machines) != 1 {
			t.Fatalf("got %d machines, want the launch machine only", len(machines))
		}
		for _, r := range machines {
			return props(r)
		}
		return nil
	}
	p := launch(sharedLimiterStack(t))
	var def map[string]any
	if err := json.Unmarshal([]byte(render(p["DefinitionString"])), &def); err != nil {
		t.Fatalf("DefinitionString: %v", err)
	}
	chunks := def["States"].(map[string]any)["Chunks"].(map[string]any)
	if chunks["MaxConcurrency"] != 50.0 {
		t.Errorf("Chunks MaxConcurrency: got %v, want 50", chunks["MaxConcurrency"])
	}
	chunks["MaxConcurrency"] = file["States"].(map[string]any)["Chunks"].(map[string]any)["MaxConcurrency"]
	a, _ := json.Marshal(def)
	b, _ := json.Marshal(file)
	if string(a) != string(b) {
		t.Errorf("definition differs from the file beyond MaxConcurrency:\n%s\n%s", a, b)
	}
	if _, ok := p["DefinitionSubstitutions"]; !ok {
		t.Error("the substitutions are gone")
	}
	if d := launch(sharedStack(t)); d["DefinitionS3Location"] == nil || d["DefinitionString"] != nil {
		t.Errorf("default: want the file as an S3 asset, got %v", d)
	}
}

// GIVEN a stack deployed with an explicit account and Region, and
// limitsJson with an override for that account
// WHEN the functions' limiter is built from the environment the stack
// gives them
// THEN the override applies: the scope is the stack's "<account>/<region>"
func TestAccountOverrideInDeployedScope(t *testing.T) {
	s := twoStacksInOneRegion(t)["ThrottleHandler"]
	env := map[string]string{}
	for k, v := range functionEnv(t, s, "runtask") {
		if str, ok := v.(string); ok {
			env[k] = str
		}
	}
	if env[config.EnvAccountScope] != "111122223333/eu-west-1" {
		t.Fatalf("%s: got %q, want 111122223333/eu-west-1 (the stack's env)", config.EnvAccountScope, env[config.EnvAccountScope])
	}
	env[config.EnvLimitsJSON] = `{"accounts": {"111122223333/eu-west-1": {"actions": {"ecs:RunTask": {"rate": 7, "burst": 9}}}}}`
	cfg, err := config.Load(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := wire.NewLimiter(limiter.NewMemoryStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := lim.Limit(limiter.ECSRunTask); l.Rate != 7 || l.Burst != 9 {
		t.Errorf("ecs:RunTask: got %+v, want the account's override 7/s, burst 9", l)
	}
}
