package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// Classify is the classify function's handler: it reads any of the input
// shapes failure.Classify detects and answers with the Classification
// JSON. It is pure — it decides, it does not act — and never returns an
// error: input it cannot read is itself classified (permanent, code
// Unparseable, with what was wrong). See functions/classify/README.md.
//
// Classify implements lambda.Handler on the raw payload rather than
// through a typed handler, because a typed handler's JSON decoding would
// turn unreadable input into an error instead of a classification.
type Classify struct {
	log *slog.Logger
}

// NewClassify returns the handler; a nil logger discards.
func NewClassify(log *slog.Logger) *Classify {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Classify{log: log}
}

// Handle classifies one input.
func (h *Classify) Handle(ctx context.Context, in json.RawMessage) (failure.Classification, error) {
	c := failure.Classify(in)
	h.log.DebugContext(ctx, "classified", "kind", c.Source, "class", c.Class, "code", c.Code)
	return c, nil
}

// Invoke is lambda.Handler: the payload is the raw event, the answer the
// Classification as JSON (encoded as aws-lambda-go encodes results: no
// HTML escaping, one trailing newline).
func (h *Classify) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	c, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
