package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// runCancel is `throttlectl cancel <requestId>`: it stops the request's
// launch execution (StopExecution). Nothing already launched is stopped:
// the tasks keep running and stay listed by status; chunks not yet
// launched are not launched. An execution that already ended is left as
// it is.
func runCancel(ctx context.Context, app *App, args []string) error {
	fs := app.flags("cancel")
	var n names
	n.register(fs)
	cause := fs.String("cause", "cancelled with throttlectl cancel", "the cause recorded on the stopped execution")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("cancel: want <requestId>, got %d argument(s)", len(fs.Args()))
	}
	p, err := app.product(ctx, n, needMachine|needTable)
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	arn := submit.ExecutionARN(p.machine, submit.ExecutionName(id))
	c := p.sfn()
	d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if _, ok := errors.AsType[*sfntypes.ExecutionDoesNotExist](err); ok {
		return fmt.Errorf("cancel %s: no execution %s: was the request submitted to this state machine (--state-machine-arn, --region)?", id, arn)
	} else if err != nil {
		return fmt.Errorf("cancel %s: DescribeExecution: %w", id, err)
	}
	stopped := false
	if d.Status == sfntypes.ExecutionStatusRunning {
		if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn),
			Error: aws.String("Cancelled"), Cause: aws.String(*cause)}); err != nil {
			return fmt.Errorf("cancel %s: StopExecution %s: %w", id, arn, err)
		}
		stopped = true
	}
	st, err := p.status(ctx, id)
	if err != nil {
		return err
	}
	res := map[string]any{"requestId": id, "executionArn": arn, "stopped": stopped, "execution": st.Execution,
		"launched": st.Launched, "requested": st.Requested, "deadLettered": st.DeadLettered,
		"notLaunched": st.Requested - st.Launched - st.DeadLettered}
	if !stopped {
		res["note"] = "the execution had already ended " + string(d.Status) + "; nothing to stop"
	}
	return app.emit(res)
}
