package settings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func ctx(m map[string]any) func(string) any { return func(k string) any { return m[k] } }

func intp(n int) *int { return &n }

func TestFromContext(t *testing.T) {
	t.Parallel()
	propsFile := filepath.Join(t.TempDir(), "props.json")
	if err := os.WriteFile(propsFile, []byte(`{"clusters":["jobs"],"taskDefinitions":["job:3"],"limitsJson":{"ecs:RunTask":{"rate":20}},"alarms":{"dlqDepth":5}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		context  map[string]any
		want     Settings
		wantOpts Options
		wantErr  string
	}{
		"cdk.json types": {
			context: map[string]any{
				"clusters": []any{"jobs"}, "taskDefinitions": []any{"job:3", "sim"},
				"limitsJson":         map[string]any{"ecs:RunTask": map[string]any{"rate": 20.0}},
				"runTaskConcurrency": 50.0, "alarms": map[string]any{"throttleRatePercent": 10.0},
				"stackName": "Prod",
			},
			want: Settings{
				Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3", "sim"},
				LimitsJSON: `{"ecs:RunTask":{"rate":20}}`, RunTaskConcurrency: intp(50),
				Alarms: AlarmThresholds{ThrottleRatePercent: 10},
			},
			wantOpts: Options{StackName: "Prod"},
		},
		"-c strings": {
			context: map[string]any{
				"clusters": "jobs, batch", "taskDefinitions": "job:3", "subnets": "",
				"deferThresholdSeconds": "1.5", "alarms.dlqDepth": "3", "retryConcurrency": "0",
				"itemsBuckets": "team-items,shared-inputs",
			},
			want: Settings{
				Clusters: []string{"jobs", "batch"}, TaskDefinitions: []string{"job:3"}, ItemsBuckets: []string{"team-items", "shared-inputs"},
				DeferThresholdSeconds: 1.5, RetryConcurrency: intp(0), Alarms: AlarmThresholds{DLQDepth: 3},
			},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"props file, key wins": {
			context: map[string]any{"propsFile": propsFile, "clusters": "batch", "alarms.limiterBusy": "2"},
			want: Settings{
				Clusters: []string{"batch"}, TaskDefinitions: []string{"job:3"},
				LimitsJSON: `{"ecs:RunTask":{"rate":20}}`, Alarms: AlarmThresholds{DLQDepth: 5, LimiterBusy: 2},
			},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"bus policy, -c strings": {
			context: map[string]any{
				"clusters": "jobs", "taskDefinitions": "job:3",
				"eventSourceAccounts": "111122223333, 444455556666", "organizationId": "o-a1b2c3d4e5",
			},
			want: Settings{
				Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"},
				EventSourceAccounts: []string{"111122223333", "444455556666"}, OrganizationID: "o-a1b2c3d4e5",
			},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"bus policy, cdk.json types": {
			context:  map[string]any{"clusters": []any{"jobs"}, "taskDefinitions": []any{"job:3"}, "eventSourceAccounts": []any{"111122223333"}},
			want:     Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, EventSourceAccounts: []string{"111122223333"}},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"limiter, -c strings": {
			context: map[string]any{
				"clusters": "jobs", "taskDefinitions": "job:3", "limiterTableName": "shared-limiter", "accountScope": "111122223333/eu-west-1",
				"maxConcurrency": "100", "maxAheadSeconds": "120", "limiterBusyRetrySeconds": "2.5",
			},
			want: Settings{
				Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, LimiterTableName: "shared-limiter",
				AccountScope: "111122223333/eu-west-1", MaxConcurrency: intp(100), MaxAheadSeconds: 120, LimiterBusyRetrySeconds: 2.5,
			},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"limiter, cdk.json types": {
			context:  map[string]any{"clusters": []any{"jobs"}, "taskDefinitions": []any{"job:3"}, "limiterTableName": "shared-limiter", "maxConcurrency": 0.0},
			want:     Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, LimiterTableName: "shared-limiter", MaxConcurrency: intp(0)},
			wantOpts: Options{StackName: "ThrottleHandler"},
		},
		"bad map concurrency":   {context: map[string]any{"maxConcurrency": "many"}, wantErr: "maxConcurrency"},
		"fractional map":        {context: map[string]any{"maxConcurrency": 2.5}, wantErr: "maxConcurrency"},
		"bad max ahead":         {context: map[string]any{"maxAheadSeconds": "later"}, wantErr: "maxAheadSeconds"},
		"bad busy retry":        {context: map[string]any{"limiterBusyRetrySeconds": "soon"}, wantErr: "limiterBusyRetrySeconds"},
		"bad table type":        {context: map[string]any{"limiterTableName": 3.0}, wantErr: "limiterTableName"},
		"bad scope type":        {context: map[string]any{"accountScope": []any{"x"}}, wantErr: "accountScope"},
		"bad organization type": {context: map[string]any{"organizationId": []any{"o-a1b2c3d4e5"}}, wantErr: "organizationId"},
		"bad accounts type":     {context: map[string]any{"eventSourceAccounts": 111122223333.0}, wantErr: "eventSourceAccounts"},
		"bad number":            {context: map[string]any{"runTaskConcurrency": "lots"}, wantErr: "runTaskConcurrency"},
		"fractional int":        {context: map[string]any{"logRetentionDays": 1.5}, wantErr: "logRetentionDays"},
		"bad alarm":             {context: map[string]any{"alarms.dlqDepth": "deep"}, wantErr: "alarms.dlqDepth"},
		"bad list":              {context: map[string]any{"subnets": 3.0}, wantErr: "subnets"},
		"missing props file":    {context: map[string]any{"propsFile": "/nonexistent/props.json"}, wantErr: "propsFile"},
		"unknown field in file": {context: map[string]any{"propsFile": writeFile(t, `{"cluster":["x"]}`)}, wantErr: "cluster"},
		"bad stack name type":   {context: map[string]any{"stackName": 3.0}, wantErr: "stackName"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, opts, err := FromContext(ctx(tc.context))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if opts != tc.wantOpts {
				t.Errorf("got options %+v, want %+v", opts, tc.wantOpts)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "props.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The committed cdk.json must synthesize: its context is a valid example.
func TestCdkJSONContextIsValid(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.App != "go run ./infra/cdk" {
		t.Errorf("got app %q, want go run ./infra/cdk", cfg.App)
	}
	s, _, err := FromContext(ctx(cfg.Context))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
