package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func lambdaTask(placeholder string) string {
	return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"${` + placeholder + `}"},"End":true}}}`
}

func TestLoadMachines(t *testing.T) {
	t.Parallel()
	t.Run("fixture", func(t *testing.T) {
		t.Parallel()
		got, err := loadMachines(dir("testdata", "statemachines"))
		if err != nil {
			t.Fatal(err)
		}
		want := []machineFile{{
			Stem: "launch", Path: dir("testdata", "statemachines", "launch.asl.json"),
			Functions: []string{"classify", "plan", "retry", "runtask", "summary"},
			UsesBus:   true, Distributed: true,
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("companion comes first", func(t *testing.T) {
		t.Parallel()
		got, err := loadMachines(dir("testdata", "companion"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Stem != "chunk" || got[1].Stem != "launch" {
			t.Fatalf("got %+v, want chunk then launch", got)
		}
		if l := got[1]; !reflect.DeepEqual(l.Machines, []string{"chunk"}) || !l.SyncChildren || l.Distributed {
			t.Errorf("got launch %+v, want Machines [chunk], SyncChildren, not Distributed", l)
		}
	})
	errs := map[string]struct {
		files   map[string]string
		wantErr string
	}{
		"no launch":           {map[string]string{"chunk.asl.json": lambdaTask("RunTaskFunctionArn")}, "launch.asl.json: missing"},
		"unknown placeholder": {map[string]string{"launch.asl.json": lambdaTask("RunTaskArn")}, "${RunTaskArn}"},
		"own ARN":             {map[string]string{"launch.asl.json": lambdaTask("LaunchStateMachineArn")}, "own ARN"},
		"cycle": {map[string]string{
			"launch.asl.json": lambdaTask("ChunkStateMachineArn"),
			"chunk.asl.json":  lambdaTask("LaunchStateMachineArn"),
		}, "cycle"},
		"ungranted resource": {map[string]string{
			"launch.asl.json": `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::ecs:runTask","End":true}}}`,
		}, "ecs:runTask"},
		"putEvents without bus": {map[string]string{
			"launch.asl.json": `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::events:putEvents","Parameters":{"Entries":[{"EventBusName":"default"}]},"End":true}}}`,
		}, "EventBusName"},
		"bad file name": {map[string]string{"launch.asl.json": lambdaTask("PlanFunctionArn"), "Chunk-2.asl.json": "{}"}, "Chunk-2"},
		"not JSON":      {map[string]string{"launch.asl.json": "{"}, "not JSON"},
	}
	for name, tc := range errs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadMachines(writeTree(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "stateMachineDir") {
				t.Fatalf("got %v, want an error naming stateMachineDir and %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	t.Parallel()
	t.Run("repository rules", func(t *testing.T) {
		t.Parallel()
		got, err := loadRules(dir("..", "..", "..", "statemachines", "rules"))
		if err != nil {
			t.Fatal(err)
		}
		targets := map[string]string{}
		for _, r := range got {
			targets[r.Name] = r.Bus + "→" + r.Target
		}
		want := map[string]string{
			"ecs-service-throttled":    "default→retry",
			"ecs-task-failed-to-start": "default→retry",
			"launch-requested":         "product→submit",
		}
		if !reflect.DeepEqual(targets, want) {
			t.Errorf("got %v, want %v", targets, want)
		}
	})
	errs := map[string]struct {
		rule, wantErr string
	}{
		"bad bus":        {`{"bus":"mine","target":"retry","pattern":{"source":["x"]}}`, "bus"},
		"unknown target": {`{"bus":"default","target":"relaunch","pattern":{"source":["x"]}}`, "relaunch"},
		"no pattern":     {`{"bus":"default","target":"retry"}`, "pattern: missing"},
		"not envelope":   {`{"bus":"default","target":"retry","pattern":{"detailType":["x"]}}`, "pattern.detailType"},
		"object source":  {`{"bus":"default","target":"retry","pattern":{"source":{"prefix":"aws."}}}`, "pattern.source"},
		"unknown field":  {`{"bus":"default","target":"retry","pattern":{"source":["x"]},"targets":[]}`, "targets"},
	}
	for name, tc := range errs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadRules(writeTree(t, map[string]string{"r.json": tc.rule}))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "rulesDir") {
				t.Fatalf("got %v, want an error naming rulesDir and %q", err, tc.wantErr)
			}
		})
	}
	if _, err := loadRules(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no rule files") {
		t.Errorf("empty dir: got %v, want no rule files", err)
	}
}

func TestRuleID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ecs-task-failed-to-start": "EcsTaskFailedToStartRule", "launch_requested": "LaunchRequestedRule"} {
		if got := ruleID(in); got != want {
			t.Errorf("ruleID(%q) = %q, want %q", in, got, want)
		}
	}
}
