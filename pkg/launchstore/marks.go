package launchstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// MarkUnavailable records fleet-wide that p has no capacity until until, so
// every runtask skips it (state in the table, not in one Lambda's memory).
func (st *DynamoDB) MarkUnavailable(ctx context.Context, scope string, p launch.Placement, until time.Time) error {
	it := key("failover#"+scope, p.Key())
	it["until"] = s(until.UTC().Format(time.RFC3339Nano))
	it[config.TableTTL] = n(until.Unix() + 1)
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: it}); err != nil {
		return fmt.Errorf("mark %s unavailable: %w", p.Key(), err)
	}
	return nil
}

// Unavailable returns the placements marked unavailable at now, with the
// time each mark ends. Expired marks are ignored (DynamoDB's TTL deletes
// them only eventually).
func (st *DynamoDB) Unavailable(ctx context.Context, scope string, now time.Time) (map[string]time.Time, error) {
	out, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s("failover#" + scope)},
	})
	if err != nil {
		return nil, fmt.Errorf("load failover marks: %w", err)
	}
	marks := map[string]time.Time{}
	for _, it := range out.Items {
		until, perr := time.Parse(time.RFC3339Nano, str(it["until"]))
		if perr == nil && until.After(now) {
			marks[str(it[config.TableSK])] = until
		}
	}
	return marks, nil
}

func relaunchKey(arn string) map[string]ddb.AttributeValue { return key("relaunch#"+arn, "relaunch") }

// ClaimRelaunch creates the relaunch record of the stopped task (one
// conditional write). created is false if it existed; then the stored claim
// is returned.
func (st *DynamoDB) ClaimRelaunch(ctx context.Context, c launch.RelaunchClaim, expires time.Time) (launch.RelaunchClaim, bool, error) {
	it := relaunchKey(c.TaskARN)
	it["requestId"] = s(c.RequestID)
	it["chunk"] = n(int64(c.Chunk))
	it["state"] = s(launch.RelaunchPending)
	it[config.TableTTL] = n(expires.Unix())
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.table), Item: it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": config.TablePK},
	})
	if err == nil {
		c.State = launch.RelaunchPending
		return c, true, nil
	}
	if !isConditionFailed(err) {
		return launch.RelaunchClaim{}, false, fmt.Errorf("claim relaunch of %s: %w", c.TaskARN, err)
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: relaunchKey(c.TaskARN), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return launch.RelaunchClaim{}, false, fmt.Errorf("load relaunch of %s: %w", c.TaskARN, err)
	}
	got := launch.RelaunchClaim{TaskARN: c.TaskARN, RequestID: str(out.Item["requestId"]), Chunk: num(out.Item["chunk"]),
		State: str(out.Item["state"]), NewARN: str(out.Item["newArn"]), Gen: num(out.Item["tokenGen"])}
	got.SlotAt, _ = time.Parse(time.RFC3339Nano, str(out.Item["slotAt"]))
	return got, false, nil
}

// RegisterRelaunch adds a stopped task to its chunk's relaunchIds before
// anything else is done about it, and returns the chunk as stored. A set, not
// a counter: every pass of the same event (queue redelivery, retried
// invocation) adds it again without counting twice. Its relaunch is pending
// until the task joins stoppedIds (FinishRelaunch, GiveUpRelaunch), which the
// summary reads from the chunk items it reads anyway (no extra read).
// The task joins ids too: its TaskFailedToStart event proves the chunk
// launched it, even when the answer that named it was lost, so the chunk
// counts its unit (launched, then relaunched or given up) and never also
// as missing.
func (st *DynamoDB) RegisterRelaunch(ctx context.Context, requestID string, chunk int, arn string) (launch.ChunkState, error) {
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:              key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression: aws.String("ADD #rl :arn, #ids :arn"),
		// A task the chunk never recorded is not added once the chunk is
		// being given up: its unit is among the missing ones.
		ConditionExpression:       aws.String("attribute_not_exists(#gu) OR contains(#ids, :one)"),
		ExpressionAttributeNames:  map[string]string{"#rl": "relaunchIds", "#ids": "ids", "#gu": "givingUp"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":arn": ss([]string{arn}), ":one": s(arn)},
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return launch.ChunkState{}, ErrFenced
	}
	if err != nil {
		return launch.ChunkState{}, fmt.Errorf("register relaunch of %s: %w", arn, err)
	}
	return parseChunk(chunk, attrs), nil
}

// BeginGiveUp marks the chunk as being given up and returns it as stored
// (one write): the give-up counts its missing units from this snapshot.
func (st *DynamoDB) BeginGiveUp(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error) {
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String("SET #gu = :t"),
		ExpressionAttributeNames:  map[string]string{"#gu": "givingUp"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}},
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if err != nil {
		return launch.ChunkState{}, fmt.Errorf("begin give-up of %s/%d: %w", requestID, chunk, err)
	}
	return parseChunk(chunk, attrs), nil
}

// MarkSummaryCheck records the first summary check of a request (the end
// of its chunks) and returns it: later checks get the first one's time.
func (st *DynamoDB) MarkSummaryCheck(ctx context.Context, requestID string, now time.Time) (time.Time, error) {
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), "meta"),
		UpdateExpression:          aws.String("SET #c = if_not_exists(#c, :now)"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#c": "summaryCheckAt", "#pk": config.TablePK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":now": s(now.UTC().Format(time.RFC3339Nano))},
		ReturnValues:              ddb.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return time.Time{}, fmt.Errorf("request %q: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("summary check of %s: %w", requestID, err)
	}
	t, err := time.Parse(time.RFC3339Nano, str(attrs["summaryCheckAt"]))
	if err != nil {
		return time.Time{}, fmt.Errorf("summary check of %s: stored time unreadable: %w", requestID, err)
	}
	return t, nil
}

// SetRelaunchSlot remembers a slot held for a relaunch that had to wait.
func (st *DynamoDB) SetRelaunchSlot(ctx context.Context, arn string, at time.Time) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key: relaunchKey(arn), UpdateExpression: aws.String("SET #at = :at"),
		ExpressionAttributeNames:  map[string]string{"#at": "slotAt"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":at": s(at.UTC().Format(time.RFC3339Nano))},
	})
	if err != nil {
		return fmt.Errorf("relaunch slot of %s: %w", arn, err)
	}
	return nil
}

// ChargeRelaunch counts one relaunch against the chunk's budget; ok is false
// when the budget (max) is spent.
func (st *DynamoDB) ChargeRelaunch(ctx context.Context, requestID string, chunk, max int) (ok bool, err error) {
	_, err = st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String("ADD #r :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#r) OR #r < :max"),
		ExpressionAttributeNames:  map[string]string{"#r": "relaunches"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": n(1), ":max": n(int64(max))},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("charge relaunch %s/%d: %w", requestID, chunk, err)
	}
	return true, nil
}

// FinishRelaunch records the relaunched task in its chunk (the stopped task
// leaves the launched count, the new one joins it, at is the chunk's latest
// launch) and closes the claim.
func (st *DynamoDB) FinishRelaunch(ctx context.Context, c launch.RelaunchClaim, newARN string, at time.Time) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.table),
		Key:                      key(reqPK(c.RequestID), chunkSK(c.Chunk)),
		UpdateExpression:         aws.String("SET #lat = :lat ADD #ids :new, #stopped :old"),
		ConditionExpression:      aws.String("NOT contains(#stopped, :arn)"),
		ExpressionAttributeNames: map[string]string{"#ids": "ids", "#stopped": "stoppedIds", "#lat": "launchedAt"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":new": ss([]string{newARN}), ":old": ss([]string{c.TaskARN}), ":lat": s(at.UTC().Format(time.RFC3339Nano)),
			":arn": s(c.TaskARN),
		},
		ReturnValuesOnConditionCheckFailure: ddb.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if ccf, ok := errors.AsType[*ddb.ConditionalCheckFailedException](err); ok {
		// The stopped task was settled first: recorded (this is a repeat)
		// or given up, its unit already dead-lettered; then the new task
		// is not counted on top of it (the dead letter names it as one
		// that may be running).
		if !slices.Contains(parseChunk(c.Chunk, ccf.Item).IDs, newARN) {
			return nil
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("record relaunch of %s: %w", c.TaskARN, err)
	}
	return st.closeClaim(ctx, c.TaskARN, launch.RelaunchDone, newARN, "")
}

// GiveUpRelaunch records that the stopped task will not be relaunched: it
// leaves the launched count and a lost record carries the reason.
func (st *DynamoDB) GiveUpRelaunch(ctx context.Context, c launch.RelaunchClaim, reason string) error {
	it := key(reqPK(c.RequestID), chunkSK(c.Chunk)+"#lost#"+shortHash(c.TaskARN))
	it["reason"] = s(reason)
	it["units"] = n(1)
	it["taskArn"] = s(c.TaskARN)
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: it}); err != nil {
		return fmt.Errorf("record lost relaunch of %s: %w", c.TaskARN, err)
	}
	// Counted once: two deliveries of the event may both give up (chaos
	// seed 111), and a second "lost" would hide a missing unit of the chunk.
	if _, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                      key(reqPK(c.RequestID), chunkSK(c.Chunk)),
		UpdateExpression:         aws.String("ADD #stopped :old, #lost :one"),
		ConditionExpression:      aws.String("NOT contains(#stopped, :arn)"),
		ExpressionAttributeNames: map[string]string{"#stopped": "stoppedIds", "#lost": "lost"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":old": ss([]string{c.TaskARN}), ":one": n(1), ":arn": s(c.TaskARN),
		},
	}); err != nil && !isConditionFailed(err) {
		return fmt.Errorf("record lost relaunch of %s: %w", c.TaskARN, err)
	}
	return st.closeClaim(ctx, c.TaskARN, launch.RelaunchGaveUp, "", reason)
}

func (st *DynamoDB) closeClaim(ctx context.Context, arn, state, newARN, reason string) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                      relaunchKey(arn),
		UpdateExpression:         aws.String("SET #st = :st, #new = :new, #reason = :reason"),
		ExpressionAttributeNames: map[string]string{"#st": "state", "#new": "newArn", "#reason": "reason"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":st": s(state), ":new": s(newARN), ":reason": s(reason),
		},
	})
	if err != nil {
		return fmt.Errorf("close relaunch claim of %s: %w", arn, err)
	}
	return nil
}
