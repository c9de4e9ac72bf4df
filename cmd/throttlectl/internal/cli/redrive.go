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
// dead-lettered). Units dead-lettered as OutcomeUnknown may be running:
// they are skipped, with a note saying why and how to check, unless
// --include-unknown.
//
// This is not Step Functions' redrive (RedriveExecution, or a Map Run's
// redrive of failed children): the original execution is never restarted.
func runRedrive(ctx context.Context, app *App, args []string) error {
	fs := app.flags("redrive")
	var n names
	n.register(fs)
	includeUnknown := fs.Bool("include-unknown", false, "also re-submit units dead-lettered as "+launch.CodeOutcomeUnknown+" (they may be running: check first)")
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
	if err := p.redrivable(ctx, id); err != nil {
		return err
	}
	redo, skipped, err := p.deadLettered(ctx, id, *includeUnknown)
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintln(app.Stderr, skippedNote(id, skipped))
	}
	if redo.ECS == nil && redo.EC2 == nil {
		out := map[string]any{"requestId": id, "redriven": 0, "note": "nothing was dead-lettered"}
		if skipped > 0 {
			out["skippedOutcomeUnknown"], out["note"] = skipped, skippedNote(id, skipped)
		}
		return app.emit(out)
	}
	return p.submitRedrive(ctx, app, id, redo, skipped)
}

// redrivable refuses a request that still runs or was never planned.
func (p *product) redrivable(ctx context.Context, id string) error {
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
	return nil
}

// submitRedrive starts the redrive request's execution (once: its name is
// its requestId's).
func (p *product) submitRedrive(ctx context.Context, app *App, id string, redo launch.Request, skipped int) error {
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
	if skipped > 0 {
		out["skippedOutcomeUnknown"] = skipped
	}
	if res.AlreadySubmitted {
		out["note"] = "already redriven once; follow it with throttlectl status " + redo.RequestID
	}
	return app.emit(out)
}

// skippedNote tells why units were not redriven and how to force them.
func skippedNote(id string, n int) string {
	return fmt.Sprintf("redrive %s: %d unit(s) dead-lettered as %s were not re-submitted: their launch call's outcome is unknown, so they may be running. "+
		"Check first (throttlectl status %s lists what the table knows; in ECS, ListTasks by the startedBy th/<hash>/<chunk>/<attempt> of each dead letter; in EC2, the th:requestId tag), "+
		"then run throttlectl redrive --include-unknown %s to re-submit them too (a request is redriven once: pass --include-unknown on that run)",
		id, n, launch.CodeOutcomeUnknown, id, id)
}

// deadLettered builds the redrive request of id: its specification with
// the counts it dead-lettered, under the requestId id + RedriveSuffix, and
// how many units it skipped as OutcomeUnknown.
func (p *product) deadLettered(ctx context.Context, id string, includeUnknown bool) (launch.Request, int, error) {
	store := p.store()
	sr, err := store.Request(ctx, id)
	if err != nil {
		return launch.Request{}, 0, fmt.Errorf("redrive %s: %w", id, err)
	}
	chunks, lost, err := store.Chunks(ctx, id)
	if err != nil {
		return launch.Request{}, 0, fmt.Errorf("redrive %s: %w", id, err)
	}
	r, skipped := redriveRequest(sr, chunks, lost, includeUnknown)
	return r, skipped, nil
}

// outcomeUnknown says a dead letter's units may be running: their launch
// call's outcome was never learned.
func outcomeUnknown(code, reason string) bool {
	return code == launch.CodeOutcomeUnknown || strings.HasPrefix(reason, launch.CodeOutcomeUnknown)
}

// redriveRequest is the redrive of sr: the units its chunks and relaunches
// dead-lettered, without those of unknown outcome unless includeUnknown.
func redriveRequest(sr launch.StoredRequest, chunks []launch.ChunkState, lost []launch.LostRecord, includeUnknown bool) (launch.Request, int) {
	units, skipped := map[launch.Kind]int{}, 0
	kind := func(chunk int) launch.Kind {
		spec, err := sr.Request.Chunk(chunk)
		if err != nil {
			return ""
		}
		return spec.Kind
	}
	add := func(chunk, n int, unknown bool) {
		if unknown && !includeUnknown {
			skipped += n
			return
		}
		units[kind(chunk)] += n
	}
	for _, c := range chunks {
		if c.GaveUp {
			// An attempt left unknown or unsettled may have launched,
			// whatever code the chunk was given up with.
			add(c.Index, c.DeadLettered, outcomeUnknown(c.Code, c.Reason) || c.MayBeRunning())
		}
	}
	for _, l := range lost {
		add(l.Chunk, l.Units, outcomeUnknown("", l.Reason))
	}
	r := sr.Request
	r.RequestID = sr.Request.RequestID + RedriveSuffix
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
	return r, skipped
}
