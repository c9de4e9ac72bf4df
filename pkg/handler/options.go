package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Options are what every handler takes; each handler's options embed them.
type Options struct {
	// Clock defaults to the wall clock. Waits for a near slot use its Sleep.
	Clock clock.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Metrics defaults to discarding.
	Metrics Recorder
	// Callback answers requests' task tokens and sends their heartbeats
	// (plan, summary, the relaunch queue's consumer); nil: none.
	Callback *Callback
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = nopRecorder{}
	}
}

func permanent(op, code string, err error) error {
	return &failure.PermanentError{Detail: failure.Detail{Code: code, Op: op, Err: err}}
}

// transientErr wraps a failure of our own dependencies (DynamoDB, SQS,
// EventBridge): the step may be retried as is — unless the dependency
// refused the request itself (a permanent error such as a
// ValidationException), which no retry fixes.
func transientErr(op string, err error) error {
	d := failure.Detail{Code: "DependencyError", Op: op, RetryAfter: time.Second, Err: err}
	if c := failure.ClassifyError(err); c.Class == failure.Permanent && c.Source == failure.SourceSDK {
		return &failure.PermanentError{Detail: d}
	}
	return &failure.TransientError{Detail: d}
}

// chunkView is a chunk as a handler reads it: its request, its spec and
// its stored state.
type chunkView struct {
	sr    launch.StoredRequest
	spec  launch.ChunkSpec
	state launch.ChunkState
}

// loadChunk reads a chunk for the handler op. A request that is not stored,
// or a chunk index outside its plan, is permanent; a store failure is
// transient.
func loadChunk(ctx context.Context, st launchstore.Store, op, requestID string, chunk int) (chunkView, error) {
	sr, err := st.Request(ctx, requestID)
	if errors.Is(err, launchstore.ErrNotFound) {
		return chunkView{}, permanent(op, "RequestNotFound", err)
	} else if err != nil {
		return chunkView{}, transientErr(op, err)
	}
	spec, err := sr.Request.Chunk(chunk)
	if err != nil {
		return chunkView{}, permanent(op, "InvalidInput", err)
	}
	state, err := st.Chunk(ctx, requestID, chunk)
	if err != nil {
		return chunkView{}, transientErr(op, err)
	}
	return chunkView{sr: sr, spec: spec, state: state}, nil
}

// fargate says the chunk's calls draw on the Fargate buckets too.
func (v chunkView) fargate() bool {
	return v.spec.Kind == launch.KindECS && v.sr.Request.ECS.Fargate()
}

// limiterErr is the error for a Reserve that failed. The limiter's own
// refusals (backlog full, store busy) keep their code and retry-after, so
// the retry waits without spending an attempt (backoff.LimiterBusy); a
// throttle or quota keeps its class; anything else is the store failing.
func limiterErr(c failure.Classification, err error) error {
	if limiterRefused(c.Code) || c.Class == failure.Throttled || c.Class == failure.Quota {
		return failure.ErrorFor(c, "limiter", err)
	}
	return transientErr("limiter", err)
}
