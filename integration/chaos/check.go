package chaos

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
)

// check judges each request (doc.go): nothing lost, nothing twice, a
// summary with every failed unit under a reason, the DLQ matching it.
func check(sc Scenario, rs []RequestResult, dead map[string]chunkLetters) []string {
	var v []string
	bad := func(id, format string, a ...any) { v = append(v, id+": "+fmt.Sprintf(format, a...)) }
	for _, r := range rs {
		if r.Lost != 0 {
			bad(r.RequestID, "lost %d of %d (ledger unique %d, dead-lettered %d)", r.Lost, r.Requested, r.Ledger.Unique, r.DeadLettered)
		}
		if r.Ledger.Duplicates != 0 {
			bad(r.RequestID, "%d duplicates in the ledger (%+v)", r.Ledger.Duplicates, r.Ledger)
		}
		if r.EventDeadLettered != 0 {
			bad(r.RequestID, "%d TaskFailedToStart events dead-lettered (EventBridge target, relaunch queue redrive or Lambda on-failure): tasks neither relaunched nor counted failed", r.EventDeadLettered)
		}
		if r.Status == "" || r.Summary.RequestID == "" {
			continue // reported as not terminal
		}
		s := r.Summary
		if s.Requested != r.Requested {
			bad(r.RequestID, "summary requested %d, want %d", s.Requested, r.Requested)
		}
		if s.Pending != 0 {
			bad(r.RequestID, "summary has %d pending units after the execution ended", s.Pending)
		}
		if s.PendingRelaunches != 0 {
			bad(r.RequestID, "final summary with %d relaunches pending", s.PendingRelaunches)
		}
		if s.Launched+s.Failed != s.Requested {
			bad(r.RequestID, "summary launched %d + failed %d ≠ requested %d", s.Launched, s.Failed, s.Requested)
		}
		reasons := 0
		for reason, n := range s.Reasons {
			if reason == "" {
				bad(r.RequestID, "%d failed units without a reason", n)
			}
			reasons += n
		}
		if reasons != s.Failed {
			bad(r.RequestID, "reasons %v count %d units, failed %d", s.Reasons, reasons, s.Failed)
		}
		if s.DeadLettered != s.Failed {
			bad(r.RequestID, "summary dead-lettered %d, failed %d", s.DeadLettered, s.Failed)
		}
		// A task that failed to start after the final summary closed the
		// request is dead-lettered by the relaunch path, not counted.
		if r.DeadLettered != s.Failed+r.DeadLetteredAfterClose {
			bad(r.RequestID, "DLQ holds %d units, summary failed %d + dead-lettered after the close %d", r.DeadLettered, s.Failed, r.DeadLetteredAfterClose)
		}
		for _, d := range dead[r.RequestID] {
			if d.Reason == "" {
				bad(r.RequestID, "dead letter of chunk %d has no reason", d.Chunk)
			}
		}
	}
	return v
}

// closedBeforeRelaunch says a dead letter's reason is the relaunch path's
// for a task that failed to start once its request was closed ("request
// completed before the relaunch: …", or cancelled).
func closedBeforeRelaunch(d handler.DeadLetter) bool {
	return d.StoppedTaskARN != "" && strings.HasPrefix(d.Reason, "request ") &&
		strings.Contains(strings.SplitN(d.Reason, ":", 2)[0], " before the relaunch")
}

// afterClose counts the units dead-lettered because their request was
// closed before the relaunch.
func (c chunkLetters) afterClose() int {
	n := 0
	for _, d := range c {
		if closedBeforeRelaunch(d) {
			n += d.Missing
		}
	}
	return n
}

// countAfterClose adds the units dead-lettered after their request's close,
// and the OutcomeUnknown units found running, to the faults, so a run shows
// how often each happened.
func countAfterClose(into map[string]int64, rs []RequestResult) {
	for _, r := range rs {
		if r.DeadLetteredAfterClose != 0 {
			into["dlq:afterClose"] += int64(r.DeadLetteredAfterClose)
		}
		if r.UnknownRunning != 0 {
			into["dlq:outcomeUnknownRunning"] += int64(r.UnknownRunning)
		}
	}
}

// budgets are the buckets where one call takes one token, so the
// simulator's call count is the tokens the limiter let through.
var budgets = map[string]string{sim.BucketRunTask: "ecs:RunTask", sim.BucketRunInstances: "ec2:RunInstances"}

// checkBuckets: the product's calls never exceed what the configured
// bucket allows over the run (burst + rate × elapsed): the limiter did not
// admit above the bucket, through a DynamoDB outage too (it fails closed).
func checkBuckets(sc Scenario, st sim.Stats, origin time.Time) []string {
	var v []string
	elapsed := st.Now.Sub(origin).Seconds()
	names := make([]string, 0, len(budgets))
	for b := range budgets {
		names = append(names, b)
	}
	sort.Strings(names)
	for _, b := range names {
		cfg := sc.Sim.Buckets[b]
		allowed := cfg.Burst + cfg.Rate*elapsed
		if calls := st.Calls[budgets[b]]; float64(calls) > math.Ceil(allowed) {
			v = append(v, fmt.Sprintf("bucket %s: %d calls in %.0f s, the bucket allows %.0f (burst %.0f, rate %.2f/s)",
				b, calls, elapsed, allowed, cfg.Burst, cfg.Rate))
		}
	}
	return v
}

// collectFaults adds the faults the run exercised to into.
func collectFaults(into map[string]int64, st sim.Stats, svc services.Stats, c *counters) {
	for k, n := range st.Faults {
		into["sim:"+k] += n
	}
	for code, n := range st.Errors {
		into["error:"+code] += n
	}
	add := func(k string, n int64) {
		if n != 0 {
			into[k] += n
		}
	}
	add("sim:storms", st.Storms)
	add("sim:throttledCalls", st.ThrottledCalls)
	add("sim:tasksFailedToStart", st.FailedToStart)
	add("sim:wrappedThrottles", st.WrappedThrottles)
	// The evidence calls: an unknown outcome settled past its token's window.
	add("evidence:ecs:ListTasks", st.Calls["ecs:ListTasks"])
	add("evidence:ec2:DescribeInstances", st.Calls["ec2:DescribeInstances"])
	add("lambda:coldStarts", svc.Lambda.ColdStarts)
	add("lambda:crashBefore", c.crashBefore.Load())
	add("lambda:childCrashes", c.childCrashes.Load())
	add("lambda:crashAfter", c.crashAfter.Load())
	add("lambda:timeoutAfter", c.timeoutAfter.Load())
	add("events:duplicated", svc.Events.Duplicates)
	add("events:retries", svc.Events.Retries)
	add("events:deadLettered", svc.Events.DeadLettered)
	add("events:dropped", svc.Events.Dropped)
	add("lambda:errors", svc.Lambda.Errors)
	add("lambda:throttles", svc.Lambda.Throttles)
	add("events:late", c.lateEvents.Load())
	add("dynamodb:restarts", c.dynamoRestarts.Load())
	add("lambda:asyncDropped", c.asyncDropped.Load())
}
