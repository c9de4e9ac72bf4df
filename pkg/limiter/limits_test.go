package limiter

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLimitsBuiltIn(t *testing.T) {
	t.Parallel()
	l := DefaultLimits()
	tests := []struct {
		bucket      string
		burst, rate float64
	}{
		{ECSRunTask, 100, 40}, {ECSDescribeTasks, 100, 20},
		{EC2TerminateInstances, 100, 5}, {EC2TerminatedInstance, 1000, 20},
		{ECSFargateRunTask, 20, 20}, {ECSFargateTasks, 100, 20},
		{EC2RunInstances, 5, 2}, {EC2Instances, 1000, 2},
		{EC2Mutating, 50, 5}, {EC2NonMutating, 100, 20},
	}
	for _, tt := range tests {
		got, err := l.Bucket("us-east-1", tt.bucket)
		if err != nil {
			t.Fatal(err)
		}
		want := BucketLimit{Burst: tt.burst, Rate: Limit(tt.rate), Floor: Limit(tt.rate * defaultFloorFraction),
			Decrease: defaultDecrease, Recovery: defaultRecovery, SignalWindow: defaultSignalWindow,
			Tolerance: math.Floor(tt.burst * defaultBurstFraction), Shares: defaultShares}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", tt.bucket, got, want)
		}
	}
}

func TestLimitsInheritance(t *testing.T) {
	t.Parallel()
	doc := `{
	  "defaults": {"decrease": 0.5, "recoveryPerSecond": 0.02, "signalWindowSeconds": 1},
	  "services": {"ecs": {"decrease": 0.6, "floorFraction": 0.5}},
	  "actions":  {"ecs:FargateTasks": {"burst": 200, "rate": 40, "recoveryPerSecond": 0.03},
	               "ecs:CreateService": {"burst": 50, "rate": 5}},
	  "accounts": {
	    "111122223333/us-east-1": {"decrease": 0.7, "signalWindowSeconds": 3,
	      "services": {"ecs": {"floorFraction": 0.1}},
	      "actions": {"ecs:RunTask": {"rate": 80}, "ecs:FargateTasks": {"rate": 60}}}
	  }
	}`
	l, err := ParseLimits(doc)
	if err != nil {
		t.Fatal(err)
	}
	const acct = "111122223333/us-east-1"
	tests := []struct {
		scope, bucket string
		want          BucketLimit
	}{
		// defaults → service
		{"eu-west-1", ECSRunTask, BucketLimit{100, 40, 20, 0.6, 0.02, time.Second, math.Floor(100 * defaultBurstFraction), defaultShares}},
		// defaults only (ec2 has no service settings)
		{"eu-west-1", EC2RunInstances, BucketLimit{5, 2, 0.1, 0.5, 0.02, time.Second, math.Floor(5 * defaultBurstFraction), defaultShares}},
		// action over service over defaults
		{"eu-west-1", ECSFargateTasks, BucketLimit{200, 40, 20, 0.6, 0.03, time.Second, math.Floor(200 * defaultBurstFraction), defaultShares}},
		// account over service; account action over account
		{acct, ECSRunTask, BucketLimit{100, 80, 8, 0.7, 0.02, 3 * time.Second, math.Floor(100 * defaultBurstFraction), defaultShares}},
		// account action over global action over account settings
		{acct, ECSFargateTasks, BucketLimit{200, 60, 6, 0.7, 0.03, 3 * time.Second, math.Floor(200 * defaultBurstFraction), defaultShares}},
		// a bucket that is not built in, given burst and rate
		{acct, "ecs:CreateService", BucketLimit{50, 5, 0.5, 0.7, 0.02, 3 * time.Second, math.Floor(50 * defaultBurstFraction), defaultShares}},
	}
	for _, tt := range tests {
		got, err := l.Bucket(tt.scope, tt.bucket)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s in %s: got %+v, want %+v", tt.bucket, tt.scope, got, tt.want)
		}
	}
	if _, err := l.Bucket(acct, "ecs:Unknown"); err == nil || !strings.Contains(err.Error(), `"ecs:Unknown"`) {
		t.Errorf("unknown bucket: got %v", err)
	}
}

func TestLimitsRejectBadConfigNamingTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `{`, "limits: must be a JSON object"},
		{"not an object", `[1]`, "limits: must be a JSON object"},
		{"unknown top key", `{"default": {}}`, "limits: default: unknown key"},
		{"unknown setting", `{"defaults": {"rat": 1}}`, "limits: defaults.rat: unknown key"},
		{"negative rate", `{"actions": {"ecs:RunTask": {"rate": -1}}}`, `limits: actions["ecs:RunTask"].rate: must be > 0, got -1`},
		{"rate not a number", `{"actions": {"ecs:RunTask": {"rate": "fast"}}}`, `limits: actions["ecs:RunTask"].rate: must be a number`},
		{"burst below 1", `{"services": {"ecs": {"burst": 0.5}}}`, `limits: services["ecs"].burst: must be ≥ 1, got 0.5`},
		{"decrease of 1", `{"defaults": {"decrease": 1}}`, "limits: defaults.decrease: must be in (0, 1), got 1"},
		{"floor 0", `{"defaults": {"floorFraction": 0}}`, "limits: defaults.floorFraction: must be in (0, 1], got 0"},
		{"bad bucket name", `{"actions": {"RunTask": {"rate": 1}}}`, `limits: actions["RunTask"]: not a bucket name`},
		{"bad service name", `{"services": {"ecs:RunTask": {}}}`, `limits: services["ecs:RunTask"]: not a service name`},
		{"new bucket without burst", `{"actions": {"ecs:CreateService": {"rate": 5}}}`, `bucket "ecs:CreateService" (scope ""): not built in; set both burst and rate`},
		{"account action", `{"accounts": {"eu-west-1": {"actions": {"ec2:Instances": {"burst": 0}}}}}`, `limits: accounts["eu-west-1"].actions["ec2:Instances"].burst: must be ≥ 1, got 0`},
		{"account setting", `{"accounts": {"eu-west-1": {"window": 3}}}`, `limits: accounts["eu-west-1"].window: unknown key`},
		{"account new bucket", `{"accounts": {"eu-west-1": {"actions": {"ec2:CreateTags": {"burst": 100}}}}}`, `bucket "ec2:CreateTags" (scope "eu-west-1"): not built in`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseLimits(tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCountersEMF(t *testing.T) {
	t.Parallel()
	var c Counters
	c.Add(MetricAcquisitions, "ecs", 1)
	c.Add(MetricAcquisitions, "ecs", 1)
	c.Add(MetricDelay, "ecs", 1.5)
	c.Add(MetricStoreBusy, "ec2", 1)
	lines := c.EMF("ThrottleHandler", t0)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want one per service", len(lines))
	}
	var doc struct {
		Service string
		Acq     float64 `json:"LimiterAcquisitions"`
		Delay   float64 `json:"LimiterDelaySeconds"`
		AWS     struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(lines[1], &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.AWS.CloudWatchMetrics
	if doc.Service != "ecs" || doc.Acq != 2 || doc.Delay != 1.5 || doc.AWS.Timestamp != t0.UnixMilli() ||
		len(m) != 1 || m[0].Namespace != "ThrottleHandler" || len(m[0].Metrics) != 2 || m[0].Metrics[1].Unit != "Seconds" {
		t.Fatalf("EMF line: %s", lines[1])
	}
}

// FuzzParseLimits: any document is either rejected with an error naming
// where (it starts with "limits:") or yields usable limits for every bucket.
func FuzzParseLimits(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"defaults": {"decrease": 0.5}}`,
		`{"actions": {"ecs:RunTask": {"rate": 80, "burst": 200}}}`,
		`{"accounts": {"eu-west-1": {"floorFraction": 0.2, "actions": {"ec2:CreateTags": {"burst": 100, "rate": 10}}}}}`,
		`{"services": {"ecs": {"rate": -1}}}`, `[]`, `{"actions": {"x": 1}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		l, err := ParseLimits(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "limits: ") {
				t.Fatalf("error %q does not start with limits:", err)
			}
			return
		}
		for _, scope := range append([]string{"", "eu-west-1"}, sortedKeys(l.accounts)...) {
			for _, b := range l.bucketNames(scope) {
				bl, err := l.Bucket(scope, b)
				if err != nil {
					t.Fatalf("accepted document, but %s in %q: %v", b, scope, err)
				}
				if bl.Burst < 1 || bl.Rate <= 0 || bl.Floor <= 0 || bl.Floor > bl.Rate || bl.Decrease <= 0 || bl.Decrease >= 1 {
					t.Fatalf("accepted document gives unusable %s in %q: %+v", b, scope, bl)
				}
			}
		}
	})
}

// TestBucketOf: actions sharing an AWS throttling category share its
// bucket ("Amazon ECS API request throttling": RunTask, StartTask and
// StopTask are "cluster resource modify"; DescribeTasks and ListTasks
// "cluster resource read"); others draw on their own.
func TestBucketOf(t *testing.T) {
	t.Parallel()
	for action, want := range map[string]string{
		"ecs:RunTask": ECSRunTask, "ecs:StartTask": ECSRunTask, "ecs:StopTask": ECSRunTask,
		"ecs:DescribeTasks": ECSDescribeTasks, "ecs:ListTasks": ECSDescribeTasks,
		"ec2:TerminateInstances": EC2TerminateInstances, "ec2:DescribeInstances": EC2NonMutating,
		"ec2:RunInstances": EC2RunInstances,
	} {
		if got := BucketOf(action); got != want {
			t.Errorf("BucketOf(%q) = %q, want %q", action, got, want)
		}
		if _, err := DefaultLimits().Bucket("", BucketOf(action)); err != nil {
			t.Errorf("%s: its bucket has no built-in limit: %v", action, err)
		}
	}
}

var defaultShares = [nLanes]float64{1, defaultShareNormal, defaultShareLow}

// Lane shares resolve through the hierarchy like every other setting.
func TestLaneShares(t *testing.T) {
	t.Parallel()
	l, err := ParseLimits(`{"defaults": {"laneShares": {"low": 0.2}},
		"services": {"ecs": {"laneShares": {"normal": 0.5}}},
		"accounts": {"a/r": {"actions": {"ecs:FargateTasks": {"laneShares": {"low": 0.05}}}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scope, bucket string
		want          [nLanes]float64
	}{
		{"x", EC2RunInstances, [nLanes]float64{1, defaultShareNormal, 0.2}},
		{"x", ECSFargateTasks, [nLanes]float64{1, 0.5, 0.2}},
		{"a/r", ECSFargateTasks, [nLanes]float64{1, 0.5, 0.05}},
		{"a/r", ECSRunTask, [nLanes]float64{1, 0.5, 0.2}},
	}
	for _, tt := range tests {
		got, err := l.Bucket(tt.scope, tt.bucket)
		if err != nil || got.Shares != tt.want {
			t.Errorf("%s %s: shares %v, %v; want %v", tt.scope, tt.bucket, got.Shares, err, tt.want)
		}
	}
}

func TestLaneSharesInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{`{"defaults": {"laneShares": {"low": 1}}}`, "limits: defaults.laneShares.low: must be in (0, 1), got 1"},
		{`{"defaults": {"laneShares": {"normal": 0}}}`, "limits: defaults.laneShares.normal: must be in (0, 1), got 0"},
		{`{"services": {"ecs": {"laneShares": {"high": 0.5}}}}`, `limits: services["ecs"].laneShares.high: unknown lane (want low, normal)`},
		{`{"actions": {"ecs:RunTask": {"laneShares": {"low": "x"}}}}`, `limits: actions["ecs:RunTask"].laneShares.low: must be a number, got "x"`},
		{`{"accounts": {"a/r": {"laneShares": []}}}`, `limits: accounts["a/r"].laneShares: must be a JSON object`},
	}
	for _, tt := range tests {
		_, err := ParseLimits(tt.doc)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want prefix %q", tt.doc, err, tt.want)
		}
	}
}
