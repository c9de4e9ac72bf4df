package failure

import (
	"strconv"
	"strings"
)

// Failure is one entry of a RunTask/StartTask response's failures[] (the
// ECS Failure type; Step Functions spells the keys Arn, Reason, Detail —
// JSON decoding matches either).
type Failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// runTaskReasons classifies the documented short reasons. RESOURCE:* and
// AGENT mean the cluster's instances cannot take the task now: capacity
// scoped to the cluster. ATTRIBUTE, MISSING and INACTIVE are configuration.
var runTaskReasons = map[string]rule{
	"RESOURCE:CPU":     {class: Capacity, scope: ScopeCluster},
	"RESOURCE:MEMORY":  {class: Capacity, scope: ScopeCluster},
	"RESOURCE:PORTS":   {class: Capacity, scope: ScopeCluster},
	"RESOURCE:ENI":     {class: Capacity, scope: ScopeCluster},
	"RESOURCE:GPU":     {class: Capacity, scope: ScopeCluster},
	"RESOURCE:FARGATE": {class: Capacity, scope: ScopeAZ},
	"AGENT":            {class: Capacity, scope: ScopeCluster},
	"ATTRIBUTE":        {class: Permanent},
	"MISSING":          {class: Permanent},
	"INACTIVE":         {class: Permanent},
}

// ClassifyRunTaskFailure classifies one failures[] entry of a RunTask or
// StartTask response. Short reasons (RESOURCE:MEMORY, AGENT, MISSING, ...)
// come from the table above; free text is read for its phrases ("Capacity
// is unavailable at this time" → capacity in another AZ, "You've reached
// the limit on the number of tasks you can run concurrently" → quota,
// "Rate exceeded" → throttled); an unrecognised reason is transient.
//
// ReuseToken is always false: the call answered, so nothing is ambiguous,
// and replaying its token would only replay the same failures.
func ClassifyRunTaskFailure(reason, detail string) Classification {
	reason = strings.TrimSpace(reason)
	msg := reason
	if detail != "" {
		msg = reason + ": " + detail
	}
	r, ok := runTaskReasons[reason]
	code := reason
	if !ok && strings.HasPrefix(reason, "RESOURCE:") {
		r, ok = rule{class: Capacity, scope: ScopeCluster}, true
	}
	if !ok {
		var mc string
		if r, mc, ok = lookupMessage(msg); ok && mc != "" {
			code = mc
		} else {
			code = reasonCode(reason)
		}
	}
	if !ok {
		r = rule{class: Transient}
	}
	r.api = "ecs:RunTask"
	c := build(r, code, SourceRunTask, msg)
	c.ReuseToken = false
	return c
}

// ClassifyRunTaskFailures classifies a whole failures[] list as one: the
// most constraining class wins (permanent, quota, capacity, throttled,
// transient, in that order; the first such entry gives code and scope),
// and the minimum delay of a retryable verdict is the largest of all. An empty list is permanent
// with code NoFailure: nothing failed, nothing to retry.
func ClassifyRunTaskFailures(failures []Failure) Classification {
	if len(failures) == 0 {
		c := build(rule{class: Permanent}, "NoFailure", SourceRunTask, "failures[] is empty: nothing failed")
		c.API = "ecs:RunTask"
		return c
	}
	best := ClassifyRunTaskFailure(failures[0].Reason, failures[0].Detail)
	delay := best.MinDelaySeconds
	for _, f := range failures[1:] {
		c := ClassifyRunTaskFailure(f.Reason, f.Detail)
		if severity(c.Class) > severity(best.Class) {
			best = c
		}
		delay = max(delay, c.MinDelaySeconds)
	}
	if best.Retryable {
		best.MinDelaySeconds = delay
	}
	if len(failures) > 1 {
		best.Message = clip(strconv.Itoa(len(failures)) + " failures, worst: " + best.Message)
	}
	return best
}
