// Package esm is the local Lambda event source mapping for SQS: pollers
// long-poll a queue on the stack's scaled clock, invoke the function
// synchronously with a batch of up to BatchSize records, and delete the
// records the function did not report in batchItemFailures
// (ReportBatchItemFailures). An invocation throttled (429) is retried with
// backoff for Options.ThrottleRetryFor. Records it reported, and the whole
// batch when the invocation fails or answers something unreadable, stay on the queue
// and come back after the visibility timeout; the queue's redrive policy
// moves a message that keeps failing to its dead-letter queue.
package esm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/sqs"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Queue is the part of the local SQS a mapping uses (*sqs.Service).
type Queue interface {
	Receive(ctx context.Context, queueRef string, max int, wait time.Duration) ([]sqs.Message, error)
	Delete(queueRef, receipt string) error
	QueueARN(name string) string
}

// Invoker runs a function synchronously (*lambda.Service).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (lambda.Response, error)
}

// Options configures a mapping. Queue, QueueName, Function, Lambda and
// Clock are required.
type Options struct {
	SQS       Queue
	QueueName string
	Lambda    Invoker
	Function  string
	Clock     *clock.Scaled
	// Region goes into the records (default us-east-1).
	Region string
	// BatchSize is 1..10 (default 10).
	BatchSize int
	// Pollers is how many batches are in flight at once (default 5, the
	// pollers AWS starts with).
	Pollers int
	// ThrottleRetryFor is how long after the receive a batch whose
	// invocation was throttled (429) is invoked again, with backoff, before
	// it is left to the visibility timeout — as Lambda keeps retrying a
	// throttled batch while its messages are invisible. Set it below the
	// queue's visibility timeout less the function's timeout. Default 0: a
	// throttled batch fails like any other.
	ThrottleRetryFor time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// Mapping is a running event source mapping. Stop ends it.
type Mapping struct {
	o      Options
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu                                    sync.Mutex
	invocations, throttled, deleted, kept int
}

// Stats counts the mapping's work since it started.
type Stats struct {
	Invocations int `json:"invocations"` // batches handed to the function
	Throttled   int `json:"throttled"`   // invocations answered 429, then retried
	Deleted     int `json:"deleted"`     // records done
	Kept        int `json:"kept"`        // records left for redelivery
}

// Start starts the pollers.
func Start(o Options) (*Mapping, error) {
	if o.SQS == nil || o.Lambda == nil || o.Clock == nil || o.QueueName == "" || o.Function == "" {
		return nil, errors.New("esm: SQS, QueueName, Lambda, Function and Clock are required")
	}
	if o.BatchSize == 0 {
		o.BatchSize = 10
	}
	if o.BatchSize < 1 || o.BatchSize > 10 {
		return nil, errors.New("esm: BatchSize must be 1..10, got " + strconv.Itoa(o.BatchSize))
	}
	if o.Pollers <= 0 {
		o.Pollers = 5
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mapping{o: o, cancel: cancel}
	for range o.Pollers {
		m.wg.Go(func() { m.poll(ctx) })
	}
	return m, nil
}

// Stop stops polling and waits for the batches in flight to finish.
func (m *Mapping) Stop() {
	m.cancel()
	m.wg.Wait()
}

// Stats returns the counters.
func (m *Mapping) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Invocations: m.invocations, Throttled: m.throttled, Deleted: m.deleted, Kept: m.kept}
}

// record is one SQS record of the Lambda event.
type record struct {
	MessageID         string                   `json:"messageId"`
	ReceiptHandle     string                   `json:"receiptHandle"`
	Body              string                   `json:"body"`
	Attributes        map[string]string        `json:"attributes"`
	MessageAttributes map[string]sqsAttributes `json:"messageAttributes"`
	MD5OfBody         string                   `json:"md5OfBody"`
	EventSource       string                   `json:"eventSource"`
	EventSourceARN    string                   `json:"eventSourceARN"`
	AWSRegion         string                   `json:"awsRegion"`
}

type sqsAttributes struct {
	StringValue string `json:"stringValue,omitempty"`
	DataType    string `json:"dataType"`
}

func (m *Mapping) poll(ctx context.Context) {
	q := m.o.QueueName
	for ctx.Err() == nil {
		msgs, err := m.o.SQS.Receive(ctx, q, m.o.BatchSize, 20*time.Second)
		if err != nil {
			m.o.Logger.Error("esm: receive", "queue", q, "err", err)
			if m.o.Clock.Sleep(ctx, 5*time.Second) != nil {
				return
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		m.deliver(ctx, msgs)
	}
}

// deliver invokes the function with one batch and deletes what it did not
// report as failed.
func (m *Mapping) deliver(ctx context.Context, msgs []sqs.Message) {
	recs := make([]record, len(msgs))
	for i, msg := range msgs {
		attrs := map[string]sqsAttributes{}
		for k, a := range msg.Attributes {
			attrs[k] = sqsAttributes{StringValue: a.StringValue, DataType: a.DataType}
		}
		recs[i] = record{MessageID: msg.ID, ReceiptHandle: msg.ReceiptHandle, Body: msg.Body, MD5OfBody: msg.MD5OfBody,
			MessageAttributes: attrs, EventSource: "aws:sqs", EventSourceARN: m.o.SQS.QueueARN(m.o.QueueName), AWSRegion: m.o.Region,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(msg.ReceiveCount),
				"SentTimestamp":                    strconv.FormatInt(msg.Sent.UnixMilli(), 10),
				"SenderId":                         "000000000000",
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(msg.FirstReceive.UnixMilli(), 10),
			}}
	}
	payload, _ := json.Marshal(map[string]any{"Records": recs})
	// The batch runs to its end even when the mapping stops: its records
	// are then deleted or left, never half-handled.
	resp, err := m.invoke(context.WithoutCancel(ctx), payload)
	failed, ok := failures(resp, err, msgs)
	if !ok {
		m.o.Logger.Warn("esm: batch failed; records come back after the visibility timeout", "function", m.o.Function, "records", len(msgs), "err", err, "functionError", resp.FunctionError)
	}
	deleted := 0
	for _, msg := range msgs {
		if failed[msg.ID] {
			continue
		}
		if err := m.o.SQS.Delete(m.o.QueueName, msg.ReceiptHandle); err != nil {
			m.o.Logger.Error("esm: delete", "messageId", msg.ID, "err", err)
			continue
		}
		deleted++
	}
	m.mu.Lock()
	m.deleted += deleted
	m.kept += len(msgs) - deleted
	m.mu.Unlock()
}

// invoke invokes the function with a batch; a throttled invocation is
// retried after 1, 2, 4, 8, 8 … s while within ThrottleRetryFor of now.
func (m *Mapping) invoke(ctx context.Context, payload []byte) (lambda.Response, error) {
	start := m.o.Clock.Now()
	for backoff := time.Second; ; backoff = min(2*backoff, 8*time.Second) {
		resp, err := m.o.Lambda.Invoke(ctx, m.o.Function, payload)
		var api interface{ HTTPStatus() int }
		throttled := errors.As(err, &api) && api.HTTPStatus() == http.StatusTooManyRequests
		m.mu.Lock()
		m.invocations++
		if throttled {
			m.throttled++
		}
		m.mu.Unlock()
		if !throttled || m.o.Clock.Now().Add(backoff).Sub(start) > m.o.ThrottleRetryFor {
			return resp, err
		}
		if m.o.Clock.Sleep(ctx, backoff) != nil {
			return resp, err
		}
	}
}

// failures returns the message ids to keep. ok is false when the whole
// batch failed: an invocation error, a function error, or a response that
// is not a valid partial batch response (as Lambda treats it).
func failures(resp lambda.Response, err error, msgs []sqs.Message) (map[string]bool, bool) {
	all := func() (map[string]bool, bool) {
		keep := map[string]bool{}
		for _, m := range msgs {
			keep[m.ID] = true
		}
		return keep, false
	}
	if err != nil || resp.FunctionError != "" {
		return all()
	}
	var out struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if len(resp.Payload) > 0 && string(resp.Payload) != "null" && string(resp.Payload) != "null\n" {
		if json.Unmarshal(resp.Payload, &out) != nil {
			return all()
		}
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.ID] = true
	}
	keep := map[string]bool{}
	for _, f := range out.BatchItemFailures {
		if f.ItemIdentifier == nil || !ids[*f.ItemIdentifier] {
			return all()
		}
		keep[*f.ItemIdentifier] = true
	}
	return keep, true
}
