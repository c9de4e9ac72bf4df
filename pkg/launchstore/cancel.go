package launchstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// States of a closed request: once LaunchCompleted or LaunchCancelled is
// put, nothing of the request launches any more (relaunches included).
const (
	ClosedCompleted = "completed"
	ClosedCancelled = "cancelled"
)

// Closer marks a request closed and reads the mark. Both stores implement
// it; it is apart from Store so that wrappers of a Store need not.
type Closer interface {
	// CloseRequest marks the request closed as state unless it already is,
	// and returns the state it holds (the first close wins).
	CloseRequest(ctx context.Context, requestID, state string, now time.Time) (string, error)
	// RequestClosed returns the request's closed state, "" while open.
	RequestClosed(ctx context.Context, requestID string) (string, error)
}

var (
	_ Closer = (*DynamoDB)(nil)
	_ Closer = (*Memory)(nil)
)

// CloseRequest sets "closed" on the request's meta item (if not set).
func (st *DynamoDB) CloseRequest(ctx context.Context, requestID, state string, now time.Time) (string, error) {
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), "meta"),
		UpdateExpression:          aws.String("SET #c = if_not_exists(#c, :s), #at = if_not_exists(#at, :now)"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#c": "closed", "#at": "closedAt", "#pk": config.TablePK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":s": s(state), ":now": s(now.UTC().Format(time.RFC3339Nano))},
		ReturnValues:              ddb.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return "", fmt.Errorf("request %q: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("close %s: %w", requestID, err)
	}
	return str(attrs["closed"]), nil
}

// RequestClosed reads the mark (consistent read: Request is cached).
func (st *DynamoDB) RequestClosed(ctx context.Context, requestID string) (string, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), "meta"), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#c"), ExpressionAttributeNames: map[string]string{"#c": "closed"},
	})
	if err != nil {
		return "", fmt.Errorf("read closed mark of %s: %w", requestID, err)
	}
	return str(out.Item["closed"]), nil
}

// CloseRequest marks the request closed (first close wins).
func (m *Memory) CloseRequest(ctx context.Context, requestID, state string, _ time.Time) (string, error) {
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	if _, err := m.request(requestID); err != nil {
		return "", err
	}
	if m.closed[requestID] == "" {
		m.closed[requestID] = state
	}
	return m.closed[requestID], nil
}

// RequestClosed returns the request's mark, "" while open.
func (m *Memory) RequestClosed(ctx context.Context, requestID string) (string, error) {
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	return m.closed[requestID], nil
}
