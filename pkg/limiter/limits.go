package limiter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// BucketLimit is one bucket's resolved configuration.
type BucketLimit struct {
	// Burst is the bucket size in tokens.
	Burst float64
	// Rate is the configured refill rate in tokens/s: the adaptive ceiling.
	Rate Limit
	// Floor is the lowest rate adaptive decreases may reach (tokens/s).
	Floor Limit
	// Decrease multiplies the rate on a throttle signal, in (0, 1).
	Decrease float64
	// Recovery is the growth per second of the rate after a decrease: the
	// rate is multiplied by (1 + Recovery) each second, up to Rate.
	Recovery float64
	// SignalWindow: signals within this time after a decrease are the same
	// storm and do not decrease again.
	SignalWindow time.Duration
	// Tolerance is the part of Burst the limiter hands out at once
	// (Burst × burstFraction in whole tokens, at least 1); the rest is headroom for the refill the real
	// bucket loses between the limiter's reading and the call.
	Tolerance float64
	// Shares is, per lane (high, normal, low), the part of the bucket a
	// lane keeps while a higher lane has queued work (lanes.go); the high
	// lane's is unused.
	Shares [nLanes]float64
}

// Built-in bucket names (docs/contracts.md). A bucket is one of AWS's
// throttling categories, named after the action the product draws on most:
// ecs:RunTask is ECS's "cluster resource modify" bucket (RunTask, StartTask,
// StopTask share it), ecs:DescribeTasks its "cluster resource read" bucket
// (DescribeTasks, ListTasks). BucketOf maps an action to its bucket.
const (
	ECSRunTask            = "ecs:RunTask"
	ECSDescribeTasks      = "ecs:DescribeTasks"
	ECSFargateRunTask     = "ecs:FargateRunTask"
	ECSFargateTasks       = "ecs:FargateTasks"
	EC2RunInstances       = "ec2:RunInstances"
	EC2Instances          = "ec2:Instances"
	EC2TerminateInstances = "ec2:TerminateInstances"
	EC2TerminatedInstance = "ec2:TerminatedInstances"
	EC2Mutating           = "ec2:Mutating"
	EC2NonMutating        = "ec2:NonMutating"
)

// actionBuckets maps the actions that share another's bucket to it
// (AWS documentation: "Amazon ECS API request throttling", "Request
// throttling for the Amazon EC2 API").
var actionBuckets = map[string]string{
	"ecs:StartTask": ECSRunTask, "ecs:StopTask": ECSRunTask,
	"ecs:ListTasks":         ECSDescribeTasks,
	"ec2:DescribeInstances": EC2NonMutating,
}

// BucketOf returns the bucket an API action ("service:Action") draws on:
// the action's category bucket when it shares one, else the action itself.
func BucketOf(action string) string {
	if b, ok := actionBuckets[action]; ok {
		return b
	}
	return action
}

// builtin returns the published AWS defaults per account and Region
// (AWS documentation: "Amazon ECS API request throttling", "AWS Fargate
// throttling quotas", "Request throttling for the Amazon EC2 API"): burst
// and refill per second.
func builtin() map[string][2]float64 {
	return map[string][2]float64{
		ECSRunTask:            {100, 40},
		ECSDescribeTasks:      {100, 20},
		ECSFargateRunTask:     {20, 20}, // a cap of 20 RunTask calls per second
		ECSFargateTasks:       {100, 20},
		EC2RunInstances:       {5, 2},
		EC2Instances:          {1000, 2},
		EC2TerminateInstances: {100, 5},
		EC2TerminatedInstance: {1000, 20},
		EC2Mutating:           {50, 5},
		EC2NonMutating:        {100, 20},
	}
}

// Built-in adaptive knobs, tuned on the launch benchmark's regime (slots
// held up to the whole request ahead, a co-tenant taking 30 % of the
// Fargate bucket, a time-scaled clock; README "Tuning"):
//
//   - burstFraction 0.9: hand out 90 % of the burst at once. The real bucket
//     cannot bank the refill it loses while full between the limiter's
//     reading and the call (Lambda and DynamoDB latency, jitter, slots
//     reordered in transit); 10 tokens of 100 absorb 0.5 s of that at 20/s.
//     Without it a single spurious throttle costs a whole decrease.
//   - decrease 0.85: the blind decrease, for a throttle with no earlier
//     mark to measure from (the first of a run). It need not reach the
//     real rate: the next throttle, a few seconds on, measures it (see
//     Signal), and with every slot booked at the start of a run a rate
//     decreased too far would hold for the whole run (increases reach only
//     slots booked after them). Under the previous design (no re-timing,
//     no measurement) it was 0.7: one decrease reached a co-tenant's 30 %
//     share. A storm
//     at 0.85 needs 2–3 windows to get there while slots held at the old
//     rate keep arriving; 0.5 (TCP's) overshoots and loses 30 % throughput.
//   - signalWindow 5 s: throttles of slots handed out before a decrease
//     keep arriving for about a tolerance (burst/rate = 5 s on the Fargate
//     bucket); counting them as new storms drove the rate to its floor.
//   - recovery 0.005 (×1.005 per s): back from 0.85 to the ceiling in 33 s
//     after the hold. With slots booked up to 400 chunks ahead, ×1.01 was
//     as good (increases reached only takes made minutes later); with the
//     Map at 100 chunks they reach the schedule within about a minute, and
//     ×1.01 crossed a co-tenant's leftover about twice as often (cotenant
//     30 %, 10,000 tasks, seeds 1 and 2: 2.44 and 2.91 % throttled against
//     1.96 and 3.10 %; harm to the co-tenant 74 and 97 against 2 and 38).
//   - floorFraction 0.05: a storm never stops a bucket.
const (
	defaultFloorFraction = 0.05
	defaultDecrease      = 0.85
	defaultRecovery      = 0.005 // ×1.005 per second
	defaultSignalWindow  = 5 * time.Second
	defaultBurstFraction = 0.9
)

// settings is one level of the hierarchy; nil fields inherit.
type settings struct {
	Burst, Rate, FloorFraction, Decrease, RecoveryPerSecond, SignalWindowSeconds, BurstFraction *float64
	// Shares are the lane shares ("laneShares": {"normal": …, "low": …});
	// nil entries inherit.
	Shares [nLanes]*float64
}

type accountLimits struct {
	settings
	services map[string]*settings
	actions  map[string]*settings
}

// Limits is the resolved limit hierarchy: built-in AWS defaults, then the
// override document's "defaults", "services"[svc], "accounts"[scope] (its own
// settings, then its "services"[svc]), "actions"[bucket] and
// "accounts"[scope]."actions"[bucket] — later levels win. It is immutable and
// safe for concurrent use.
//
// The override document (the product passes TH_LIMITS_JSON):
//
//	{
//	  "defaults": {"decrease": 0.8},
//	  "services": {"ecs": {"recoveryPerSecond": 0.02}},
//	  "actions":  {"ecs:FargateTasks": {"burst": 200, "rate": 40}},
//	  "accounts": {"111122223333/us-east-1": {
//	      "signalWindowSeconds": 5,
//	      "actions": {"ecs:RunTask": {"rate": 80}}}}
//	}
//
// Settings: burst (tokens), rate (tokens/s, the ceiling), burstFraction
// (share of the burst handed out at once, in (0, 1]), floorFraction
// (lowest adaptive rate as a fraction of rate), decrease (factor per throttle
// signal, in (0, 1)), recoveryPerSecond (growth of a lowered rate per
// second: 0.01 multiplies it by 1.01 each second), signalWindowSeconds
// (de-duplication window), laneShares (per lower lane, e.g. {"normal":
// 0.3, "low": 0.1}, the defaults; each in (0, 1): the part of the bucket
// a lane keeps while a higher lane has queued work, lanes.go). A bucket
// not built in must be named service:Action and given burst and rate.
type Limits struct {
	defaults settings
	services map[string]*settings
	actions  map[string]*settings
	accounts map[string]*accountLimits
}

// DefaultLimits returns the built-in limits with no overrides.
func DefaultLimits() *Limits {
	l, _ := ParseLimits("")
	return l
}

// ParseLimits parses and validates an override document (empty: built-in
// defaults only). Errors name the offending key, e.g.
// `limits: accounts["us-east-1"].actions["ecs:RunTask"].rate: must be > 0, got -1`.
func ParseLimits(doc string) (*Limits, error) {
	l := &Limits{services: map[string]*settings{}, actions: map[string]*settings{}, accounts: map[string]*accountLimits{}}
	if strings.TrimSpace(doc) == "" {
		return l, nil
	}
	top, err := object([]byte(doc), "limits")
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(top) {
		path := "limits: " + k
		switch k {
		case "defaults":
			s, err := parseSettings(top[k], path)
			if err != nil {
				return nil, err
			}
			l.defaults = *s
		case "services":
			if l.services, err = settingsMap(top[k], path, checkService); err != nil {
				return nil, err
			}
		case "actions":
			if l.actions, err = settingsMap(top[k], path, checkBucket); err != nil {
				return nil, err
			}
		case "accounts":
			accts, err := object(top[k], path)
			if err != nil {
				return nil, err
			}
			for _, scope := range sortedKeys(accts) {
				a, err := parseAccount(accts[scope], fmt.Sprintf("%s[%q]", path, scope))
				if err != nil {
					return nil, err
				}
				l.accounts[scope] = a
			}
		default:
			return nil, fmt.Errorf("%s: unknown key (want defaults, services, accounts, actions)", path)
		}
	}
	// Every bucket must resolve to a usable limit in every scope.
	scopes := append([]string{""}, sortedKeys(l.accounts)...)
	for _, scope := range scopes {
		for _, b := range l.bucketNames(scope) {
			if _, err := l.Bucket(scope, b); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

func parseAccount(raw json.RawMessage, path string) (*accountLimits, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	a := &accountLimits{}
	rest := map[string]json.RawMessage{}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "services":
			if a.services, err = settingsMap(obj[k], path+".services", checkService); err != nil {
				return nil, err
			}
		case "actions":
			if a.actions, err = settingsMap(obj[k], path+".actions", checkBucket); err != nil {
				return nil, err
			}
		default:
			rest[k] = obj[k]
		}
	}
	b, _ := json.Marshal(rest)
	s, err := parseSettings(b, path)
	if err != nil {
		return nil, err
	}
	a.settings = *s
	return a, nil
}

func checkService(name string) error {
	if name == "" || strings.ContainsAny(name, ":#") {
		return fmt.Errorf("not a service name (want e.g. ecs, ec2)")
	}
	return nil
}

func checkBucket(name string) error {
	svc, action, ok := strings.Cut(name, ":")
	if !ok || svc == "" || action == "" || strings.Contains(name, "#") {
		return fmt.Errorf("not a bucket name (want service:Action, e.g. ecs:RunTask)")
	}
	return nil
}

func settingsMap(raw json.RawMessage, path string, check func(string) error) (map[string]*settings, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	out := map[string]*settings{}
	for _, k := range sortedKeys(obj) {
		p := fmt.Sprintf("%s[%q]", path, k)
		if err := check(k); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if out[k], err = parseSettings(obj[k], p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func object(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s: must be a JSON object: %v", path, err)
	}
	return obj, nil
}

func parseSettings(raw json.RawMessage, path string) (*settings, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	s := &settings{}
	fields := map[string]struct {
		dst   **float64
		check func(float64) bool
		want  string
	}{
		"burst":               {&s.Burst, func(v float64) bool { return v >= 1 }, "≥ 1"},
		"rate":                {&s.Rate, func(v float64) bool { return v > 0 }, "> 0"},
		"floorFraction":       {&s.FloorFraction, func(v float64) bool { return v > 0 && v <= 1 }, "in (0, 1]"},
		"burstFraction":       {&s.BurstFraction, func(v float64) bool { return v > 0 && v <= 1 }, "in (0, 1]"},
		"decrease":            {&s.Decrease, func(v float64) bool { return v > 0 && v < 1 }, "in (0, 1)"},
		"recoveryPerSecond":   {&s.RecoveryPerSecond, func(v float64) bool { return v >= 0 && v <= 1 }, "in [0, 1]"},
		"signalWindowSeconds": {&s.SignalWindowSeconds, func(v float64) bool { return v >= 0 && v <= 3600 }, "in [0, 3600]"},
	}
	if raw, ok := obj["laneShares"]; ok {
		if err := parseShares(raw, path+".laneShares", s); err != nil {
			return nil, err
		}
		delete(obj, "laneShares")
	}
	for _, k := range sortedKeys(obj) {
		f, ok := fields[k]
		if !ok {
			return nil, fmt.Errorf("%s.%s: unknown key (want %s, laneShares)", path, k, strings.Join(sortedKeys(fields), ", "))
		}
		var v float64
		if err := json.Unmarshal(obj[k], &v); err != nil {
			return nil, fmt.Errorf("%s.%s: must be a number, got %s", path, k, obj[k])
		}
		if !f.check(v) {
			return nil, fmt.Errorf("%s.%s: must be %s, got %g", path, k, f.want, v)
		}
		*f.dst = &v
	}
	return s, nil
}

// parseShares reads "laneShares": {"normal": 0.3, "low": 0.1}, each in
// (0, 1): the high lane is never preempted, so it has no share.
func parseShares(raw json.RawMessage, path string, s *settings) error {
	obj, err := object(raw, path)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(obj) {
		l, ok := laneIndex(k)
		if !ok || k == "" || l == laneHigh {
			return fmt.Errorf("%s.%s: unknown lane (want low, normal)", path, k)
		}
		var v float64
		if err := json.Unmarshal(obj[k], &v); err != nil {
			return fmt.Errorf("%s.%s: must be a number, got %s", path, k, obj[k])
		}
		if !(v > 0 && v < 1) {
			return fmt.Errorf("%s.%s: must be in (0, 1), got %g", path, k, v)
		}
		s.Shares[l] = &v
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// bucketNames lists every bucket known in scope.
func (l *Limits) bucketNames(scope string) []string {
	names := map[string]bool{}
	for b := range builtin() {
		names[b] = true
	}
	for b := range l.actions {
		names[b] = true
	}
	if a := l.accounts[scope]; a != nil {
		for b := range a.actions {
			names[b] = true
		}
	}
	return sortedKeys(names)
}

// Bucket resolves the limit of bucket (service:Action) for an account scope
// (Options.AccountScope). An unknown bucket is an error.
func (l *Limits) Bucket(scope, bucket string) (BucketLimit, error) {
	svc, _, _ := strings.Cut(bucket, ":")
	var burst, rate *float64
	if d, ok := builtin()[bucket]; ok {
		burst, rate = &d[0], &d[1]
	}
	floor, dec, rec, win, bf := defaultFloorFraction, defaultDecrease, defaultRecovery, defaultSignalWindow.Seconds(), defaultBurstFraction
	shares := [nLanes]float64{1, defaultShareNormal, defaultShareLow}
	apply := func(s *settings) {
		if s == nil {
			return
		}
		for _, p := range []struct {
			src *float64
			dst **float64
		}{{s.Burst, &burst}, {s.Rate, &rate}} {
			if p.src != nil {
				*p.dst = p.src
			}
		}
		for _, p := range []struct {
			src *float64
			dst *float64
		}{{s.FloorFraction, &floor}, {s.Decrease, &dec}, {s.RecoveryPerSecond, &rec}, {s.SignalWindowSeconds, &win}, {s.BurstFraction, &bf},
			{s.Shares[laneNormal], &shares[laneNormal]}, {s.Shares[laneLow], &shares[laneLow]}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
	}
	apply(&l.defaults)
	apply(l.services[svc])
	a := l.accounts[scope]
	if a != nil {
		apply(&a.settings)
		apply(a.services[svc])
	}
	apply(l.actions[bucket])
	if a != nil {
		apply(a.actions[bucket])
	}
	if burst == nil || rate == nil {
		if checkBucket(bucket) != nil {
			return BucketLimit{}, fmt.Errorf("limiter: bucket %q: not a bucket name (want service:Action)", bucket)
		}
		return BucketLimit{}, fmt.Errorf("limits: bucket %q (scope %q): not built in; set both burst and rate under actions[%q]", bucket, scope, bucket)
	}
	return BucketLimit{
		Burst:        *burst,
		Rate:         Limit(*rate),
		Floor:        Limit(*rate * floor),
		Tolerance:    max(1, math.Floor(*burst*bf)),
		Decrease:     dec,
		Recovery:     rec,
		SignalWindow: time.Duration(win * float64(time.Second)),
		Shares:       shares,
	}, nil
}
