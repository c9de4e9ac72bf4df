package limiter

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// takeTable is a one-item DynamoDB fake that understands the two-branch
// Take write of DynamoStore (idle ":nI", backlog ":iI"/":mI") and plain
// reads, enough to script a lost race. before, when set, runs once before
// the next UpdateItem is evaluated.
type takeTable struct {
	mu     sync.Mutex
	attrs  map[string]int64
	before func(t *takeTable)
	ats    []int64 // ":at" of every Take write, in order
}

func (f *takeTable) item() map[string]ddbtypes.AttributeValue {
	out := map[string]ddbtypes.AttributeValue{}
	for k, v := range f.attrs {
		out[k] = num(v)
	}
	return out
}

func val(t *testing.T, vs map[string]ddbtypes.AttributeValue, k string) (int64, bool) {
	v, ok := vs[k]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
	if err != nil {
		t.Errorf("%s: %v", k, err)
	}
	return n, true
}

type takeAPI struct {
	t *testing.T
	*takeTable
}

func (a takeAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	a.mu.Lock()
	before := a.before
	a.before = nil
	a.mu.Unlock()
	if before != nil {
		before(a.takeTable)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	at, _ := val(a.t, in.ExpressionAttributeValues, ":at")
	a.ats = append(a.ats, at)
	next := map[string]int64{}
	for name, attr := range in.ExpressionAttributeNames {
		i, ok := strings.CutPrefix(name, "#t")
		if !ok {
			continue
		}
		cur, exists := a.attrs[attr]
		if n, idle := val(a.t, in.ExpressionAttributeValues, ":n"+i); idle {
			if exists && cur >= at {
				return nil, &ddbtypes.ConditionalCheckFailedException{Item: a.item()}
			}
			next[attr] = n
			continue
		}
		inc, _ := val(a.t, in.ExpressionAttributeValues, ":i"+i)
		m, _ := val(a.t, in.ExpressionAttributeValues, ":m"+i)
		if !exists || cur < at || cur > m {
			return nil, &ddbtypes.ConditionalCheckFailedException{Item: a.item()}
		}
		next[attr] = cur + inc
	}
	for k, v := range next {
		a.attrs[k] = v
	}
	return &dynamodb.UpdateItemOutput{Attributes: a.item()}, nil
}

func (a takeAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: a.item()}, nil
}

// TestRetryAfterALostRaceArrivesNow: the conditional write loses a race
// that takes 3 s; the retry must arrive at the time it is made, not at the
// reading taken before the race. Arriving at the stale reading, the call
// would be charged 3 s in the past (on the backlog branch, TAT 10.05 s
// instead of 13.025 s: the call is not counted against the refilled bucket)
// and its slot would lie 3 s in the past.
func TestRetryAfterALostRaceArrivesNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl := &takeTable{attrs: map[string]int64{}}
	d, clk := newTestDistributed(t, NewDynamoStore(takeAPI{t, tbl}, "th-test"), nil)
	takes := []Take{{Bucket: ECSRunTask, N: 1}} // inc 25 ms, tau 2.5 s
	attr := attrTAT + ECSRunTask
	if _, err := d.Reserve(ctx, "ecs", takes); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second) // the bucket has refilled
	tbl.before = func(tbl *takeTable) {
		// Another process takes at 10 s (idle branch), and our write,
		// guessing idle from a TAT of 25 ms, loses; the race takes 3 s.
		tbl.mu.Lock()
		tbl.attrs[attr] = micros(t0.Add(10*time.Second + ms(25)))
		tbl.mu.Unlock()
		clk.Advance(3 * time.Second)
	}
	s, err := d.Reserve(ctx, "ecs", takes)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	if !s.At.Equal(now) || s.Wait != 0 {
		t.Errorf("slot at %v wait %v, want at %v (now) wait 0", s.At.Sub(t0), s.Wait, now.Sub(t0))
	}
	if got, want := tbl.attrs[attr], micros(now.Add(ms(25))); got != want {
		t.Errorf("TAT after the retry: %v, want %v (now + inc)", fromMicros(got).Sub(t0), fromMicros(want).Sub(t0))
	}
	if n := len(tbl.ats); n != 3 || tbl.ats[2] != micros(now) {
		t.Errorf("arrivals of the writes: %v, want 3 with the last at now (%d)", tbl.ats, micros(now))
	}
}
