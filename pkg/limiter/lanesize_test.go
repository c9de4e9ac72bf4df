package limiter

import (
	"strings"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// numberBytes is a DynamoDB number's size (Amazon DynamoDB Developer
// Guide: "Item sizes and formats"): one byte per two significant digits,
// plus one.
func numberBytes(v string) int {
	digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(strings.SplitN(strings.ToLower(v), "e", 2)[0]), "0")
	return (len(digits)+1)/2 + 1
}

// itemBytes is the size of the item holding st for each bucket of
// buckets, every attribute written, with its key and TTL.
func itemBytes(st BucketState, buckets []string, fields []stateField) int {
	n := len("pk") + len("limiter#ecs#111122223333/us-east-1") + len("sk") + len(sortKey) + len("expiresAt") + numberBytes("1795341600")
	for _, b := range buckets {
		for _, f := range fields {
			n += len(f.prefix) + len(b) + numberBytes(f.get(st).(*ddbtypes.AttributeValueMemberN).Value)
		}
		n += len(attrSignal) + len(b) + len("ThrottlingException")
	}
	return n
}

// The item's size by DynamoDB's rules, for the three ECS launch buckets
// with every attribute written at realistic magnitudes: without lanes,
// with the lane fronts every take writes, and with a lower lane's whole
// push-back state (doc.go, "Lanes": the write units per acquisition).
func TestLaneItemSize(t *testing.T) {
	t.Parallel()
	at := micros(t0) + 123456789
	st := BucketState{TAT: fromMicros(at), Pos: 123456, Rate: 17.123456, RateAt: fromMicros(at), Epoch: 12,
		AnchorAt: fromMicros(at), AnchorPos: 123000, AnchorRate: 17.123456, AnchorPrev: 20, Throttled: 1234,
		MarkAt: fromMicros(at), MarkPos: 120000, MarkThrottled: 1200, BurstAt: fromMicros(at), BurstPos: 100000}
	for l := range nLanes {
		st.Lanes.Front[l] = at + int64(l)
	}
	st.Lanes.Gen, st.Lanes.Floor = 12, at
	for m := laneNormal; m < nLanes; m++ {
		sh := &st.Lanes.Shift[m]
		sh.Base, sh.Budget = 12345678, at
		for i := range laneRuns {
			sh.Thr[i], sh.Cum[i] = at-int64(i), 23456789
		}
	}
	buckets := []string{ECSRunTask, ECSFargateRunTask, ECSFargateTasks}
	fronts := laneFields()[2:5]
	sizes := map[string]int{
		"before lanes":       itemBytes(st, buckets, stateFields),
		"with lane fronts":   itemBytes(st, buckets, append(append([]stateField{}, stateFields...), fronts...)),
		"with every lane":    itemBytes(st, buckets, allFields),
		"one bucket's lanes": itemBytes(st, buckets[:1], laneFields()) - itemBytes(BucketState{}, nil, nil),
	}
	t.Logf("item sizes (bytes): %v", sizes)
	// A write is charged one unit per KB of the larger of the item before
	// and after it.
	if s := sizes["with every lane"]; s > 4096 {
		t.Errorf("a fully written item is %d bytes: more than 4 write units per acquisition", s)
	}
	if s := sizes["with lane fronts"]; s > 2048 {
		t.Errorf("an item with lane fronts only is %d bytes: more than 2 write units", s)
	}
}
