package launch

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Version2 is the jobs schema: per-task items, waiting for tasks to stop,
// retry by exit, a per-attempt timeout and a failure tolerance. A request
// that uses any of those fields is version 2 whether or not it says so.
const Version2 = 2

// Limits of the jobs fields.
const (
	// MinAttemptDurationSeconds is AWS Batch's minimum job timeout.
	MinAttemptDurationSeconds = 60
	// EC2 wait targets (ec2.waitFor).
	WaitRunning  = "running"
	WaitStatusOK = "status-ok"
)

// S3Ref names an S3 object: ecs.itemsFrom's JSON Lines file, one item (a
// TaskOverride) a line, line i being the input of task i.
type S3Ref struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// JobTimeout bounds one task attempt (AWS Batch's timeout): a task still
// running AttemptDurationSeconds after it started is stopped, and the stop
// is an exit like any other (retryStrategy decides).
type JobTimeout struct {
	AttemptDurationSeconds int `json:"attemptDurationSeconds"`
}

// SchemaVersion is the version r is read as: its version field, else 2
// when it uses any version-2 field, else 1.
func (r Request) SchemaVersion() int {
	if r.Version != 0 {
		return r.Version
	}
	if len(r.v2Fields()) > 0 {
		return Version2
	}
	return CurrentVersion
}

// v2Fields names the version-2 fields r sets, in the README's order.
func (r Request) v2Fields() []string {
	var f []string
	if r.ECS != nil {
		if r.ECS.Items != nil {
			f = append(f, "ecs.items")
		}
		if r.ECS.ItemsFrom != nil {
			f = append(f, "ecs.itemsFrom")
		}
		if r.ECS.ItemContainer != "" {
			f = append(f, "ecs.itemContainer")
		}
	}
	if r.EC2 != nil && r.EC2.WaitFor != "" {
		f = append(f, "ec2.waitFor")
	}
	set := []struct {
		on   bool
		name string
	}{
		{r.WaitForCompletion, "waitForCompletion"},
		{r.RetryStrategy != nil, "retryStrategy"},
		{r.Timeout != nil, "timeout"},
		{r.ToleratedFailurePercentage != nil, "toleratedFailurePercentage"},
		{r.ToleratedFailureCount != nil, "toleratedFailureCount"},
	}
	for _, s := range set {
		if s.on {
			f = append(f, s.name)
		}
	}
	return f
}

// versionProblems: version 1, 2 or absent; version 1 with a version-2
// field is a contradiction (the sender's schema would drop the field).
func (r Request) versionProblems() []string {
	switch r.Version {
	case 0, Version2:
		return nil
	case CurrentVersion:
		if f := r.v2Fields(); len(f) > 0 {
			return []string{fmt.Sprintf("version: must be %d (or absent) when %s is set, got %d", Version2, strings.Join(f, ", "), r.Version)}
		}
		return nil
	}
	return []string{fmt.Sprintf("version: must be %d or %d, got %d", CurrentVersion, Version2, r.Version)}
}

// jobProblems checks the request-level version-2 fields.
func (r Request) jobProblems() []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if r.RetryStrategy != nil {
		p = append(p, r.RetryStrategy.problems()...)
		if !r.WaitForCompletion {
			add("retryStrategy: requires waitForCompletion true (exits are watched only while the request waits)")
		}
	}
	p = append(p, r.timeoutProblems()...)
	if v := r.ToleratedFailurePercentage; v != nil && !(*v >= 0 && *v <= 100) {
		add("toleratedFailurePercentage: must be 0..100, got %g", *v)
	}
	if v := r.ToleratedFailureCount; v != nil && *v < 0 {
		add("toleratedFailureCount: must be ≥ 0, got %d", *v)
	}
	return append(p, r.waitForProblems()...)
}

func (r Request) timeoutProblems() []string {
	t := r.Timeout
	if t == nil {
		return nil
	}
	var p []string
	limit := int(r.deadlineSeconds())
	if t.AttemptDurationSeconds < MinAttemptDurationSeconds || t.AttemptDurationSeconds > limit {
		p = append(p, fmt.Sprintf("timeout.attemptDurationSeconds: must be %d..%d (the request's deadline), got %d", MinAttemptDurationSeconds, limit, t.AttemptDurationSeconds))
	}
	if !r.WaitForCompletion {
		p = append(p, "timeout: requires waitForCompletion true (attempts are timed only while the request waits)")
	}
	return p
}

func (r Request) waitForProblems() []string {
	if r.EC2 == nil || r.EC2.WaitFor == "" {
		return nil
	}
	var p []string
	if w := r.EC2.WaitFor; w != WaitRunning && w != WaitStatusOK {
		p = append(p, fmt.Sprintf("ec2.waitFor: must be %s or %s, got %s", WaitRunning, WaitStatusOK, quoteClipped(w)))
	}
	if !r.WaitForCompletion {
		p = append(p, "ec2.waitFor: requires waitForCompletion true")
	}
	return p
}

// deadlineSeconds is DeadlineSeconds with its default applied.
func (r Request) deadlineSeconds() float64 {
	if r.DeadlineSeconds > 0 {
		return r.DeadlineSeconds
	}
	return DefaultDeadline.Seconds()
}

// WaitState is the state the request waits for its instances to reach:
// empty when it does not wait, else ec2.waitFor (default running).
func (r Request) WaitState() string {
	if !r.WaitForCompletion || r.EC2 == nil {
		return ""
	}
	if r.EC2.WaitFor == "" {
		return WaitRunning
	}
	return r.EC2.WaitFor
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// s3RefProblems applies the S3 bucket naming rules (general purpose
// buckets) and the object key's length limit.
func s3RefProblems(field string, ref S3Ref) []string {
	var p []string
	b := ref.Bucket
	switch {
	case !bucketRe.MatchString(b):
		p = append(p, fmt.Sprintf("%s.bucket: must be 3..63 lowercase letters, digits, . and -, starting and ending with a letter or digit, got %s", field, quoteClipped(b)))
	case strings.Contains(b, ".."):
		p = append(p, fmt.Sprintf("%s.bucket: must not contain two adjacent periods, got %s", field, quoteClipped(b)))
	case isIPv4(b):
		p = append(p, fmt.Sprintf("%s.bucket: must not be formatted as an IP address, got %s", field, quoteClipped(b)))
	case reservedBucket(b):
		p = append(p, fmt.Sprintf("%s.bucket: uses a prefix or suffix S3 reserves (xn--, sthree-, -s3alias, --ol-s3), got %s", field, quoteClipped(b)))
	}
	if len(ref.Key) == 0 || len(ref.Key) > 1024 {
		p = append(p, fmt.Sprintf("%s.key: must be 1..1024 bytes, got %d", field, len(ref.Key)))
	}
	return p
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func reservedBucket(b string) bool {
	return strings.HasPrefix(b, "xn--") || strings.HasPrefix(b, "sthree-") ||
		strings.HasSuffix(b, "-s3alias") || strings.HasSuffix(b, "--ol-s3")
}
