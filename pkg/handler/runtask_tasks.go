package handler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Unit index of every launched task. The launcher writes each task's
// TaskRef (launch.TaskRecord) as soon as a call's answer (or the evidence)
// gives its ids, before the ids join the chunk: a failure of either write
// leaves the attempt "sent", and its replay (same client token: the same
// ids) or its evidence writes both again. RecordTasks is idempotent.

// recordTries is how often one invocation tries RecordTasks.
const recordTries = 3

// taskRefs are the refs of ids, the fresh units of attempt (answer order;
// evidence sorted): unit k of the chunk is k = the units its lower
// attempts launched + the position in ids. Lower attempts are settled
// before a higher one begins (an unknown outcome is settled first).
func taskRefs(r launch.Request, spec launch.ChunkSpec, state launch.ChunkState, attempt int, ids []string, at time.Time) []launch.TaskRef {
	k := 0
	for n, a := range state.Attempts {
		if n < attempt {
			k += a.Launched
		}
	}
	refs := make([]launch.TaskRef, 0, len(ids))
	for j, id := range ids {
		refs = append(refs, launch.TaskRef{ARN: id, Chunk: spec.Index, Index: r.UnitIndex(spec, k+j), Attempt: 1, LaunchedAt: at.UTC()})
	}
	return refs
}

// recordTasks writes the task records of ids for attempt, trying a few
// times; still failing, it is a TransientError: the step is retried, and
// the attempt (still "sent") replayed with its token records them.
func (h *RunTask) recordTasks(ctx context.Context, log *slog.Logger, v chunkView, attempt int, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	refs := taskRefs(v.sr.Request, v.spec, v.state, attempt, ids, at)
	var err error
	for try := 1; try <= recordTries; try++ {
		if err = h.store.RecordTasks(ctx, v.sr.Request.RequestID, refs); err == nil {
			return nil
		}
		log.Warn("task records not written", "try", try, "err", err)
		if try < recordTries {
			if serr := h.o.Clock.Sleep(ctx, time.Duration(try)*100*time.Millisecond); serr != nil {
				break
			}
		}
	}
	return transientErr("runtask", fmt.Errorf("task records of attempt %d (%d tasks): %w", attempt, len(ids), err))
}

// sortedIDs is ids in order (the evidence has no answer order).
func sortedIDs(ids []string) []string {
	return slices.Sorted(slices.Values(ids))
}
