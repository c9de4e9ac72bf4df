package failure

import (
	"encoding/json"
	"fmt"
	"time"
)

// Class is one of the five failure classes. Its JSON form is the lower-case
// name.
type Class string

// The five classes of the taxonomy.
const (
	Throttled Class = "throttled"
	Capacity  Class = "capacity"
	Quota     Class = "quota"
	Transient Class = "transient"
	Permanent Class = "permanent"
)

// Classes lists the five classes in a stable order.
var Classes = [...]Class{Throttled, Capacity, Quota, Transient, Permanent}

// Valid reports whether c is one of the five classes.
func (c Class) Valid() bool {
	switch c {
	case Throttled, Capacity, Quota, Transient, Permanent:
		return true
	}
	return false
}

// Retryable reports whether a failure of class c is worth retrying at all.
// Quota failures are not: a call repeated on a schedule does not bring the
// capacity back; the launcher waits for quota instead (pkg/handler's
// quota gate: a stop of one of the request's tasks, or a probe every 30 s).
func (c Class) Retryable() bool {
	return c == Throttled || c == Capacity || c == Transient
}

// UnmarshalJSON rejects anything but the five class names.
func (c *Class) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("class: %w", err)
	}
	if !Class(s).Valid() {
		return fmt.Errorf("class: %q is not one of throttled, capacity, quota, transient, permanent", s)
	}
	*c = Class(s)
	return nil
}

// Source says what kind of input a classification came from.
type Source string

// Input kinds.
const (
	SourceSDK         Source = "sdk"         // a Go error from an aws-sdk-go-v2 call
	SourceStates      Source = "states"      // a Step Functions {Error, Cause} object
	SourceRunTask     Source = "runtask"     // a RunTask/StartTask failures[] entry
	SourceEvent       Source = "event"       // an EventBridge ECS event
	SourceLaunch      Source = "launch"      // one of this package's named errors
	SourceUnparseable Source = "unparseable" // input that could not be read
)

// ScopeKind names what a capacity failure is specific to, so a launcher
// knows where to fail over.
type ScopeKind string

// Capacity scopes.
const (
	ScopeNone         ScopeKind = ""
	ScopeSubnet       ScopeKind = "subnet"
	ScopeAZ           ScopeKind = "az"
	ScopeInstanceType ScopeKind = "instanceType"
	ScopeCluster      ScopeKind = "cluster"
)

// Classification is the answer to "what kind of failure is this?". Its JSON
// form is the classify function's output contract.
type Classification struct {
	Class Class `json:"class"`
	// Code is the AWS error code or event name it came from, e.g.
	// ThrottlingException, RequestLimitExceeded, ECS_OPERATION_THROTTLED,
	// RESOURCE:MEMORY, InsufficientInstanceCapacity; the error prefix or
	// first sentence of a free-text reason (CannotPullContainerError,
	// "Capacity is unavailable at this time"); Unknown if none.
	Code   string `json:"code"`
	Source Source `json:"source"`
	// API is the API action or bucket concerned, e.g. ecs:RunTask,
	// ec2:RunInstances; empty when unknown.
	API string `json:"api,omitempty"`
	// Retryable is Class.Retryable().
	Retryable bool `json:"retryable"`
	// ReuseToken is true only for transient failures of a call we made: the
	// call may have happened, so the retry must carry the same client token.
	ReuseToken bool `json:"reuseToken"`
	// MinDelaySeconds is the least a retry should wait, in simulated seconds.
	MinDelaySeconds float64 `json:"minDelaySeconds"`
	// Scope is what a capacity failure is specific to; ScopeValue the
	// subnet, AZ or instance type when known.
	Scope      ScopeKind `json:"scope,omitempty"`
	ScopeValue string    `json:"scopeValue,omitempty"`
	// AZ is the Availability Zone a capacity failure names, when the AWS
	// message names one (InsufficientInstanceCapacity names the type and
	// the zone; Scope is then instanceType and AZ narrows it).
	AZ string `json:"az,omitempty"`
	// TaskARN is set when the failure is about one task (TaskFailedToStart).
	TaskARN string `json:"taskArn,omitempty"`
	// StartedBy is the stopped task's startedBy, when known.
	StartedBy string `json:"startedBy,omitempty"`
	Message   string `json:"message"`
}

// MinDelay returns MinDelaySeconds as a duration.
func (c Classification) MinDelay() time.Duration {
	return time.Duration(c.MinDelaySeconds * float64(time.Second))
}
