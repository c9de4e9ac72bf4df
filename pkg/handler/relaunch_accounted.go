package handler

import (
	"context"
	"slices"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// predecessor decides the event of a relaunched task the table has not
// recorded (its relaunch call's answer was lost, or a crash came between
// the call and its record). Its unit belongs to the relaunch it came from,
// the predecessor:
//   - still pending (or not found before the deadline): the event waits on
//     the relaunch queue, unregistered, until the predecessor is recorded
//     (then this task is ours as any other) or ends;
//   - ended without recording it (given up, OutcomeUnknown when the
//     evidence did not show a task that had already stopped, or
//     RelaunchUnfinished at the final summary): the unit was counted then,
//     so this event is a duplicate — relaunching the task or giving it up
//     again would count the unit twice.
//
// Checked before anything else, the closed mark included: one read.
//
// A task of the chunk's own attempts the table has not recorded joins the
// chunk's ids when its relaunch is registered (its event is the evidence
// that it launched); but once the chunk was given up, its unit was among
// the missing ones dead-lettered then, and the event is a duplicate.
func (h *Relaunch) predecessor(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	st, err := h.store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if slices.Contains(st.IDs, j.taskARN()) {
		return false, EventOutput{}, nil
	}
	if j.id.Attempt < launch.RelaunchAttemptBase {
		if !st.GaveUp {
			return false, EventOutput{}, nil
		}
		j.out.Action, j.out.Reason = EventDuplicate, "the chunk was given up before this unrecorded task failed: its unit is already dead-lettered"
		return true, j.out, nil
	}
	i := slices.IndexFunc(st.Relaunching, func(p string) bool {
		return launch.RelaunchStartedBy(j.requestID, j.id.Chunk, p) == j.ev.Task.StartedBy
	})
	switch {
	case i >= 0 && slices.Contains(st.Stopped, st.Relaunching[i]):
		j.out.Action, j.out.Reason = EventDuplicate, "the relaunch this task came from ended without recording it: its unit is already counted"
		j.log.Info("relaunched task already accounted", "predecessor", st.Relaunching[i])
		return true, j.out, nil
	case h.o.RelaunchQueueURL == "", i < 0 && !h.o.Clock.Now().Before(j.sr.Deadline):
		// No queue to wait on, or no predecessor to wait for any more.
		return false, EventOutput{}, nil
	}
	out, err := h.deferRelaunch(ctx, j, predecessorWait)
	if err == nil {
		out.Reason = "the relaunch this task came from is not recorded yet"
	}
	return true, out, err
}
