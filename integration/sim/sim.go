package sim

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Options are the optional dependencies of a Sim.
type Options struct {
	// Sink receives every EventBridge envelope the account emits. Default: a
	// RecordingSink (Sim.Events returns it).
	Sink EventSink
	// Logger logs faults and storms. Default: discard.
	Logger *slog.Logger
}

// Sim is the simulated ECS and EC2 account. Create it with New; serve it with
// ECSHandler and EC2Handler; drive its schedule with Run or Step.
type Sim struct {
	clock  clock.Clock
	sink   EventSink
	rec    *RecordingSink // the default sink, or nil
	logger *slog.Logger
	ledger *Ledger

	mu      sync.Mutex
	cfg     Config
	epoch   time.Time // the clock at New
	now     time.Time // latest clock reading; never rewinds
	buckets map[string]*bucket
	sched   schedule
	idSeq   uint64
	reqSeq  uint64
	faults  faultState
	ecs     ecsState
	ec2     ec2State
	cot     cotenantState
	caller  cotenantCaller
	stats   callStats
	outbox  []pendingEvent

	flushMu sync.Mutex // orders deliveries to the sink
}

// New returns a simulator of the account described by cfg on clk.
func New(clk clock.Clock, cfg Config, optFns ...func(*Options)) (*Sim, error) {
	if clk == nil {
		return nil, fmt.Errorf("sim: clock is nil")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	s := &Sim{clock: clk, cfg: cfg, sink: o.Sink, logger: o.Logger, ledger: newLedger()}
	if s.sink == nil {
		s.rec = NewRecordingSink()
		s.sink = s.rec
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.now = clk.Now()
	s.epoch = s.now
	s.buckets = make(map[string]*bucket, len(cfg.Buckets))
	for name, b := range cfg.Buckets {
		s.buckets[name] = newBucket(name, b, s.now)
	}
	s.ecs.init()
	s.ec2.init()
	s.stats.init()
	s.faults.init(cfg.Seed)
	s.initCotenants()
	from, until := cfg.cotenantWindow(s.now)
	s.startCotenant(s.now, cfg.CotenantShare, from, until)
	s.scheduleStorm(s.now)
	return s, nil
}

// Clock returns the simulator's clock.
func (s *Sim) Clock() clock.Clock { return s.clock }

// Ledger returns the record of every launch.
func (s *Sim) Ledger() *Ledger { return s.ledger }

// LedgerTasks returns every launched ECS task's ledger entry, in launch
// order: its final state once stopped (exit code, stopCode, stoppedReason)
// and the TH_ARRAY_INDEX of its overrides, so a test can compare per-index
// results with what the product reports.
func (s *Sim) LedgerTasks() []LedgerEntry { return s.ledger.Tasks() }

// SetSink replaces the event sink (the local stack connects its event bus
// here once it is up). Envelopes already handed to the old sink stay there.
func (s *Sim) SetSink(sink EventSink) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.sink = sink
}

// Events returns the default recording sink, or nil when Options.Sink was set.
func (s *Sim) Events() *RecordingSink { return s.rec }

// Config returns the effective configuration (defaults filled in, run-time
// changes applied).
func (s *Sim) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	c.Buckets = maps.Clone(c.Buckets)
	return c
}

// tick reads the clock under the lock, never rewinding, and runs the
// scheduled work that is due. Callers hold s.mu.
func (s *Sim) tick() time.Time {
	if now := s.clock.Now(); now.After(s.now) {
		s.now = now
	}
	s.sched.runDue(s.now)
	return s.now
}

// Step runs the scheduled work due at the clock's current time and delivers
// the resulting events. Tests on a clock.Fake call it after Advance.
func (s *Sim) Step(ctx context.Context) error {
	s.mu.Lock()
	s.tick()
	s.mu.Unlock()
	return s.flush(ctx)
}

// Run calls Step every real interval until ctx is done. awslocal runs it in
// the background so lifecycle events flow without API calls.
func (s *Sim) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Step(ctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("event sink", "err", err)
			}
		}
	}
}

// emit queues an event for the sink. Callers hold s.mu.
func (s *Sim) emit(ev pendingEvent) { s.outbox = append(s.outbox, ev) }

// flush hands queued envelopes to the sink outside s.mu, in the order they
// were emitted.
func (s *Sim) flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.deliver(ctx)
}

// tryFlush is flush for API calls: when another delivery is under way it
// returns at once (that delivery, or the next Step, takes these events too,
// in order), so a large batch of lifecycle events never stalls a response.
func (s *Sim) tryFlush(ctx context.Context) error {
	if !s.flushMu.TryLock() {
		return nil
	}
	defer s.flushMu.Unlock()
	return s.deliver(ctx)
}

// deliver marshals the queued events and hands them to the sink. Callers
// hold s.flushMu.
func (s *Sim) deliver(ctx context.Context) error {
	s.mu.Lock()
	pending := s.outbox
	s.outbox = nil
	account, region := s.cfg.Account, s.cfg.Region
	s.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	out := make([][]byte, 0, len(pending))
	for _, p := range pending {
		b, err := p.marshal(account, region)
		if err != nil {
			s.logger.Error("event", "err", err)
			continue
		}
		out = append(out, b)
	}
	return s.sink.Put(ctx, out...)
}

// nextID returns a reproducible 64-bit value: the seed and a counter mixed
// by splitmix64. Callers hold s.mu.
func (s *Sim) nextID() uint64 {
	s.idSeq++
	return splitmix64(s.cfg.Seed*0x9E3779B97F4A7C15 + s.idSeq)
}

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// requestID returns a UUID-shaped request ID. Callers hold s.mu.
func (s *Sim) requestID() string {
	s.reqSeq++
	a := splitmix64(s.cfg.Seed ^ 0xA5A5A5A5 + s.reqSeq)
	b := splitmix64(a)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xFFFFFFFFFFFF)
}

// schedule is a min-heap of work due at simulated times. Not safe for
// concurrent use: the Sim's mutex guards it.
type schedule struct {
	items schedItems
	seq   uint64
}

type schedItem struct {
	at  time.Time
	seq uint64 // FIFO among equal times
	fn  func(at time.Time)
}

type schedItems []schedItem

func (h schedItems) Len() int { return len(h) }
func (h schedItems) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h schedItems) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *schedItems) Push(x any)   { *h = append(*h, x.(schedItem)) }
func (h *schedItems) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// at schedules fn to run at t (simulated), receiving t.
func (q *schedule) at(t time.Time, fn func(at time.Time)) {
	q.seq++
	heap.Push(&q.items, schedItem{at: t, seq: q.seq, fn: fn})
}

// runDue runs every item due at or before now, in time order; items may
// schedule more.
func (q *schedule) runDue(now time.Time) {
	for len(q.items) > 0 && !q.items[0].at.After(now) {
		it := heap.Pop(&q.items).(schedItem)
		it.fn(it.at)
	}
}

// Pending returns the number of scheduled items (tests use it to know when
// the lifecycle has settled).
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sched.items)
}

// NextDue returns when the next scheduled item is due, and false when none is.
func (s *Sim) NextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sched.items) == 0 {
		return time.Time{}, false
	}
	return s.sched.items[0].at, true
}
