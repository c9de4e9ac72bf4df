package launchtest

import (
	"context"
	"encoding/json"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// badDeferral answers a deferral of a fractional number of seconds for one
// chunk: the chunk's Wait state fails with States.Runtime, which no Catch
// matches (States.ALL excludes it), so its child execution fails.
type badDeferral struct {
	chunk int
	next  awslambda.Handler
}

func (b badDeferral) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in struct {
		Chunk *int `json:"chunk"`
	}
	if json.Unmarshal(payload, &in) == nil && in.Chunk != nil && *in.Chunk == b.chunk {
		return []byte(`{"status":"deferred","launched":0,"missing":10,"waitSeconds":2.5,"slot":{}}`), nil
	}
	return b.next.Invoke(ctx, payload)
}

// TestFlowFailedChildNeverAbortsTheOthers: a chunk whose child execution
// fails outright (a States.Runtime no Catch can take) no longer fails the
// Map Run: the Map tolerates every failed child (AWS Step Functions
// Developer Guide: "Setting failure thresholds for Distributed Map states
// in Step Functions"), so the other chunks are not aborted and launch,
// and the summary dead-letters the failed chunk's units. Needs the local
// runner's Map Runs (DISTRIBUTED children with tolerance, on by default).
func TestFlowFailedChildNeverAbortsTheOthers(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	const failing = 4
	r := runFlow(t, failing, func(so *awslocal.ServicesOptions) {
		so.Functions = func(ctx context.Context, name string, d lambdafn.Deps) (awslambda.Handler, error) {
			h, err := lambdafn.Build(ctx, name, d)
			if err != nil || name != "runtask" {
				return h, err
			}
			return badDeferral{chunk: failing, next: h}, nil
		}
	})
	if r.status != "FAILED" {
		t.Errorf("execution %s, want FAILED (LaunchIncomplete: 10 units dead-lettered)", r.status)
	}
	if r.counts.Unique != 90 || r.counts.Duplicates != 0 {
		t.Errorf("ledger: %d unique, %d duplicates; want the 9 other chunks launched (90), none twice", r.counts.Unique, r.counts.Duplicates)
	}
	if s := r.sum; s.Launched != 90 || s.DeadLettered != 10 || s.Pending != 0 || s.Launched+s.DeadLettered != s.Requested {
		t.Errorf("summary: launched %d, dead-lettered %d, pending %d of %d; want 90 + 10 = 100", s.Launched, s.DeadLettered, s.Pending, s.Requested)
	}
	if len(r.dlq) != 1 || r.dlq[0].Chunk != failing || r.dlq[0].Missing != 10 || r.dlq[0].Class != launch.ClassUnfinished {
		t.Errorf("dead letters %+v: want one for chunk %d's 10 units", r.dlq, failing)
	}
}
