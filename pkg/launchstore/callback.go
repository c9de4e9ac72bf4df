package launchstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// CallbackState is what the product keeps of a request's callback, on the
// request's meta item beside the request (whose callback.taskToken is the
// one token: no chunk carries it).
type CallbackState struct {
	// Answer is how the token was answered, "" until then: success,
	// failure, or final (the token refused: TaskTimedOut, TaskDoesNotExist,
	// InvalidToken), with Detail (the error of a failure, the refusal).
	Answer, Detail string
	AnsweredAt     time.Time
	// FailError and FailCause are the failure the execution ends with when
	// its chunks failed (the Map's error), recorded for the final summary.
	FailError, FailCause string
	// HeartbeatSeq is the next heartbeat the chain may claim; HeartbeatOwner
	// the queue message that claimed the last one.
	HeartbeatSeq   int
	HeartbeatOwner string
}

// Callback answers (CallbackState.Answer).
const (
	AnswerSuccess = "success"
	AnswerFailure = "failure"
	AnswerFinal   = "final"
)

// Callbacks keeps a request's callback state. Both stores implement it;
// apart from Store, as Closer.
type Callbacks interface {
	// RecordAnswer records how the token was answered unless it already
	// was (first false): sent first, recorded after, so a re-run that finds
	// it recorded answers nothing again. ErrNotFound for an unknown request.
	RecordAnswer(ctx context.Context, requestID, answer, detail string, at time.Time) (first bool, err error)
	// SetFailure records the failure the final summary answers with when
	// the execution's chunks failed (first write wins).
	SetFailure(ctx context.Context, requestID, errName, cause string) error
	// Callback reads the state (zero value for an unknown request).
	Callback(ctx context.Context, requestID string) (CallbackState, error)
	// ClaimHeartbeat claims heartbeat seq for the queue message owner:
	// granted when seq is the chain's next (HeartbeatSeq == seq), or when
	// owner claimed it already (a redelivery of the same message whose
	// follow-up was not queued); refused otherwise — a duplicate message
	// must not fork a second chain.
	ClaimHeartbeat(ctx context.Context, requestID string, seq int, owner string) (bool, error)
}

var (
	_ Callbacks = (*DynamoDB)(nil)
	_ Callbacks = (*Memory)(nil)
)

// Attributes of the meta item.
const (
	attrCbAnswer  = "cbAnswer"
	attrCbDetail  = "cbDetail"
	attrCbAt      = "cbAt"
	attrCbError   = "cbError"
	attrCbCause   = "cbCause"
	attrHbSeq     = "hbSeq"
	attrHbOwner   = "hbOwner"
	metaSK        = "meta"
	condMetaExist = "attribute_exists(#pk)"
)

// RecordAnswer sets the answer on the meta item if none is set.
func (st *DynamoDB) RecordAnswer(ctx context.Context, requestID, answer, detail string, at time.Time) (bool, error) {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), metaSK),
		UpdateExpression:          aws.String("SET #a = :a, #d = :d, #at = :at"),
		ConditionExpression:       aws.String(condMetaExist + " AND attribute_not_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK, "#a": attrCbAnswer, "#d": attrCbDetail, "#at": attrCbAt},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":a": s(answer), ":d": s(detail), ":at": s(at.UTC().Format(time.RFC3339Nano))},
	})
	if isConditionFailed(err) {
		cb, rerr := st.Callback(ctx, requestID)
		if rerr != nil {
			return false, rerr
		}
		if cb.Answer == "" {
			return false, fmt.Errorf("request %q: %w", requestID, ErrNotFound)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record callback answer of %s: %w", requestID, err)
	}
	return true, nil
}

// SetFailure sets the chunks' failure on the meta item if none is set.
func (st *DynamoDB) SetFailure(ctx context.Context, requestID, errName, cause string) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), metaSK),
		UpdateExpression:          aws.String("SET #e = if_not_exists(#e, :e), #c = if_not_exists(#c, :c)"),
		ConditionExpression:       aws.String(condMetaExist),
		ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK, "#e": attrCbError, "#c": attrCbCause},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":e": s(errName), ":c": s(cause)},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("request %q: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("record the chunks' failure of %s: %w", requestID, err)
	}
	return nil
}

// Callback reads the state (consistent read: Request is cached).
func (st *DynamoDB) Callback(ctx context.Context, requestID string) (CallbackState, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), metaSK), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#a, #d, #at, #e, #c, #s, #o"),
		ExpressionAttributeNames: map[string]string{"#a": attrCbAnswer, "#d": attrCbDetail, "#at": attrCbAt,
			"#e": attrCbError, "#c": attrCbCause, "#s": attrHbSeq, "#o": attrHbOwner},
	})
	if err != nil {
		return CallbackState{}, fmt.Errorf("read callback state of %s: %w", requestID, err)
	}
	it := out.Item
	cb := CallbackState{Answer: str(it[attrCbAnswer]), Detail: str(it[attrCbDetail]), FailError: str(it[attrCbError]),
		FailCause: str(it[attrCbCause]), HeartbeatSeq: num(it[attrHbSeq]), HeartbeatOwner: str(it[attrHbOwner])}
	if at := str(it[attrCbAt]); at != "" {
		cb.AnsweredAt, _ = time.Parse(time.RFC3339Nano, at)
	}
	return cb, nil
}

// ClaimHeartbeat advances hbSeq from seq to seq+1 for owner (or grants
// owner's own claim of seq again).
func (st *DynamoDB) ClaimHeartbeat(ctx context.Context, requestID string, seq int, owner string) (bool, error) {
	vals := map[string]ddb.AttributeValue{":next": n(int64(seq + 1)), ":o": s(owner)}
	next := "attribute_not_exists(#s)"
	if seq > 0 { // DynamoDB refuses a value the expressions do not use
		next, vals[":seq"] = "#s = :seq", n(int64(seq))
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), metaSK),
		UpdateExpression:          aws.String("SET #s = :next, #o = :o"),
		ConditionExpression:       aws.String(condMetaExist + " AND (" + next + " OR (#s = :next AND #o = :o))"),
		ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK, "#s": attrHbSeq, "#o": attrHbOwner},
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim heartbeat %d of %s: %w", seq, requestID, err)
	}
	return true, nil
}

// callbackState runs f on the request's state under its lock
// (ErrNotFound for an unknown request).
func (m *Memory) callbackState(ctx context.Context, requestID string, f func(*CallbackState)) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, err := m.request(requestID); err != nil {
		return err
	}
	cb := m.callbacks[requestID]
	if cb == nil {
		cb = &CallbackState{}
		m.callbacks[requestID] = cb
	}
	f(cb)
	return nil
}

// RecordAnswer records the answer (first wins).
func (m *Memory) RecordAnswer(ctx context.Context, requestID, answer, detail string, at time.Time) (bool, error) {
	first := false
	err := m.callbackState(ctx, requestID, func(cb *CallbackState) {
		if cb.Answer == "" {
			cb.Answer, cb.Detail, cb.AnsweredAt, first = answer, detail, at.UTC(), true
		}
	})
	return first, err
}

// SetFailure records the chunks' failure (first wins).
func (m *Memory) SetFailure(ctx context.Context, requestID, errName, cause string) error {
	return m.callbackState(ctx, requestID, func(cb *CallbackState) {
		if cb.FailError == "" && cb.FailCause == "" {
			cb.FailError, cb.FailCause = errName, cause
		}
	})
}

// Callback reads the state (zero value for an unknown request).
func (m *Memory) Callback(ctx context.Context, requestID string) (CallbackState, error) {
	var out CallbackState
	err := m.callbackState(ctx, requestID, func(cb *CallbackState) { out = *cb })
	if errors.Is(err, ErrNotFound) {
		return CallbackState{}, nil
	}
	return out, err
}

// ClaimHeartbeat claims heartbeat seq for owner.
func (m *Memory) ClaimHeartbeat(ctx context.Context, requestID string, seq int, owner string) (bool, error) {
	ok := false
	err := m.callbackState(ctx, requestID, func(cb *CallbackState) {
		if cb.HeartbeatSeq == seq || (cb.HeartbeatSeq == seq+1 && cb.HeartbeatOwner == owner) {
			cb.HeartbeatSeq, cb.HeartbeatOwner, ok = seq+1, owner, true
		}
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return ok, err
}
