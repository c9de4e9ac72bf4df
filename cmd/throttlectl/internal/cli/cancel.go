package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// cancelFlags are cancel's own flags.
type cancelFlags struct {
	cause        string
	stopLaunched bool
	yes          bool
}

// runCancel is `throttlectl cancel <requestId>`: it stops the request's
// launch execution (StopExecution), marks the request cancelled in the
// table — the relaunch path checks the mark, so no task that fails to start
// is relaunched any more — and puts LaunchCancelled with the counts. What
// was launched keeps running and stays listed by status, unless
// --stop-launched: then its tasks are stopped (StopTask) and its instances
// terminated (TerminateInstances), paced by the fleet's limiter in the
// buckets those calls share with launching, after a confirmation on stdin
// (--yes skips it). An execution that already ended is left as it is; a
// request that already completed is not marked cancelled. A cancelled
// request's callback is answered with LaunchCancelled.
func runCancel(ctx context.Context, app *App, args []string) error {
	fs := app.flags("cancel")
	var n names
	n.register(fs)
	var f cancelFlags
	fs.StringVar(&f.cause, "cause", "cancelled with throttlectl cancel", "the cause recorded on the stopped execution and in LaunchCancelled")
	fs.BoolVar(&f.stopLaunched, "stop-launched", false, "also stop the request's launched tasks and terminate its instances (asks first)")
	fs.BoolVar(&f.yes, "yes", false, "with --stop-launched: do not ask for confirmation")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("cancel: want <requestId>, got %d argument(s)", len(fs.Args()))
	}
	if f.yes && !f.stopLaunched {
		return usagef("cancel: --yes only confirms --stop-launched; pass both, or neither")
	}
	p, err := app.product(ctx, n, needMachine|needTable|needBus)
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	res, err := p.stopExecution(ctx, id, f.cause)
	if err != nil {
		return err
	}
	d, put, err := p.markCancelled(ctx, id, f.cause, res)
	if err != nil {
		return err
	}
	var cbErr error
	if put { // the request's callback (cancel_callback.go)
		cbErr = answerCancelled(ctx, p.store(), p.sfn(), d, res)
	}
	var stopErr error
	if f.stopLaunched {
		d.Stopped, stopErr = p.stopLaunched(ctx, app, id, f.yes)
		res["stoppedLaunched"] = d.Stopped
	}
	if put { // after --stop-launched, so that it carries what was stopped
		if err := p.putCancelled(ctx, d); err != nil {
			_ = app.emit(res)
			return errors.Join(stopErr, cbErr, fmt.Errorf("cancel %s: %w", id, err))
		}
		res["event"] = launch.DetailLaunchCancelled
	}
	if stopErr = errors.Join(stopErr, cbErr); stopErr != nil {
		_ = app.emit(res)
		return stopErr
	}
	return app.emit(res)
}

// stopExecution stops the request's execution if it runs.
func (p *product) stopExecution(ctx context.Context, id, cause string) (map[string]any, error) {
	arn := submit.ExecutionARN(p.machine, submit.ExecutionName(id))
	c := p.sfn()
	d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if _, ok := errors.AsType[*sfntypes.ExecutionDoesNotExist](err); ok {
		return nil, fmt.Errorf("cancel %s: no execution %s: was the request submitted to this state machine (--state-machine-arn, --region)?", id, arn)
	} else if err != nil {
		return nil, fmt.Errorf("cancel %s: DescribeExecution: %w", id, err)
	}
	res := map[string]any{"requestId": id, "executionArn": arn, "stopped": false}
	if d.Status != sfntypes.ExecutionStatusRunning {
		res["note"] = "the execution had already ended " + string(d.Status) + "; nothing to stop"
		return res, nil
	}
	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn),
		Error: aws.String("Cancelled"), Cause: aws.String(cause)}); err != nil {
		return nil, fmt.Errorf("cancel %s: StopExecution %s: %w", id, arn, err)
	}
	res["stopped"] = true
	return res, nil
}

// markCancelled closes the request as cancelled (unless it completed
// first) and counts it: the LaunchCancelled detail, and whether to put it
// (the request is cancelled). res gets the counts.
func (p *product) markCancelled(ctx context.Context, id, cause string, res map[string]any) (launch.LaunchCancelledDetail, bool, error) {
	closer, _ := p.store().(launchstore.Closer)
	state := ""
	if closer != nil {
		var err error
		if state, err = closer.CloseRequest(ctx, id, launchstore.ClosedCancelled, time.Now()); errors.Is(err, launchstore.ErrNotFound) {
			res["note"] = "the request was never planned: nothing launched"
		} else if err != nil {
			return launch.LaunchCancelledDetail{}, false, fmt.Errorf("cancel %s: mark the request cancelled: %w", id, err)
		}
	}
	st, err := p.status(ctx, id)
	if err != nil {
		return launch.LaunchCancelledDetail{}, false, err
	}
	d := launch.LaunchCancelledDetail{RequestID: id, Requested: st.Requested, Launched: st.Launched, DeadLettered: st.DeadLettered,
		CancelledBeforeLaunch: max(0, st.Requested-st.Launched-st.DeadLettered), Cause: cause, At: time.Now().UTC()}
	res["execution"], res["requested"], res["launched"], res["deadLettered"] = st.Execution, d.Requested, d.Launched, d.DeadLettered
	res["cancelledBeforeLaunch"], res["notLaunched"] = d.CancelledBeforeLaunch, d.CancelledBeforeLaunch
	res["closed"] = state
	if state != "" && state != launchstore.ClosedCancelled {
		res["note"] = "the request had already " + state + "; it is not marked cancelled"
	}
	return d, state == launchstore.ClosedCancelled, nil
}

func (p *product) putCancelled(ctx context.Context, d launch.LaunchCancelledDetail) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	out, err := p.events().PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.bus), Source: aws.String(launch.EventSource),
		DetailType: aws.String(launch.DetailLaunchCancelled), Detail: aws.String(string(b)),
	}}})
	if err != nil {
		return fmt.Errorf("put %s: %w", launch.DetailLaunchCancelled, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put %s: entry failed: %s", launch.DetailLaunchCancelled, aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}
