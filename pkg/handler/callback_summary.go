package handler

import (
	"context"
	"errors"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// ExecutionError is a Catch's error output: the error and cause a failed
// state (here the chunks' Map) ends with.
type ExecutionError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// recordChunksError records the chunks' failure for the final summary (the
// execution then fails with it, ChunksFailed). Without a store that keeps
// callback state, nothing is recorded.
func (h *SummaryHandler) recordChunksError(ctx context.Context, in SummaryInput) (launch.Summary, error) {
	if in.RequestID == "" {
		return launch.Summary{}, permanent("summary", "InvalidInput", errors.New("summary input: requestId: required"))
	}
	if cbs, ok := h.store.(launchstore.Callbacks); ok {
		err := cbs.SetFailure(ctx, in.RequestID, in.ChunksError.Error, in.ChunksError.Cause)
		if errors.Is(err, launchstore.ErrNotFound) {
			return launch.Summary{}, permanent("summary", "RequestNotFound", err)
		} else if err != nil {
			return launch.Summary{}, transientErr("summary", err)
		}
	}
	return launch.Summary{RequestID: in.RequestID}, nil
}

// answer answers the request's callback as its execution ends: failed
// with the chunks' failure when they failed (ChunksFailed), with the
// summary's error and cause when its status is FAILED (RequestFailed),
// otherwise succeeded with the summary (the execution's output). It is
// sent before LaunchCompleted is put, so that a failed put, run again,
// finds the answer recorded and answers nothing twice.
func (h *SummaryHandler) answer(ctx context.Context, st summaryState) error {
	c := h.o.Callback
	if c == nil || st.sr.Request.Callback == nil {
		return nil
	}
	cb, err := c.state(ctx, st.sr.Request.RequestID)
	switch {
	case err != nil:
		return err
	case cb.FailError != "" || cb.FailCause != "":
		return c.Fail(ctx, st.sr, cb.FailError, cb.FailCause)
	case st.sum.Status == launch.StatusFailed:
		return c.Fail(ctx, st.sr, st.sum.Error, st.sum.Cause)
	}
	return c.Succeed(ctx, st.sr, st.sum)
}
