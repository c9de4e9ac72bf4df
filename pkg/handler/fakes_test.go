package handler

import (
	"context"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// newTestStore returns an empty in-memory store (the launch store's
// semantics, checked by storetest on both implementations), as the handlers
// see it and as a test inspects it. No test of this package starts DynamoDB.
func newTestStore(t *testing.T) (launchstore.Store, *launchstore.Memory) {
	t.Helper()
	m := launchstore.NewMemory()
	return m, m
}

var t0 = launchtest.T0

// fakeECS answers RunTask like ECS does for client tokens: the same token
// returns the first answer and launches nothing new. respond decides the
// answer of a new token; a nil respond launches every task.
type fakeECS struct {
	mu      sync.Mutex
	calls   []*ecs.RunTaskInput
	opts    []ecs.Options
	byToken map[string]*ecs.RunTaskOutput
	respond func(n int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error)
	// loseResponse: the launch happens, the caller gets an error.
	loseResponse map[int]bool
	// throttle: the call is throttled before its token is looked up (as
	// ECS does), so even a replay of a launched token is refused.
	throttle map[int]bool
	seq      int
}

func (f *fakeECS) RunTask(_ context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var o ecs.Options
	for _, fn := range optFns {
		fn(&o)
	}
	f.opts = append(f.opts, o)
	f.calls = append(f.calls, in)
	n := len(f.calls)
	if f.byToken == nil {
		f.byToken = map[string]*ecs.RunTaskOutput{}
	}
	if f.throttle[n] {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	if out, ok := f.byToken[aws.ToString(in.ClientToken)]; ok {
		return out, nil
	}
	var out *ecs.RunTaskOutput
	if f.respond != nil {
		var err error
		if out, err = f.respond(n, in); err != nil {
			return nil, err
		}
	} else {
		out = f.launch(int(aws.ToInt32(in.Count)))
	}
	f.byToken[aws.ToString(in.ClientToken)] = out
	if f.loseResponse[n] {
		return nil, fmt.Errorf("read tcp 127.0.0.1:1->127.0.0.1:2: %w", os.ErrDeadlineExceeded)
	}
	return out, nil
}

// launch makes k tasks (caller holds mu or is respond).
func (f *fakeECS) launch(k int) *ecs.RunTaskOutput {
	out := &ecs.RunTaskOutput{}
	for range k {
		f.seq++
		out.Tasks = append(out.Tasks, ecstypes.Task{TaskArn: aws.String(fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/jobs/%04d", f.seq))})
	}
	return out
}

func (f *fakeECS) Calls() []*ecs.RunTaskInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*ecs.RunTaskInput(nil), f.calls...)
}

type fakeEC2 struct {
	mu      sync.Mutex
	calls   []*ec2.RunInstancesInput
	respond func(in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error)
	seq     int
}

func (f *fakeEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.respond != nil {
		return f.respond(in)
	}
	return f.instances(int(aws.ToInt32(in.MaxCount))), nil
}

func (f *fakeEC2) instances(k int) *ec2.RunInstancesOutput {
	out := &ec2.RunInstancesOutput{}
	for range k {
		f.seq++
		out.Instances = append(out.Instances, ec2types.Instance{InstanceId: aws.String(fmt.Sprintf("i-%08x", f.seq))})
	}
	return out
}

// fakeLimiter hands out slots wait away (per call, from waits, else 0),
// each with a position per take and the last take binding, as the limiter
// times a launch at the published limits.
type fakeLimiter struct {
	mu       sync.Mutex
	clk      clock.Clock
	waits    []time.Duration
	reserves [][]limiter.Take
	releases []limiter.Slot
	signals  []string // service/bucket/reason
	sigs     []limiter.Signal
	// later moves each rechecked slot that much later (per call, else 0);
	// recheckErr fails Recheck, which then keeps the slot.
	later      []time.Duration
	rechecks   []limiter.Slot
	recheckErr error
	err        error
	frontier   map[string]float64
}

func (l *fakeLimiter) Reserve(_ context.Context, service string, takes []limiter.Take) (limiter.Slot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return limiter.Slot{}, l.err
	}
	l.reserves = append(l.reserves, takes)
	var w time.Duration
	if len(l.waits) > 0 {
		w, l.waits = l.waits[0], l.waits[1:]
	}
	if l.frontier == nil {
		l.frontier = map[string]float64{}
	}
	s := limiter.Slot{At: l.clk.Now().Add(w), Wait: w, Binding: takes[len(takes)-1].Bucket}
	for _, t := range takes {
		l.frontier[t.Bucket] += t.N
		s.Positions = append(s.Positions, limiter.Position{Bucket: t.Bucket, End: l.frontier[t.Bucket], N: t.N, At: s.At})
	}
	return s, nil
}

func (l *fakeLimiter) Recheck(_ context.Context, _ string, s limiter.Slot) (limiter.Slot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rechecks = append(l.rechecks, s)
	if l.recheckErr != nil {
		return s, l.recheckErr
	}
	var d time.Duration
	if len(l.later) > 0 {
		d, l.later = l.later[0], l.later[1:]
	}
	out := s
	out.Positions = nil
	for _, p := range s.Positions {
		if d > 0 {
			p.At, p.Epoch = s.At.Add(d), p.Epoch+1
		}
		out.Positions = append(out.Positions, p)
	}
	out.At = s.At.Add(d)
	out.Wait = max(0, out.At.Sub(l.clk.Now()))
	return out, nil
}

func (l *fakeLimiter) Release(_ context.Context, _ string, s limiter.Slot) error {
	l.mu.Lock()
	l.releases = append(l.releases, s)
	l.mu.Unlock()
	return nil
}

func (l *fakeLimiter) Signal(_ context.Context, service, bucket string, sig limiter.Signal) error {
	l.mu.Lock()
	l.signals = append(l.signals, service+"/"+bucket+"/"+sig.Reason)
	l.sigs = append(l.sigs, sig)
	l.mu.Unlock()
	return nil
}

// countRecorder sums each metric.
type countRecorder struct {
	mu  sync.Mutex
	sum map[string]float64
}

func (r *countRecorder) Add(metric string, v float64, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sum == nil {
		r.sum = map[string]float64{}
	}
	r.sum[metric] += v
}

func (r *countRecorder) get(metric string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum[metric]
}

type fakeEvents struct {
	mu      sync.Mutex
	entries []string // detail-type + " " + detail
}

func (f *fakeEvents) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		if aws.ToString(e.Source) != launch.EventSource {
			return nil, fmt.Errorf("source %q", aws.ToString(e.Source))
		}
		f.entries = append(f.entries, aws.ToString(e.DetailType)+" "+aws.ToString(e.Detail))
	}
	return &eventbridge.PutEventsOutput{}, nil
}

type fakeSQS struct {
	mu   sync.Mutex
	msgs []string
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprint(len(f.msgs)))}, nil
}

// plan stores r for a test.
func plan(t *testing.T, st launchstore.Store, r launch.Request, now time.Time) launch.StoredRequest {
	t.Helper()
	sr, err := st.CreateRequest(context.Background(), r, now)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}
