package launchstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// DynamoDBAPI is the part of the DynamoDB API the store uses; *dynamodb.Client
// satisfies it.
type DynamoDBAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Retention is how long request items live after planning (the TTL
// attribute), beyond the request's deadline.
const Retention = 7 * 24 * time.Hour

// DynamoDB keeps requests, plans and chunk results in the product's table
// (layout in docs/contracts.md):
//
//	req#<requestId>     / meta                     the request, its fingerprint, plan counts, deadline
//	req#<requestId>     / chunk#<6 digits>         ids, stoppedIds, attempt records a<n> (with their send fence
//	                                               sends / replays / sentAt), retries, give-up
//	req#<requestId>     / chunk#<6 digits>#lost#…  a relaunch that was given up
//	req#<requestId>     / item#<6 digits>          a version-2 request's per-task input (item)
//	req#<requestId>     / task#<taskArn>           a task record (see dyntasks.go for its attributes)
//	req#<requestId>     / quota                    the quota gate: stops, probeStops, probes, probedAt (ns)
//	req#<requestId>     / execution                the execution holding the request id: executionArn, claimedAt,
//	                                               replaced (the ended holder it took over from) (claim.go)
//	reqhash#<12 hex>    / meta                     requestId (events carry only the hash in startedBy)
//	failover#<scope>    / <instanceType>#<subnet>  capacity mark, until expiresAt
//	relaunch#<taskArn>  / relaunch                 relaunch claim of a task that failed to start
//
// A chunk item also holds quotaWaitSince while the chunk waits for quota.
// The meta item also holds the closed mark (closed, closedAt: cancel.go)
// and the callback's state (callback.go): cbAnswer / cbDetail / cbAt, the
// chunks' failure cbError / cbCause, the heartbeat chain's hbSeq / hbOwner.
// Items, task records and the quota gate carry the request's TTL (its
// deadline plus Retention) when the request is stored. A fully written task
// record is about 700 bytes by DynamoDB's item-size rules (a UUID
// requestId, typical ECS reasons; TestDynamoDBTaskRecordSize): a 1 MB Tasks
// page holds about 1,500 records, and a consistent Tasks query reads one
// unit per 4 KB, about 6 records.
//
// Safe for concurrent use.
type DynamoDB struct {
	db    DynamoDBAPI
	table string
	cache sync.Map // requestId → *StoredRequest (requests never change)
	// pageLimit caps the items of one Query page (nil: DynamoDB's 1 MB
	// page), so tests can page without writing a megabyte.
	pageLimit *int32
}

// NewDynamoDB returns the store on table.
func NewDynamoDB(db DynamoDBAPI, table string) *DynamoDB {
	return &DynamoDB{db: db, table: table}
}

func reqPK(id string) string        { return "req#" + id }
func chunkSK(i int) string          { return fmt.Sprintf("chunk#%06d", i) }
func attemptAttr(a int) string      { return "a" + strconv.Itoa(a) }
func s(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }
func n(v int64) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func ss(v []string) ddb.AttributeValue { return &ddb.AttributeValueMemberSS{Value: v} }
func key(pk, sk string) map[string]ddb.AttributeValue {
	return map[string]ddb.AttributeValue{config.TablePK: s(pk), config.TableSK: s(sk)}
}

func isConditionFailed(err error) bool {
	var ccf *ddb.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// CreateRequest stores r and its plan once. If the requestId is already
// stored with the same fingerprint it returns the stored plan (a repeated
// submission is idempotent); with a different request, ErrRequestConflict.
func (st *DynamoDB) CreateRequest(ctx context.Context, r launch.Request, now time.Time) (launch.StoredRequest, error) {
	dl := r.Deadline(now)
	plan := launch.NewPlan(r, dl)
	body, err := json.Marshal(r)
	if err != nil {
		return launch.StoredRequest{}, fmt.Errorf("store request: %w", err)
	}
	hash := launch.RequestHash(r.RequestID)
	expires := dl.Add(Retention).Unix()
	item := key(reqPK(r.RequestID), "meta")
	item["request"] = s(string(body))
	item["fingerprint"] = s(launch.Fingerprint(r))
	item["requestHash"] = s(hash)
	item["createdAt"] = s(now.UTC().Format(time.RFC3339Nano))
	item["deadline"] = s(dl.UTC().Format(time.RFC3339Nano))
	item[config.TableTTL] = n(expires)
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(st.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": config.TablePK},
	})
	if isConditionFailed(err) {
		stored, gerr := st.Request(ctx, r.RequestID)
		if gerr != nil {
			return launch.StoredRequest{}, gerr
		}
		if launch.Fingerprint(stored.Request) != launch.Fingerprint(r) {
			return launch.StoredRequest{}, ErrRequestConflict
		}
		return stored, nil
	}
	if err != nil {
		return launch.StoredRequest{}, fmt.Errorf("store request %s: %w", r.RequestID, err)
	}
	hitem := key("reqhash#"+hash, "meta")
	hitem["requestId"] = s(r.RequestID)
	hitem[config.TableTTL] = n(expires)
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: hitem}); err != nil {
		return launch.StoredRequest{}, fmt.Errorf("store request hash %s: %w", r.RequestID, err)
	}
	sr := launch.StoredRequest{Request: r, Plan: plan, Created: now.UTC(), Deadline: dl.UTC()}
	st.cache.Store(r.RequestID, &sr)
	return sr, nil
}

// Request loads a stored request (cached after the first read).
func (st *DynamoDB) Request(ctx context.Context, requestID string) (launch.StoredRequest, error) {
	if v, ok := st.cache.Load(requestID); ok {
		return *v.(*launch.StoredRequest), nil
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), "meta"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return launch.StoredRequest{}, fmt.Errorf("load request %s: %w", requestID, err)
	}
	if out.Item == nil {
		return launch.StoredRequest{}, fmt.Errorf("request %q: %w", requestID, ErrNotFound)
	}
	var sr launch.StoredRequest
	if err := json.Unmarshal([]byte(str(out.Item["request"])), &sr.Request); err != nil {
		return launch.StoredRequest{}, fmt.Errorf("request %q: stored request unreadable: %w", requestID, err)
	}
	// A time that does not parse is an error, not a zero time: a zero
	// deadline would read as passed and give every chunk up.
	if sr.Created, err = time.Parse(time.RFC3339Nano, str(out.Item["createdAt"])); err != nil {
		return launch.StoredRequest{}, fmt.Errorf("request %q: stored createdAt unreadable: %w", requestID, err)
	}
	if sr.Deadline, err = time.Parse(time.RFC3339Nano, str(out.Item["deadline"])); err != nil {
		return launch.StoredRequest{}, fmt.Errorf("request %q: stored deadline unreadable: %w", requestID, err)
	}
	sr.Plan = launch.NewPlan(sr.Request, sr.Deadline)
	st.cache.Store(requestID, &sr)
	return sr, nil
}

// RequestIDForHash finds the requestId whose RequestHash is hash.
func (st *DynamoDB) RequestIDForHash(ctx context.Context, hash string) (string, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key("reqhash#"+hash, "meta"), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("load request hash %s: %w", hash, err)
	}
	if out.Item == nil {
		return "", fmt.Errorf("request hash %s: %w", hash, ErrNotFound)
	}
	return str(out.Item["requestId"]), nil
}

func str(v ddb.AttributeValue) string {
	if x, ok := v.(*ddb.AttributeValueMemberS); ok {
		return x.Value
	}
	return ""
}

func num(v ddb.AttributeValue) int {
	if x, ok := v.(*ddb.AttributeValueMemberN); ok {
		i, _ := strconv.Atoi(x.Value)
		return i
	}
	return 0
}

func strs(v ddb.AttributeValue) []string {
	if x, ok := v.(*ddb.AttributeValueMemberSS); ok {
		return x.Value
	}
	return nil
}

// SetRelaunchUnsettled marks the relaunch claim of arn as having a RunTask
// call whose outcome is unknown (at non-zero), or clears the mark (zero):
// written before the call. The mark keeps the time of the first call so
// marked (unsettledAt, if_not_exists: the same write), which bounds the
// token's replay window. A relaunch so marked is never given up at the
// deadline (its task may run): the call is replayed with its token within
// the window, and settled by evidence beyond it.
func (st *DynamoDB) SetRelaunchUnsettled(ctx context.Context, arn string, at time.Time) error {
	in := &dynamodb.UpdateItemInput{
		Key: relaunchKey(arn), UpdateExpression: aws.String("SET #u = :u, #ua = if_not_exists(#ua, :at)"),
		ExpressionAttributeNames: map[string]string{"#u": "unsettled", "#ua": "unsettledAt"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":u": &ddb.AttributeValueMemberBOOL{Value: true}, ":at": s(at.UTC().Format(time.RFC3339Nano))},
	}
	if at.IsZero() {
		in.UpdateExpression = aws.String("SET #u = :u REMOVE #ua")
		in.ExpressionAttributeValues = map[string]ddb.AttributeValue{":u": &ddb.AttributeValueMemberBOOL{Value: false}}
	}
	if _, err := st.update(ctx, in); err != nil {
		return fmt.Errorf("relaunch of %s: unsettled: %w", arn, err)
	}
	return nil
}

// ClaimRelaunchSend claims the next send of the relaunch of arn with token
// generation gen: a delivery that read an older generation (another one
// advanced it after a failures[] answer) may not call with its stale token,
// which, when a failures[] answer does not bind it, would launch anew.
func (st *DynamoDB) ClaimRelaunchSend(ctx context.Context, arn string, gen int) (int, error) {
	cond := "#g = :gen"
	if gen == 0 {
		cond = "attribute_not_exists(#g) OR #g = :gen"
	}
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key: relaunchKey(arn), UpdateExpression: aws.String("ADD #s :one"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#g": "tokenGen", "#s": "sends"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":gen": n(int64(gen)), ":one": n(1)},
		ReturnValues:              ddb.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return 0, ErrFenced
	}
	if err != nil {
		return 0, fmt.Errorf("relaunch of %s: claim send: %w", arn, err)
	}
	return num(attrs["sends"]), nil
}

// AdvanceRelaunchToken moves the relaunch of arn from token generation gen
// to gen+1 and marks it settled (the next token's window starts at its own
// first call), after a call with generation gen answered
// failures[] (nothing launched). Only from gen: a concurrent delivery that
// saw the same answer does not advance it twice, so every delivery calls
// with the one token that may have launched.
func (st *DynamoDB) AdvanceRelaunchToken(ctx context.Context, arn string, gen, sends int) error {
	in := &dynamodb.UpdateItemInput{
		Key: relaunchKey(arn), UpdateExpression: aws.String("SET #g = :next, #u = :u REMOVE #ua"),
		// Generation 0 is stored as no attribute.
		ConditionExpression:      aws.String("attribute_not_exists(#g) OR #g = :gen"),
		ExpressionAttributeNames: map[string]string{"#g": "tokenGen", "#u": "unsettled", "#ua": "unsettledAt"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":gen": n(int64(gen)), ":next": n(int64(gen + 1)), ":u": &ddb.AttributeValueMemberBOOL{Value: false},
		},
	}
	if sends > 0 {
		// Another delivery sent the same token since: its answer decides.
		in.ConditionExpression = aws.String("(attribute_not_exists(#g) OR #g = :gen) AND #s = :sends")
		in.ExpressionAttributeNames["#s"] = "sends"
		in.ExpressionAttributeValues[":sends"] = n(int64(sends))
	}
	_, err := st.update(ctx, in)
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("relaunch of %s: token generation: %w", arn, err)
	}
	return nil
}

// RelaunchUnsettled reports SetRelaunchUnsettled's mark (consistent read).
func (st *DynamoDB) RelaunchUnsettled(ctx context.Context, arn string) (bool, error) {
	u, _, err := st.RelaunchUnsettledSince(ctx, arn)
	return u, err
}

// RelaunchUnsettledSince reports the mark and the time of the first call
// so marked (zero for a mark written without one) (consistent read).
func (st *DynamoDB) RelaunchUnsettledSince(ctx context.Context, arn string) (bool, time.Time, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: relaunchKey(arn),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#u, #ua"),
		ExpressionAttributeNames: map[string]string{"#u": "unsettled", "#ua": "unsettledAt"}})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("relaunch of %s: unsettled: %w", arn, err)
	}
	b, _ := out.Item["unsettled"].(*ddb.AttributeValueMemberBOOL)
	if b == nil || !b.Value {
		return false, time.Time{}, nil
	}
	at, _ := time.Parse(time.RFC3339Nano, str(out.Item["unsettledAt"]))
	return true, at, nil
}

// Table is the name of the store's table.
func (st *DynamoDB) Table() string { return st.table }
