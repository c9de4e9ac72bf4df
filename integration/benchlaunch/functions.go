package benchlaunch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// memoryMB is each function's memory as the CDK stack deploys it
// (infra/cdk/stack/functions.go); adaptive is sized like runtask.
var memoryMB = map[string]float64{
	"classify": 128, "plan": 512, "runtask": 256, "retry": 256, "summary": 512, "submit": 128, adaptiveFunction: 256,
}

// meter counts what the cost model prices: Lambda invocations and their
// GB-seconds (real handler time, as Lambda bills it), and DynamoDB write
// requests the handlers send.
type meter struct {
	invocations atomic.Int64
	writes      atomic.Int64
	mu          sync.Mutex
	gbSeconds   float64
	acq         acquisitions
}

func (m *meter) snapshot() (invocations, writes int64, gbSeconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.invocations.Load(), m.writes.Load(), m.gbSeconds
}

// build returns the function builder of the local Lambda endpoint: the
// product's handlers from pkg/lambdafn, unchanged, plus the sdk-adaptive
// baseline's function, each timed, with a DynamoDB-write-counting HTTP
// client in their AWS configuration.
func (m *meter) build(ctx context.Context, name string, d lambdafn.Deps) (awslambda.Handler, error) {
	d.AWS.HTTPClient = countingClient{inner: awshttp.NewBuildableClient(), writes: &m.writes, acq: &m.acq}
	var h awslambda.Handler
	var err error
	if name == adaptiveFunction {
		h = newAdaptiveHandler(d.AWS)
	} else if h, err = lambdafn.Build(ctx, name, d); err != nil {
		return nil, err
	}
	mb, ok := memoryMB[name]
	if !ok {
		mb = 128
	}
	return timed{h: h, m: m, gb: mb / 1024, runtask: name == "runtask"}, nil
}

type timed struct {
	h       awslambda.Handler
	m       *meter
	gb      float64
	runtask bool
}

func (t timed) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	if t.runtask {
		ctx = context.WithValue(ctx, requestKey{}, requestIDOf(payload))
	}
	out, err := t.h.Invoke(ctx, payload)
	// Lambda bills by the millisecond, at least 1 ms.
	ms := max(1, time.Since(start).Milliseconds())
	t.m.invocations.Add(1)
	t.m.mu.Lock()
	t.m.gbSeconds += float64(ms) / 1000 * t.gb
	t.m.mu.Unlock()
	return out, err
}

// dynamoWrites are the DynamoDB operations billed as write request units.
var dynamoWrites = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}

type countingClient struct {
	inner  *awshttp.BuildableClient
	writes *atomic.Int64
	acq    *acquisitions
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if ok && dynamoWrites[op] {
		c.writes.Add(1)
	}
	id, _ := r.Context().Value(requestKey{}).(string)
	if op != "UpdateItem" || id == "" || !c.acq.watching() || !limiterWrite(r) {
		return c.inner.Do(r)
	}
	res, err := c.inner.Do(r)
	if err == nil && res.StatusCode == http.StatusOK {
		c.acq.saw(id)
	}
	return res, err
}

// requestKey carries a runtask invocation's request ID to its HTTP calls.
type requestKey struct{}

// limiterWrite says whether r writes a limiter bucket item (key
// limiter#<service>#<scope>, pkg/limiter), keeping r's body readable.
func limiterWrite(r *http.Request) bool {
	if r.Body == nil {
		return false
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return err == nil && bytes.Contains(b, []byte(`{"S":"limiter#`))
}

// acquisitions records, per request, when a runtask invocation's first
// limiter write answered: the request's first acquisition (the first write
// of a runtask invocation that holds no slot is its Reserve). now is the
// stack's clock, set once the stack runs (nil: not watching).
type acquisitions struct {
	mu    sync.Mutex
	now   func() time.Time
	first map[string]time.Time
}

func (a *acquisitions) watch(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now, a.first = now, map[string]time.Time{}
}

func (a *acquisitions) watching() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now != nil
}

func (a *acquisitions) saw(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.first[id]; !ok && a.now != nil {
		a.first[id] = a.now()
	}
}

// of is request id's first acquisition (zero: none seen).
func (a *acquisitions) of(id string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.first[id]
}
