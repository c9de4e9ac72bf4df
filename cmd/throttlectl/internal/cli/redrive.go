package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// RedriveSuffix ends the requestId of a redrive: request R's dead-lettered
// units are re-submitted once, as request R + RedriveSuffix.
const RedriveSuffix = ".redrive"

// runRedrive is `throttlectl redrive <requestId>`: it re-submits what the
// request dead-lettered, once. The units come from the table (each chunk's
// deadLettered count and the relaunches given up, the same numbers status
// and the summary report), so nothing depends on the dead-letter queue's
// at-least-once messages, which stay there for operators and alarms.
//
// The redrive is a new request, <requestId>.redrive, with the original's
// ECS / EC2 specification and the dead-lettered counts: a new requestId
// gives new chunk identities and fresh client tokens, so nothing of the
// original can be replayed by mistake, and its execution name makes a
// second redrive "already submitted". A redrive of a redrive is refused,
// and so is a redrive while the original still runs (more may be
// dead-lettered).
func runRedrive(ctx context.Context, app *App, args []string) error {
	fs := app.flags("redrive")
	var n names
	n.register(fs)
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("redrive: want <requestId>, got %d argument(s)", len(fs.Args()))
	}
	id := fs.Arg(0)
	if strings.HasSuffix(id, RedriveSuffix) {
		return fmt.Errorf("redrive %s: this request is itself a redrive; a redrive runs once (look at what it dead-lettered with throttlectl status %s)", id, id)
	}
	p, err := app.product(ctx, n, needMachine|needTable)
	if err != nil {
		return err
	}
	st, err := p.status(ctx, id)
	if err != nil {
		return err
	}
	if st.Execution == string(sfntypes.ExecutionStatusRunning) {
		return fmt.Errorf("redrive %s: the request is still running (execution %s); wait for it to end (throttlectl status --watch %s) or cancel it", id, st.ExecutionARN, id)
	}
	if !st.Planned {
		return fmt.Errorf("redrive %s: the request was never planned (execution %s %s %s): nothing was launched or dead-lettered; fix it and submit again", id, st.Execution, st.Error, st.Cause)
	}
	redo, err := p.deadLettered(ctx, id)
	if err != nil {
		return err
	}
	if redo.ECS == nil && redo.EC2 == nil {
		return app.emit(map[string]any{"requestId": id, "redriven": 0, "note": "nothing was dead-lettered"})
	}
	body, err := json.Marshal(redo)
	if err != nil {
		return err
	}
	res, err := submit.New(p.sfn(), p.machine).Submit(ctx, body)
	if err != nil {
		return fmt.Errorf("redrive %s: %w", id, err)
	}
	out := map[string]any{"requestId": id, "redriveRequestId": redo.RequestID, "redriven": redo.Requested(),
		"executionName": res.ExecutionName, "executionArn": res.ExecutionARN, "alreadySubmitted": res.AlreadySubmitted}
	if res.AlreadySubmitted {
		out["note"] = "already redriven once; follow it with throttlectl status " + redo.RequestID
	}
	return app.emit(out)
}

// deadLettered builds the redrive request of id: its specification with
// the counts it dead-lettered, under the requestId id + RedriveSuffix.
func (p *product) deadLettered(ctx context.Context, id string) (launch.Request, error) {
	store := p.store()
	sr, err := store.Request(ctx, id)
	if err != nil {
		return launch.Request{}, fmt.Errorf("redrive %s: %w", id, err)
	}
	chunks, lost, err := store.Chunks(ctx, id)
	if err != nil {
		return launch.Request{}, fmt.Errorf("redrive %s: %w", id, err)
	}
	units := map[launch.Kind]int{}
	kind := func(chunk int) launch.Kind {
		spec, err := sr.Request.Chunk(chunk)
		if err != nil {
			return ""
		}
		return spec.Kind
	}
	for _, c := range chunks {
		if c.GaveUp {
			units[kind(c.Index)] += c.DeadLettered
		}
	}
	for _, l := range lost {
		units[kind(l.Chunk)] += l.Units
	}
	r := sr.Request
	r.RequestID = id + RedriveSuffix
	r.ECS, r.EC2 = nil, nil
	if k := units[launch.KindECS]; k > 0 && sr.Request.ECS != nil {
		e := *sr.Request.ECS
		e.Count = k
		r.ECS = &e
	}
	if k := units[launch.KindEC2]; k > 0 && sr.Request.EC2 != nil {
		e := *sr.Request.EC2
		e.Count = k
		r.EC2 = &e
	}
	return r, nil
}
