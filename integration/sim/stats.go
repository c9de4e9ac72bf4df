package sim

import (
	"maps"
	"time"
)

// callStats counts what the account saw. Guarded by the Sim's mutex.
type callStats struct {
	calls     map[string]int64 // "ecs:RunTask" → calls
	throttled map[string]int64 // op → synchronous throttles
	errors    map[string]int64 // error code → answers
	faults    map[string]int64 // fault kind → injections

	tasksLaunched     int64
	instancesLaunched int64
	failedToStart     int64 // tasks stopped with TaskFailedToStart
	wrappedThrottles  int64 // RunTask InvalidParameterException … (ErrorCode: Throttling)
	serviceActions    map[string]int64
	cotenantDeploys   int64
	storms            int64
}

func (c *callStats) init() {
	c.calls = map[string]int64{}
	c.throttled = map[string]int64{}
	c.errors = map[string]int64{}
	c.faults = map[string]int64{}
	c.serviceActions = map[string]int64{}
}

// Stats is a snapshot of the account's counters, for GET /_awslocal/stats
// and tests. Times are simulated.
type Stats struct {
	Now       time.Time        `json:"now"`
	Calls     map[string]int64 `json:"calls"`
	Throttled map[string]int64 `json:"throttled"`
	// ThrottledCalls sums Throttled: synchronous throttles (ThrottlingException,
	// RequestLimitExceeded).
	ThrottledCalls int64 `json:"throttledCalls"`
	// AsyncThrottles counts the throttles of ECS's calls on the account's
	// behalf that reached the product: tasks stopped with TaskFailedToStart
	// plus RunTask's wrapped InvalidParameterException.
	AsyncThrottles    int64            `json:"asyncThrottles"`
	Errors            map[string]int64 `json:"errors"`
	Faults            map[string]int64 `json:"faults"`
	TasksLaunched     int64            `json:"tasksLaunched"`
	InstancesLaunched int64            `json:"instancesLaunched"`
	FailedToStart     int64            `json:"tasksFailedToStart"`
	WrappedThrottles  int64            `json:"wrappedThrottles"`
	ServiceActions    map[string]int64 `json:"serviceActionEvents"`
	CotenantDeploys   int64            `json:"cotenantDeployments"`
	// CotenantCalls and CotenantThrottledCalls count the co-tenant caller's
	// calls over every published bucket, and those that found it short.
	CotenantCalls          int64                  `json:"cotenantCalls"`
	CotenantThrottledCalls int64                  `json:"cotenantThrottledCalls"`
	Storms                 int64                  `json:"storms"`
	Buckets                map[string]BucketStats `json:"buckets"`
}

// Stats returns a snapshot of the counters and buckets at the clock's time.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	st := Stats{
		Now: now, Calls: maps.Clone(s.stats.calls), Throttled: maps.Clone(s.stats.throttled),
		Errors: maps.Clone(s.stats.errors), Faults: maps.Clone(s.stats.faults),
		TasksLaunched: s.stats.tasksLaunched, InstancesLaunched: s.stats.instancesLaunched,
		FailedToStart: s.stats.failedToStart, WrappedThrottles: s.stats.wrappedThrottles,
		ServiceActions: maps.Clone(s.stats.serviceActions), CotenantDeploys: s.stats.cotenantDeploys,
		Storms: s.stats.storms, Buckets: make(map[string]BucketStats, len(s.buckets)),
	}
	for _, n := range st.Throttled {
		st.ThrottledCalls += n
	}
	st.AsyncThrottles = st.FailedToStart + st.WrappedThrottles
	for name, b := range s.buckets {
		b.advance(now)
		st.Buckets[name] = b.stats()
		st.CotenantCalls += b.cot.calls
		st.CotenantThrottledCalls += b.cot.throttled
	}
	return st
}
