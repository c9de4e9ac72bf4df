package stack

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// GIVEN the logical IDs (with type, and each state machine's name) that
// NewThrottleStack synthesized before it became a stack around the
// ThrottleHandler construct (testdata/logicalids, recorded from that code)
// WHEN the same stacks are synthesized now
// THEN every resource keeps its logical ID and every machine its name: a
// changed ID would make CloudFormation replace the resource on upgrade
// (a new, empty table and bus; the retained old ones orphaned). Only the
// outputs added since then are new.
func TestLogicalIDsStable(t *testing.T) {
	added := []string{OutputRelaunchQueueURL + " Output", OutputResultsBucketName + " Output",
		OutputLimiterTableName + " Output", OutputAccountScope + " Output"}
	for name, s := range map[string]*synthesized{"full": sharedStack(t), "ecs-companion": ecsCompanionStack(t)} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(dir("testdata", "logicalids", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(strings.ReplaceAll(string(b), " ", "|"))
			for _, a := range added {
				want = append(want, strings.ReplaceAll(a, " ", "|"))
			}
			slices.Sort(want)
			got := logicalIDs(s)
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], " ", "|")
			}
			if !slices.Equal(got, want) {
				for _, g := range got {
					if !slices.Contains(want, g) {
						t.Errorf("new: %s", g)
					}
				}
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("gone: %s", w)
					}
				}
			}
		})
	}
}

// logicalIDs lists "<logical ID> <type>[ <state machine name>]" for every
// resource and "<logical ID> Output" for every output, sorted.
func logicalIDs(s *synthesized) []string {
	var ids []string
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		line := id + " " + res["Type"].(string)
		if res["Type"] == "AWS::StepFunctions::StateMachine" {
			line += " " + props(res)["StateMachineName"].(string)
		}
		ids = append(ids, line)
	}
	for id := range s.json["Outputs"].(map[string]any) {
		ids = append(ids, id+" Output")
	}
	slices.Sort(ids)
	return ids
}
