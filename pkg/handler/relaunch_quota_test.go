package handler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

const vcpuQuotaReason = "You've reached the limit on the number of vCPUs you can run concurrently"

// A task that failed to start for an account quota waits for quota: no
// call and no attempt spent until the request's quota gate grants a probe
// (a task of the request stopped, or QuotaProbeEvery), then it is
// relaunched and the chunk no longer waits; past the deadline it is
// dead-lettered with class quota.
func TestRelaunchWaitsForQuota(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	ctx := context.Background()
	sb := launch.StartedBy("r1", 0, 1)
	ev := taskEvent(t, arns[4], sb, vcpuQuotaReason)

	mustEvent(t, e, ev, EventDeferred)
	e.clk.Advance(5 * time.Second)
	mustEvent(t, e, ev, EventDeferred)
	if n := len(e.ecs.Calls()); n != 1 {
		t.Fatalf("RunTask calls while waiting: got %d, want 1 (the chunk's)", n)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.QuotaWaitSince.IsZero() || st.Relaunches != 0 {
		t.Fatalf("chunk: quota wait since %v, relaunches charged %d; want a wait, none charged", st.QuotaWaitSince, st.Relaunches)
	}
	// A task of the request stops: capacity came back, the gate grants a probe.
	if err := e.st.NoteTaskStopped(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	out := mustEvent(t, e, ev, EventRelaunched)
	if st, _ = e.st.Chunk(ctx, "r1", 0); !st.QuotaWaitSince.IsZero() {
		t.Errorf("quota wait not cleared after the probe launched (%s)", out.NewTaskARN)
	}
	if n := len(q.to("http://127.0.0.1/q")); n != 0 {
		t.Errorf("dead letters: got %d, want 0", n)
	}

	// Another unit starts waiting near the deadline; its next probe would
	// come after it: dead-lettered with class quota.
	ev2 := taskEvent(t, arns[5], sb, vcpuQuotaReason)
	sr, _ := e.st.Request(ctx, "r1")
	e.clk.Set(sr.Deadline.Add(-12 * time.Second))
	mustEvent(t, e, ev2, EventDeferred)
	e.clk.Advance(5 * time.Second)
	out = mustEvent(t, e, ev2, EventGaveUp)
	dl := q.to("http://127.0.0.1/q")
	if len(dl) != 1 || !strings.Contains(aws.ToString(dl[0].MessageBody), `"class":"quota"`) {
		t.Fatalf("dead letters %d (%s), want one of class quota; reason %s", len(dl), bodies(dl), out.Reason)
	}
}

func bodies(ms []*sqs.SendMessageInput) string {
	var b []string
	for _, m := range ms {
		b = append(b, aws.ToString(m.MessageBody))
	}
	return strings.Join(b, "\n")
}
