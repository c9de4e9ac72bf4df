package handler

import (
	"context"
	"slices"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// stopIfClosed ends the relaunch of a request that is closed (its final
// summary put LaunchCompleted, or throttlectl cancel put LaunchCancelled):
// nothing of it launches any more. A stopped task the summary or cancel
// already dead-lettered is a duplicate; any other (it failed to start after
// the request was reported) is dead-lettered now, since the report counted
// it launched. Checked before the relaunch registers and again just before
// its call.
func (h *Relaunch) stopIfClosed(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	c, ok := h.store.(launchstore.Closer)
	if !ok {
		return false, EventOutput{}, nil
	}
	state, err := c.RequestClosed(ctx, j.requestID)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if state == "" {
		return false, EventOutput{}, nil
	}
	st, err := h.store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if slices.Contains(st.Stopped, j.taskARN()) {
		j.out.Action, j.out.Reason = EventDuplicate, "request "+state+"; the stopped task is already accounted for"
		return true, j.out, nil
	}
	if j.claim.TaskARN == "" {
		j.claim = launch.RelaunchClaim{TaskARN: j.taskARN(), RequestID: j.requestID, Chunk: j.id.Chunk}
	}
	out, err := h.giveUp(ctx, j, j.ev.Class, "request "+state+" before the relaunch: not relaunched; last: "+j.reason())
	return true, out, err
}
