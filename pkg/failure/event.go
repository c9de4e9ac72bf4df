package failure

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// eventEnvelope is the EventBridge envelope; unknown fields are ignored.
type eventEnvelope struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// serviceAction is the detail of an "ECS Service Action" event.
type serviceAction struct {
	EventType  string `json:"eventType"`
	EventName  string `json:"eventName"`
	ClusterArn string `json:"clusterArn"`
	Reason     string `json:"reason"`
}

// taskDetail is the part of an ECS Task (the "ECS Task State Change"
// detail, or the Cause of a failed runTask.sync) that tells why it stopped.
type taskDetail struct {
	ClusterArn       string `json:"clusterArn"`
	TaskArn          string `json:"taskArn"`
	StartedBy        string `json:"startedBy"`
	LastStatus       string `json:"lastStatus"`
	StopCode         string `json:"stopCode"`
	StoppedReason    string `json:"stoppedReason"`
	AvailabilityZone string `json:"availabilityZone"`
	// TaskDefinitionArn names the task definition (its log configuration).
	TaskDefinitionArn string `json:"taskDefinitionArn"`
	// Version, the times, the exit codes and the overrides are what
	// tracking reads (see ECSTask).
	Version    int64          `json:"version"`
	StartedAt  eventTime      `json:"startedAt"`
	StoppedAt  eventTime      `json:"stoppedAt"`
	Containers []ECSContainer `json:"containers"`
	Overrides  struct {
		ContainerOverrides []struct {
			Name string `json:"name"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
}

// ECSEvent is an EventBridge event from source aws.ecs, parsed once: its
// envelope, the fields of its detail the product acts on, and its
// classification (as ClassifyEvent).
type ECSEvent struct {
	DetailType string
	Source     string
	// EventName is an "ECS Service Action" event's eventName.
	EventName string
	// Task is an "ECS Task State Change" event's task.
	Task ECSTask
	// Class is the event classified: see ClassifyEvent.
	Class Classification
}

// ECSTask is the part of an "ECS Task State Change" detail that tells which
// task changed, who started it, its state and, once stopped, why.
type ECSTask struct {
	TaskArn, StartedBy, LastStatus, StopCode, StoppedReason string
	// ClusterArn is the task's cluster; TaskDefinitionArn its task
	// definition.
	ClusterArn, TaskDefinitionArn string
	// Version is the detail's version: ECS increments it with each change
	// of the task, so of two events of one status the higher is the later.
	Version int64
	// StartedAt and StoppedAt are zero until the task started / stopped
	// (or when the detail's time cannot be read).
	StartedAt, StoppedAt time.Time
	// Containers are the task's containers with their exit codes.
	Containers []ECSContainer
	// OverrideContainers names the containers of the task's
	// overrides.containerOverrides, in order.
	OverrideContainers []string
}

// ECSContainer is one container of a task: ExitCode is nil until it has
// exited (or when it never ran).
type ECSContainer struct {
	Name     string `json:"name"`
	ExitCode *int   `json:"exitCode"`
	Reason   string `json:"reason"`
}

// Essential returns the container whose exit decides the task's. ECS's
// task and its events do not say which containers are essential, so it is
// chosen: the first of names (in order) that the task has, else the first
// container that has an exit code, else the first container. ok is false
// for a task without containers.
func (t ECSTask) Essential(names ...string) (c ECSContainer, ok bool) {
	for _, n := range names {
		if n == "" {
			continue
		}
		for _, ct := range t.Containers {
			if ct.Name == n {
				return ct, true
			}
		}
	}
	for _, ct := range t.Containers {
		if ct.ExitCode != nil {
			return ct, true
		}
	}
	if len(t.Containers) == 0 {
		return ECSContainer{}, false
	}
	return t.Containers[0], true
}

// eventTime reads a task time as events carry it (an ISO 8601 string) or
// as the API does (epoch seconds); anything else reads as zero, so a time
// the product only reports cannot make an event unreadable.
type eventTime struct{ time.Time }

func (e *eventTime) UnmarshalJSON(b []byte) error {
	e.Time = time.Time{}
	var s string
	if json.Unmarshal(b, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			e.Time = t.UTC()
		}
		return nil
	}
	var f float64
	if json.Unmarshal(b, &f) == nil && f > 0 {
		e.Time = time.UnixMilli(int64(f * 1000)).UTC()
	}
	return nil
}

func (d taskDetail) task() ECSTask {
	t := ECSTask{TaskArn: d.TaskArn, StartedBy: d.StartedBy, LastStatus: d.LastStatus, StopCode: d.StopCode,
		StoppedReason: d.StoppedReason, ClusterArn: d.ClusterArn, TaskDefinitionArn: d.TaskDefinitionArn, Version: d.Version,
		StartedAt: d.StartedAt.Time, StoppedAt: d.StoppedAt.Time, Containers: d.Containers}
	for _, o := range d.Overrides.ContainerOverrides {
		t.OverrideContainers = append(t.OverrideContainers, o.Name)
	}
	return t
}

// Detail types of the ECS events the product reads.
const (
	DetailECSServiceAction   = "ECS Service Action"
	DetailECSTaskStateChange = "ECS Task State Change"
)

// ParseECSEvent reads an EventBridge envelope once. It fails only on input
// that is not an envelope (not JSON, or a detail that is not the object
// its detail-type says); an event of another source or detail-type parses,
// and its Class says so.
func ParseECSEvent(envelope []byte) (ECSEvent, error) {
	var env eventEnvelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return ECSEvent{}, errors.New("EventBridge event: " + err.Error())
	}
	ev, err := parseEnvelope(env)
	if err != nil {
		return ECSEvent{}, err
	}
	return ev, nil
}

func parseEnvelope(env eventEnvelope) (ECSEvent, error) {
	ev := ECSEvent{DetailType: env.DetailType, Source: env.Source}
	var c Classification
	switch {
	case env.DetailType == "":
		return ECSEvent{}, errors.New(`EventBridge event: "detail-type" is missing or empty`)
	case env.Source != "aws.ecs":
		c = build(rule{class: Permanent}, "NotECSEvent", SourceEvent,
			"event from source "+quoteToken(env.Source)+" ("+env.DetailType+") is not an ECS event: nothing to retry")
	case env.DetailType == DetailECSServiceAction:
		var d serviceAction
		if err := unmarshalDetail(env.Detail, &d); err != nil {
			return ECSEvent{}, errors.New("ECS Service Action: detail: " + err.Error())
		}
		ev.EventName = d.EventName
		c = classifyServiceAction(d, env.Resources)
	case env.DetailType == DetailECSTaskStateChange:
		var d taskDetail
		if err := unmarshalDetail(env.Detail, &d); err != nil {
			return ECSEvent{}, errors.New("ECS Task State Change: detail: " + err.Error())
		}
		ev.Task = d.task()
		c = classifyTask(d, SourceEvent)
	default:
		c = build(rule{class: Permanent}, env.DetailType, SourceEvent, env.DetailType+" is not a failure event: nothing to retry")
	}
	c.ReuseToken = false
	ev.Class = c
	return ev, nil
}

// ClassifyEvent classifies an EventBridge envelope from source aws.ecs.
//
// "ECS Service Action" (code = eventName): ECS_OPERATION_THROTTLED and
// SERVICE_DISCOVERY_OPERATION_THROTTLED are throttled with a 5 s minimum
// (the account's shared budget is congested); SERVICE_TASK_PLACEMENT_FAILURE
// is capacity (its reason, e.g. RESOURCE:FARGATE, read like a failures[]
// reason); SERVICE_TASK_CONFIGURATION_FAILURE, SERVICE_DAEMON_PLACEMENT_
// CONSTRAINT_VIOLATED and SERVICE_DEPLOYMENT_FAILED are permanent;
// SERVICE_TASK_START_IMPAIRED is transient; INFO events are not failures
// and come back permanent (nothing to retry).
//
// "ECS Task State Change": see classifyTask. TaskArn and StartedBy are
// carried over.
//
// ReuseToken is always false for events: the relaunch of a stopped task is
// a new launch, keyed by the stopped task's ARN. Input that is not an
// envelope is permanent with code Unparseable or NotECSEvent.
func ClassifyEvent(envelope []byte) Classification {
	var env eventEnvelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return unparseable("EventBridge event: " + err.Error())
	}
	return classifyEnvelope(env)
}

func classifyEnvelope(env eventEnvelope) Classification {
	ev, err := parseEnvelope(env)
	if err != nil {
		return unparseable(err.Error())
	}
	return ev.Class
}

func classifyServiceAction(d serviceAction, resources []string) Classification {
	var r rule
	code := d.EventName
	msg := d.EventName
	if len(resources) > 0 {
		msg += " on " + resources[0]
	}
	switch d.EventName {
	case "ECS_OPERATION_THROTTLED":
		r = rule{class: Throttled, delay: delayAccountThrottle, api: "ecs"}
		msg += ": the service scheduler was throttled by the ECS API limits"
	case "SERVICE_DISCOVERY_OPERATION_THROTTLED":
		r = rule{class: Throttled, delay: delayAccountThrottle, api: "servicediscovery"}
		msg += ": the service scheduler was throttled by the Cloud Map API limits"
	case "SERVICE_TASK_PLACEMENT_FAILURE":
		rc := ClassifyRunTaskFailure(d.Reason, "")
		r = rule{class: rc.Class, scope: rc.Scope, api: "ecs"}
		if rc.Class == Transient {
			r = rule{class: Capacity, scope: ScopeCluster, api: "ecs"}
		}
		msg += ": " + d.Reason
	case "SERVICE_TASK_CONFIGURATION_FAILURE", "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED", "SERVICE_DEPLOYMENT_FAILED":
		r = rule{class: Permanent, api: "ecs"}
		if d.Reason != "" {
			msg += ": " + d.Reason
		}
	case "SERVICE_TASK_START_IMPAIRED":
		r = rule{class: Transient, api: "ecs"}
		msg += ": tasks of the service fail to start consistently"
	default:
		r = rule{class: Permanent}
		msg += " (" + d.EventType + "): not a failure, nothing to retry"
	}
	c := build(r, code, SourceEvent, msg)
	if c.Scope == ScopeCluster && c.ScopeValue == "" {
		c.ScopeValue = d.ClusterArn
	}
	return c
}

// stopCodeRules classifies stop codes other than TaskFailedToStart: the
// task got past starting, so none of them is a launch failure to retry
// except capacity taken back (Spot) and infrastructure events.
var stopCodeRules = map[string]rule{
	"EssentialContainerExited":  {class: Permanent},
	"UserInitiated":             {class: Permanent},
	"ServiceSchedulerInitiated": {class: Permanent},
	"SpotInterruption":          {class: Capacity, scope: ScopeAZ},
	"TerminationNotice":         {class: Transient},
	"InfrastructureHealth":      {class: Transient},
}

// classifyTask classifies a stopped ECS task. For stopCode
// TaskFailedToStart the stoppedReason decides, then the containers'
// reasons when the stoppedReason is not recognised:
//
//	Timeout waiting for network interface provisioning to complete.
//	    throttled, 5 s: ECS's own EC2 calls for the task's ENI were
//	    throttled or slow during a burst; slowing launches is the remedy
//	    and another subnet would not help (decision; AWS gives no cause)
//	CannotPullECRContainerError: ThrottlingException: Rate exceeded ...,
//	CannotPullContainerError: ... toomanyrequests ...
//	    throttled, 2 s (a registry throttled the pull)
//	ResourceInitializationError: unable to pull secrets or registry auth ...
//	    permanent (a secret or credential that cannot be read), unless the
//	    cause at the end is a throttle
//	CannotPullContainerError: ... not found / denied / unauthorized
//	    permanent; other pull errors transient
//	Capacity is unavailable at this time ...   capacity, scope az
//	CannotStartContainerError                  permanent
//	anything else                              transient
func classifyTask(t taskDetail, src Source) Classification {
	var c Classification
	switch {
	case t.StopCode == "TaskFailedToStart" || (t.StopCode == "" && t.LastStatus == "STOPPED"):
		c = classifyStopReasons(t, src)
	case t.StopCode != "":
		r, ok := stopCodeRules[t.StopCode]
		if !ok {
			r = rule{class: Transient}
		}
		r.api = "ecs:RunTask"
		c = build(r, t.StopCode, src, prefixed(t.StopCode, t.StoppedReason))
	default:
		c = build(rule{class: Permanent}, "NotStopped", src, "task is "+quoteToken(t.LastStatus)+", not stopped: nothing to retry")
	}
	if c.Class == Capacity && c.ScopeValue == "" {
		switch c.Scope {
		case ScopeAZ:
			c.ScopeValue = t.AvailabilityZone
		case ScopeCluster:
			c.ScopeValue = t.ClusterArn
		}
	}
	c.TaskARN, c.StartedBy, c.ReuseToken = t.TaskArn, t.StartedBy, false
	return c
}

func classifyStopReasons(t taskDetail, src Source) Classification {
	r, code, ok := stopReason(t.StoppedReason)
	msg := prefixed(t.StopCode, t.StoppedReason)
	if !ok {
		for _, ct := range t.Containers {
			if cr, ccode, cok := stopReason(ct.Reason); cok {
				r, code, ok = cr, ccode, true
				msg = prefixed(t.StopCode, t.StoppedReason) + "; container " + ct.Name + ": " + ct.Reason
				break
			}
		}
	}
	if code == "" {
		code = t.StopCode
	}
	r.api = "ecs:RunTask"
	return build(r, code, src, msg)
}

// stopReason classifies one stoppedReason or container reason; ok is false
// when nothing in it is recognised (r is then transient).
func stopReason(reason string) (r rule, code string, ok bool) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return rule{class: Transient}, "", false
	}
	code = reasonCode(reason)
	lower := strings.ToLower(clip(reason))
	if strings.Contains(lower, "timeout waiting for network interface provisioning") {
		return rule{class: Throttled, delay: delayAccountThrottle}, code, true
	}
	pull := strings.HasPrefix(code, "CannotPull") || code == "ResourceInitializationError"
	if mr, mcode, mok := lookupMessage(reason); mok {
		if mr.class == Throttled && pull {
			mr.delay = delayPullThrottle
		}
		if mcode != "" && !pull {
			code = mcode
		}
		return mr, code, true
	}
	switch {
	case code == "ResourceInitializationError":
		return rule{class: Permanent}, code, true
	case strings.HasPrefix(code, "CannotPull"):
		for _, p := range [...]string{"not found", "manifest unknown", "denied", "unauthorized", "no basic auth", "does not exist", "invalid reference"} {
			if strings.Contains(lower, p) {
				return rule{class: Permanent}, code, true
			}
		}
		return rule{class: Transient}, code, true
	case code == "CannotStartContainerError", code == "OutOfMemoryError", code == "InvalidParameterException":
		return rule{class: Permanent}, code, true
	case code == "CannotCreateContainerError", code == "CannotInspectContainerError",
		code == "ContainerRuntimeError", code == "ContainerRuntimeTimeoutError", code == "DockerTimeoutError", code == "InternalError":
		return rule{class: Transient}, code, true
	}
	return rule{class: Transient}, code, false
}

// unmarshalDetail decodes an event's detail, which must be an object.
func unmarshalDetail(raw json.RawMessage, v any) error {
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("want an object")
	}
	return json.Unmarshal(raw, v)
}

// unparseable is the answer for input that cannot be read: permanent, with
// what was wrong.
func unparseable(msg string) Classification {
	return build(rule{class: Permanent}, "Unparseable", SourceUnparseable, msg)
}
