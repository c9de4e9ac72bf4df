package handler

import (
	"context"
	"fmt"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// CodeRequestClosed: runtask found the request closed (cancelled, or
// completed by its final summary) and made no call.
const CodeRequestClosed = "RequestClosed"

// stopIfClosed refuses the call of a closed request: throttlectl cancel
// stops the execution, but an invocation already running would still
// launch. It is checked before the attempt is claimed, so the attempt is
// not marked sent; what remains is at most the in-Lambda sleep for a near
// slot (DeferThreshold). A held slot goes back to the limiter. Costs one
// consistent read of the request's meta item per invocation.
func (h *RunTask) stopIfClosed(ctx context.Context, in RunTaskInput, kind launch.Kind) error {
	c, ok := h.store.(launchstore.Closer)
	if !ok {
		return nil
	}
	state, err := c.RequestClosed(ctx, in.RequestID)
	if err != nil {
		return transientErr("runtask", err)
	}
	if state == "" {
		return nil
	}
	if held, holding := in.held(); holding {
		h.release(ctx, kind, held)
	}
	return permanent("runtask", CodeRequestClosed, fmt.Errorf("request %s is %s: chunk %d not launched", in.RequestID, state, in.Chunk))
}
