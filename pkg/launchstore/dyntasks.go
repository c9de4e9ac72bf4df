package launchstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// A task record (req#<id> / task#<arn>) holds three groups of attributes,
// each written by one method only, so the writers never overwrite each
// other:
//
//	RecordTasks  ref (true), chunk, index, attempt, launchedAt, pred
//	ObserveTask  status, rank, ver, stopCode, stoppedReason, exitCode,
//	             reason, startedAt, stoppedAt, logStream, observedAt
//	DecideTask   outcome, why
//
// An empty string or zero time is no attribute, as an absent exit code is
// (0 is stored), so writing a group REMOVEs its empty fields. rank
// (StatusRank) and ver (the event version) are numbers, so ObserveTask's
// forward-only rule is the write's condition.
func taskSK(arn string) string { return "task#" + arn }

// updateBuilder collects a group's SET and REMOVE actions.
type updateBuilder struct {
	set, remove []string
	names       map[string]string
	vals        map[string]ddb.AttributeValue
}

func newUpdate() *updateBuilder {
	return &updateBuilder{names: map[string]string{}, vals: map[string]ddb.AttributeValue{}}
}

// put SETs attr to v, or REMOVEs it for a nil v.
func (u *updateBuilder) put(attr string, v ddb.AttributeValue) {
	u.names["#"+attr] = attr
	if v == nil {
		u.remove = append(u.remove, "#"+attr)
		return
	}
	u.vals[":"+attr] = v
	u.set = append(u.set, "#"+attr+" = :"+attr)
}

func (u *updateBuilder) str(attr, v string) {
	if v == "" {
		u.put(attr, nil)
		return
	}
	u.put(attr, s(v))
}

func (u *updateBuilder) time(attr string, t time.Time) {
	if t.IsZero() {
		u.put(attr, nil)
		return
	}
	u.put(attr, s(t.UTC().Format(time.RFC3339Nano)))
}

// input is the UpdateItem of the actions on the task record of arn.
func (u *updateBuilder) input(requestID, arn string) *dynamodb.UpdateItemInput {
	var expr []string
	if len(u.set) > 0 {
		expr = append(expr, "SET "+strings.Join(u.set, ", "))
	}
	if len(u.remove) > 0 {
		expr = append(expr, "REMOVE "+strings.Join(u.remove, ", "))
	}
	in := &dynamodb.UpdateItemInput{
		Key: key(reqPK(requestID), taskSK(arn)), UpdateExpression: aws.String(strings.Join(expr, " ")),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.vals,
	}
	if len(u.vals) == 0 {
		in.ExpressionAttributeValues = nil
	}
	return in
}

// RecordTasks writes each ref's launcher attributes with its own
// UpdateItem, a few at once. BatchWriteItem cannot do it: its puts replace
// whole items, which would erase an observation or outcome the tracker
// wrote first.
func (st *DynamoDB) RecordTasks(ctx context.Context, requestID string, refs []launch.TaskRef) error {
	ttl, err := st.ttlOf(ctx, requestID)
	if err != nil {
		return fmt.Errorf("record tasks of %s: %w", requestID, err)
	}
	return inParallel(ctx, len(refs), writesInFlight, func(ctx context.Context, i int) error {
		r := refs[i]
		u := newUpdate()
		u.put("ref", &ddb.AttributeValueMemberBOOL{Value: true})
		u.put("chunk", n(int64(r.Chunk)))
		u.put("index", n(int64(r.Index)))
		u.put("attempt", n(int64(r.Attempt)))
		u.time("launchedAt", r.LaunchedAt)
		u.str("pred", r.Predecessor)
		in := u.input(requestID, r.ARN)
		withTTL(in, ttl)
		if _, err := st.update(ctx, in); err != nil {
			return fmt.Errorf("record task %s of %s: %w", r.ARN, requestID, err)
		}
		return nil
	})
}

// observation is the update that stores o as the record's observation.
func observation(requestID string, o launch.TaskObservation) *dynamodb.UpdateItemInput {
	u := newUpdate()
	u.str("status", o.LastStatus)
	u.put("rank", n(int64(launch.StatusRank(o.LastStatus))))
	u.put("ver", n(o.Version))
	u.str("stopCode", o.StopCode)
	u.str("stoppedReason", o.StoppedReason)
	if o.ExitCode != nil {
		u.put("exitCode", n(int64(*o.ExitCode)))
	} else {
		u.put("exitCode", nil)
	}
	u.str("reason", o.Reason)
	u.time("startedAt", o.StartedAt)
	u.time("stoppedAt", o.StoppedAt)
	u.str("logStream", o.LogStream)
	u.time("observedAt", o.ObservedAt)
	in := u.input(requestID, o.ARN)
	// Never observed (no status): any observation is stored; else only a
	// later one (launch.TaskObservation.After).
	in.ConditionExpression = aws.String("attribute_not_exists(#status) OR #rank < :rank OR (#rank = :rank AND #ver < :ver)")
	in.ReturnValues = ddb.ReturnValueAllNew
	return in
}

// ObserveTask stores o with one conditional UpdateItem if it is after the
// stored observation; otherwise it reads the record (consistent).
func (st *DynamoDB) ObserveTask(ctx context.Context, requestID string, o launch.TaskObservation) (launch.TaskRecord, bool, error) {
	attrs, err := st.updateWithTTL(ctx, requestID, observation(requestID, o))
	if isConditionFailed(err) {
		rec, err := st.Task(ctx, requestID, o.ARN)
		return rec, false, err
	}
	if err != nil {
		return launch.TaskRecord{}, false, fmt.Errorf("observe task %s of %s: %w", o.ARN, requestID, err)
	}
	return parseTask(attrs), true, nil
}

// errNoOutcome refuses an empty outcome: it would read back as undecided.
var errNoOutcome = errors.New("decide task: empty outcome")

// DecideTask sets the outcome if none is stored (ALL_NEW); otherwise it
// reads the record (consistent) and reports first false.
func (st *DynamoDB) DecideTask(ctx context.Context, requestID, arn, outcome, why string) (launch.TaskRecord, bool, error) {
	if outcome == "" {
		return launch.TaskRecord{}, false, errNoOutcome
	}
	u := newUpdate()
	u.str("outcome", outcome)
	u.str("why", why)
	in := u.input(requestID, arn)
	in.ConditionExpression = aws.String("attribute_not_exists(#outcome)")
	in.ReturnValues = ddb.ReturnValueAllNew
	attrs, err := st.updateWithTTL(ctx, requestID, in)
	if isConditionFailed(err) {
		rec, err := st.Task(ctx, requestID, arn)
		return rec, false, err
	}
	if err != nil {
		return launch.TaskRecord{}, false, fmt.Errorf("decide task %s of %s: %w", arn, requestID, err)
	}
	return parseTask(attrs), true, nil
}

// Task reads a task record (consistent).
func (st *DynamoDB) Task(ctx context.Context, requestID, arn string) (launch.TaskRecord, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), taskSK(arn)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return launch.TaskRecord{}, fmt.Errorf("load task %s of %s: %w", arn, requestID, err)
	}
	if out.Item == nil {
		return launch.TaskRecord{}, fmt.Errorf("task %s of %s: %w", arn, requestID, ErrNotFound)
	}
	return parseTask(out.Item), nil
}

// Tasks lists the request's task records in sort-key (ARN) order.
func (st *DynamoDB) Tasks(ctx context.Context, requestID string) ([]launch.TaskRecord, error) {
	var recs []launch.TaskRecord
	err := st.queryPrefix(ctx, requestID, "task#", func(it map[string]ddb.AttributeValue) {
		recs = append(recs, parseTask(it))
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", requestID, err)
	}
	return recs, nil
}

// parseTask reads a task record's item.
func parseTask(it map[string]ddb.AttributeValue) launch.TaskRecord {
	arn := strings.TrimPrefix(str(it[config.TableSK]), "task#")
	ref, _ := it["ref"].(*ddb.AttributeValueMemberBOOL)
	r := launch.TaskRecord{
		TaskRef: launch.TaskRef{
			ARN: arn, Chunk: num(it["chunk"]), Index: num(it["index"]), Attempt: num(it["attempt"]),
			LaunchedAt: timeAttr(it["launchedAt"]), Predecessor: str(it["pred"]),
		},
		Referenced: ref != nil && ref.Value,
		Observation: launch.TaskObservation{
			ARN: arn, LastStatus: str(it["status"]), Version: num64(it["ver"]),
			StopCode: str(it["stopCode"]), StoppedReason: str(it["stoppedReason"]), Reason: str(it["reason"]),
			StartedAt: timeAttr(it["startedAt"]), StoppedAt: timeAttr(it["stoppedAt"]),
			LogStream: str(it["logStream"]), ObservedAt: timeAttr(it["observedAt"]),
		},
		Outcome: str(it["outcome"]), Why: str(it["why"]),
	}
	if _, ok := it["exitCode"].(*ddb.AttributeValueMemberN); ok {
		r.Observation.ExitCode = new(num(it["exitCode"]))
	}
	if _, ok := it["rank"]; !ok {
		// Not observed yet: the zero observation, without its ARN.
		r.Observation.ARN = ""
	}
	return r
}

func num64(v ddb.AttributeValue) int64 {
	if x, ok := v.(*ddb.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(x.Value, 10, 64)
		return i
	}
	return 0
}

// timeAttr reads an RFC 3339 time attribute (zero when absent).
func timeAttr(v ddb.AttributeValue) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, str(v))
	return t
}
