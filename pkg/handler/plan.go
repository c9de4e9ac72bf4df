package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// HandlerOptions configures the plan and summary handlers.
type HandlerOptions struct {
	Options
	// Bus is the product's event bus (summary puts LaunchCompleted there).
	Bus string
	// StartWatch is how long after the request's latest launch (an
	// attempt's answer or a relaunch, and no earlier than the first check)
	// the summary of a request with ECS tasks waits for those launched to
	// fail to start: their TaskFailedToStart event, not yet there, would
	// dead-letter a unit LaunchCompleted counted launched. Default
	// DefaultStartWatch; negative: no watch.
	StartWatch time.Duration
	// S3 reads ecs.itemsFrom objects (plan) and writes results objects
	// (summary, to ResultsBucket when set); nil: itemsFrom is refused and
	// results stay in the table only.
	S3            S3API
	ResultsBucket string
	// Sweeper looks after a waiting request's tasks (summary); nil: none.
	Sweeper Sweeper
	// Executions tells plan whether the execution holding a request id
	// still runs (plan_claim.go); nil: the request's closed mark decides.
	Executions ExecutionsAPI
}

// DefaultStartWatch covers ECS's ENI attachment timeout and the event's
// delivery.
const DefaultStartWatch = 60 * time.Second

func (o *HandlerOptions) defaults() {
	o.Options.defaults()
	if o.StartWatch == 0 {
		o.StartWatch = DefaultStartWatch
	}
}

// PlanHandler validates a request, stores it with its plan and answers the
// plan (chunk indices and counts only). Safe for concurrent use.
type PlanHandler struct {
	store launchstore.Store
	o     HandlerOptions
}

// NewPlanHandler returns the plan handler.
func NewPlanHandler(store launchstore.Store, optFns ...func(*HandlerOptions)) *PlanHandler {
	var o HandlerOptions
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	return &PlanHandler{store: store, o: o}
}

// Handle plans the request in raw: the launch request itself, or a
// LaunchRequested envelope (its detail is the request), either of them
// as "request" beside the execution's "executionArn" (the launch
// machine's input to plan): the execution then claims the request id
// before anything is written (claimExecution: one live execution per
// request id, RequestAlreadyRunning for a second). An invalid request
// is a PermanentError naming every bad field; nothing is stored. The same
// request again returns the stored plan (with a stall budget for the time
// left); a different request under a used requestId is a PermanentError.
//
// Items (version 2). Every item is read and validated before the first
// write (ecs.itemsFrom's lines too: a bad line, a count that does not
// match, an object that cannot be read store nothing). The request is
// stored as sent, inline items included: it stays one item of at most
// 400 KB (inline items are at most 200 KB), its fingerprint is the
// request's own (the same request sent twice is the same request, a
// different one under its id a conflict), and the launchers, which cache
// the request per sandbox, read inline items without another read. Then
// every item, un-merged, is written per index (PutItems: item#<i>) before
// the plan answers, so no chunk runs before its item exists; a retried
// plan writes the same items again.
func (h *PlanHandler) Handle(ctx context.Context, raw json.RawMessage) (out PlanOutput, err error) {
	defer func() { err = h.callback(ctx, raw, out, err) }()
	raw, execARN := splitPlanInput(raw)
	var env struct {
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &env) == nil && env.DetailType == launch.DetailLaunchRequested && len(env.Detail) > 0 {
		raw = env.Detail
	}
	r, err := launch.ParseRequest(raw)
	if err != nil {
		h.o.Logger.Warn("invalid request", "requestId", loggableID(raw), "kind", failure.Permanent, "err", err)
		return PlanOutput{}, permanent("plan", "InvalidRequest", err)
	}
	log := h.o.Logger.With("requestId", r.RequestID)
	items, err := h.planItems(ctx, r)
	if err != nil {
		log.Warn("items not read", "err", err)
		return PlanOutput{}, err
	}
	if err := h.claimExecution(ctx, r, execARN); err != nil {
		return PlanOutput{}, err
	}
	sr, err := h.store.CreateRequest(ctx, r, h.o.Clock.Now())
	if errors.Is(err, launchstore.ErrRequestConflict) {
		return PlanOutput{}, permanent("plan", "RequestConflict", fmt.Errorf("%w (requestId %q)", err, r.RequestID))
	} else if err != nil {
		return PlanOutput{}, transientErr("plan", err)
	}
	if len(items) > 0 {
		if err := h.store.PutItems(ctx, r.RequestID, 0, items); err != nil {
			return PlanOutput{}, transientErr("plan", fmt.Errorf("items: %w", err))
		}
	}
	log.Info("planned", "items", len(items), "chunks", sr.Plan.Count, "ecsChunks", sr.Plan.ECSChunks, "ec2Chunks", sr.Plan.EC2Chunks, "deadline", sr.Deadline)
	return PlanOutput{Plan: sr.Plan, Stall: NewStallBudget(sr.Deadline, h.o.Clock.Now())}, nil
}

// loggableID is the requestId of a request that failed validation, for the
// log line that tells its sender why: "" when it is missing, not a string
// or too long to be an id (the error names that field).
func loggableID(raw json.RawMessage) string {
	var probe struct {
		RequestID any `json:"requestId"`
	}
	_ = json.Unmarshal(raw, &probe)
	id, _ := probe.RequestID.(string)
	if len(id) > 128 {
		return ""
	}
	return id
}
