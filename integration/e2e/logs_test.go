package e2e

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// lockedBuffer is a bytes.Buffer safe for the stack's concurrent loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsCarryNoRequestPayload runs a request whose container overrides
// carry a secret through throttles, a rejected request carrying the same
// secret, and checks that no log line of the handlers or the local stack
// holds it: handlers log ids, counts, classes and codes, never the request.
func TestLogsCarryNoRequestPayload(t *testing.T) {
	const secret = "s3cr3t-e2e-7f1c9a"
	logs := &lockedBuffer{}
	w := newWorld(t, setup{logs: logs, config: func(c *configT) { c.LogLevel = slog.LevelDebug }})
	withSecret := func(id string, count int) launch.Request {
		r := fargate(id, count)
		r.ECS.Overrides = &launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{
			{Name: "main", Command: []string{"run", "--token", secret}, Environment: map[string]string{"API_TOKEN": secret}}}}
		r.ECS.Tags = map[string]string{"owner": secret}
		return r
	}

	good := w.wait(w.start(withSecret("e2e-logs", 150)), 60*time.Second)
	if good.Status != "SUCCEEDED" || good.Summary.Launched != 150 {
		t.Fatalf("execution %s, summary %+v: want 150 launched", good.Status, good.Summary)
	}
	bad := w.wait(w.start(withSecret("e2e-logs-bad", 0)), 30*time.Second)
	if bad.Status != "FAILED" || !strings.Contains(bad.Cause, "ecs.count") {
		t.Fatalf("bad request: %s %q, want FAILED naming ecs.count", bad.Status, bad.Cause)
	}

	out := logs.String()
	if !strings.Contains(out, "e2e-logs") {
		t.Fatalf("no log line names the request (%d bytes of logs): the test sees no logs", len(out))
	}
	if strings.Contains(bad.Cause, secret) {
		t.Errorf("the rejected request's error carries the secret: %q", bad.Cause)
	}
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("a log line carries the request's secret: %.300s", line)
		}
	}
}
