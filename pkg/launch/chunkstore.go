package launch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// Attempt states.
const (
	// AttemptSent: the call may have been made; its outcome is unknown until
	// the same call (same token, same parameters) is made again.
	AttemptSent = "sent"
	// AttemptDone: the call answered; Launched and Failures are its result.
	AttemptDone = "done"
	// AttemptFailed: the call was definitively refused (nothing launched).
	AttemptFailed = "failed"
)

// Failure is one RunTask failures[] entry, or the reason a part of an EC2
// batch was not launched.
type Failure struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	ARN    string `json:"arn,omitempty"`
}

// AttemptRecord is what one attempt of a chunk asked for and got. The
// parameters are stored before the call so that a retry with the same token
// sends exactly the same parameters (ECS answers ConflictException, EC2
// IdempotentParameterMismatch otherwise).
type AttemptRecord struct {
	Attempt      int       `json:"attempt"`
	Count        int       `json:"count"`
	Token        string    `json:"token"`
	StartedBy    string    `json:"startedBy"`
	InstanceType string    `json:"instanceType,omitempty"`
	Subnet       string    `json:"subnet,omitempty"`
	State        string    `json:"state"`
	Launched     int       `json:"launched"`
	Failures     []Failure `json:"failures,omitempty"`
	Code         string    `json:"code,omitempty"`
}

// ChunkState is a chunk's item.
type ChunkState struct {
	Index int
	// IDs are every task ARN / instance ID launched for the chunk,
	// relaunches included; Stopped are the tasks that failed to start.
	IDs     []string
	Stopped []string
	// Relaunching are the stopped tasks registered for a relaunch
	// (RegisterRelaunch); those not yet in Stopped are still pending.
	Relaunching []string
	Attempts    map[int]AttemptRecord
	Retries     int
	// Relaunches counts relaunch claims against the chunk's budget.
	Relaunches int
	// Lost counts stopped tasks whose relaunch was given up (dead-lettered).
	Lost         int
	GaveUp       bool
	DeadLettered int
	Reason       string
	Class        string
	Code         string
}

// Launched is the number of units of the chunk launched and not stopped
// with TaskFailedToStart.
func (c ChunkState) Launched() int {
	n := 0
	for _, id := range c.IDs {
		if !slices.Contains(c.Stopped, id) {
			n++
		}
	}
	return n
}

// PendingRelaunches is the number of the chunk's stopped tasks whose
// relaunch is neither recorded nor given up: registered, not yet stopped.
func (c ChunkState) PendingRelaunches() int {
	n := 0
	for _, id := range c.Relaunching {
		if !slices.Contains(c.Stopped, id) {
			n++
		}
	}
	return n
}

// Settled is Launched without the tasks whose relaunch is pending: they
// failed to start and their replacement is not launched yet.
func (c ChunkState) Settled() int {
	n := 0
	for _, id := range c.IDs {
		if !slices.Contains(c.Stopped, id) && !slices.Contains(c.Relaunching, id) {
			n++
		}
	}
	return n
}

// Missing is the number of units of a chunk of size still to launch: not
// launched, and not already dead-lettered as a lost relaunch.
func (c ChunkState) Missing(size int) int { return max(0, size-c.Launched()-c.Lost) }

// Unsettled returns the lowest attempt whose outcome is unknown.
func (c ChunkState) Unsettled() (AttemptRecord, bool) {
	best, ok := AttemptRecord{}, false
	for _, a := range c.Attempts {
		if a.State == AttemptSent && (!ok || a.Attempt < best.Attempt) {
			best, ok = a, true
		}
	}
	return best, ok
}

// LostRecord is a relaunch that was given up.
type LostRecord struct {
	Chunk  int
	Reason string
	Units  int
}

func (st *Store) update(ctx context.Context, in *dynamodb.UpdateItemInput) (map[string]ddb.AttributeValue, error) {
	in.TableName = aws.String(st.table)
	out, err := st.db.UpdateItem(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

// Chunk reads a chunk's state (consistent); a chunk never written is empty.
func (st *Store) Chunk(ctx context.Context, requestID string, chunk int) (ChunkState, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), chunkSK(chunk)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return ChunkState{}, fmt.Errorf("load chunk %s/%d: %w", requestID, chunk, err)
	}
	return parseChunk(chunk, out.Item), nil
}

// BeginAttempt records rec as attempt rec.Attempt of the chunk unless that
// attempt is already recorded, and returns the chunk with the attempt as
// stored (the earlier record wins: its parameters must be reused).
func (st *Store) BeginAttempt(ctx context.Context, requestID string, c ChunkSpec, rec AttemptRecord, expires time.Time) (ChunkState, error) {
	rec.State = AttemptSent
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:              key(reqPK(requestID), chunkSK(c.Index)),
		UpdateExpression: aws.String("SET #a = if_not_exists(#a, :rec), #kind = :kind, #size = :size, #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{
			"#a": attemptAttr(rec.Attempt), "#kind": "kind", "#size": "size", "#ttl": config.TableTTL,
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":rec": attemptAV(rec), ":kind": s(string(c.Kind)), ":size": n(int64(c.Size)), ":ttl": n(expires.Unix()),
		},
		ReturnValues: ddb.ReturnValueAllNew,
	})
	if err != nil {
		return ChunkState{}, fmt.Errorf("begin attempt %s/%d/%d: %w", requestID, c.Index, rec.Attempt, err)
	}
	return parseChunk(c.Index, attrs), nil
}

// FinishAttempt stores the answer of an attempt: the launched ids join the
// chunk's set (a replayed answer adds nothing new), failures are kept.
func (st *Store) FinishAttempt(ctx context.Context, requestID string, chunk, attempt int, ids []string, failures []Failure) (ChunkState, error) {
	fj, _ := json.Marshal(failures)
	expr := "SET #a.#st = :done, #a.#l = :n, #a.#f = :f"
	vals := map[string]ddb.AttributeValue{":done": s(AttemptDone), ":n": n(int64(len(ids))), ":f": s(string(fj))}
	names := map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#l": "launched", "#f": "failures"}
	if len(ids) > 0 { // DynamoDB rejects empty sets and unused names
		expr += " ADD #ids :ids"
		vals[":ids"] = ss(ids)
		names["#ids"] = "ids"
	}
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#a)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if err != nil {
		return ChunkState{}, fmt.Errorf("finish attempt %s/%d/%d: %w", requestID, chunk, attempt, err)
	}
	return parseChunk(chunk, attrs), nil
}

// FailAttempt marks an attempt definitively refused (nothing launched).
func (st *Store) FailAttempt(ctx context.Context, requestID string, chunk, attempt int, code string) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String("SET #a.#st = :failed, #a.#code = :code"),
		ConditionExpression:       aws.String("attribute_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#code": "code"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":failed": s(AttemptFailed), ":code": s(code)},
	})
	if err != nil {
		return fmt.Errorf("fail attempt %s/%d/%d: %w", requestID, chunk, attempt, err)
	}
	return nil
}

// ResendAttempt marks a refused attempt "sent" again before it is repeated.
func (st *Store) ResendAttempt(ctx context.Context, requestID string, chunk, attempt int) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String("SET #a.#st = :sent"),
		ConditionExpression:       aws.String("attribute_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#a": attemptAttr(attempt), "#st": "state"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":sent": s(AttemptSent)},
	})
	if err != nil {
		return fmt.Errorf("resend attempt %s/%d/%d: %w", requestID, chunk, attempt, err)
	}
	return nil
}

// AddRetry counts one retry decision for the chunk and returns the new count.
func (st *Store) AddRetry(ctx context.Context, requestID string, chunk int) (int, error) {
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String("ADD #r :one"),
		ExpressionAttributeNames:  map[string]string{"#r": "retries"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": n(1)},
		ReturnValues:              ddb.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("count retry %s/%d: %w", requestID, chunk, err)
	}
	return num(attrs["retries"]), nil
}

// GiveUp records that the chunk's missing units were dead-lettered. first is
// false when the chunk was already given up (the counts are not added twice).
func (st *Store) GiveUp(ctx context.Context, requestID string, chunk, missing int, class, code, reason string) (first bool, err error) {
	_, err = st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                 key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:    aws.String("SET #g = :t, #reason = :reason, #class = :class, #code = :code ADD #dl :m"),
		ConditionExpression: aws.String("attribute_not_exists(#g)"),
		ExpressionAttributeNames: map[string]string{
			"#g": "gaveUp", "#reason": "reason", "#class": "class", "#code": "code", "#dl": "deadLettered",
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":t": &ddb.AttributeValueMemberBOOL{Value: true}, ":reason": s(reason), ":class": s(class),
			":code": s(code), ":m": n(int64(missing)),
		},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("give up %s/%d: %w", requestID, chunk, err)
	}
	return true, nil
}

// Chunks lists every chunk item of a request, and the relaunches given up.
func (st *Store) Chunks(ctx context.Context, requestID string) ([]ChunkState, []LostRecord, error) {
	var chunks []ChunkState
	var lost []LostRecord
	var start map[string]ddb.AttributeValue
	for {
		out, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(st.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :c)"),
			ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK, "#sk": config.TableSK},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(reqPK(requestID)), ":c": s("chunk#")},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list chunks of %s: %w", requestID, err)
		}
		for _, it := range out.Items {
			sk := str(it[config.TableSK])
			rest := strings.TrimPrefix(sk, "chunk#")
			idx, _ := strconv.Atoi(rest[:min(6, len(rest))])
			if strings.Contains(rest, "#lost#") {
				lost = append(lost, LostRecord{Chunk: idx, Reason: str(it["reason"]), Units: num(it["units"])})
				continue
			}
			chunks = append(chunks, parseChunk(idx, it))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return chunks, lost, nil
		}
		start = out.LastEvaluatedKey
	}
}

func attemptAV(r AttemptRecord) ddb.AttributeValue {
	m := map[string]ddb.AttributeValue{
		"attempt": n(int64(r.Attempt)), "count": n(int64(r.Count)), "token": s(r.Token),
		"startedBy": s(r.StartedBy), "state": s(r.State), "launched": n(int64(r.Launched)),
	}
	if r.InstanceType != "" {
		m["instanceType"] = s(r.InstanceType)
	}
	if r.Subnet != "" {
		m["subnet"] = s(r.Subnet)
	}
	return &ddb.AttributeValueMemberM{Value: m}
}

func parseChunk(idx int, it map[string]ddb.AttributeValue) ChunkState {
	c := ChunkState{Index: idx, Attempts: map[int]AttemptRecord{}}
	for k, v := range it {
		switch k {
		case "ids":
			c.IDs = strs(v)
		case "stoppedIds":
			c.Stopped = strs(v)
		case "relaunchIds":
			c.Relaunching = strs(v)
		case "retries":
			c.Retries = num(v)
		case "relaunches":
			c.Relaunches = num(v)
		case "lost":
			c.Lost = num(v)
		case "deadLettered":
			c.DeadLettered = num(v)
		case "gaveUp":
			b, _ := v.(*ddb.AttributeValueMemberBOOL)
			c.GaveUp = b != nil && b.Value
		case "reason":
			c.Reason = str(v)
		case "class":
			c.Class = str(v)
		case "code":
			c.Code = str(v)
		default:
			if len(k) < 2 || k[0] != 'a' {
				continue
			}
			a, err := strconv.Atoi(k[1:])
			m, ok := v.(*ddb.AttributeValueMemberM)
			if err != nil || !ok {
				continue
			}
			rec := AttemptRecord{
				Attempt: a, Count: num(m.Value["count"]), Token: str(m.Value["token"]),
				StartedBy: str(m.Value["startedBy"]), InstanceType: str(m.Value["instanceType"]),
				Subnet: str(m.Value["subnet"]), State: str(m.Value["state"]),
				Launched: num(m.Value["launched"]), Code: str(m.Value["code"]),
			}
			if f := str(m.Value["failures"]); f != "" {
				_ = json.Unmarshal([]byte(f), &rec.Failures)
			}
			c.Attempts[a] = rec
		}
	}
	return c
}

func shortHash(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:8])
}
