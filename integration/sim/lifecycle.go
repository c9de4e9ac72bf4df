package sim

import (
	"fmt"
	"time"
)

// Lifecycle schedules state changes in simulated seconds. Zero fields take
// the defaults named.
type Lifecycle struct {
	// ProvisioningSeconds: PROVISIONING → PENDING for awsvpc tasks (the ENI
	// attachment happens at its end). Default 5.
	ProvisioningSeconds float64 `json:"provisioningSeconds,omitempty"`
	// PendingSeconds: PENDING → RUNNING (image pull, container start). Default 10.
	PendingSeconds float64 `json:"pendingSeconds,omitempty"`
	// RunSeconds: RUNNING → STOPPED with EssentialContainerExited, exit 0
	// (Runs.FailureRate: exit 1), a fixed time; Runs.MeanSeconds draws it
	// instead. 0 (default) runs until StopTask.
	RunSeconds float64 `json:"runSeconds,omitempty"`
	// StoppingSeconds: desired STOPPED → STOPPED after StopTask. Default 5.
	StoppingSeconds float64 `json:"stoppingSeconds,omitempty"`
	// ENIRetrySeconds: how often ECS retries an ENI attachment throttled by
	// the hidden ENI bucket. Default 1.
	ENIRetrySeconds float64 `json:"eniRetrySeconds,omitempty"`
	// ENITimeoutSeconds: after this long without an ENI the task stops with
	// TaskFailedToStart, "Timeout waiting for network interface provisioning
	// to complete.". Default 30.
	ENITimeoutSeconds float64 `json:"eniTimeoutSeconds,omitempty"`
	// InstancePendingSeconds: EC2 pending → running. Default 15.
	InstancePendingSeconds float64 `json:"instancePendingSeconds,omitempty"`
	// InstanceShutdownSeconds: shutting-down → terminated. Default 10.
	InstanceShutdownSeconds float64 `json:"instanceShutdownSeconds,omitempty"`
	// InstanceStatusSeconds: running → status checks ok
	// (DescribeInstanceStatus says initializing until then). Default 120;
	// NoInstanceStatusDelay makes them ok as soon as the instance runs.
	InstanceStatusSeconds float64 `json:"instanceStatusSeconds,omitempty"`
	NoInstanceStatusDelay bool    `json:"noInstanceStatusDelay,omitempty"`
}

func (l Lifecycle) withDefaults() Lifecycle {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.ProvisioningSeconds, 5)
	def(&l.PendingSeconds, 10)
	def(&l.StoppingSeconds, 5)
	def(&l.ENIRetrySeconds, 1)
	def(&l.ENITimeoutSeconds, 30)
	def(&l.InstancePendingSeconds, 15)
	def(&l.InstanceShutdownSeconds, 10)
	def(&l.InstanceStatusSeconds, 120)
	return l
}

func (l Lifecycle) validate() error {
	for name, v := range map[string]float64{
		"ProvisioningSeconds": l.ProvisioningSeconds, "PendingSeconds": l.PendingSeconds,
		"RunSeconds": l.RunSeconds, "StoppingSeconds": l.StoppingSeconds,
		"ENIRetrySeconds": l.ENIRetrySeconds, "ENITimeoutSeconds": l.ENITimeoutSeconds,
		"InstancePendingSeconds": l.InstancePendingSeconds, "InstanceShutdownSeconds": l.InstanceShutdownSeconds,
		"InstanceStatusSeconds": l.InstanceStatusSeconds,
	} {
		if v < 0 {
			return fmt.Errorf("sim: Lifecycle.%s must be ≥ 0, got %v", name, v)
		}
	}
	if l.ENIRetrySeconds <= 0 {
		return fmt.Errorf("sim: Lifecycle.ENIRetrySeconds must be > 0")
	}
	return nil
}

func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// startLifecycle emits the task's first state change and schedules the
// next: awsvpc tasks start PROVISIONING and need an ENI; others start
// PENDING. Callers hold s.mu.
func (s *Sim) startLifecycle(now time.Time, t *task) {
	l := s.cfg.Lifecycle
	if t.kind.awsvpc {
		s.setLast(t, StatusProvisioning)
		t.eniDeadline = now.Add(secs(l.ProvisioningSeconds + l.ENITimeoutSeconds))
		s.sched.at(now.Add(secs(l.ProvisioningSeconds)), func(at time.Time) { s.attachENI(at, t) })
	} else {
		s.setLast(t, StatusPending)
		t.pullStartedAt = now
		s.sched.at(now.Add(secs(l.PendingSeconds)), func(at time.Time) { s.taskRunning(at, t) })
	}
	s.emitTask(now, t)
}

// attachENI is ECS's ENI attachment on the account's behalf: it draws on the
// hidden ENI bucket, shared by everything in the account, and retries until
// the provisioning timeout, after which the task fails to start.
func (s *Sim) attachENI(at time.Time, t *task) {
	if t.desiredStatus == StatusStopped || t.lastStatus != StatusProvisioning {
		return
	}
	if _, ok := s.takeAll(at, take{BucketHiddenENI, 1}); !ok {
		next := at.Add(secs(s.cfg.Lifecycle.ENIRetrySeconds))
		if next.After(t.eniDeadline) {
			s.failToStart(at, t, "Timeout waiting for network interface provisioning to complete.")
			return
		}
		s.sched.at(next, func(at time.Time) { s.attachENI(at, t) })
		return
	}
	s.setLast(t, StatusPending)
	t.pullStartedAt = at
	t.version++
	s.emitTask(at, t)
	s.sched.at(at.Add(secs(s.cfg.Lifecycle.PendingSeconds)), func(at time.Time) { s.taskRunning(at, t) })
}

func (s *Sim) taskRunning(at time.Time, t *task) {
	if t.desiredStatus == StatusStopped || t.lastStatus != StatusPending {
		return
	}
	s.setLast(t, StatusRunning)
	t.pullStoppedAt = at
	t.startedAt = at
	t.version++
	s.emitTask(at, t)
	s.scheduleEnd(at, t)
}

// beginStop sets desiredStatus STOPPED (an event of its own) and schedules
// the final STOPPED.
func (s *Sim) beginStop(at time.Time, t *task, code, reason string) {
	s.stopAfter(at, t, code, reason, s.cfg.Lifecycle.StoppingSeconds)
}

// stopAfter is beginStop with the final STOPPED after stopping seconds.
func (s *Sim) stopAfter(at time.Time, t *task, code, reason string, stopping float64) {
	if t.desiredStatus == StatusStopped {
		return
	}
	t.desiredStatus = StatusStopped
	t.stopCode, t.stoppedReason = code, reason
	t.stoppingAt = at
	t.version++
	s.emitTask(at, t)
	s.sched.at(at.Add(secs(stopping)), func(at time.Time) { s.finishStop(at, t) })
}

func (s *Sim) finishStop(at time.Time, t *task) {
	if t.lastStatus == StatusStopped {
		return
	}
	s.setLast(t, StatusStopped)
	t.stoppedAt = at
	if t.killOnStop && t.exitCode == nil {
		t.exitCode = new(StopTaskExitCode)
	}
	t.version++
	s.release(t)
	s.ledger.stopped(t.entry, at, t.stopCode, t.stoppedReason, t.exitCode)
	s.emitTask(at, t)
}

// failToStart stops a task that never ran: TaskFailedToStart, with the
// reason on the task and its container, in one state change to STOPPED.
func (s *Sim) failToStart(at time.Time, t *task, reason string) {
	t.desiredStatus = StatusStopped
	s.setLast(t, StatusStopped)
	t.stopCode, t.stoppedReason = StopTaskFailedToStart, reason
	t.containerReason = reason
	t.stoppingAt, t.stoppedAt = at, at
	t.version++
	s.stats.failedToStart++
	s.release(t)
	s.ledger.stopped(t.entry, at, t.stopCode, reason, nil)
	s.emitTask(at, t)
}

// setLast changes a task's lastStatus, keeping the cluster's count of
// PROVISIONING tasks (a RunTask quota) current.
func (s *Sim) setLast(t *task, status string) {
	if t.lastStatus == StatusProvisioning {
		t.cluster.provisioning--
	}
	if status == StatusProvisioning {
		t.cluster.provisioning++
	}
	t.lastStatus = status
}

// emitTask publishes an "ECS Task State Change" event for t's current state.
func (s *Sim) emitTask(at time.Time, t *task) {
	d := t.doc(true)
	d.UpdatedAt = jtime(at, true)
	s.emit(s.envelope(at, "ECS Task State Change", []string{t.arn}, d))
}
