package launchstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// partialBatches is DynamoDB under throttling: each BatchWriteItem writes
// only its first keep requests and hands the rest back unprocessed.
type partialBatches struct {
	launchstore.DynamoDBAPI
	keep         int
	failAt       int64 // the call that fails (0: none)
	calls, items atomic.Int64
}

var errBatch = errors.New("batch refused")

func (p *partialBatches) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if p.calls.Add(1) == p.failAt {
		return nil, errBatch
	}
	for table, reqs := range in.RequestItems {
		k := min(p.keep, len(reqs))
		p.items.Add(int64(k))
		if k == 0 {
			return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
		}
		out, err := p.DynamoDBAPI.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: reqs[:k]}}, o...)
		if err != nil {
			return nil, err
		}
		if k < len(reqs) {
			out.UnprocessedItems = map[string][]ddbtypes.WriteRequest{table: reqs[k:]}
		}
		return out, nil
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// GIVEN DynamoDB that leaves part of every BatchWriteItem unprocessed
// WHEN PutItems writes 30 items
// THEN the unprocessed items are sent again until all are written; and
// when nothing is ever processed, PutItems ends with its context
// (Amazon DynamoDB API Reference: BatchWriteItem — UnprocessedItems)
func TestDynamoDBPutItemsRetriesUnprocessed(t *testing.T) {
	t.Parallel()
	items := make([]json.RawMessage, 30)
	for i := range items {
		items[i] = json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
	}
	t.Run("some processed", func(t *testing.T) {
		t.Parallel()
		c, table := newTable(t)
		p := &partialBatches{DynamoDBAPI: c, keep: 7}
		st := launchstore.NewDynamoDB(p, table)
		if err := st.PutItems(context.Background(), "r", 0, items); err != nil {
			t.Fatal(err)
		}
		// 25 items: 7+7+7+4; 5 items: 5.
		if got := p.calls.Load(); got != 5 {
			t.Fatalf("%d BatchWriteItem calls, want 5", got)
		}
		for i := range items {
			if got, err := st.Item(context.Background(), "r", i); err != nil || string(got) != string(items[i]) {
				t.Fatalf("Item %d: %s, %v", i, got, err)
			}
		}
	})
	t.Run("a call fails", func(t *testing.T) {
		t.Parallel()
		c, table := newTable(t)
		p := &partialBatches{DynamoDBAPI: c, keep: 25, failAt: 2}
		if err := launchstore.NewDynamoDB(p, table).PutItems(context.Background(), "r", 0, items); !errors.Is(err, errBatch) {
			t.Fatalf("PutItems: %v, want the failed call's error", err)
		}
	})
	t.Run("none processed", func(t *testing.T) {
		t.Parallel()
		c, table := newTable(t)
		p := &partialBatches{DynamoDBAPI: c}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := launchstore.NewDynamoDB(p, table).PutItems(ctx, "r", 0, items)
		if !errors.Is(err, context.DeadlineExceeded) || p.calls.Load() < 2 {
			t.Fatalf("PutItems: %v after %d calls; want the context's deadline after retries", err, p.calls.Load())
		}
	})
}

// countQueries counts Query calls.
type countQueries struct {
	launchstore.DynamoDBAPI
	n atomic.Int64
}

func (c *countQueries) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.n.Add(1)
	return c.DynamoDBAPI.Query(ctx, in, o...)
}

// GIVEN task records of more than 1 MB in all
// WHEN Tasks lists them, without a page limit
// THEN it follows LastEvaluatedKey over DynamoDB's 1 MB pages and returns
// every record once
// (Amazon DynamoDB Developer Guide: Paginating table query results)
func TestDynamoDBTasksOverOneMegabyte(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, table := newTable(t)
	q := &countQueries{DynamoDBAPI: c}
	st := launchstore.NewDynamoDB(q, table)
	const records = 400 // of about 3 KB each
	reason := strings.Repeat("r", 3000)
	for i := range records {
		o := launch.TaskObservation{ARN: fmt.Sprintf("arn:t/%04d", i), LastStatus: "STOPPED", Reason: reason}
		if _, _, err := st.ObserveTask(ctx, "r", o); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.Tasks(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != records || q.n.Load() < 2 {
		t.Fatalf("Tasks: %d records in %d pages; want %d in at least 2", len(recs), q.n.Load(), records)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("arn:t/%04d", i); r.ARN != want || r.Observation.Reason != reason {
			t.Fatalf("record %d: %s, want %s with its reason", i, r.ARN, want)
		}
	}
}

// rawItems returns every item of the table by sort key, for pk.
func rawItems(t *testing.T, c *dynamodb.Client, table, pk string) map[string]map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := c.Query(context.Background(), &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]map[string]ddbtypes.AttributeValue{}
	for _, it := range out.Items {
		items[it["sk"].(*ddbtypes.AttributeValueMemberS).Value] = it
	}
	return items
}

// jobCalls writes one of each jobs item of request r: two items, a task
// record referenced, observed and decided, the quota gate, a quota wait.
func jobCalls(ctx context.Context, st launchstore.Store, r string, o launch.TaskObservation, ref launch.TaskRef) error {
	return errors.Join(
		st.PutItems(ctx, r, 0, []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"a":2}`)}),
		st.RecordTasks(ctx, r, []launch.TaskRef{ref}),
		func() error { _, _, err := st.ObserveTask(ctx, r, o); return err }(),
		func() error {
			_, _, err := st.DecideTask(ctx, r, ref.ARN, launch.OutcomeFailed, "exit 1: attempt 3 of 3")
			return err
		}(),
		func() error {
			_, _, err := st.ObserveTask(ctx, r, launch.TaskObservation{ARN: "arn:other", LastStatus: "RUNNING"})
			return err
		}(),
		st.NoteTaskStopped(ctx, r),
		func() error { _, err := st.ClaimQuotaProbe(ctx, r, launchtest.T0, time.Minute); return err }(),
		st.SetQuotaWait(ctx, r, 3, launchtest.T0),
		st.SetQuotaWait(ctx, r, 4, time.Time{}),
	)
}

// GIVEN a stored request
// WHEN its items, task records and quota gate are written
// THEN each carries the request's TTL (its deadline plus Retention), so
// DynamoDB deletes them with the request
// (Amazon DynamoDB Developer Guide: Using time to live (TTL) in DynamoDB)
func TestDynamoDBJobItemsExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, table := newTable(t)
	st := launchstore.NewDynamoDB(c, table)
	sr, err := st.CreateRequest(ctx, launchtest.ECSRequest("r", 10), launchtest.T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := jobCalls(ctx, st, "r", fullObservation(), fullRef()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(sr.Deadline.Add(launchstore.Retention).Unix())
	for _, sk := range []string{"item#000000", "item#000001", "task#" + fullRef().ARN, "task#arn:other", "quota"} {
		it := rawItems(t, c, table, "req#r")[sk]
		if ttl, _ := it["expiresAt"].(*ddbtypes.AttributeValueMemberN); ttl == nil || ttl.Value != want {
			t.Fatalf("%s: expiresAt %v, want %s", sk, it["expiresAt"], want)
		}
	}
}

// GIVEN the same jobs calls on Memory and on DynamoDB
// WHEN the items are counted
// THEN Memory.Len is DynamoDB's count (Memory mirrors it item for item:
// an update creates its item, a read creates none)
func TestMemoryLenMatchesDynamoDBForJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, table := newTable(t)
	m := launchstore.NewMemory()
	for _, st := range []launchstore.Store{launchstore.NewDynamoDB(c, table), m} {
		if err := jobCalls(ctx, st, "r", fullObservation(), fullRef()); err != nil {
			t.Fatal(err)
		}
		_, _ = st.Item(ctx, "r", 7)
		_, _ = st.Task(ctx, "r", "arn:never")
		_, _ = st.QuotaGate(ctx, "other")
		_, _ = st.Tasks(ctx, "other")
	}
	if got, want := m.Len(), len(rawItems(t, c, table, "req#r")); got != want || want != 7 {
		t.Fatalf("Memory.Len %d, DynamoDB holds %d items; want both 7", got, want)
	}
}

// A typical fully written task record: an ARN of a task of cluster
// throttle-handler, its predecessor's, and the reasons ECS gives.
const fullARN = "arn:aws:ecs:us-east-1:123456789012:task/throttle-handler/0123456789abcdef0123456789abcdef"

func fullRef() launch.TaskRef {
	return launch.TaskRef{ARN: fullARN, Chunk: 123456, Index: 123456, Attempt: 3,
		LaunchedAt: launchtest.T0.Add(1234567 * time.Microsecond), Predecessor: strings.Replace(fullARN, "0123", "4567", 1)}
}

func fullObservation() launch.TaskObservation {
	return launch.TaskObservation{
		ARN: fullARN, LastStatus: "STOPPED", Version: 7, StopCode: "EssentialContainerExited",
		StoppedReason: "Essential container in task exited", ExitCode: new(137),
		Reason:    "OutOfMemoryError: Container killed due to memory usage",
		StartedAt: launchtest.T0.Add(31234567 * time.Microsecond), StoppedAt: launchtest.T0.Add(time.Hour + 1234567*time.Microsecond),
		LogStream: "jobs/main/0123456789abcdef0123456789abcdef", ObservedAt: launchtest.T0.Add(time.Hour + 2345678*time.Microsecond),
	}
}

// itemSize is an item's size by DynamoDB's rules: each attribute's name
// plus its value (a string's UTF-8 bytes; a number about one byte per two
// significant digits plus one; a Boolean one byte).
// (Amazon DynamoDB Developer Guide: DynamoDB item sizes and formats)
func itemSize(it map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			digits := strings.Trim(strings.TrimLeft(v.Value, "-"), "0")
			n += 1 + (len(digits)+1)/2
		case *ddbtypes.AttributeValueMemberBOOL:
			n++
		default:
			panic(fmt.Sprintf("itemSize: attribute %s of type %T", name, v))
		}
	}
	return n
}

// taskRecordBytes is the size the package doc states for a fully written
// task record (requestId a UUID): it sets how many records one Tasks page
// (1 MB) and one read unit (4 KB) hold.
const taskRecordBytes = 700

// GIVEN a task record written by all three writers with typical values
// WHEN its stored item is measured by DynamoDB's item-size rules
// THEN it is within the size the package doc states
func TestDynamoDBTaskRecordSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, table := newTable(t)
	st := launchstore.NewDynamoDB(c, table)
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	if _, err := st.CreateRequest(ctx, launchtest.ECSRequest(id, 10), launchtest.T0); err != nil {
		t.Fatal(err)
	}
	if err := jobCalls(ctx, st, id, fullObservation(), fullRef()); err != nil {
		t.Fatal(err)
	}
	it := rawItems(t, c, table, "req#"+id)["task#"+fullARN]
	size := itemSize(it)
	t.Logf("task record: %d attributes, %d bytes", len(it), size)
	if len(it) != 22 || size > taskRecordBytes || size < taskRecordBytes*9/10 {
		t.Fatalf("task record: %d attributes, %d bytes; the doc says 22 and about %d", len(it), size, taskRecordBytes)
	}
}
