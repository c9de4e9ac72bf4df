package benchlaunch

import (
	"context"
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
	d.AWS.HTTPClient = countingClient{inner: awshttp.NewBuildableClient(), writes: &m.writes}
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
	return timed{h: h, m: m, gb: mb / 1024}, nil
}

type timed struct {
	h  awslambda.Handler
	m  *meter
	gb float64
}

func (t timed) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
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
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."); ok && dynamoWrites[op] {
		c.writes.Add(1)
	}
	return c.inner.Do(r)
}
