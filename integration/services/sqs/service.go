package sqs

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

const contentType = "application/x-amz-json-1.0"

// Options configures a Service.
type Options struct {
	// Endpoint is the base of queue URLs (the edge, http://127.0.0.1:PORT).
	Endpoint string
	// Region and Account build URLs and ARNs (default us-east-1, 000000000000).
	Region, Account string
	// Clock is the stack's scaled clock (default: factor 1).
	Clock *clock.Scaled
	// Duplicates is the probability in [0, 1] that a message received from
	// a standard queue stays behind as a second copy, visible at once, with
	// its own receipt handle (at-least-once delivery). Deleting one copy
	// leaves the other.
	Duplicates float64
	// Reorder makes a standard queue's receives pick among the visible
	// messages at random rather than oldest first (best-effort ordering).
	Reorder bool
	// Seed seeds duplicates and reordering, so a run repeats.
	Seed uint64
}

// Service is the local SQS. Safe for concurrent use.
type Service struct {
	o      Options
	mu     sync.Mutex
	queues map[string]*queue // by name

	rngMu sync.Mutex
	rng   *rand.Rand
}

// New returns a Service with no queues.
func New(o Options) *Service {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "000000000000"
	}
	if o.Clock == nil {
		o.Clock = clock.NewScaled(time.Now(), 1)
	}
	o.Endpoint = strings.TrimSuffix(o.Endpoint, "/")
	return &Service{o: o, queues: map[string]*queue{}, rng: rand.New(rand.NewPCG(o.Seed, 0x5153))}
}

// faults returns the at-least-once and ordering faults of o.
func (s *Service) faults() faults {
	return faults{
		duplicate: func() bool {
			if s.o.Duplicates <= 0 {
				return false
			}
			s.rngMu.Lock()
			defer s.rngMu.Unlock()
			return s.rng.Float64() < s.o.Duplicates
		},
		shuffle: func(ms []*message) {
			if !s.o.Reorder {
				return
			}
			s.rngMu.Lock()
			defer s.rngMu.Unlock()
			s.rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		},
	}
}

// QueueURL returns the URL of queue name.
func (s *Service) QueueURL(name string) string {
	return fmt.Sprintf("%s/%s/%s", s.o.Endpoint, s.o.Account, name)
}

// QueueARN returns the ARN of queue name.
func (s *Service) QueueARN(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", s.o.Region, s.o.Account, name)
}

func errNoQueue() error {
	return awsjson.Errorf(400, "com.amazonaws.sqs#QueueDoesNotExist", "The specified queue does not exist.")
}

// CreateQueue creates queue name (idempotent) and returns its URL.
func (s *Service) CreateQueue(name string, attrs map[string]string) (string, error) {
	if name == "" || len(name) > 80 || strings.TrimFunc(name, func(r rune) bool {
		return r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) != "" && !strings.HasSuffix(name, ".fifo") {
		return "", awsjson.Errorf(400, "InvalidParameterValue", "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queues[name]; !ok {
		q := newQueue(name, s.QueueURL(name), s.QueueARN(name), s.o.Clock.Now())
		if err := setAttributes(q, attrs); err != nil {
			return "", err
		}
		s.queues[name] = q
	}
	return s.QueueURL(name), nil
}

func setAttributes(q *queue, attrs map[string]string) error {
	for k, v := range attrs {
		n, err := strconv.Atoi(v)
		switch k {
		case "VisibilityTimeout":
			if err != nil || n < 0 || n > 43200 {
				return awsjson.Errorf(400, "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.")
			}
			q.visibility = time.Duration(n) * time.Second
		case "DelaySeconds":
			if err != nil || n < 0 || n > 900 {
				return awsjson.Errorf(400, "InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.")
			}
			q.delay = time.Duration(n) * time.Second
		case "RedrivePolicy":
			var rp redrivePolicy
			if json.Unmarshal([]byte(v), &rp) != nil || rp.Target == "" || rp.MaxReceives < 1 || rp.MaxReceives > 1000 {
				return awsjson.Errorf(400, "InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy. Reason: deadLetterTargetArn and maxReceiveCount (1 to 1000) are required.")
			}
			q.redrive = &rp
		case "MessageRetentionPeriod":
			if err != nil || n < 60 || n > 1209600 {
				return awsjson.Errorf(400, "InvalidAttributeValue", "Invalid value for the parameter MessageRetentionPeriod.")
			}
			q.retention = time.Duration(n) * time.Second
		}
	}
	return nil
}

// lookup finds a queue by URL, ARN or name (the last path or ARN segment).
func (s *Service) lookup(ref string) (*queue, error) {
	name := ref
	if i := strings.LastIndexAny(ref, "/:"); i >= 0 {
		name = ref[i+1:]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[name]
	if !ok {
		return nil, errNoQueue()
	}
	return q, nil
}

// Send puts a message on the queue named by URL, ARN or name, with string
// attributes, and returns its id. The EventBridge DLQ uses it.
func (s *Service) Send(_ context.Context, queueRef, body string, attrs map[string]string) (string, error) {
	a := map[string]Attribute{}
	for k, v := range attrs {
		a[k] = Attribute{DataType: "String", StringValue: v}
	}
	m, err := s.send(queueRef, body, a, -1)
	if err != nil {
		return "", err
	}
	return m.id, nil
}

// SendDelayed puts a message that becomes visible after delaySeconds
// (0..900, simulated) and returns its id.
func (s *Service) SendDelayed(_ context.Context, queueRef, body string, delaySeconds int) (string, error) {
	m, err := s.send(queueRef, body, nil, delaySeconds)
	if err != nil {
		return "", err
	}
	return m.id, nil
}

func (s *Service) send(queueRef, body string, attrs map[string]Attribute, delaySeconds int) (*message, error) {
	q, err := s.lookup(queueRef)
	if err != nil {
		return nil, err
	}
	if body == "" {
		return nil, awsjson.Errorf(400, "MissingParameter", "The request must contain the parameter MessageBody.")
	}
	if len(body) > 256*1024 {
		return nil, awsjson.Errorf(400, "InvalidParameterValue", "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.")
	}
	delay := q.delay
	if delaySeconds >= 0 {
		if delaySeconds > 900 {
			return nil, awsjson.Errorf(400, "InvalidParameterValue", "Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", delaySeconds)
		}
		delay = time.Duration(delaySeconds) * time.Second
	}
	now := s.o.Clock.Now()
	m := &message{id: awsjson.NewID(), body: body, md5Body: md5Hex(body), attrs: attrs, md5Attrs: md5OfAttributes(attrs),
		sent: now, visibleAt: now.Add(delay)}
	q.add(m)
	return m, nil
}

// Receive returns up to max messages, waiting up to wait (simulated) for
// the first; received messages are hidden for vis (negative: the queue's).
func (s *Service) receive(ctx context.Context, queueRef string, max int, vis, wait time.Duration) ([]message, error) {
	q, err := s.lookup(queueRef)
	if err != nil {
		return nil, err
	}
	if vis < 0 {
		vis = q.visibility
	}
	deadline := s.o.Clock.Now().Add(wait)
	for {
		now := s.o.Clock.Now()
		msgs, next, notify, dead := q.take(now, max, vis, awsjson.NewID, s.faults())
		s.redrive(q, dead, now)
		if len(msgs) > 0 || !now.Before(deadline) {
			return msgs, nil
		}
		until := deadline
		if !next.IsZero() && next.Before(until) {
			until = next
		}
		t := time.NewTimer(s.o.Clock.RealDuration(until.Sub(now)) + time.Millisecond)
		select {
		case <-notify:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		}
		t.Stop()
	}
}

// redrive moves dead (taken off q) to q's dead-letter queue; if that queue
// does not exist they go back to q, visible (nothing is dropped).
func (s *Service) redrive(q *queue, dead []*message, now time.Time) {
	if len(dead) == 0 {
		return
	}
	target, err := s.lookup(q.redrive.Target)
	for _, m := range dead {
		m.visibleAt, m.receipt = now, ""
		if err != nil {
			q.add(m)
			continue
		}
		m.receives, m.firstRecv = 0, time.Time{}
		target.add(m)
	}
}

// Message is a received message, for in-process consumers (the local
// event source mapping).
type Message struct {
	ID, Body, MD5OfBody, ReceiptHandle string
	Attributes                         map[string]Attribute
	// ReceiveCount counts this receive; Sent and FirstReceive are simulated.
	ReceiveCount       int
	Sent, FirstReceive time.Time
}

// Receive returns up to max messages of the queue named by URL, ARN or
// name, waiting up to wait (simulated) for the first; they are hidden for
// the queue's visibility timeout. The redrive policy applies.
func (s *Service) Receive(ctx context.Context, queueRef string, max int, wait time.Duration) ([]Message, error) {
	msgs, err := s.receive(ctx, queueRef, max, -1, wait)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{ID: m.id, Body: m.body, MD5OfBody: m.md5Body, ReceiptHandle: m.receipt, Attributes: m.attrs,
			ReceiveCount: m.receives, Sent: m.sent, FirstReceive: m.firstRecv}
	}
	return out, nil
}

// Delete deletes a received message by its receipt handle; a message
// already gone (deleted, or received again since) is not an error.
func (s *Service) Delete(queueRef, receipt string) error {
	q, err := s.lookup(queueRef)
	if err != nil {
		return err
	}
	q.remove(receipt)
	return nil
}

// Depth returns the visible, in-flight and delayed message counts of a queue.
func (s *Service) Depth(queueRef string) (visible, inflight, delayed int, err error) {
	q, err := s.lookup(queueRef)
	if err != nil {
		return 0, 0, 0, err
	}
	visible, inflight, delayed = q.counts(s.o.Clock.Now())
	return visible, inflight, delayed, nil
}

// ServeHTTP serves the SQS JSON 1.0 API.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := s.dispatch(r)
	if err != nil {
		if e, ok := err.(*awsjson.Error); ok && strings.HasPrefix(e.Code, "com.amazonaws.sqs#QueueDoesNotExist") {
			w.Header().Set("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
		}
		awsjson.WriteError(w, contentType, err)
		return
	}
	awsjson.Write(w, contentType, out)
}

func (s *Service) queueNames(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var urls []string
	for n := range s.queues {
		if strings.HasPrefix(n, prefix) {
			urls = append(urls, s.QueueURL(n))
		}
	}
	sort.Strings(urls)
	return urls
}
