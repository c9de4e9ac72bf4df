package launch_test

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

func ptr[T any](v T) *T { return &v }

// TestSchemaVersion: version 2 is implied by any version-2 field; version
// 1 keeps its meaning; an unknown version is rejected.
func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *launch.Request)
		want   int
		prob   string
	}{
		{"version 1 implied", func(*launch.Request) {}, 1, ""},
		{"waitForCompletion implies 2", func(r *launch.Request) { r.WaitForCompletion = true }, 2, ""},
		{"tolerance implies 2", func(r *launch.Request) { r.ToleratedFailureCount = ptr(0) }, 2, ""},
		{"items imply 2", func(r *launch.Request) {
			r.ECS.Items = []launch.TaskOverride{{ContainerOverrides: []launch.ContainerOverride{{Name: "main"}}}}
			r.ECS.Count = 1
		}, 2, ""},
		{"explicit 2", func(r *launch.Request) { r.Version = 2 }, 2, ""},
		{"version 1 with a version-2 field", func(r *launch.Request) {
			r.Version = 1
			r.WaitForCompletion = true
			r.ToleratedFailurePercentage = ptr(5.0)
		},
			1, "version: must be 2 (or absent) when waitForCompletion, toleratedFailurePercentage is set, got 1"},
		{"unknown version", func(r *launch.Request) { r.Version = 3 }, 3, "version: must be 1 or 2, got 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := launchtest.ECSRequest("r", 10)
			tt.mutate(&r)
			if got := r.SchemaVersion(); got != tt.want {
				t.Errorf("SchemaVersion: got %d, want %d", got, tt.want)
			}
			checkProblem(t, r.Validate(), tt.prob)
		})
	}
}

func TestJobFieldsValidation(t *testing.T) {
	t.Parallel()
	tests := []validationCase{
		{"timeout minimum", func(r *launch.Request) { r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 60} }, ""},
		{"timeout below 60", func(r *launch.Request) { r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 59} },
			"timeout.attemptDurationSeconds: must be 60..3600 (the request's deadline), got 59"},
		{"timeout at the default deadline", func(r *launch.Request) { r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 3600} }, ""},
		{"timeout beyond the deadline", func(r *launch.Request) {
			r.DeadlineSeconds = 600
			r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 601}
		},
			"timeout.attemptDurationSeconds: must be 60..600 (the request's deadline), got 601"},
		{"timeout without waiting", func(r *launch.Request) {
			r.WaitForCompletion = false
			r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 60}
		},
			"timeout: requires waitForCompletion true"},
		{"retry without waiting", func(r *launch.Request) {
			r.WaitForCompletion = false
			r.RetryStrategy = &launch.RetryStrategy{Attempts: 2}
		},
			"retryStrategy: requires waitForCompletion true"},
		{"percentage 0 and 100", func(r *launch.Request) { r.ToleratedFailurePercentage = ptr(100.0); r.ToleratedFailureCount = ptr(0) }, ""},
		{"percentage above 100", func(r *launch.Request) { r.ToleratedFailurePercentage = ptr(100.5) }, "toleratedFailurePercentage: must be 0..100, got 100.5"},
		{"percentage negative", func(r *launch.Request) { r.ToleratedFailurePercentage = ptr(-1.0) }, "toleratedFailurePercentage: must be 0..100, got -1"},
		{"count negative", func(r *launch.Request) { r.ToleratedFailureCount = ptr(-1) }, "toleratedFailureCount: must be ≥ 0, got -1"},
		{"waitFor status-ok", func(r *launch.Request) { r.EC2 = launchtest.EC2Request("job-1", 2).EC2; r.EC2.WaitFor = "status-ok" }, ""},
		{"waitFor unknown", func(r *launch.Request) { r.EC2 = launchtest.EC2Request("job-1", 2).EC2; r.EC2.WaitFor = "ready" },
			`ec2.waitFor: must be running or status-ok, got "ready"`},
		{"waitFor without waiting", func(r *launch.Request) {
			r.WaitForCompletion = false
			r.EC2 = launchtest.EC2Request("job-1", 2).EC2
			r.EC2.WaitFor = "running"
		}, "ec2.waitFor: requires waitForCompletion true"},
	}
	runValidationCases(t, tests)
}

func TestWaitState(t *testing.T) {
	t.Parallel()
	r := launchtest.EC2Request("r", 2)
	if got := r.WaitState(); got != "" {
		t.Errorf("not waiting: got %q", got)
	}
	r.WaitForCompletion = true
	if got := r.WaitState(); got != "running" {
		t.Errorf("waiting: got %q, want running", got)
	}
	r.EC2.WaitFor = "status-ok"
	if got := r.WaitState(); got != "status-ok" {
		t.Errorf("status-ok: got %q", got)
	}
}

// TestOutcome: the boundaries of each tolerance, both together (exceeding
// either fails, as Step Functions' Map), and which error names the cause.
func TestOutcome(t *testing.T) {
	t.Parallel()
	type tol struct {
		pct *float64
		cnt *int
	}
	none := tol{}
	tests := []struct {
		name    string
		tol     tol
		c       launch.FinalCounts
		status  string
		errName string
	}{
		{"all succeeded", none, launch.FinalCounts{Requested: 10, Succeeded: 10}, "SUCCEEDED", ""},
		{"nothing requested", none, launch.FinalCounts{}, "SUCCEEDED", ""},
		{"default: one dead-lettered fails", none, launch.FinalCounts{Requested: 10, Succeeded: 9, DeadLettered: 1}, "FAILED", "LaunchIncomplete"},
		{"default: one never launched fails", none, launch.FinalCounts{Requested: 10, Succeeded: 9}, "FAILED", "LaunchIncomplete"},
		{"default: one task failed", none, launch.FinalCounts{Requested: 10, Succeeded: 9, Failed: 1}, "FAILED", "TasksFailed"},
		{"cancelled is no failure", none, launch.FinalCounts{Requested: 10, Succeeded: 7, Cancelled: 3}, "SUCCEEDED", ""},
		{"count: at the bound", tol{cnt: ptr(2)}, launch.FinalCounts{Requested: 10, Succeeded: 8, Failed: 1, DeadLettered: 1}, "SUCCEEDED", ""},
		{"count: one beyond, tasks tip it", tol{cnt: ptr(2)}, launch.FinalCounts{Requested: 10, Succeeded: 7, Failed: 2, DeadLettered: 1}, "FAILED", "TasksFailed"},
		{"count: launch failures alone beyond", tol{cnt: ptr(2)}, launch.FinalCounts{Requested: 10, Succeeded: 7, DeadLettered: 3}, "FAILED", "LaunchIncomplete"},
		{"count 0 given", tol{cnt: ptr(0)}, launch.FinalCounts{Requested: 10, Succeeded: 9, Failed: 1}, "FAILED", "TasksFailed"},
		{"percentage: at the bound", tol{pct: ptr(10.0)}, launch.FinalCounts{Requested: 20, Succeeded: 18, Failed: 2}, "SUCCEEDED", ""},
		{"percentage: just beyond", tol{pct: ptr(10.0)}, launch.FinalCounts{Requested: 20, Succeeded: 17, Failed: 3}, "FAILED", "TasksFailed"},
		{"percentage: fraction", tol{pct: ptr(12.5)}, launch.FinalCounts{Requested: 8, Succeeded: 7, Failed: 1}, "SUCCEEDED", ""},
		{"percentage 100", tol{pct: ptr(100.0)}, launch.FinalCounts{Requested: 5, DeadLettered: 5}, "SUCCEEDED", ""},
		{"both: within both", tol{ptr(50.0), ptr(3)}, launch.FinalCounts{Requested: 10, Succeeded: 7, Failed: 3}, "SUCCEEDED", ""},
		{"both: count exceeded, percentage not", tol{ptr(50.0), ptr(3)}, launch.FinalCounts{Requested: 10, Succeeded: 6, Failed: 4}, "FAILED", "TasksFailed"},
		{"both: percentage exceeded, count not", tol{ptr(10.0), ptr(5)}, launch.FinalCounts{Requested: 10, Succeeded: 8, DeadLettered: 2}, "FAILED", "LaunchIncomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := launchtest.ECSRequest("r", 10)
			r.ToleratedFailurePercentage, r.ToleratedFailureCount = tt.tol.pct, tt.tol.cnt
			status, errName := r.Outcome(tt.c)
			if status != tt.status || errName != tt.errName {
				t.Fatalf("Outcome(%+v) = %s, %q; want %s, %q", tt.c, status, errName, tt.status, tt.errName)
			}
		})
	}
}

// TestParseRequestV2Example: the README's version-2 example parses, count
// comes from the items, and each task gets its own chunk and overrides.
func TestParseRequestV2Example(t *testing.T) {
	t.Parallel()
	r := parseFile(t, "request-v2-items.json")
	if r.SchemaVersion() != 2 || r.ECS.Count != 3 || r.Requested() != 3+r.EC2.Count {
		t.Fatalf("got version %d, ecs.count %d, requested %d", r.SchemaVersion(), r.ECS.Count, r.Requested())
	}
	if p := launch.NewPlan(r, launchtest.T0); p.ECSChunks != 3 {
		t.Errorf("ECS chunks: got %d, want 3 (one a task)", p.ECSChunks)
	}
	o, err := r.ItemOverrides(2)
	if err != nil || o.ContainerOverrides[0].Environment["TH_ARRAY_INDEX"] != "2" {
		t.Errorf("ItemOverrides(2) = %+v, %v", o, err)
	}
	if d := r.RetryStrategy.Decide(launch.TaskExit{Attempt: 1, ExitCode: ptr(137)}); d.Retry {
		t.Errorf("exit 137: got %+v, want EXIT by the example's first entry", d)
	}
}

// TestVersion1Unchanged: a version-1 request reads as before: its
// fingerprint (stored with every request) is the one computed before the
// version-2 fields existed, it chunks 10 tasks a call, and any unit
// dead-lettered fails it.
func TestVersion1Unchanged(t *testing.T) {
	t.Parallel()
	r := parseFile(t, "request-ecs-ec2.json")
	const before = "08bba0c0288b3b34c22ad8828e509b047e4a9e9033194e0df26015c74cbc6055"
	if got := launch.Fingerprint(r); got != before {
		t.Errorf("Fingerprint: got %s, want %s (as before version 2)", got, before)
	}
	if r.SchemaVersion() != 1 || r.ECSChunkSize() != 10 {
		t.Errorf("got version %d, chunk size %d; want 1, 10", r.SchemaVersion(), r.ECSChunkSize())
	}
	if status, _ := r.Outcome(launch.FinalCounts{Requested: r.Requested(), Succeeded: r.Requested() - 1, DeadLettered: 1}); status != "FAILED" {
		t.Errorf("one dead-lettered: got %s, want FAILED", status)
	}
}
