// Package settings holds what differs between users of the throttle-handler
// stack (the resources it may launch into, limit overrides, alarm
// thresholds), their validation, and how they are read from CDK context;
// and the table of the stack's functions (Functions: memory, timeout,
// asynchronous configuration), which the CDK stack deploys and the local
// Lambda (integration/services) runs with. It imports no CDK code, so its
// tests need no jsii runtime.
package settings

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Settings is what differs between users: the resources the product may
// launch into, limit overrides, and alarm thresholds. It is read from CDK
// context (see infra/cdk/main.go); JSON names are the context keys.
type Settings struct {
	// Clusters are ECS cluster names or ARNs RunTask may target (the
	// ecs:cluster condition).
	Clusters []string `json:"clusters,omitempty"`
	// TaskDefinitions are task definition ARNs, "family:revision", or a bare
	// "family" meaning every revision of it.
	TaskDefinitions []string `json:"taskDefinitions,omitempty"`
	// TaskRoles are the task and execution roles (names or ARNs) the task
	// definitions use; iam:PassRole to ecs-tasks.amazonaws.com only.
	TaskRoles []string `json:"taskRoles,omitempty"`
	// LaunchTemplates are EC2 launch template IDs (lt-…).
	LaunchTemplates []string `json:"launchTemplates,omitempty"`
	// Subnets are the subnet IDs (subnet-…) RunInstances may use.
	Subnets []string `json:"subnets,omitempty"`
	// InstanceProfileRoles are the roles (names or ARNs) of the launch
	// templates' instance profiles; iam:PassRole to ec2.amazonaws.com only.
	InstanceProfileRoles []string `json:"instanceProfileRoles,omitempty"`
	// ItemsBuckets are the S3 buckets (names) requests may read their
	// ecs.itemsFrom objects from: plan gets s3:GetObject on their objects
	// and nothing else. Empty (the default): itemsFrom cannot be read.
	ItemsBuckets []string `json:"itemsBuckets,omitempty"`

	// LimitsJSON overrides the limiter's built-in AWS defaults
	// (TH_LIMITS_JSON, see pkg/limiter). Empty: the defaults. Must be a JSON
	// object.
	LimitsJSON string `json:"limitsJson,omitempty"`
	// DeferThresholdSeconds is TH_DEFER_THRESHOLD_SECONDS; 0 keeps the
	// functions' default (2 s).
	DeferThresholdSeconds float64 `json:"deferThresholdSeconds,omitempty"`
	// MaxAheadSeconds is TH_MAX_AHEAD_SECONDS, how far ahead the limiter
	// hands out slots; 0 keeps the functions' default (900 s).
	MaxAheadSeconds float64 `json:"maxAheadSeconds,omitempty"`
	// LimiterBusyRetrySeconds is TH_LIMITER_BUSY_RETRY_SECONDS: when the
	// limiter's table fails, a caller is answered busy and asks again after
	// this long (there is no local fallback: the limiter fails closed). 0
	// keeps the functions' default (5 s).
	LimiterBusyRetrySeconds float64 `json:"limiterBusyRetrySeconds,omitempty"`
	// LimiterTableName names an existing DynamoDB table (in the stack's
	// account and Region, with the product's key schema: string pk and sk,
	// TTL attribute expiresAt) that holds the limiter's bucket items
	// (TH_LIMITER_TABLE_NAME): the stacks that name the same table share
	// one limiter. Empty (the default): the stack's own table.
	LimiterTableName string `json:"limiterTableName,omitempty"`
	// AccountScope is TH_ACCOUNT_SCOPE, the key of the limiter's buckets
	// and of the "accounts" level of limitsJson. Empty (the default): the
	// stack's "<account>/<region>".
	AccountScope string `json:"accountScope,omitempty"`
	// MaxConcurrency replaces the MaxConcurrency of the launch machine's
	// Chunks Map (statemachines/launch.asl.json) at synth. nil keeps the
	// file's value; 0 means no limit.
	MaxConcurrency *int `json:"maxConcurrency,omitempty"`
	// LogLevel is TH_LOG_LEVEL and the Lambda application log level: debug,
	// info (default), warn or error.
	LogLevel string `json:"logLevel,omitempty"`
	// LogRetentionDays is the retention of every log group the stack makes;
	// one of CloudWatch's allowed values. 0 means 30.
	LogRetentionDays int `json:"logRetentionDays,omitempty"`

	// RunTaskConcurrency is runtask's reserved concurrency: it caps the
	// launch callers (RunTask's bucket refills at 20–40/s, so more callers
	// only queue) and keeps the rest of the account's Lambda concurrency
	// free. nil means 100; 0 means unreserved (needed in accounts whose
	// concurrency quota is still the new-account minimum).
	RunTaskConcurrency *int `json:"runTaskConcurrency,omitempty"`
	// RetryConcurrency is retry's reserved concurrency: an ECS event storm
	// (hundreds of TaskFailedToStart at once) must not starve the account.
	// nil means 20; 0 means unreserved.
	RetryConcurrency *int `json:"retryConcurrency,omitempty"`

	// Alarms holds the alarm thresholds; zero fields take the defaults.
	Alarms AlarmThresholds `json:"alarms,omitempty"`
	// AlarmTopicArn, when set, is an SNS topic every alarm notifies.
	AlarmTopicArn string `json:"alarmTopicArn,omitempty"`

	// EventSourceAccounts are other AWS accounts (12-digit IDs) the product
	// bus's policy lets put LaunchRequested events. Empty (the default):
	// only this account's principals with IAM permission may.
	EventSourceAccounts []string `json:"eventSourceAccounts,omitempty"`
	// OrganizationID (o-…), when set, lets every account of that AWS
	// organization put LaunchRequested events on the product bus.
	OrganizationID string `json:"organizationId,omitempty"`
}

// AlarmThresholds are the alarm thresholds. A zero field means its default.
type AlarmThresholds struct {
	// ThrottleRatePercent: throttled launch calls as a share of launch
	// calls over 5 minutes, three periods in a row. Default 5.
	ThrottleRatePercent float64 `json:"throttleRatePercent,omitempty"`
	// DLQDepth: messages visible in a dead-letter queue. Default 1.
	DLQDepth float64 `json:"dlqDepth,omitempty"`
	// FailedExecutions: failed, timed-out or aborted launch executions in
	// 5 minutes. Default 1.
	FailedExecutions float64 `json:"failedExecutions,omitempty"`
	// LimiterBusy: reservations the limiter answered busy because its
	// DynamoDB item could not be read or written, in 5 minutes. Default 1.
	LimiterBusy float64 `json:"limiterBusy,omitempty"`
}

// Defaults of the optional settings.
const (
	DefaultLogRetentionDays   = 30
	DefaultRunTaskConcurrency = 100
	DefaultRetryConcurrency   = 20
)

var (
	clusterName    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
	clusterARN     = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[a-zA-Z0-9_-]{1,255}$`)
	taskDefShort   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}(:[1-9]\d*)?$`)
	taskDefARN     = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[a-zA-Z0-9_-]{1,255}:[1-9]\d*$`)
	roleName       = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	roleARN        = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	launchTemplate = regexp.MustCompile(`^lt-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetID       = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	// bucketName: S3's general purpose bucket naming rules, without the
	// IP-address form.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	topicARN   = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$`)
	accountID  = regexp.MustCompile(`^\d{12}$`)
	// tableName: DynamoDB's table naming rules.
	tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	// accountScope: what may follow limiter#<service># in a bucket item's
	// key, e.g. 111122223333/us-east-1.
	accountScope = regexp.MustCompile(`^[a-zA-Z0-9_./:-]{1,128}$`)
	// organizationID: AWS Organizations' ID pattern.
	organizationID = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// allowedRetention are the retention periods CloudWatch Logs accepts, in days.
var allowedRetention = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Validate checks s and returns an error naming the first bad or missing
// setting by its context key.
func (s Settings) Validate() error {
	ecs := len(s.Clusters) > 0 || len(s.TaskDefinitions) > 0 || len(s.TaskRoles) > 0
	ec2 := len(s.LaunchTemplates) > 0 || len(s.Subnets) > 0 || len(s.InstanceProfileRoles) > 0
	if !ecs && !ec2 {
		return fmt.Errorf("clusters: missing: set clusters and taskDefinitions (ECS) and/or launchTemplates and subnets (EC2)")
	}
	if ecs {
		if len(s.Clusters) == 0 {
			return fmt.Errorf("clusters: missing: required with taskDefinitions/taskRoles")
		}
		if len(s.TaskDefinitions) == 0 {
			return fmt.Errorf("taskDefinitions: missing: required with clusters")
		}
	}
	if ec2 {
		if len(s.LaunchTemplates) == 0 {
			return fmt.Errorf("launchTemplates: missing: required with subnets/instanceProfileRoles")
		}
		if len(s.Subnets) == 0 {
			return fmt.Errorf("subnets: missing: required with launchTemplates")
		}
	}
	checks := []struct {
		key    string
		values []string
		ok     func(string) bool
		want   string
	}{
		{"clusters", s.Clusters, matchAny(clusterName, clusterARN), "a cluster name or arn:aws:ecs:<region>:<account>:cluster/<name>"},
		{"taskDefinitions", s.TaskDefinitions, matchAny(taskDefShort, taskDefARN), "family, family:revision or a task-definition ARN"},
		{"taskRoles", s.TaskRoles, matchAny(roleName, roleARN), "a role name or arn:aws:iam::<account>:role/<name>"},
		{"launchTemplates", s.LaunchTemplates, launchTemplate.MatchString, "a launch template ID lt-<8 or 17 hex>"},
		{"subnets", s.Subnets, subnetID.MatchString, "a subnet ID subnet-<8 or 17 hex>"},
		{"instanceProfileRoles", s.InstanceProfileRoles, matchAny(roleName, roleARN), "a role name or arn:aws:iam::<account>:role/<name>"},
		{"itemsBuckets", s.ItemsBuckets, validBucket, "an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)"},
		{"eventSourceAccounts", s.EventSourceAccounts, accountID.MatchString, "a 12-digit AWS account ID"},
	}
	for _, c := range checks {
		seen := map[string]bool{}
		for i, v := range c.values {
			if !c.ok(v) {
				return fmt.Errorf("%s[%d]: must be %s, got %q", c.key, i, c.want, v)
			}
			if seen[v] {
				return fmt.Errorf("%s[%d]: duplicate %q", c.key, i, v)
			}
			seen[v] = true
		}
	}
	if s.LimitsJSON != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(s.LimitsJSON), &obj); err != nil {
			return fmt.Errorf("limitsJson: must be a JSON object: %v", err)
		}
		// Lambda allows 4 KB of environment in total; leave room for the rest.
		if len(s.LimitsJSON) > 2048 {
			return fmt.Errorf("limitsJson: %d bytes, must be at most 2048 (Lambda's environment is limited to 4 KB)", len(s.LimitsJSON))
		}
	}
	if err := s.validateLimiter(); err != nil {
		return err
	}
	switch strings.ToLower(s.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("logLevel: must be debug, info, warn or error, got %q", s.LogLevel)
	}
	if s.LogRetentionDays != 0 && !slices.Contains(allowedRetention, s.LogRetentionDays) {
		return fmt.Errorf("logRetentionDays: must be one of %v, got %d", allowedRetention, s.LogRetentionDays)
	}
	for key, v := range map[string]*int{"runTaskConcurrency": s.RunTaskConcurrency, "retryConcurrency": s.RetryConcurrency} {
		if v != nil && (*v < 0 || *v > 10000) {
			return fmt.Errorf("%s: must be in [0, 10000] (0 = unreserved), got %d", key, *v)
		}
	}
	for key, v := range map[string]float64{
		"alarms.throttleRatePercent": s.Alarms.ThrottleRatePercent,
		"alarms.dlqDepth":            s.Alarms.DLQDepth,
		"alarms.failedExecutions":    s.Alarms.FailedExecutions,
		"alarms.limiterBusy":         s.Alarms.LimiterBusy,
	} {
		if v < 0 {
			return fmt.Errorf("%s: must be > 0 (0 = default), got %g", key, v)
		}
	}
	if s.Alarms.ThrottleRatePercent > 100 {
		return fmt.Errorf("alarms.throttleRatePercent: must be a percentage in (0, 100], got %g", s.Alarms.ThrottleRatePercent)
	}
	if s.AlarmTopicArn != "" && !topicARN.MatchString(s.AlarmTopicArn) {
		return fmt.Errorf("alarmTopicArn: must be arn:aws:sns:<region>:<account>:<topic>, got %q", s.AlarmTopicArn)
	}
	if s.OrganizationID != "" && !organizationID.MatchString(s.OrganizationID) {
		return fmt.Errorf("organizationId: must be an AWS Organizations ID o-<10 to 32 lowercase letters or digits>, got %q", s.OrganizationID)
	}
	return nil
}

// validateLimiter checks the limiter's and the launch Map's settings.
func (s Settings) validateLimiter() error {
	for _, r := range []struct {
		key    string
		v      float64
		lo, hi float64
	}{
		{"deferThresholdSeconds", s.DeferThresholdSeconds, 0, 900},
		{"maxAheadSeconds", s.MaxAheadSeconds, 1, 86400},
		{"limiterBusyRetrySeconds", s.LimiterBusyRetrySeconds, 0.1, 900},
	} {
		// 0 is the functions' default; otherwise the range pkg/config takes.
		if r.v != 0 && (r.v < r.lo || r.v > r.hi) || r.v < 0 {
			return fmt.Errorf("%s: must be seconds in [%g, %g] (0 = default), got %g", r.key, r.lo, r.hi, r.v)
		}
	}
	if s.LimiterTableName != "" && !tableName.MatchString(s.LimiterTableName) {
		return fmt.Errorf("limiterTableName: must be a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ . -), got %q", s.LimiterTableName)
	}
	if s.AccountScope != "" && !accountScope.MatchString(s.AccountScope) {
		return fmt.Errorf("accountScope: must be 1-128 of a-z, A-Z, 0-9, _ . / : - (e.g. 111122223333/us-east-1), got %q", s.AccountScope)
	}
	if s.MaxConcurrency != nil && (*s.MaxConcurrency < 0 || *s.MaxConcurrency > 10000) {
		return fmt.Errorf("maxConcurrency: must be in [0, 10000] (0 = no limit), got %d", *s.MaxConcurrency)
	}
	return nil
}

func validBucket(b string) bool {
	return bucketName.MatchString(b) && !strings.Contains(b, "..")
}

func matchAny(res ...*regexp.Regexp) func(string) bool {
	return func(s string) bool {
		for _, re := range res {
			if re.MatchString(s) {
				return true
			}
		}
		return false
	}
}

// WithDefaults returns s with every zero optional field set to its default.
func (s Settings) WithDefaults() Settings {
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	s.LogLevel = strings.ToLower(s.LogLevel)
	if s.LogRetentionDays == 0 {
		s.LogRetentionDays = DefaultLogRetentionDays
	}
	if s.RunTaskConcurrency == nil {
		v := DefaultRunTaskConcurrency
		s.RunTaskConcurrency = &v
	}
	if s.RetryConcurrency == nil {
		v := DefaultRetryConcurrency
		s.RetryConcurrency = &v
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Alarms.ThrottleRatePercent, 5)
	def(&s.Alarms.DLQDepth, 1)
	def(&s.Alarms.FailedExecutions, 1)
	def(&s.Alarms.LimiterBusy, 1)
	return s
}
