package statemachines

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestNamesIncludeLaunch(t *testing.T) {
	t.Parallel()
	if got := Names(); !slices.Contains(got, Launch) {
		t.Fatalf("Names() = %v, want it to contain %q", got, Launch)
	}
}

func TestUsedPlaceholdersAreKnown(t *testing.T) {
	t.Parallel()
	for _, name := range Names() {
		used, err := Used(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(used) == 0 {
			t.Errorf("%s: uses no ${…} placeholder; ARNs must come from substitutions", name)
		}
		for _, u := range used {
			if !slices.Contains(Placeholders(), u) {
				t.Errorf("%s: placeholder ${%s} is not one of %v (docs/contracts.md)", name, u, Placeholders())
			}
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	full := LocalSubstitutions("us-east-1", "th-bus")
	tests := []struct {
		name    string
		machine string
		subs    map[string]string
		wantErr string
	}{
		{name: "all substituted", machine: Launch, subs: full},
		{name: "missing one", machine: Launch, subs: without(full, RunTaskFunctionArn), wantErr: "no substitution for RunTaskFunctionArn"},
		{name: "unknown machine", machine: "nope", subs: full, wantErr: `no definition "nope"`},
		{name: "value needing escaping", machine: Launch, subs: with(full, PlanFunctionArn, `a"b`), wantErr: "substitution PlanFunctionArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Load(tt.machine, tt.subs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "${") {
				t.Fatalf("placeholder left after Load: %s", b)
			}
			if !strings.Contains(string(b), `"arn:aws:lambda:us-east-1:000000000000:function:runtask"`) {
				t.Fatalf("runtask ARN not substituted")
			}
			if !json.Valid(b) {
				t.Fatalf("Load returned invalid JSON")
			}
		})
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // rule → target
		"launch-requested":         "submit",
		"ecs-service-throttled":    "retry",
		"ecs-task-failed-to-start": "retry",
	}
	got := map[string]string{}
	for _, r := range rules {
		got[r.Name] = r.Target
		var p map[string]any
		if err := json.Unmarshal(r.Pattern, &p); err != nil {
			t.Errorf("%s: pattern: %v", r.Name, err)
		}
	}
	for name, target := range want {
		if got[name] != target {
			t.Errorf("rule %s: got target %q, want %q", name, got[name], target)
		}
	}
	// A lost TaskFailedToStart event is a task neither relaunched nor
	// counted failed: it goes through the relaunch queue's 10 receives.
	for _, r := range rules {
		if want := map[string]string{"ecs-task-failed-to-start": ViaRelaunchQueue}[r.Name]; r.Via != want {
			t.Errorf("rule %s: via %q, want %q", r.Name, r.Via, want)
		}
	}
}

func without(m map[string]string, key string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(m map[string]string, key, value string) map[string]string {
	out := without(m, key)
	out[key] = value
	return out
}
