package launchstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

func itemSK(i int) string { return fmt.Sprintf("item#%06d", i) }

// batchSize is BatchWriteItem's limit of put requests per call.
const batchSize = 25

// Unprocessed items are written again after a full-jitter delay that grows
// from batchRetryBase to batchRetryMax; only ctx bounds the retries.
const (
	batchRetryBase = 50 * time.Millisecond
	batchRetryMax  = 2 * time.Second
)

// writesInFlight bounds the concurrent writes of one call: PutItems'
// batches, RecordTasks' updates.
const writesInFlight = 8

// ttlOf is the TTL attribute of a request's items (the request's deadline
// plus Retention), from the cached request; nil when the request is not
// stored (the items then have no TTL).
func (st *DynamoDB) ttlOf(ctx context.Context, requestID string) (ddb.AttributeValue, error) {
	sr, err := st.Request(ctx, requestID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return n(sr.Deadline.Add(Retention).Unix()), nil
}

// inParallel runs do(ctx, 0..count-1), at most limit at once; the first
// error cancels the calls not yet started, and all errors are returned.
func inParallel(ctx context.Context, count, limit int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, count)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range count {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if errs[i] = do(ctx, i); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PutItems writes the items with BatchWriteItem, 25 per call and a few
// calls at once; the items a call leaves unprocessed (throttling) are sent
// again after a backoff until ctx ends. A put replaces the item, so a
// repeated call is harmless.
func (st *DynamoDB) PutItems(ctx context.Context, requestID string, first int, items []json.RawMessage) error {
	ttl, err := st.ttlOf(ctx, requestID)
	if err != nil {
		return fmt.Errorf("put items of %s: %w", requestID, err)
	}
	batches := (len(items) + batchSize - 1) / batchSize
	return inParallel(ctx, batches, writesInFlight, func(ctx context.Context, b int) error {
		lo := b * batchSize
		var reqs []ddb.WriteRequest
		for k, it := range items[lo:min(lo+batchSize, len(items))] {
			item := key(reqPK(requestID), itemSK(first+lo+k))
			item["item"] = s(string(it))
			if ttl != nil {
				item[config.TableTTL] = ttl
			}
			reqs = append(reqs, ddb.WriteRequest{PutRequest: &ddb.PutRequest{Item: item}})
		}
		if err := st.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("put items %d.. of %s: %w", first+lo, requestID, err)
		}
		return nil
	})
}

// batchWrite sends one batch and its unprocessed remainder until none is left.
func (st *DynamoDB) batchWrite(ctx context.Context, reqs []ddb.WriteRequest) error {
	for try := 0; len(reqs) > 0; try++ {
		if try > 0 {
			d := min(batchRetryMax, batchRetryBase<<min(try-1, 8))
			t := time.NewTimer(rand.N(d) + 1)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%d items unprocessed: %w", len(reqs), ctx.Err())
			case <-t.C:
			}
		}
		out, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]ddb.WriteRequest{st.table: reqs},
		})
		if err != nil {
			return err
		}
		reqs = out.UnprocessedItems[st.table]
	}
	return nil
}

// Item reads item index of the request (consistent: the launchers read
// what plan has just written).
func (st *DynamoDB) Item(ctx context.Context, requestID string, index int) (json.RawMessage, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), itemSK(index)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("load item %s/%d: %w", requestID, index, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("item %s/%d: %w", requestID, index, ErrNotFound)
	}
	return json.RawMessage(str(out.Item["item"])), nil
}

// The quota gate's item: stops, probeStops and probes are counters,
// probedAt is the last claim's time in ns since the epoch (a number, so
// the claim's condition compares it; RFC 3339 strings with a varying
// number of fraction digits do not sort by time).
func quotaKey(requestID string) map[string]ddb.AttributeValue { return key(reqPK(requestID), "quota") }

// withTTL adds the TTL attribute ttl to an update (nothing for nil).
func withTTL(in *dynamodb.UpdateItemInput, ttl ddb.AttributeValue) {
	if ttl == nil {
		return
	}
	expr, found := strings.CutPrefix(*in.UpdateExpression, "SET ")
	if found {
		expr = "SET #ttl = :ttl, " + expr
	} else {
		expr = "SET #ttl = :ttl " + expr
	}
	in.UpdateExpression = aws.String(expr)
	if in.ExpressionAttributeValues == nil {
		in.ExpressionAttributeValues = map[string]ddb.AttributeValue{}
	}
	in.ExpressionAttributeNames["#ttl"] = config.TableTTL
	in.ExpressionAttributeValues[":ttl"] = ttl
}

// updateWithTTL is update with the request's TTL added.
func (st *DynamoDB) updateWithTTL(ctx context.Context, requestID string, in *dynamodb.UpdateItemInput) (map[string]ddb.AttributeValue, error) {
	ttl, err := st.ttlOf(ctx, requestID)
	if err != nil {
		return nil, err
	}
	withTTL(in, ttl)
	return st.update(ctx, in)
}

// NoteTaskStopped counts a stop of one of the request's tasks (ADD: the
// gate is created at the first).
func (st *DynamoDB) NoteTaskStopped(ctx context.Context, requestID string) error {
	in := &dynamodb.UpdateItemInput{
		Key: quotaKey(requestID), UpdateExpression: aws.String("ADD #stops :one"),
		ExpressionAttributeNames:  map[string]string{"#stops": "stops"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": n(1)},
	}
	if _, err := st.updateWithTTL(ctx, requestID, in); err != nil {
		return fmt.Errorf("quota gate of %s: note stop: %w", requestID, err)
	}
	return nil
}

// ClaimQuotaProbe claims a probe in one conditional update: granted when
// the gate was never probed, a stop was counted since the last claim
// (stops > probeStops), or the last claim is at least every old; the
// claim records the stops it consumed, its time and one more probe.
func (st *DynamoDB) ClaimQuotaProbe(ctx context.Context, requestID string, now time.Time, every time.Duration) (bool, error) {
	in := &dynamodb.UpdateItemInput{
		Key:                 quotaKey(requestID),
		UpdateExpression:    aws.String("SET #ps = if_not_exists(#stops, :zero), #at = :now ADD #probes :one"),
		ConditionExpression: aws.String("attribute_not_exists(#at) OR #stops > #ps OR #at <= :cutoff"),
		ExpressionAttributeNames: map[string]string{
			"#ps": "probeStops", "#stops": "stops", "#at": "probedAt", "#probes": "probes",
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":zero": n(0), ":one": n(1), ":now": n(now.UnixNano()), ":cutoff": n(now.Add(-every).UnixNano()),
		},
	}
	_, err := st.updateWithTTL(ctx, requestID, in)
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("quota gate of %s: claim probe: %w", requestID, err)
	}
	return true, nil
}

// QuotaGate reads the gate (consistent; zero when absent).
func (st *DynamoDB) QuotaGate(ctx context.Context, requestID string) (launch.QuotaGate, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: quotaKey(requestID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return launch.QuotaGate{}, fmt.Errorf("quota gate of %s: %w", requestID, err)
	}
	g := launch.QuotaGate{Stops: num(out.Item["stops"]), ProbeStops: num(out.Item["probeStops"]), Probes: num(out.Item["probes"])}
	if at, ok := out.Item["probedAt"].(*ddb.AttributeValueMemberN); ok {
		ns, _ := strconv.ParseInt(at.Value, 10, 64)
		g.ProbedAt = time.Unix(0, ns).UTC()
	}
	return g, nil
}

// SetQuotaWait sets the chunk's quotaWaitSince, or REMOVEs it for a zero
// since (the update creates the chunk item either way, as any chunk write).
func (st *DynamoDB) SetQuotaWait(ctx context.Context, requestID string, chunk int, since time.Time) error {
	in := &dynamodb.UpdateItemInput{
		Key: key(reqPK(requestID), chunkSK(chunk)), UpdateExpression: aws.String("SET #q = :q"),
		ExpressionAttributeNames:  map[string]string{"#q": "quotaWaitSince"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":q": s(since.UTC().Format(time.RFC3339Nano))},
	}
	if since.IsZero() {
		in.UpdateExpression, in.ExpressionAttributeValues = aws.String("REMOVE #q"), nil
	}
	if _, err := st.update(ctx, in); err != nil {
		return fmt.Errorf("quota wait of %s/%d: %w", requestID, chunk, err)
	}
	return nil
}
