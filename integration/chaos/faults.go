package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/services"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// counters are the faults this package injected itself (the simulator and
// EventBridge count theirs).
type counters struct {
	// outageFrom and outageTo are when dynalite was stopped and answered
	// again (simulated time).
	outageFrom, outageTo                  atomic.Pointer[time.Time]
	crashBefore, crashAfter, timeoutAfter atomic.Int64
	childCrashes                          atomic.Int64
	lateEvents                            atomic.Int64
	dynamoRestarts                        atomic.Int64
	// asyncDropped: asynchronous invocations (EventBridge → retry) that
	// failed after Lambda's retries. On AWS the stack sends them to the
	// event DLQ (OnFailure); the local Lambda only logs them.
	asyncDropped atomic.Int64
}

// dropCounter counts the local Lambda's "async invocation failed after
// retries" records on their way to the stack's log handler.
type dropCounter struct {
	slog.Handler
	c *counters
}

func (h dropCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.Handler.Enabled(ctx, l)
}

func (h dropCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "async invocation failed after retries" {
		h.c.asyncDropped.Add(1)
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h dropCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return dropCounter{Handler: h.Handler.WithAttrs(as), c: h.c}
}

func (h dropCounter) WithGroup(name string) slog.Handler {
	return dropCounter{Handler: h.Handler.WithGroup(name), c: h.c}
}

// draws hands out seeded draws to concurrent callers.
type draws struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newDraws(seed uint64, stream string) *draws {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &draws{r: rand.New(rand.NewPCG(seed, h.Sum64()))}
}

func (d *draws) float() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Float64()
}

// childFault crashes the first sc.ChildFailCrashes invocations of
// runtask, classify and retry for chunk 0 of one request: its Map child
// runs out of every state's retries (see Scenario.ChildFailCrashes).
type childFault struct {
	requestID string
	crashes   int
	mu        sync.Mutex
	calls     int
}

func (f *childFault) crash(function string, payload []byte) bool {
	if f == nil || (function != "runtask" && function != "classify" && function != "retry") {
		return false
	}
	var in struct {
		RequestID string `json:"requestId"`
		Chunk     *int   `json:"chunk"`
	}
	if json.Unmarshal(payload, &in) != nil || in.RequestID != f.requestID || in.Chunk == nil || *in.Chunk != 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.calls <= f.crashes
}

// lambdaFaults returns the Lambda fault hook: a crash before the handler
// runs (nothing happened) or after it ran (the work happened, the answer
// is lost: RunTask committed mid-chunk), and the one failing Map child.
func lambdaFaults(sc Scenario, faulty map[string]bool, d *draws, c *counters) lambdasvc.FaultHook {
	var child *childFault
	if sc.ChildFailCrashes > 0 {
		child = &childFault{requestID: sc.Requests[sc.ChildFailRequest].RequestID, crashes: sc.ChildFailCrashes}
	}
	return func(_ context.Context, function string, payload []byte) lambdasvc.FaultKind {
		if child.crash(function, payload) {
			c.childCrashes.Add(1)
			return lambdasvc.FaultCrashBefore
		}
		if !faulty[function] {
			return lambdasvc.FaultNone
		}
		x := d.float()
		switch {
		case x < sc.CrashBefore:
			c.crashBefore.Add(1)
			return lambdasvc.FaultCrashBefore
		case x < sc.CrashBefore+sc.CrashAfter:
			c.crashAfter.Add(1)
			return lambdasvc.FaultCrashAfter
		}
		return lambdasvc.FaultNone
	}
}

// timeoutHandler runs the real handler, then, for a drawn share of
// invocations, holds on until the function's timeout: Lambda answers
// Sandbox.Timedout although the handler's calls were made.
type timeoutHandler struct {
	next awslambda.Handler
	p    float64
	d    *draws
	c    *counters
}

func (h timeoutHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.next.Invoke(ctx, payload)
	if h.d.float() < h.p {
		h.c.timeoutAfter.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return out, err
}

// functions builds the product's handlers through pkg/lambdafn, wrapping
// the faulty ones when sc times them out.
func functions(sc Scenario, faulty map[string]bool, d *draws, c *counters) func(context.Context, string, lambdafn.Deps) (awslambda.Handler, error) {
	return func(ctx context.Context, name string, deps lambdafn.Deps) (awslambda.Handler, error) {
		h, err := lambdafn.Build(ctx, name, deps)
		if err != nil || sc.TimeoutAfter == 0 || !faulty[name] {
			return h, err
		}
		return timeoutHandler{next: h, p: sc.TimeoutAfter, d: d, c: c}, nil
	}
}

// lateSink delivers the simulator's events to EventBridge, holding a drawn
// share back for up to delay (simulated), so they arrive late and out of
// order (EventBridge's own duplicates come on top).
type lateSink struct {
	next  sim.EventSink
	clock *clock.Scaled
	p     float64
	delay time.Duration
	d     *draws
	c     *counters
	wg    sync.WaitGroup
	stop  chan struct{}
}

func (s *lateSink) Put(ctx context.Context, envelopes ...[]byte) error {
	var now [][]byte
	for _, e := range envelopes {
		if s.p == 0 || s.d.float() >= s.p {
			now = append(now, e)
			continue
		}
		s.c.lateEvents.Add(1)
		hold := s.clock.RealDuration(time.Duration(s.d.float() * float64(s.delay)))
		s.wg.Go(func() {
			select {
			case <-time.After(hold):
			case <-s.stop:
			}
			_ = s.next.Put(context.WithoutCancel(ctx), e)
		})
	}
	if len(now) == 0 {
		return nil
	}
	return s.next.Put(ctx, now...)
}

// wait waits for the held-back events to be delivered.
func (s *lateSink) wait() { s.wg.Wait() }

// close delivers the held-back events at once.
func (s *lateSink) close() {
	close(s.stop)
	s.wg.Wait()
}

// outage kills dynalite at sc.DynamoOutageAt and restarts it, on the same
// port and data folder, sc.DynamoOutageFor later (simulated). It returns
// when dynalite is back or ctx ends; the restarted process replaces
// svc.Dynalite so the stack's Close stops it.
func outage(ctx context.Context, sc Scenario, svc *services.Services, clk *clock.Scaled, c *counters) error {
	old := svc.Dynalite
	if old == nil || old.Path == "" {
		return fmt.Errorf("chaos: dynalite outage needs dynalite on disk")
	}
	select {
	case <-time.After(clk.RealDuration(sc.DynamoOutageAt)):
	case <-ctx.Done():
		return nil
	}
	old.Stop()
	from := clk.Now()
	c.outageFrom.Store(&from)
	select {
	case <-time.After(clk.RealDuration(sc.DynamoOutageFor)):
	case <-ctx.Done():
	}
	var err error
	for range 5 { // the port may take a moment to be free again
		var d *testenv.Dynalite
		d, err = testenv.StartDynalite(context.WithoutCancel(ctx), testenv.DynaliteOptions{Path: old.Path, Port: old.Port()})
		if err == nil {
			svc.Dynalite = d
			to := clk.Now()
			c.outageTo.Store(&to)
			c.dynamoRestarts.Add(1)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chaos: restart dynalite on port %d: %w", old.Port(), err)
}
