package e2e

import (
	"testing"
	"time"
)

// TestSmallRequest launches 25 Fargate tasks with no faults: the shortest
// path through every part of the stack.
func TestSmallRequest(t *testing.T) {
	w := newWorld(t, setup{})
	req := fargate("e2e-small", 25)
	e := w.wait(w.start(req), 60*time.Second)
	if e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	c := counts(req, w.ledger(req.RequestID))
	if c.Unique != 25 || c.Duplicates != 0 || e.Summary.Launched != 25 {
		t.Fatalf("ledger %+v, summary %+v: want 25 launched once", c, e.Summary)
	}
}
