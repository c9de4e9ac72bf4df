package launchtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// timedDB measures the latency (real time) of the launch store's DynamoDB
// calls: on dynalite under 64 invokers it is what makes the limiter's clock
// readings stale in simulated time.
type timedDB struct {
	launchstore.DynamoDBAPI
	mu       sync.Mutex
	n        int
	sum, max time.Duration
}

func (d *timedDB) note(start time.Time) {
	el := time.Since(start)
	d.mu.Lock()
	d.n++
	d.sum += el
	d.max = max(d.max, el)
	d.mu.Unlock()
}

func (d *timedDB) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("%d ops, mean %v, max %v (real)", d.n, d.sum/time.Duration(max(1, d.n)), d.max)
}

func (d *timedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	defer d.note(time.Now())
	return d.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

func (d *timedDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	defer d.note(time.Now())
	return d.DynamoDBAPI.GetItem(ctx, in, o...)
}

// tracingLimiter measures how long (simulated time) each Reserve takes: the
// limiter computes a slot from its clock reading at the start, so the
// longer the call, the staler the slot.
type tracingLimiter struct {
	*limiter.Distributed
	clk      interface{ Now() time.Time }
	mu       sync.Mutex
	n, zero  int
	sum, max time.Duration
}

func (l *tracingLimiter) Reserve(ctx context.Context, service string, takes []limiter.Take) (limiter.Slot, error) {
	before := l.clk.Now()
	s, err := l.Distributed.Reserve(ctx, service, takes)
	lag := l.clk.Now().Sub(before)
	l.mu.Lock()
	l.n++
	l.sum += lag
	l.max = max(l.max, lag)
	if s.Wait == 0 {
		l.zero++
	}
	l.mu.Unlock()
	return s, err
}

func (l *tracingLimiter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("reserves %d (wait 0: %d), mean lag %.3f s, max %.3f s (simulated)", l.n, l.zero, (l.sum / time.Duration(max(1, l.n))).Seconds(), l.max.Seconds())
}

// countingRecorder sums the handlers' metrics (handler.Recorder).
type countingRecorder struct {
	mu sync.Mutex
	m  map[string]float64
}

func (r *countingRecorder) Add(metric string, v float64, _ string) {
	r.mu.Lock()
	r.m[metric] += v
	r.mu.Unlock()
}

func (r *countingRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.m)
}

// chunkMismatches lists the chunks whose launched count differs between the
// ledger (effective tasks) and the table, with both sides' records: what a
// lost or duplicated unit is traced from.
func (e *env) chunkMismatches(ctx context.Context, req launch.Request, chunks []int, entries []sim.LedgerEntry) []string {
	type side struct {
		effective int
		lines     []string
	}
	hash := launch.RequestHash(req.RequestID)
	led := map[int]*side{}
	for _, en := range entries {
		if en.RequestHash != hash {
			continue
		}
		s := led[en.Chunk]
		if s == nil {
			s = &side{}
			led[en.Chunk] = s
		}
		if !en.FailedToStart {
			s.effective++
		}
		s.lines = append(s.lines, fmt.Sprintf("%s startedBy=%s at=%s failedToStart=%v lostResponse=%v ack=%v",
			en.ID, en.StartedBy, en.LaunchedAt.Format("15:04:05.000"), en.FailedToStart, en.LostResponse, en.Acknowledged))
	}
	var out []string
	for _, i := range chunks {
		spec, err := req.Chunk(i)
		if err != nil {
			continue
		}
		st, err := e.store.Chunk(ctx, req.RequestID, i)
		if err != nil {
			out = append(out, fmt.Sprintf("chunk %d: %v", i, err))
			continue
		}
		s := led[i]
		if s == nil {
			s = &side{}
		}
		if min(s.effective, spec.Size) == st.Launched() && st.Launched()+st.Lost >= spec.Size {
			continue
		}
		out = append(out, fmt.Sprintf("chunk %d (size %d): ledger effective %d, table launched %d lost %d gaveUp %v; table %+v; ledger:\n\t%s",
			i, spec.Size, s.effective, st.Launched(), st.Lost, st.GaveUp, st, strings.Join(s.lines, "\n\t")))
	}
	return out
}
