package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// EventSink receives full EventBridge envelopes (source aws.ecs) as the
// account's default bus would. The local stack connects it to its event bus;
// tests use a RecordingSink. Put is called outside the simulator's lock, in
// emission order, never concurrently with itself.
type EventSink interface {
	Put(ctx context.Context, envelopes ...[]byte) error
}

// Event is the EventBridge envelope the simulator emits.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// pendingEvent is an event built under the simulator's lock and marshalled
// outside it, when it is flushed to the sink.
type pendingEvent struct {
	id         [2]uint64
	at         time.Time
	detailType string
	resources  []string
	detail     any
}

// envelope captures an event for the account's default bus. Callers hold
// s.mu (for the ID sequence); detail must not be mutated afterwards.
func (s *Sim) envelope(at time.Time, detailType string, resources []string, detail any) pendingEvent {
	return pendingEvent{id: [2]uint64{s.nextID(), s.nextID()}, at: at, detailType: detailType, resources: resources, detail: detail}
}

// marshal renders the full EventBridge envelope: the same document as
// json.Marshal(Event{…}), built by hand because it is on the simulator's
// hot path (every task state change).
func (p pendingEvent) marshal(account, region string) ([]byte, error) {
	d, err := json.Marshal(p.detail)
	if err != nil {
		return nil, fmt.Errorf("marshal %s detail: %w", p.detailType, err)
	}
	res, err := json.Marshal(p.resources)
	if err != nil {
		return nil, fmt.Errorf("marshal %s resources: %w", p.detailType, err)
	}
	a, b := p.id[0], p.id[1]
	out := make([]byte, 0, len(d)+len(res)+256)
	out = fmt.Appendf(out, `{"version":"0","id":"%08x-%04x-%04x-%04x-%012x","detail-type":`,
		uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xFFFFFFFFFFFF)
	out = strconv.AppendQuote(out, p.detailType) // ASCII constants: Go and JSON quoting agree
	out = append(out, `,"source":"aws.ecs","account":`...)
	out = strconv.AppendQuote(out, account)
	out = append(out, `,"time":"`...)
	out = p.at.UTC().AppendFormat(out, time.RFC3339)
	out = append(out, `","region":`...)
	out = strconv.AppendQuote(out, region)
	out = append(out, `,"resources":`...)
	out = append(out, res...)
	out = append(out, `,"detail":`...)
	out = append(out, d...)
	return append(out, '}'), nil
}

// RecordingSink keeps every envelope it is given. Safe for concurrent use.
type RecordingSink struct {
	mu     sync.Mutex
	events [][]byte
	notify chan struct{}
}

// NewRecordingSink returns an empty sink.
func NewRecordingSink() *RecordingSink { return &RecordingSink{notify: make(chan struct{}, 1)} }

// Put records the envelopes.
func (r *RecordingSink) Put(_ context.Context, envelopes ...[]byte) error {
	r.mu.Lock()
	r.events = append(r.events, envelopes...)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

// Raw returns copies of the recorded envelopes, in order.
func (r *RecordingSink) Raw() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.events...)
}

// Len returns the number of recorded envelopes.
func (r *RecordingSink) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Events returns the recorded envelopes decoded, optionally only those of
// one detail-type ("" for all).
func (r *RecordingSink) Events(detailType string) []Event {
	var out []Event
	for _, raw := range r.Raw() {
		var e Event
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		if detailType == "" || e.DetailType == detailType {
			out = append(out, e)
		}
	}
	return out
}

// Reset forgets the recorded envelopes.
func (r *RecordingSink) Reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}
