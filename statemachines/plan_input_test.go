package statemachines

import (
	"reflect"
	"testing"
)

// TestPlanGetsTheExecutionARN: plan is called with the execution input as
// "request" and the execution's ARN ($$.Execution.Id), which it claims the
// request id for (pkg/handler plan_claim.go).
func TestPlanGetsTheExecutionARN(t *testing.T) {
	t.Parallel()
	input := map[string]any{"requestId": "r1", "ecs": map[string]any{"count": 20.0}}
	rs := runFlows(t, []flowJob{{Input: input, Script: map[string][]answer{"plan": {plan(0)}, "runtask": {launched}, "summary": {summary}}}})
	calls := rs[0].callsTo("Plan")
	want := map[string]any{"request": input, "executionArn": "arn:aws:states:us-east-1:000000000000:execution:launch:flow"}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Fatalf("plan called with %v, want once with %v", calls, want)
	}
}
