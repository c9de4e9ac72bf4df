package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// ExecutionsAPI reads an execution's status (states:DescribeExecution on
// the launch machine's executions); *sfn.Client satisfies it.
type ExecutionsAPI interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// ErrRequestAlreadyRunning is the error name (Lambda errorType, the
// execution's error) of a second live execution of a request id.
const ErrRequestAlreadyRunning = "RequestAlreadyRunning"

// RequestAlreadyRunning is plan's answer to an execution of a request id
// that another live execution holds. Its type name is the errorType the
// execution fails with; plan changed nothing before answering it.
type RequestAlreadyRunning struct {
	RequestID string
	// Holder is the live execution that runs the request; Execution is
	// the one refused.
	Holder, Execution string
}

func (e *RequestAlreadyRunning) Error() string {
	return fmt.Sprintf("requestId %q is already running in execution %s; this execution (%s) changed nothing: one live execution per request id — follow that one, or start again once it has ended", e.RequestID, e.Holder, e.Execution)
}

// planInput is what the launch machine passes to plan: the execution's
// input and its ARN ($$.Execution.Id). A bare request (throttlectl invoke,
// an execution of an older definition) carries no ARN and claims nothing.
type planInput struct {
	Request      json.RawMessage `json:"request"`
	ExecutionARN string          `json:"executionArn"`
}

// splitPlanInput returns the request document and the execution's ARN
// ("" when raw is not the machine's wrapper). A request never has these
// fields (ParseRequest refuses unknown fields), so the shapes cannot mix.
func splitPlanInput(raw json.RawMessage) (json.RawMessage, string) {
	var in planInput
	if json.Unmarshal(raw, &in) == nil && len(in.Request) > 0 && strings.HasPrefix(in.ExecutionARN, "arn:") {
		return in.Request, in.ExecutionARN
	}
	return raw, ""
}

// maxClaimRounds bounds the takeovers one plan tries: each round found
// the holder ended and lost the conditional write to another execution.
const maxClaimRounds = 3

// claimExecution makes arn the one execution of r's request id before
// plan writes anything: the same execution again (a retried plan) holds
// it already; another live one is RequestAlreadyRunning; an ended holder
// (SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or gone) is replaced, so a new
// execution of a request whose execution ended runs it again from the
// table (what is done stays done; a stopped one resumes).
func (h *PlanHandler) claimExecution(ctx context.Context, r launch.Request, arn string) error {
	c, ok := h.store.(launchstore.Claimer)
	if arn == "" || !ok {
		return nil
	}
	now := h.o.Clock.Now()
	expires := r.Deadline(now).Add(launchstore.Retention)
	replace := ""
	for range maxClaimRounds {
		held, ok, err := c.ClaimExecution(ctx, r.RequestID, arn, replace, now, expires)
		if err != nil {
			return transientErr("plan", err)
		}
		if ok {
			if held.Replaced != "" {
				h.o.Logger.Info("request id taken over from an ended execution", "requestId", r.RequestID, "execution", arn, "ended", held.Replaced)
			}
			return nil
		}
		live, err := h.executionLive(ctx, r.RequestID, held.ExecutionARN)
		if err != nil {
			return transientErr("plan", err)
		}
		if live {
			h.o.Logger.Warn("request already running", "requestId", r.RequestID, "execution", arn, "holder", held.ExecutionARN)
			return &RequestAlreadyRunning{RequestID: r.RequestID, Holder: held.ExecutionARN, Execution: arn}
		}
		replace = held.ExecutionARN
	}
	return transientErr("plan", fmt.Errorf("requestId %q: the claim kept moving between ended executions", r.RequestID))
}

// executionLive says whether the holder of a request id still runs:
// DescribeExecution when plan has ExecutionsAPI (an execution that no
// longer exists has ended); without it, or when the role may not call
// it, the request's closed mark (an open request's holder counts as live:
// a stopped one then blocks the id until it is closed by cancel).
func (h *PlanHandler) executionLive(ctx context.Context, requestID, arn string) (bool, error) {
	if h.o.Executions == nil {
		return h.openRequest(ctx, requestID)
	}
	d, err := h.o.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if _, gone := errors.AsType[*sfntypes.ExecutionDoesNotExist](err); gone {
		return false, nil
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() == "AccessDeniedException" {
		// A role without states:DescribeExecution: still one execution
		// per id, judged by the closed mark, and said in the log.
		h.o.Logger.Warn("cannot read the execution holding the request id; the request's closed mark decides", "requestId", requestID, "holder", arn, "err", err)
		return h.openRequest(ctx, requestID)
	}
	if err != nil {
		return false, fmt.Errorf("describe the execution holding %s (%s): %w", requestID, arn, err)
	}
	switch d.Status {
	case sfntypes.ExecutionStatusRunning, sfntypes.ExecutionStatusPendingRedrive:
		return true, nil
	}
	return false, nil
}

// openRequest: the request is not closed (a holder of an open request
// counts as live; a store without the mark: always).
func (h *PlanHandler) openRequest(ctx context.Context, requestID string) (bool, error) {
	c, ok := h.store.(launchstore.Closer)
	if !ok {
		return true, nil
	}
	state, err := c.RequestClosed(ctx, requestID)
	return state == "", err
}
