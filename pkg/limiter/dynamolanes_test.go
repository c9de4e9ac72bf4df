package limiter

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// captureAPI records the UpdateItem it is sent and answers it with an
// empty item.
type captureAPI struct{ in *dynamodb.UpdateItemInput }

func (c *captureAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.in = in
	return &dynamodb.UpdateItemOutput{}, nil
}

func (c *captureAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

// The largest acquisition write (a high take on the three ECS launch
// buckets, each pushing back both lower lanes whose whole state was
// written, and starting a new epoch's lane state) stays within DynamoDB's
// expression limits (Amazon DynamoDB Developer Guide: "Quotas in Amazon
// DynamoDB": 4 KB per expression string).
func TestLanePreemptExpressionSize(t *testing.T) {
	t.Parallel()
	api := &captureAPI{}
	s := NewDynamoStore(api, "t")
	at := micros(t0)
	var prev LaneState
	prev.Gen, prev.Floor = 1234, at
	for m := laneNormal; m < nLanes; m++ {
		for i := range laneRuns {
			prev.Shift[m].Thr[i], prev.Shift[m].Cum[i] = at+int64(i), 1234567
		}
		prev.Shift[m].Base, prev.Shift[m].Budget = 1234567, at
	}
	next := prev
	next.Gen, next.Floor = 1235, at+1
	for m := laneNormal; m < nLanes; m++ {
		next.Shift[m].Base, next.Shift[m].Budget = 2345678, at+1
		for i := range laneRuns {
			next.Shift[m].Thr[i], next.Shift[m].Cum[i] = at+int64(i)+1, 2345678
		}
	}
	var debits []Debit
	for _, b := range []string{ECSRunTask, ECSFargateRunTask, ECSFargateTasks} {
		debits = append(debits, Debit{Bucket: b, N: 10, Inc: time.Second, Tau: time.Second, Epoch: 12, Lane: LaneHigh,
			Lanes: &LaneWrite{Prev: prev, Next: next, Preempt: true, P: at + 5e6, Shifted: [nLanes]bool{false, true, true}}})
	}
	if _, err := s.takeOnce(context.Background(), "limiter#ecs#111122223333/us-east-1", at, at+9e8, debits, make([]bool, 3)); err != nil {
		t.Fatal(err)
	}
	check := func(name string) {
		u, c := len(*api.in.UpdateExpression), len(*api.in.ConditionExpression)
		t.Logf("%s: update expression %d bytes, condition %d bytes, %d names, %d values", name, u, c, len(api.in.ExpressionAttributeNames), len(api.in.ExpressionAttributeValues))
		if u > 4096 || c > 4096 {
			t.Errorf("%s: update expression %d bytes, condition %d bytes: over DynamoDB's 4 KB", name, u, c)
		}
	}
	check("written state")
	for i := range debits { // a first preemption: every attribute absent
		debits[i].Lanes.Prev = LaneState{}
	}
	if _, err := s.takeOnce(context.Background(), "limiter#ecs#111122223333/us-east-1", at, at+9e8, debits, make([]bool, 3)); err != nil {
		t.Fatal(err)
	}
	check("first preemption")
}
