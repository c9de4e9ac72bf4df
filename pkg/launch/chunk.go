package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// StoredRequest is a request as planned.
type StoredRequest struct {
	Request  Request
	Plan     Plan
	Created  time.Time
	Deadline time.Time
}

// Fingerprint is a hash of a request's canonical JSON: the same request sent
// twice has the same fingerprint.
func Fingerprint(r Request) string {
	if r.Version == 0 {
		r.Version = CurrentVersion
	}
	b, _ := json.Marshal(r) // struct fields marshal in a fixed order, maps sorted
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Attempt states.
const (
	// AttemptSent: the call may have been made; its outcome is unknown until
	// the same call (same token, same parameters) is made again.
	AttemptSent = "sent"
	// AttemptDone: the call answered; Launched and Failures are its result.
	AttemptDone = "done"
	// AttemptFailed: the call was definitively refused (nothing launched).
	AttemptFailed = "failed"
	// AttemptUnknown: the outcome could not be settled by a replay (the
	// token expired, or replays kept failing) and was settled by evidence:
	// Launched units were found; the rest may or may not run. The chunk
	// makes no new attempt after it (that could launch them twice): its
	// missing units are dead-lettered as OutcomeUnknown.
	AttemptUnknown = "unknown"
)

// Failure is one RunTask failures[] entry, or the reason a part of an EC2
// batch was not launched.
type Failure struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	ARN    string `json:"arn,omitempty"`
}

// AttemptRecord is what one attempt of a chunk asked for and got. The
// parameters are stored before the call so that a retry with the same token
// sends exactly the same parameters (ECS answers ConflictException, EC2
// IdempotentParameterMismatch otherwise).
type AttemptRecord struct {
	Attempt      int    `json:"attempt"`
	Count        int    `json:"count"`
	Token        string `json:"token"`
	StartedBy    string `json:"startedBy"`
	InstanceType string `json:"instanceType,omitempty"`
	Subnet       string `json:"subnet,omitempty"`
	State        string `json:"state"`
	Launched     int    `json:"launched"`
	// IDs are the attempt's launched ids in the answer's order (evidence:
	// sorted): with the lower attempts' Launched they give each task its
	// unit (RefFromChunk).
	IDs      []string  `json:"ids,omitempty"`
	Failures []Failure `json:"failures,omitempty"`
	Code     string    `json:"code,omitempty"`
	// Sends fences the attempt: every invocation that sends it first
	// claims the next send (ClaimSend), and a state change carries the
	// send it answers, so a stale invocation cannot overwrite the answer
	// of a send it did not make.
	Sends int `json:"sends,omitempty"`
	// Replays counts the replays (same token) answered with an error
	// other than a throttle: they left the outcome unknown.
	Replays int `json:"replays,omitempty"`
	// SentAt is when the attempt was first claimed for sending: its
	// client token's lifetime counts from then.
	SentAt time.Time `json:"sentAt,omitzero"`
}

// ChunkState is a chunk's item.
type ChunkState struct {
	Index int
	// IDs are every task ARN / instance ID launched for the chunk,
	// relaunches included; Stopped are the tasks that failed to start.
	IDs     []string
	Stopped []string
	// Relaunching are the stopped tasks registered for a relaunch
	// (RegisterRelaunch); those not yet in Stopped are still pending.
	Relaunching []string
	Attempts    map[int]AttemptRecord
	Retries     int
	// Relaunches counts relaunch claims against the chunk's budget.
	Relaunches int
	// Lost counts stopped tasks whose relaunch was given up (dead-lettered).
	Lost         int
	GaveUp       bool
	DeadLettered int
	Reason       string
	Class        string
	Code         string
	// LaunchedAt is when ids last joined IDs (an attempt's answer or a
	// relaunch); zero before any.
	LaunchedAt time.Time
	// QuotaWaitSince is when the chunk began waiting for quota (zero: it
	// does not wait).
	QuotaWaitSince time.Time
}

// Launched is the number of units of the chunk launched and not stopped
// with TaskFailedToStart.
func (c ChunkState) Launched() int {
	n := 0
	for _, id := range c.IDs {
		if !slices.Contains(c.Stopped, id) {
			n++
		}
	}
	return n
}

// PendingRelaunches is the number of the chunk's stopped tasks whose
// relaunch is neither recorded nor given up: registered, not yet stopped.
func (c ChunkState) PendingRelaunches() int {
	n := 0
	for _, id := range c.Relaunching {
		if !slices.Contains(c.Stopped, id) {
			n++
		}
	}
	return n
}

// Settled is Launched without the tasks whose relaunch is pending: they
// failed to start and their replacement is not launched yet.
func (c ChunkState) Settled() int {
	n := 0
	for _, id := range c.IDs {
		if !slices.Contains(c.Stopped, id) && !slices.Contains(c.Relaunching, id) {
			n++
		}
	}
	return n
}

// Missing is the number of units of a chunk of size still to launch: not
// launched, and not already dead-lettered as a lost relaunch.
func (c ChunkState) Missing(size int) int { return max(0, size-c.Launched()-c.Lost) }

// Unsettled returns the lowest attempt whose outcome is unknown.
func (c ChunkState) Unsettled() (AttemptRecord, bool) {
	best, ok := AttemptRecord{}, false
	for _, a := range c.Attempts {
		if a.State == AttemptSent && (!ok || a.Attempt < best.Attempt) {
			best, ok = a, true
		}
	}
	return best, ok
}

// Unknown returns the attempt settled by evidence with an outcome left
// unknown (AttemptUnknown), if any.
func (c ChunkState) Unknown() (AttemptRecord, bool) {
	for _, a := range c.Attempts {
		if a.State == AttemptUnknown {
			return a, true
		}
	}
	return AttemptRecord{}, false
}

// MayBeRunning says units of the chunk may run without being counted: an
// attempt was settled as unknown, or is still unknown ("sent"). Such a
// chunk's dead-lettered units must not be launched again under new tokens
// (a redrive would double them); they are looked up by the attempt's
// startedBy / token.
func (c ChunkState) MayBeRunning() bool {
	_, unknown := c.Unknown()
	_, unsettled := c.Unsettled()
	return unknown || unsettled
}

// LostRecord is a relaunch that was given up.
type LostRecord struct {
	Chunk  int
	Reason string
	Units  int
}

// Placement is one (instance type, subnet) an EC2 batch can be launched in.
// Its key "<instanceType>#<subnet>" is the sort key of its failover mark and
// the form of runtask's exclude list.
type Placement struct {
	InstanceType string
	Subnet       string
}

// Key returns "<instanceType>#<subnet>".
func (p Placement) Key() string { return p.InstanceType + "#" + p.Subnet }

// Relaunch states.
const (
	RelaunchPending = "pending"
	RelaunchDone    = "done"
	RelaunchGaveUp  = "gaveup"
)

// RelaunchClaim is the record keyed by a stopped task's ARN: whoever creates
// it relaunches the task; a duplicated event finds it and does nothing.
type RelaunchClaim struct {
	TaskARN   string
	RequestID string
	Chunk     int
	State     string
	// SlotAt is a limiter slot already held for the relaunch call.
	SlotAt time.Time
	NewARN string
	// Gen is the generation of the relaunch call's client token
	// (RelaunchTokenGen), advanced by AdvanceRelaunchToken.
	Gen int
}

// Placements lists an EC2 spec's (instance type, subnet) pairs in
// preference order: every subnet of the first type, then the next type.
// Staying on the preferred type across AZs first matches what a user who
// ordered the types asked for.
func (s *EC2Spec) Placements() []Placement {
	var ps []Placement
	for _, t := range s.InstanceTypes {
		for _, sn := range s.SubnetIDs {
			ps = append(ps, Placement{InstanceType: t, Subnet: sn})
		}
	}
	return ps
}
