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

func TestValidate(t *testing.T) {
	t.Parallel()
	ecs := func(f func(*Settings)) Settings {
		s := Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}}
		f(&s)
		return s
	}
	neg := -1
	tests := map[string]struct {
		s       Settings
		wantErr string
	}{
		"full":                {s: fullSettings()},
		"ecs only":            {s: ecs(func(*Settings) {})},
		"ec2 only":            {s: Settings{LaunchTemplates: []string{"lt-0123456789abcdef0"}, Subnets: []string{"subnet-0a1b2c3d"}}},
		"nothing":             {s: Settings{}, wantErr: "clusters: missing"},
		"no task definitions": {s: Settings{Clusters: []string{"jobs"}}, wantErr: "taskDefinitions: missing"},
		"roles without clusters": {s: Settings{TaskRoles: []string{"r"}, LaunchTemplates: []string{"lt-0123456789abcdef0"}, Subnets: []string{"subnet-0a1b2c3d"}},
			wantErr: "clusters: missing"},
		"no subnets":        {s: ecs(func(s *Settings) { s.LaunchTemplates = []string{"lt-0123456789abcdef0"} }), wantErr: "subnets: missing"},
		"no templates":      {s: ecs(func(s *Settings) { s.Subnets = []string{"subnet-0a1b2c3d"} }), wantErr: "launchTemplates: missing"},
		"bad cluster":       {s: ecs(func(s *Settings) { s.Clusters = []string{"jobs/prod"} }), wantErr: "clusters[0]"},
		"bad task def":      {s: ecs(func(s *Settings) { s.TaskDefinitions = []string{"job:0"} }), wantErr: "taskDefinitions[0]"},
		"wildcard task def": {s: ecs(func(s *Settings) { s.TaskDefinitions = []string{"*"} }), wantErr: "taskDefinitions[0]"},
		"duplicate":         {s: ecs(func(s *Settings) { s.TaskDefinitions = []string{"job:3", "job:3"} }), wantErr: "taskDefinitions[1]: duplicate"},
		"wildcard role":     {s: ecs(func(s *Settings) { s.TaskRoles = []string{"arn:aws:iam::111122223333:role/*"} }), wantErr: "taskRoles[0]"},
		"bad template":      {s: ecs(func(s *Settings) { s.LaunchTemplates = []string{"lt-1"}; s.Subnets = []string{"subnet-0a1b2c3d"} }), wantErr: "launchTemplates[0]"},
		"bad subnet": {s: ecs(func(s *Settings) {
			s.LaunchTemplates = []string{"lt-0123456789abcdef0"}
			s.Subnets = []string{"subnet-a"}
		}), wantErr: "subnets[0]"},
		"limits not object":  {s: ecs(func(s *Settings) { s.LimitsJSON = "[1]" }), wantErr: "limitsJson"},
		"limits too long":    {s: ecs(func(s *Settings) { s.LimitsJSON = `{"x":"` + strings.Repeat("a", 3000) + `"}` }), wantErr: "limitsJson"},
		"defer threshold":    {s: ecs(func(s *Settings) { s.DeferThresholdSeconds = 901 }), wantErr: "deferThresholdSeconds"},
		"log level":          {s: ecs(func(s *Settings) { s.LogLevel = "loud" }), wantErr: "logLevel"},
		"retention":          {s: ecs(func(s *Settings) { s.LogRetentionDays = 10 }), wantErr: "logRetentionDays"},
		"concurrency":        {s: ecs(func(s *Settings) { s.RunTaskConcurrency = &neg }), wantErr: "runTaskConcurrency"},
		"throttle rate":      {s: ecs(func(s *Settings) { s.Alarms.ThrottleRatePercent = 150 }), wantErr: "alarms.throttleRatePercent"},
		"negative threshold": {s: ecs(func(s *Settings) { s.Alarms.DLQDepth = -1 }), wantErr: "alarms.dlqDepth"},
		"topic":              {s: ecs(func(s *Settings) { s.AlarmTopicArn = "ops" }), wantErr: "alarmTopicArn"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
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
