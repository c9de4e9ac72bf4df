package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// runSubmit is `throttlectl submit <request.json|->`: it validates the
// launch request here (every bad field named, nothing sent), then starts
// the launch execution named from the requestId exactly as the submit
// function names it (pkg/submit), or, with --via-events, puts a
// LaunchRequested event on the product's bus for the submit rule to pick
// up. Submitting the same request twice is harmless: it reports
// alreadySubmitted.
func runSubmit(ctx context.Context, app *App, args []string) error {
	fs := app.flags("submit")
	var n names
	n.register(fs)
	viaEvents := fs.Bool("via-events", false, "put a LaunchRequested event on the product's bus instead of calling StartExecution")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("submit: want <request.json|->, got %d argument(s)", len(fs.Args()))
	}
	body, err := app.readEvent(fs.Arg(0))
	if err != nil {
		return usagef("submit: request %s: %v", fs.Arg(0), err)
	}
	req, err := launch.ParseRequest(body)
	if err != nil {
		return fmt.Errorf("submit: invalid launch request %s (nothing sent): %w", fs.Arg(0), err)
	}
	need := needMachine
	if *viaEvents {
		need = needBus
	}
	p, err := app.product(ctx, n, need)
	if err != nil {
		return err
	}
	if *viaEvents {
		return app.putLaunchRequested(ctx, p, req, body)
	}
	res, err := submit.New(p.sfn(), p.machine).Submit(ctx, body)
	if err != nil {
		return fmt.Errorf("submit %s: %w", req.RequestID, err)
	}
	return app.emit(res)
}

// putLaunchRequested puts the request as a LaunchRequested event.
func (a *App) putLaunchRequested(ctx context.Context, p *product, req launch.Request, body []byte) error {
	var compact json.RawMessage
	if err := json.Unmarshal(body, &compact); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	out, err := p.events().PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.bus), Source: aws.String(launch.EventSource),
		DetailType: aws.String(launch.DetailLaunchRequested), Detail: aws.String(string(compact)),
	}}})
	if err != nil {
		return fmt.Errorf("submit --via-events %s: PutEvents on bus %s: %w", req.RequestID, p.bus, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return fmt.Errorf("submit --via-events %s: bus %s refused the event: %s %s", req.RequestID, p.bus, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	name := submit.ExecutionName(req.RequestID)
	res := map[string]any{"requestId": req.RequestID, "eventBus": p.bus, "executionName": name}
	if len(out.Entries) > 0 {
		res["eventId"] = aws.ToString(out.Entries[0].EventId)
	}
	if p.machine != "" {
		res["executionArn"] = submit.ExecutionARN(p.machine, name)
	}
	return a.emit(res)
}

// emit prints v as JSON, or as a table with --output table.
func (a *App) emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if a.Output == "json" {
		b, _ = json.MarshalIndent(v, "", "  ")
	}
	return a.print(b)
}
