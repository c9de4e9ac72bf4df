package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"quamina.net/go/quamina"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Options configures a Service.
type Options struct {
	// Region and Account fill envelopes and ARNs (default us-east-1, 000000000000).
	Region, Account string
	// Clock is the stack's scaled clock (default: factor 1).
	Clock *clock.Scaled
	// Buses are the named buses besides the default one.
	Buses []string
	// Invoke delivers to a Lambda target asynchronously (required for
	// Lambda targets). An error with HTTPStatus() 429 or ≥ 500, or without a
	// status, is retryable.
	Invoke func(ctx context.Context, function string, payload []byte) error
	// StartExecution delivers to a state machine target, without a name.
	StartExecution func(ctx context.Context, machineARN, input string) error
	// SendMessage delivers to an SQS queue target: the event is the body.
	SendMessage func(ctx context.Context, queueARN, body string) error
	// SendToDLQ puts an undeliverable event on a dead-letter queue.
	SendToDLQ func(ctx context.Context, queue, body string, attrs map[string]string) error
	// Duplicates is the probability in [0, 1] that a delivery happens twice
	// (EventBridge is at least once).
	Duplicates float64
	// Reorder holds each delivery (each copy of a duplicate too) for a
	// random time in [0, Reorder) simulated before its first attempt, so
	// events reach a target in another order than they were put
	// (EventBridge does not order deliveries). 0: no hold.
	Reorder time.Duration
	// Rand returns numbers in [0, 1) for jitter and duplicates (default math/rand/v2).
	Rand func() float64
	// Logger receives dropped events (default: discard).
	Logger *slog.Logger
}

// Stats counts what happened to events since the service started.
type Stats struct {
	Put          int64 `json:"put"`     // events accepted (PutEvents entries and Put envelopes)
	Matched      int64 `json:"matched"` // (event, target) pairs to deliver, duplicates included
	Delivered    int64 `json:"delivered"`
	Retries      int64 `json:"retries"`
	DeadLettered int64 `json:"deadLettered"`
	Dropped      int64 `json:"dropped"` // failed without a dead-letter queue
	Duplicates   int64 `json:"duplicates"`
}

// Service is the local EventBridge. Safe for concurrent use.
type Service struct {
	o Options

	mu    sync.Mutex
	buses map[string]*bus

	put, matched, delivered, retries, dlq, dropped, dups atomic.Int64

	pending  sync.WaitGroup
	inflight atomic.Int64
	ctx      context.Context
	cancel   context.CancelFunc
	// closing is held (read) while a route adds deliveries, so Close's
	// Wait never runs beside an Add; closed: routes start nothing more.
	closing sync.RWMutex
	closed  bool
}

type bus struct {
	mu    sync.Mutex // quamina instances are not safe for concurrent use
	q     *quamina.Quamina
	rules map[string]*Rule
}

// New returns a Service with the default bus and o.Buses, and no rules.
func New(o Options) (*Service, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "000000000000"
	}
	if o.Clock == nil {
		o.Clock = clock.NewScaled(time.Now(), 1)
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{o: o, buses: map[string]*bus{}, ctx: ctx, cancel: cancel}
	for _, name := range append([]string{DefaultBus}, o.Buses...) {
		if err := s.CreateBus(name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CreateBus adds a named bus; an existing bus is kept.
func (s *Service) CreateBus(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buses[name]; ok {
		return nil
	}
	q, err := quamina.New()
	if err != nil {
		return err
	}
	s.buses[name] = &bus{q: q, rules: map[string]*Rule{}}
	return nil
}

// BusARN returns the ARN of a bus.
func (s *Service) BusARN(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", s.o.Region, s.o.Account, name)
}

// RuleARN returns the ARN of a rule.
func (s *Service) RuleARN(r *Rule) string {
	if r.Bus == DefaultBus {
		return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.o.Region, s.o.Account, r.Name)
	}
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", s.o.Region, s.o.Account, r.Bus, r.Name)
}

// busName resolves an EventBusName parameter (name or ARN; empty is default).
func busName(ref string) string {
	if ref == "" {
		return DefaultBus
	}
	if i := strings.LastIndexByte(ref, '/'); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// AddRule adds (or replaces) a rule. The pattern must be a valid EventBridge
// pattern that quamina supports (no "numeric").
func (s *Service) AddRule(r Rule) error {
	s.mu.Lock()
	b, ok := s.buses[busName(r.Bus)]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("rule %s: event bus %s does not exist", r.Name, r.Bus)
	}
	if len(r.Targets) > 5 {
		return fmt.Errorf("rule %s: %d targets, EventBridge allows 5", r.Name, len(r.Targets))
	}
	for i, t := range r.Targets {
		if !strings.HasPrefix(t.ARN, "arn:aws:lambda:") && !strings.HasPrefix(t.ARN, "arn:aws:states:") && !strings.HasPrefix(t.ARN, "arn:aws:sqs:") {
			return fmt.Errorf("rule %s: target %d: ARN %q is neither a Lambda function, a state machine nor an SQS queue", r.Name, i, t.ARN)
		}
		if t.ID == "" {
			r.Targets[i].ID = "Target" + strconv.Itoa(i)
		}
	}
	r.Bus = busName(r.Bus)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.rules[r.Name]; ok {
		_ = b.q.DeletePatterns(r.Name)
	}
	if err := b.q.AddPattern(r.Name, string(r.Pattern)); err != nil {
		return fmt.Errorf("rule %s: pattern: %w", r.Name, err)
	}
	b.rules[r.Name] = &r
	return nil
}

// Put delivers full EventBridge envelopes (AWS service events such as the
// ECS simulator's) on the default bus. It implements the simulator's
// EventSink. An envelope that is not a JSON object is an error; the others
// are still delivered.
func (s *Service) Put(_ context.Context, envelopes ...[]byte) error {
	var errs []error
	for i, env := range envelopes {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(env, &probe); err != nil {
			errs = append(errs, fmt.Errorf("envelope %d: %w", i, err))
			continue
		}
		if err := s.route(DefaultBus, append([]byte(nil), env...)); err != nil {
			errs = append(errs, fmt.Errorf("envelope %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// route matches an envelope on a bus and starts its deliveries.
func (s *Service) route(busRef string, env []byte) error {
	s.mu.Lock()
	b, ok := s.buses[busName(busRef)]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("event bus %s does not exist", busRef)
	}
	s.put.Add(1)
	b.mu.Lock()
	ids, err := b.q.MatchesForEvent(env)
	var rules []*Rule
	for _, id := range ids {
		if r, ok := b.rules[id.(string)]; ok {
			rules = append(rules, r)
		}
	}
	b.mu.Unlock()
	if err != nil {
		return err
	}
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return nil // a closed stack delivers nothing, as a pending retry is abandoned
	}
	for _, r := range rules {
		for _, t := range r.Targets {
			n := 1
			if s.o.Duplicates > 0 && s.o.Rand() < s.o.Duplicates {
				n = 2
				s.dups.Add(1)
			}
			for range n {
				s.matched.Add(1)
				s.pending.Add(1)
				s.inflight.Add(1)
				hold := s.hold()
				go func() {
					defer s.pending.Done()
					defer s.inflight.Add(-1)
					if hold > 0 && s.o.Clock.Sleep(s.ctx, hold) != nil {
						return // closed: abandoned like a pending retry
					}
					s.deliver(r, t, env)
				}()
			}
		}
	}
	return nil
}

// hold is how long a delivery waits before its first attempt (Reorder).
func (s *Service) hold() time.Duration {
	if s.o.Reorder <= 0 {
		return 0
	}
	return time.Duration(s.o.Rand() * float64(s.o.Reorder))
}

func (s *Service) send(ctx context.Context, t Target, env []byte) error {
	switch {
	case strings.HasPrefix(t.ARN, "arn:aws:lambda:"):
		if s.o.Invoke == nil {
			return errors.New("no Lambda service")
		}
		return s.o.Invoke(ctx, t.ARN, env)
	case strings.HasPrefix(t.ARN, "arn:aws:sqs:"):
		if s.o.SendMessage == nil {
			return errors.New("no SQS service")
		}
		return s.o.SendMessage(ctx, t.ARN, string(env))
	default:
		if s.o.StartExecution == nil {
			return errors.New("no Step Functions service")
		}
		return s.o.StartExecution(ctx, t.ARN, string(env))
	}
}

// retryable reports whether EventBridge would retry a delivery error.
func retryable(err error) bool {
	var api interface{ HTTPStatus() int }
	if errors.As(err, &api) {
		st := api.HTTPStatus()
		return st == 429 || st >= 500
	}
	return true
}

func (s *Service) deliver(r *Rule, t Target, env []byte) {
	policy := RetryPolicy{MaximumRetryAttempts: 185, MaximumEventAge: 24 * time.Hour}
	if t.RetryPolicy != nil {
		policy = *t.RetryPolicy
	}
	start := s.o.Clock.Now()
	for attempt := 0; ; attempt++ {
		err := s.send(s.ctx, t, env)
		if err == nil {
			s.delivered.Add(1)
			return
		}
		condition := ""
		switch {
		case !retryable(err):
			condition = ""
		case attempt >= policy.MaximumRetryAttempts:
			condition = "MaximumRetryAttempts"
		case s.o.Clock.Now().Sub(start) >= policy.MaximumEventAge:
			condition = "MaximumEventAgeInSeconds"
		default:
			s.retries.Add(1)
			// Exponential backoff with full jitter: 1 s, 2 s, 4 s … capped at 5 min.
			ceil := time.Duration(min(float64(time.Second)*float64(uint64(1)<<min(attempt, 20)), float64(5*time.Minute)))
			if s.o.Clock.Sleep(s.ctx, time.Duration(s.o.Rand()*float64(ceil))) != nil {
				return
			}
			continue
		}
		s.failed(r, t, env, err, condition, attempt)
		return
	}
}

func (s *Service) failed(r *Rule, t Target, env []byte, err error, condition string, retries int) {
	code := "Unknown"
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		code = coded.ErrorCode()
	}
	if t.DeadLetterQueue == "" || s.o.SendToDLQ == nil {
		s.dropped.Add(1)
		s.o.Logger.Warn("event dropped", "rule", r.Name, "target", t.ARN, "code", code, "err", err)
		return
	}
	attrs := map[string]string{"RULE_ARN": s.RuleARN(r), "TARGET_ARN": t.ARN, "ERROR_CODE": code,
		"ERROR_MESSAGE": err.Error(), "RETRY_ATTEMPTS": strconv.Itoa(retries)}
	if condition != "" {
		attrs["EXHAUSTED_RETRY_CONDITION"] = condition
	}
	if derr := s.o.SendToDLQ(s.ctx, t.DeadLetterQueue, string(env), attrs); derr != nil {
		s.dropped.Add(1)
		s.o.Logger.Warn("event dropped: dead-letter queue failed", "rule", r.Name, "target", t.ARN, "err", derr)
		return
	}
	s.dlq.Add(1)
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Put: s.put.Load(), Matched: s.matched.Load(), Delivered: s.delivered.Load(), Retries: s.retries.Load(),
		DeadLettered: s.dlq.Load(), Dropped: s.dropped.Load(), Duplicates: s.dups.Load()}
}

// Pending returns the number of deliveries in progress (retries included).
func (s *Service) Pending() int64 { return s.inflight.Load() }

// Drain waits until no delivery is in progress, or ctx is done.
// It watches the in-flight count rather than Wait on the deliveries' group:
// events keep arriving while it waits (the simulator's tasks stop), and a
// group's Add must not run beside its Wait.
func (s *Service) Drain(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close abandons pending retries and waits for deliveries to return.
func (s *Service) Close() {
	s.closing.Lock()
	s.closed = true
	s.closing.Unlock()
	s.cancel()
	s.pending.Wait()
}

// envelope builds the event PutEvents delivers for an entry.
func (s *Service) envelope(e entry, now time.Time) ([]byte, error) {
	t := now
	if e.Time != nil {
		sec := *e.Time
		t = time.Unix(0, int64(sec*1e9))
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return json.Marshal(map[string]any{
		"version": "0", "id": awsjson.NewID(), "detail-type": e.DetailType, "source": e.Source,
		"account": s.o.Account, "time": t.UTC().Format("2006-01-02T15:04:05Z"), "region": s.o.Region,
		"resources": resources, "detail": json.RawMessage(e.Detail),
	})
}
