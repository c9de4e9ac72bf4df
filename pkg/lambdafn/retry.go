package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
)

// retryFunction is the retry function's entry. One deployed function serves
// three triggers — the state machine's Retry step, the EventBridge rule of
// ECS service actions, and the relaunch queue's event source — and Lambda
// hands a function only bytes, so this is the one place that tells them
// apart, by the key each trigger's document is defined by: "Records" (an
// SQS batch), "detail-type" (an EventBridge event), or neither (a chunk).
// Each typed entry point then decodes its own input.
type retryFunction struct {
	chunk, event, batch lambda.Handler
}

func newRetryFunction(h wire.RetryHandlers) retryFunction {
	return retryFunction{
		chunk: lambda.NewHandler(h.Chunk.Handle),
		event: lambda.NewHandler(h.Relaunch.HandleEvent),
		batch: lambda.NewHandler(h.Relaunch.HandleSQS),
	}
}

// Invoke routes payload to its entry point.
func (f retryFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(payload, &keys); err != nil {
		return nil, &failure.PermanentError{Detail: failure.Detail{Code: "InvalidInput", Op: "retry",
			Err: fmt.Errorf("retry input: not a JSON object: %w", err)}}
	}
	if _, ok := keys["Records"]; ok {
		return f.batch.Invoke(ctx, payload)
	}
	if _, ok := keys["detail-type"]; ok {
		return f.event.Invoke(ctx, payload)
	}
	return f.chunk.Invoke(ctx, payload)
}
