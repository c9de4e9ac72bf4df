package handler

import (
	"context"
	"slices"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// accountedByPredecessor ends the relaunch of a relaunched task the table
// never recorded whose predecessor's relaunch has ended: its call's answer
// was lost and the relaunch was given up (dead-lettered, OutcomeUnknown
// when the evidence did not show the task: a task that already stopped is
// not listed). The unit was counted then; relaunching it, or giving it up
// again, would count it twice. One read, only for relaunched tasks.
func (h *Relaunch) accountedByPredecessor(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	if j.id.Attempt < launch.RelaunchAttemptBase {
		return false, EventOutput{}, nil
	}
	st, err := h.store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if slices.Contains(st.IDs, j.taskARN()) {
		return false, EventOutput{}, nil
	}
	for _, p := range st.Relaunching {
		if launch.RelaunchStartedBy(j.requestID, j.id.Chunk, p) == j.ev.Task.StartedBy && slices.Contains(st.Stopped, p) {
			j.out.Action, j.out.Reason = EventDuplicate, "the relaunch this task came from ended without recording it (given up, its unit already dead-lettered)"
			j.log.Info("relaunched task already accounted", "predecessor", p)
			return true, j.out, nil
		}
	}
	return false, EventOutput{}, nil
}
