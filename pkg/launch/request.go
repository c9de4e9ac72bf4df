package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CurrentVersion is the version an absent version field means for a
// request without version-2 fields (so stored version-1 requests keep
// their fingerprint); Version2 (jobs.go) is the other version accepted.
const CurrentVersion = 1

// Limits of the request model. They are rules of this product (a request is
// a burst of work, not a fleet manager), not AWS quotas.
const (
	MaxECSCount        = 100000
	MaxEC2Count        = 10000
	DefaultMaxAttempts = 8
	MaxMaxAttempts     = 50
	DefaultDeadline    = time.Hour
	MaxDeadline        = 7 * 24 * time.Hour
	maxRequestIDLen    = 256
)

// Request is a launch request: the execution input of the launch state
// machine and the detail of a LaunchRequested event. At least one of ECS and
// EC2 is set. See the package doc for the JSON contract.
type Request struct {
	// Version is the schema version; 0 means CurrentVersion.
	Version   int      `json:"version,omitempty"`
	RequestID string   `json:"requestId"`
	ECS       *ECSSpec `json:"ecs,omitempty"`
	EC2       *EC2Spec `json:"ec2,omitempty"`
	// MaxAttempts bounds the calls made for one chunk (first call
	// included); 0 means DefaultMaxAttempts.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// DeadlineSeconds is how long, from planning, the request may keep
	// retrying (simulated seconds); 0 means DefaultDeadline.
	DeadlineSeconds float64 `json:"deadlineSeconds,omitempty"`
	// Caps is an optional cost guard.
	Caps *Caps `json:"caps,omitempty"`
	// Callback answers the caller's task token when the request ends
	// (callback.go); valid in both versions.
	Callback *Callback `json:"callback,omitempty"`
	// Priority is the limiter lane of the request's calls: high, normal
	// (the default) or low (priority.go); valid in both versions.
	Priority string `json:"priority,omitempty"`

	// Version-2 fields (jobs.go, retry.go, outcome.go).

	// WaitForCompletion: the request ends when its tasks have stopped (and
	// its instances reached ec2.waitFor), not when they are launched.
	WaitForCompletion bool           `json:"waitForCompletion,omitempty"`
	RetryStrategy     *RetryStrategy `json:"retryStrategy,omitempty"`
	Timeout           *JobTimeout    `json:"timeout,omitempty"`
	// ToleratedFailurePercentage (0..100) and ToleratedFailureCount bound
	// the failures a SUCCEEDED request may have (Outcome); absent: none.
	ToleratedFailurePercentage *float64 `json:"toleratedFailurePercentage,omitempty"`
	ToleratedFailureCount      *int     `json:"toleratedFailureCount,omitempty"`
}

// Caps guard against a request that is larger or longer than its sender
// meant: a count above a cap is rejected, a deadline is cut at NotAfter.
type Caps struct {
	MaxTasks     int `json:"maxTasks,omitempty"`
	MaxInstances int `json:"maxInstances,omitempty"`
	// NotAfter (RFC 3339) is the latest deadline, whatever DeadlineSeconds says.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// ECSSpec is the ECS part of a request: Count standalone tasks of one task
// definition, launched by RunTask in chunks of at most ChunkSizeECS.
type ECSSpec struct {
	Cluster        string `json:"cluster"`
	TaskDefinition string `json:"taskDefinition"`
	Count          int    `json:"count"`
	// LaunchType is FARGATE, EC2 or EXTERNAL; empty when
	// CapacityProviderStrategy is given (or for the cluster default).
	LaunchType               string                 `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                 `json:"platformVersion,omitempty"`
	NetworkConfiguration     *NetworkConfiguration  `json:"networkConfiguration,omitempty"`
	Overrides                *TaskOverride          `json:"overrides,omitempty"`
	Group                    string                 `json:"group,omitempty"`
	Tags                     map[string]string      `json:"tags,omitempty"`
	// Items are per-task inputs (version 2): task i runs with Overrides
	// merged with Items[i] (items.go); Count is len(Items).
	Items []TaskOverride `json:"items,omitempty"`
	// ItemsFrom names a JSON Lines object of Count items instead.
	ItemsFrom *S3Ref `json:"itemsFrom,omitempty"`
	// ItemContainer is a container that gets the task's variables
	// (TH_REQUEST_ID, TH_ARRAY_INDEX) besides those the overrides name.
	ItemContainer string `json:"itemContainer,omitempty"`
}

// CapacityProviderItem is one entry of an ECS capacity provider strategy.
type CapacityProviderItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int32  `json:"weight,omitempty"`
	Base             int32  `json:"base,omitempty"`
}

// NetworkConfiguration is ECS's awsvpc network configuration.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsvpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// AwsvpcConfiguration lists the task's subnets and security groups.
type AwsvpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// AssignPublicIp is ENABLED or DISABLED.
	AssignPublicIp string `json:"assignPublicIp,omitempty"`
}

// TaskOverride is the subset of ECS's task overrides the product passes on.
type TaskOverride struct {
	ContainerOverrides []ContainerOverride `json:"containerOverrides,omitempty"`
	Cpu                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
	TaskRoleArn        string              `json:"taskRoleArn,omitempty"`
}

// ContainerOverride overrides one container of the task definition.
type ContainerOverride struct {
	Name        string            `json:"name"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
}

// EC2Spec is the EC2 part of a request: Count instances from a launch
// template, launched by RunInstances in batches of at most ChunkSizeEC2,
// trying InstanceTypes × SubnetIDs in preference order (type first).
type EC2Spec struct {
	LaunchTemplate LaunchTemplate `json:"launchTemplate"`
	// InstanceTypes in preference order; the first with capacity is used.
	InstanceTypes []string `json:"instanceTypes"`
	// SubnetIDs in preference order (different AZs make failover useful).
	SubnetIDs []string `json:"subnetIds"`
	Count     int      `json:"count"`
	// Market is "on-demand" (default) or "spot".
	Market string            `json:"market,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	// WaitFor (version 2) is the state a waiting request waits for:
	// running (default) or status-ok (both status checks passed).
	WaitFor string `json:"waitFor,omitempty"`
}

// LaunchTemplate names an EC2 launch template by id or name.
type LaunchTemplate struct {
	LaunchTemplateID   string `json:"launchTemplateId,omitempty"`
	LaunchTemplateName string `json:"launchTemplateName,omitempty"`
	// Version is a number, $Latest or $Default; empty means $Default.
	Version string `json:"version,omitempty"`
}

// ValidationError lists every problem of a request, each naming the field
// and the rule. It is permanent: a launcher never retries it.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid launch request: " + strings.Join(e.Problems, "; ")
}

var (
	requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:/@+=-]+$`)
	launchTypes = map[string]bool{"FARGATE": true, "EC2": true, "EXTERNAL": true}
	tagKeyRe    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// ParseRequest decodes a request strictly (unknown fields are errors, so a
// typo such as "cout" is not silently ignored) and validates it.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		// The decoder's message quotes an unknown field's whole name.
		return Request{}, &ValidationError{Problems: []string{"request: not a valid launch request JSON: " + clipN(err.Error(), maxDecodeEcho)}}
	}
	if r.ECS != nil && r.ECS.Count == 0 && len(r.ECS.Items) > 0 {
		r.ECS.Count = len(r.ECS.Items) // with inline items, count may be left out
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Validate checks r and returns a *ValidationError naming every bad field,
// or nil.
func (r Request) Validate() error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	p = append(p, r.versionProblems()...)
	switch {
	case r.RequestID == "":
		add("requestId: required")
	case len(r.RequestID) > maxRequestIDLen:
		add("requestId: must be at most %d characters, got %d", maxRequestIDLen, len(r.RequestID))
	case !requestIDRe.MatchString(r.RequestID):
		add("requestId: must use only letters, digits and ._:/@+=-, got %s", quoteClipped(r.RequestID))
	}
	if r.ECS == nil && r.EC2 == nil {
		add("ecs, ec2: at least one is required")
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxMaxAttempts {
		add("maxAttempts: must be 1..%d, got %d", MaxMaxAttempts, r.MaxAttempts)
	}
	if r.DeadlineSeconds < 0 || r.DeadlineSeconds > MaxDeadline.Seconds() {
		add("deadlineSeconds: must be 1..%g, got %g", MaxDeadline.Seconds(), r.DeadlineSeconds)
	}
	if r.ECS != nil {
		p = append(p, r.ECS.problems(r.Caps)...)
		p = append(p, r.ECS.itemProblems(r.RequestID)...)
		p = append(p, r.ECS.itemsFromProblems()...)
	}
	p = append(p, r.jobProblems()...)
	p = append(p, r.callbackProblems()...)
	p = append(p, r.priorityProblems()...)
	if r.EC2 != nil {
		p = append(p, r.EC2.problems(r.Caps)...)
	}
	if r.Caps != nil {
		if r.Caps.MaxTasks < 0 {
			add("caps.maxTasks: must be ≥ 0, got %d", r.Caps.MaxTasks)
		}
		if r.Caps.MaxInstances < 0 {
			add("caps.maxInstances: must be ≥ 0, got %d", r.Caps.MaxInstances)
		}
	}
	if len(p) > maxProblems {
		p = append(p[:maxProblems], fmt.Sprintf("and %d more problems", len(p)-maxProblems))
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// An error names the field and quotes at most maxEcho bytes of a bad value,
// and lists at most maxProblems problems: a 1 MB string (or 100,000 list
// entries) in a request must not make a 1 MB log line or execution cause.
// The decoder's own messages (which name the field) get more room.
const (
	maxEcho       = 64
	maxDecodeEcho = 256
	maxProblems   = 20
)

// clip returns v cut to maxEcho bytes (on a rune boundary) with "…" and
// its length in bytes appended when it was longer.
func clip(v string) string { return clipN(v, maxEcho) }

func clipN(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return fmt.Sprintf("%s… (%d bytes)", v[:runeCut(v, n)], len(v))
}

// quoteClipped quotes v like %q, clipped like clip.
func quoteClipped(v string) string {
	if len(v) <= maxEcho {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(v[:runeCut(v, maxEcho)]), len(v))
}

// runeCut returns the largest cut ≤ n that does not split a rune of v.
func runeCut(v string, n int) int {
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return n
}

func (s *ECSSpec) problems(caps *Caps) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if s.Cluster == "" {
		add("ecs.cluster: required")
	}
	if s.TaskDefinition == "" {
		add("ecs.taskDefinition: required")
	}
	if n := s.taskCount(); n < 1 || n > MaxECSCount {
		add("ecs.count: must be 1..%d, got %d", MaxECSCount, n)
	}
	if caps != nil && caps.MaxTasks > 0 && s.taskCount() > caps.MaxTasks {
		add("ecs.count: must not exceed caps.maxTasks %d, got %d", caps.MaxTasks, s.taskCount())
	}
	if s.LaunchType != "" && !launchTypes[s.LaunchType] {
		add("ecs.launchType: must be FARGATE, EC2 or EXTERNAL, got %s", quoteClipped(s.LaunchType))
	}
	if s.LaunchType != "" && len(s.CapacityProviderStrategy) > 0 {
		add("ecs.launchType: must be empty when ecs.capacityProviderStrategy is set")
	}
	if len(s.CapacityProviderStrategy) > 20 {
		add("ecs.capacityProviderStrategy: must have at most 20 entries, got %d", len(s.CapacityProviderStrategy))
	}
	for i, c := range s.CapacityProviderStrategy {
		if c.CapacityProvider == "" {
			add("ecs.capacityProviderStrategy[%d].capacityProvider: required", i)
		}
		if c.Weight < 0 || c.Weight > 1000 {
			add("ecs.capacityProviderStrategy[%d].weight: must be 0..1000, got %d", i, c.Weight)
		}
		if c.Base < 0 || c.Base > 100000 {
			add("ecs.capacityProviderStrategy[%d].base: must be 0..100000, got %d", i, c.Base)
		}
	}
	if nc := s.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		a := nc.AwsvpcConfiguration
		if len(a.Subnets) == 0 || len(a.Subnets) > 16 {
			add("ecs.networkConfiguration.awsvpcConfiguration.subnets: must have 1..16 entries, got %d", len(a.Subnets))
		}
		if len(a.SecurityGroups) > 5 {
			add("ecs.networkConfiguration.awsvpcConfiguration.securityGroups: must have at most 5 entries, got %d", len(a.SecurityGroups))
		}
		if a.AssignPublicIp != "" && a.AssignPublicIp != "ENABLED" && a.AssignPublicIp != "DISABLED" {
			add("ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp: must be ENABLED or DISABLED, got %s", quoteClipped(a.AssignPublicIp))
		}
	}
	if s.LaunchType == "FARGATE" && (s.NetworkConfiguration == nil || s.NetworkConfiguration.AwsvpcConfiguration == nil) {
		add("ecs.networkConfiguration.awsvpcConfiguration: required for launchType FARGATE")
	}
	if s.Overrides != nil {
		if b, _ := json.Marshal(s.Overrides); len(b) > 8192 {
			add("ecs.overrides: must be at most 8192 characters as JSON, got %d", len(b))
		}
		for i, c := range s.Overrides.ContainerOverrides {
			if c.Name == "" {
				add("ecs.overrides.containerOverrides[%d].name: required", i)
			}
		}
	}
	if len(s.Group) > 255 {
		add("ecs.group: must be at most 255 characters, got %d", len(s.Group))
	}
	p = append(p, tagProblems("ecs.tags", s.Tags, 40)...)
	return p
}

func (s *EC2Spec) problems(caps *Caps) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	lt := s.LaunchTemplate
	if (lt.LaunchTemplateID == "") == (lt.LaunchTemplateName == "") {
		add("ec2.launchTemplate: exactly one of launchTemplateId and launchTemplateName is required")
	}
	if len(s.InstanceTypes) == 0 || len(s.InstanceTypes) > 20 {
		add("ec2.instanceTypes: must have 1..20 entries, got %d", len(s.InstanceTypes))
	}
	for i, t := range s.InstanceTypes {
		if t == "" || strings.ContainsAny(t, "# ") {
			add("ec2.instanceTypes[%d]: must be an instance type such as c7g.large, got %s", i, quoteClipped(t))
		}
	}
	if len(s.SubnetIDs) == 0 || len(s.SubnetIDs) > 16 {
		add("ec2.subnetIds: must have 1..16 entries, got %d", len(s.SubnetIDs))
	}
	for i, sn := range s.SubnetIDs {
		if !strings.HasPrefix(sn, "subnet-") || strings.ContainsAny(sn, "# ") {
			add("ec2.subnetIds[%d]: must be a subnet id (subnet-…), got %s", i, quoteClipped(sn))
		}
	}
	if s.Count < 1 || s.Count > MaxEC2Count {
		add("ec2.count: must be 1..%d, got %d", MaxEC2Count, s.Count)
	}
	if caps != nil && caps.MaxInstances > 0 && s.Count > caps.MaxInstances {
		add("ec2.count: must not exceed caps.maxInstances %d, got %d", caps.MaxInstances, s.Count)
	}
	if s.Market != "" && s.Market != "on-demand" && s.Market != "spot" {
		add("ec2.market: must be on-demand or spot, got %s", quoteClipped(s.Market))
	}
	p = append(p, tagProblems("ec2.tags", s.Tags, 40)...)
	return p
}

func tagProblems(field string, tags map[string]string, max int) []string {
	var p []string
	if len(tags) > max {
		p = append(p, fmt.Sprintf("%s: must have at most %d entries, got %d", field, max, len(tags)))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) { // sorted: the same request, the same message
		v := tags[k]
		if !tagKeyRe.MatchString(k) {
			p = append(p, fmt.Sprintf("%s: key %s must be 1..128 letters, digits, spaces or _.:/=+-@", field, quoteClipped(k)))
		} else if strings.HasPrefix(strings.ToLower(k), "aws:") || strings.HasPrefix(k, "th:") {
			p = append(p, fmt.Sprintf("%s: key %s uses a reserved prefix (aws:, th:)", field, quoteClipped(k)))
		}
		if len(v) > 256 {
			p = append(p, fmt.Sprintf("%s[%s]: value must be at most 256 characters, got %d", field, clip(k), len(v)))
		}
	}
	return p
}

// Attempts returns MaxAttempts with its default applied.
func (r Request) Attempts() int {
	if r.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return r.MaxAttempts
}

// Deadline returns the time after which the request stops retrying, for a
// request planned at now: now + DeadlineSeconds (default DefaultDeadline),
// cut at Caps.NotAfter.
func (r Request) Deadline(now time.Time) time.Time {
	d := DefaultDeadline
	if r.DeadlineSeconds > 0 {
		d = time.Duration(r.DeadlineSeconds * float64(time.Second))
	}
	dl := now.Add(d)
	if r.Caps != nil && r.Caps.NotAfter != nil && r.Caps.NotAfter.Before(dl) {
		dl = *r.Caps.NotAfter
	}
	return dl
}

// IsValidation reports whether err is (or wraps) a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// Fargate reports whether the ECS part launches on Fargate (launch type or
// a FARGATE / FARGATE_SPOT capacity provider), which adds the Fargate buckets.
func (s *ECSSpec) Fargate() bool {
	if s.LaunchType == "FARGATE" {
		return true
	}
	for _, c := range s.CapacityProviderStrategy {
		if c.CapacityProvider == "FARGATE" || c.CapacityProvider == "FARGATE_SPOT" {
			return true
		}
	}
	return false
}
