package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// answerCancelled answers the cancelled request's callback, if it carries
// one: its execution was stopped, so no summary will. The failure is
// LaunchCancelled with the LaunchCancelled detail (JSON) as the cause.
// res["callback"] says how it was answered; an error (a retryable failure
// of SendTaskFailure) leaves it unanswered: cancel run again answers it.
func answerCancelled(ctx context.Context, st launchstore.Store, api handler.SFNAPI, d launch.LaunchCancelledDetail, res map[string]any) error {
	sr, err := st.Request(ctx, d.RequestID)
	if errors.Is(err, launchstore.ErrNotFound) {
		return nil // never planned: plan answers a refused request itself
	} else if err != nil {
		return fmt.Errorf("cancel %s: callback: %w", d.RequestID, err)
	}
	if sr.Request.Callback == nil {
		return nil
	}
	cause, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := handler.NewCallback(st, api, handler.Options{}).Fail(ctx, sr, handler.ErrLaunchCancelled, string(cause)); err != nil {
		res["callback"] = "not answered: " + err.Error()
		return fmt.Errorf("cancel %s: callback: %w (run cancel again to answer it)", d.RequestID, err)
	}
	if cbs, ok := st.(launchstore.Callbacks); ok {
		if cb, err := cbs.Callback(ctx, d.RequestID); err == nil {
			res["callback"] = cb.Answer + " " + cb.Detail
		}
	}
	return nil
}
