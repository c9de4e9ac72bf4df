package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"time"
)

// Attribute is a message attribute: DataType String, Number or Binary (with
// an optional ".custom" suffix).
type Attribute struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty"`
}

type message struct {
	id, body, md5Body, md5Attrs string
	attrs                       map[string]Attribute
	sent, visibleAt, firstRecv  time.Time
	receives                    int
	receipt                     string
	// copy marks a second copy of a message (at-least-once delivery): it
	// is received and deleted on its own and not counted in the depth.
	copy bool
}

type queue struct {
	name, url, arn string
	fifo           bool // FIFO queues are exactly once and ordered: no faults
	created        time.Time
	visibility     time.Duration
	delay          time.Duration
	retention      time.Duration

	// redrive moves a message that has been received maxReceives times to
	// the target queue (by ARN) instead of receiving it again; nil: never.
	redrive *redrivePolicy

	mu     sync.Mutex
	msgs   []*message
	notify chan struct{} // closed and replaced when a message is sent
}

type redrivePolicy struct {
	Target      string `json:"deadLetterTargetArn"`
	MaxReceives int    `json:"maxReceiveCount"`
}

func newQueue(name, url, arn string, now time.Time) *queue {
	return &queue{name: name, url: url, arn: arn, fifo: strings.HasSuffix(name, ".fifo"), created: now, visibility: 30 * time.Second,
		retention: 4 * 24 * time.Hour, notify: make(chan struct{})}
}

func (q *queue) add(m *message) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
}

// take makes up to n visible messages invisible for vis and returns copies,
// plus when the next hidden message becomes visible (zero if none) and the
// channel that signals a new message. f picks which visible messages a
// standard queue returns and which it leaves behind as a second copy.
//
// With a redrive policy, a visible message already received maxReceives
// times is removed and returned in dead instead (SQS moves it to the
// dead-letter queue on the receive that would exceed the count).
func (q *queue) take(now time.Time, n int, vis time.Duration, newReceipt func() string, f faults) (out []message, next time.Time, notify <-chan struct{}, dead []*message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.msgs[:0]
	var visible []*message
	for _, m := range q.msgs {
		if now.Sub(m.sent) > q.retention {
			continue // expired
		}
		if q.redrive != nil && m.receives >= q.redrive.MaxReceives && !m.visibleAt.After(now) {
			dead = append(dead, m)
			continue
		}
		kept = append(kept, m)
		if m.visibleAt.After(now) {
			if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
			continue
		}
		visible = append(visible, m)
	}
	q.msgs = kept
	if !q.fifo {
		f.shuffle(visible)
	}
	for _, m := range visible[:min(n, len(visible))] {
		m.receives++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.visibleAt = now.Add(vis)
		m.receipt = newReceipt()
		out = append(out, *m)
		if !q.fifo && !m.copy && f.duplicate() {
			// The copy another server kept: visible now, so a concurrent
			// receive may get it while this one is in flight.
			c := *m
			c.copy, c.receipt, c.visibleAt = true, "", now
			q.msgs = append(q.msgs, &c)
			close(q.notify)
			q.notify = make(chan struct{})
		}
	}
	return out, next, q.notify, dead
}

// faults are a standard queue's at-least-once and unordered delivery.
type faults struct {
	// duplicate reports whether a received message leaves a second copy.
	duplicate func() bool
	// shuffle reorders the visible messages a receive picks from.
	shuffle func([]*message)
}

func (q *queue) remove(receipt string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, m := range q.msgs {
		if m.receipt == receipt {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			return true
		}
	}
	return false
}

func (q *queue) changeVisibility(receipt string, at time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.receipt == receipt {
			m.visibleAt = at
			return true
		}
	}
	return false
}

// counts returns visible, in flight (received, invisible) and delayed
// (never received, invisible) message counts.
func (q *queue) counts(now time.Time) (visible, inflight, delayed int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		switch {
		case m.copy:
		case !m.visibleAt.After(now):
			visible++
		case m.receives > 0:
			inflight++
		default:
			delayed++
		}
	}
	return
}

func (q *queue) purge() {
	q.mu.Lock()
	q.msgs = nil
	q.mu.Unlock()
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's digest of message attributes: for each attribute
// by name, length-prefixed name, data type, a transport byte (1 string or
// number, 2 binary) and length-prefixed value.
func md5OfAttributes(attrs map[string]Attribute) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
