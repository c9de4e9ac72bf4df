package settings

import (
	"strings"
	"testing"
)

func full() Settings {
	return Settings{
		Clusters:              []string{"jobs", "arn:aws:ecs:eu-west-1:111122223333:cluster/batch"},
		TaskDefinitions:       []string{"job:3", "sim", "arn:aws:ecs:eu-west-1:111122223333:task-definition/render:12"},
		TaskRoles:             []string{"jobTaskRole", "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"},
		LaunchTemplates:       []string{"lt-0123456789abcdef0"},
		Subnets:               []string{"subnet-0a1b2c3d", "subnet-0a1b2c3d4e5f60718"},
		InstanceProfileRoles:  []string{"runnerInstanceRole"},
		LimitsJSON:            `{"ecs:RunTask":{"burst":50,"rate":20}}`,
		DeferThresholdSeconds: 1.5,
		AlarmTopicArn:         "arn:aws:sns:eu-west-1:111122223333:ops",
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ecs := func(f func(*Settings)) Settings {
		s := Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}}
		f(&s)
		return s
	}
	neg, zero, big := -1, 0, 10001
	tests := map[string]struct {
		s       Settings
		wantErr string
	}{
		"full":                {s: full()},
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
		"items bucket":       {s: ecs(func(s *Settings) { s.ItemsBuckets = []string{"my-items.example"} })},
		"bucket wildcard":    {s: ecs(func(s *Settings) { s.ItemsBuckets = []string{"items-*"} }), wantErr: "itemsBuckets[0]"},
		"bucket uppercase":   {s: ecs(func(s *Settings) { s.ItemsBuckets = []string{"ok-bucket", "Items"} }), wantErr: "itemsBuckets[1]"},
		"bucket dots":        {s: ecs(func(s *Settings) { s.ItemsBuckets = []string{"a..b"} }), wantErr: "itemsBuckets[0]"},
		"source accounts": {s: ecs(func(s *Settings) {
			s.EventSourceAccounts = []string{"111122223333", "444455556666"}
			s.OrganizationID = "o-a1b2c3d4e5"
		})},
		"short account":      {s: ecs(func(s *Settings) { s.EventSourceAccounts = []string{"11112222333"} }), wantErr: "eventSourceAccounts[0]"},
		"account as ARN":     {s: ecs(func(s *Settings) { s.EventSourceAccounts = []string{"111122223333", "arn:aws:iam::444455556666:root"} }), wantErr: "eventSourceAccounts[1]"},
		"wildcard account":   {s: ecs(func(s *Settings) { s.EventSourceAccounts = []string{"*"} }), wantErr: "eventSourceAccounts[0]"},
		"duplicate account":  {s: ecs(func(s *Settings) { s.EventSourceAccounts = []string{"111122223333", "111122223333"} }), wantErr: "eventSourceAccounts[1]: duplicate"},
		"bad organization":   {s: ecs(func(s *Settings) { s.OrganizationID = "org-a1b2c3d4e5" }), wantErr: "organizationId"},
		"short organization": {s: ecs(func(s *Settings) { s.OrganizationID = "o-abc" }), wantErr: "organizationId"},
		"organization root":  {s: ecs(func(s *Settings) { s.OrganizationID = "r-a1b2" }), wantErr: "organizationId"},
		"limiter settings": {s: ecs(func(s *Settings) {
			s.LimiterTableName, s.AccountScope, s.MaxConcurrency = "shared.limiter-1", "111122223333/us-east-1", &zero
			s.MaxAheadSeconds, s.LimiterBusyRetrySeconds = 60, 0.5
		})},
		"short table":         {s: ecs(func(s *Settings) { s.LimiterTableName = "ab" }), wantErr: "limiterTableName"},
		"table ARN":           {s: ecs(func(s *Settings) { s.LimiterTableName = "arn:aws:dynamodb:us-east-1:111122223333:table/t" }), wantErr: "limiterTableName"},
		"long table":          {s: ecs(func(s *Settings) { s.LimiterTableName = strings.Repeat("t", 256) }), wantErr: "limiterTableName"},
		"scope with hash":     {s: ecs(func(s *Settings) { s.AccountScope = "111122223333#us-east-1" }), wantErr: "accountScope"},
		"max ahead":           {s: ecs(func(s *Settings) { s.MaxAheadSeconds = 0.5 }), wantErr: "maxAheadSeconds"},
		"max ahead long":      {s: ecs(func(s *Settings) { s.MaxAheadSeconds = 86401 }), wantErr: "maxAheadSeconds"},
		"busy retry":          {s: ecs(func(s *Settings) { s.LimiterBusyRetrySeconds = -1 }), wantErr: "limiterBusyRetrySeconds"},
		"busy retry long":     {s: ecs(func(s *Settings) { s.LimiterBusyRetrySeconds = 1000 }), wantErr: "limiterBusyRetrySeconds"},
		"negative defer":      {s: ecs(func(s *Settings) { s.DeferThresholdSeconds = -1 }), wantErr: "deferThresholdSeconds"},
		"map concurrency":     {s: ecs(func(s *Settings) { s.MaxConcurrency = &neg }), wantErr: "maxConcurrency"},
		"map concurrency big": {s: ecs(func(s *Settings) { s.MaxConcurrency = &big }), wantErr: "maxConcurrency"},
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

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	zero := 0
	got := Settings{RetryConcurrency: &zero, Alarms: AlarmThresholds{DLQDepth: 3}, LogLevel: "WARN"}.WithDefaults()
	if got.LogLevel != "warn" || got.LogRetentionDays != DefaultLogRetentionDays ||
		*got.RunTaskConcurrency != DefaultRunTaskConcurrency || *got.RetryConcurrency != 0 ||
		got.Alarms != (AlarmThresholds{ThrottleRatePercent: 5, DLQDepth: 3, FailedExecutions: 1, LimiterBusy: 1}) {
		t.Errorf("got %+v", got)
	}
}
