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

// ExecutionClaim is the execution that holds a request id
// (req#<id> / execution): one live execution per request id.
type ExecutionClaim struct {
	ExecutionARN string
	ClaimedAt    time.Time
	// Replaced is the execution the holder took the claim from (it had
	// ended), "" for the first claim.
	Replaced string
}

// Claimer claims a request id for one execution. Both stores implement
// it; it is apart from Store so that wrappers of a Store need not.
type Claimer interface {
	// ClaimExecution makes arn the holder of the request id in one
	// conditional write when no execution holds it, arn already does (a
	// retried plan: nothing is written), or the holder is replace (non-empty:
	// the caller found that execution ended). It returns the claim as
	// stored after the call and whether arn holds it; expires is the
	// item's TTL.
	ClaimExecution(ctx context.Context, requestID, arn, replace string, now, expires time.Time) (ExecutionClaim, bool, error)
}

var (
	_ Claimer = (*DynamoDB)(nil)
	_ Claimer = (*Memory)(nil)
)

// ClaimExecution implements Claimer: a PutItem conditioned on the holder,
// answered with the stored item (ALL_OLD) when the condition fails.
func (st *DynamoDB) ClaimExecution(ctx context.Context, requestID, arn, replace string, now, expires time.Time) (ExecutionClaim, bool, error) {
	if arn == "" {
		return ExecutionClaim{}, false, errors.New("claim execution: an execution ARN is required")
	}
	item := key(reqPK(requestID), "execution")
	item["executionArn"] = s(arn)
	item["claimedAt"] = s(now.UTC().Format(time.RFC3339Nano))
	item[config.TableTTL] = n(expires.Unix())
	in := &dynamodb.PutItemInput{
		TableName: aws.String(st.table), Item: item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": config.TablePK},
		ReturnValuesOnConditionCheckFailure: ddb.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if replace != "" {
		item["replaced"] = s(replace)
		in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR #e = :replace")
		in.ExpressionAttributeNames["#e"] = "executionArn"
		in.ExpressionAttributeValues = map[string]ddb.AttributeValue{":replace": s(replace)}
	}
	_, err := st.db.PutItem(ctx, in)
	if ccf, ok := errors.AsType[*ddb.ConditionalCheckFailedException](err); ok {
		// The holder's own retried plan lands here too: nothing rewritten.
		held := parseClaim(ccf.Item)
		if held.ExecutionARN == "" {
			// No ALL_OLD (dynalite ignores it): read the claim that won.
			if held, err = st.readClaim(ctx, requestID); err != nil {
				return ExecutionClaim{}, false, err
			}
		}
		return held, held.ExecutionARN == arn, nil
	}
	if err != nil {
		return ExecutionClaim{}, false, fmt.Errorf("claim request %s for %s: %w", requestID, arn, err)
	}
	return ExecutionClaim{ExecutionARN: arn, ClaimedAt: now.UTC(), Replaced: replace}, true, nil
}

// readClaim reads the stored claim (consistent).
func (st *DynamoDB) readClaim(ctx context.Context, requestID string) (ExecutionClaim, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), "execution"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return ExecutionClaim{}, fmt.Errorf("read the claim of request %s: %w", requestID, err)
	}
	if out.Item == nil {
		return ExecutionClaim{}, fmt.Errorf("claim of request %s: the condition failed but no claim is stored", requestID)
	}
	return parseClaim(out.Item), nil
}

func parseClaim(item map[string]ddb.AttributeValue) ExecutionClaim {
	at, _ := time.Parse(time.RFC3339Nano, str(item["claimedAt"]))
	return ExecutionClaim{ExecutionARN: str(item["executionArn"]), ClaimedAt: at, Replaced: str(item["replaced"])}
}

// ClaimExecution implements Claimer (see DynamoDB.ClaimExecution).
func (m *Memory) ClaimExecution(ctx context.Context, requestID, arn, replace string, now, _ time.Time) (ExecutionClaim, bool, error) {
	if arn == "" {
		return ExecutionClaim{}, false, errors.New("claim execution: an execution ARN is required")
	}
	if err := m.lock(ctx); err != nil {
		return ExecutionClaim{}, false, err
	}
	defer m.mu.Unlock()
	if held, ok := m.execClaims[requestID]; ok {
		if held.ExecutionARN == arn || replace == "" || held.ExecutionARN != replace {
			return held, held.ExecutionARN == arn, nil
		}
	}
	c := ExecutionClaim{ExecutionARN: arn, ClaimedAt: now.UTC(), Replaced: replace}
	m.execClaims[requestID] = c
	return c, true, nil
}
