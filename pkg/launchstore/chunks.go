package launchstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

func (st *DynamoDB) update(ctx context.Context, in *dynamodb.UpdateItemInput) (map[string]ddb.AttributeValue, error) {
	in.TableName = aws.String(st.table)
	out, err := st.db.UpdateItem(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

// Chunk reads a chunk's state (consistent); a chunk never written is empty.
func (st *DynamoDB) Chunk(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(reqPK(requestID), chunkSK(chunk)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return launch.ChunkState{}, fmt.Errorf("load chunk %s/%d: %w", requestID, chunk, err)
	}
	return parseChunk(chunk, out.Item), nil
}

// BeginAttempt records rec as attempt rec.Attempt of the chunk unless that
// attempt is already recorded, and returns the chunk with the attempt as
// stored (the earlier record wins: its parameters must be reused).
func (st *DynamoDB) BeginAttempt(ctx context.Context, requestID string, c launch.ChunkSpec, rec launch.AttemptRecord, expires time.Time) (launch.ChunkState, error) {
	rec.State, rec.Sends, rec.SentAt = launch.AttemptSent, 0, time.Time{}
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
		return launch.ChunkState{}, fmt.Errorf("begin attempt %s/%d/%d: %w", requestID, c.Index, rec.Attempt, err)
	}
	return parseChunk(c.Index, attrs), nil
}

// FinishAttempt stores the answer of an attempt: the launched ids join the
// chunk's set (a replayed answer adds nothing new), failures are kept.
func (st *DynamoDB) FinishAttempt(ctx context.Context, requestID string, chunk, attempt int, ids []string, failures []launch.Failure, at time.Time) (launch.ChunkState, error) {
	fj, _ := json.Marshal(failures)
	expr := "SET #a.#st = :done, #a.#l = :n, #a.#f = :f"
	vals := map[string]ddb.AttributeValue{":done": s(launch.AttemptDone), ":n": n(int64(len(ids))), ":f": s(string(fj))}
	names := map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#l": "launched", "#f": "failures"}
	expr = addIDs(expr, names, vals, ids, at)
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#a)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if err != nil {
		return launch.ChunkState{}, fmt.Errorf("finish attempt %s/%d/%d: %w", requestID, chunk, attempt, err)
	}
	return parseChunk(chunk, attrs), nil
}

// addIDs extends a SET expression on attempt #a with the launched ids (the
// chunk's set, and the attempt's ordered list) and the chunk's launch time (the summary's start watch runs from the latest); DynamoDB
// rejects empty sets and unused names, so nothing is added without ids.
func addIDs(expr string, names map[string]string, vals map[string]ddb.AttributeValue, ids []string, at time.Time) string {
	if len(ids) == 0 {
		return expr
	}
	names["#ids"], names["#lat"], names["#ol"] = "ids", "launchedAt", "ids"
	vals[":ids"], vals[":lat"], vals[":ol"] = ss(ids), s(at.UTC().Format(time.RFC3339Nano)), list(ids)
	return strings.Replace(expr, "SET ", "SET #lat = :lat, #a.#ol = :ol, ", 1) + " ADD #ids :ids"
}

// ClaimSend claims the next send of a begun attempt: one conditional
// write on the send counter, so two invocations of one attempt cannot
// both own a send. A record written before the counter existed counts 0;
// an attempt already answered or settled is not claimed (ErrFenced).
func (st *DynamoDB) ClaimSend(ctx context.Context, requestID string, chunk, attempt, sends int, at time.Time) (int, error) {
	cond := "#a.#n = :sends"
	if sends == 0 {
		cond = "attribute_exists(#a) AND (attribute_not_exists(#a.#n) OR #a.#n = :sends)"
	}
	// An answered or settled attempt is never sent again.
	cond += " AND #a.#st <> :done AND #a.#st <> :unknown"
	expr := "SET #a.#st = :sent, #a.#n = :next, #a.#at = if_not_exists(#a.#at, :at)"
	names := map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#n": "sends", "#at": "sentAt"}
	vals := map[string]ddb.AttributeValue{
		":sent": s(launch.AttemptSent), ":sends": n(int64(sends)), ":next": n(int64(sends + 1)),
		":at": s(at.UTC().Format(time.RFC3339Nano)), ":done": s(launch.AttemptDone), ":unknown": s(launch.AttemptUnknown),
	}
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key: key(reqPK(requestID), chunkSK(chunk)), UpdateExpression: aws.String(expr),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if err != nil {
		return 0, fenceErr("claim send", requestID, chunk, attempt, err)
	}
	return sends + 1, nil
}

// fenceErr names a refused fenced write ErrFenced.
func fenceErr(op, requestID string, chunk, attempt int, err error) error {
	if isConditionFailed(err) {
		return fmt.Errorf("%s %s/%d/%d: %w: %w", op, requestID, chunk, attempt, ErrFenced, err)
	}
	return fmt.Errorf("%s %s/%d/%d: %w", op, requestID, chunk, attempt, err)
}

// fenceCond is the condition of a state change by send :sends.
const fenceCond = "#a.#n = :sends AND #a.#st = :sent"

// FailAttempt marks an attempt definitively refused (nothing launched) by
// its send sends.
func (st *DynamoDB) FailAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                      key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:         aws.String("SET #a.#st = :failed, #a.#code = :code"),
		ConditionExpression:      aws.String(fenceCond),
		ExpressionAttributeNames: map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#code": "code", "#n": "sends"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":failed": s(launch.AttemptFailed), ":code": s(code), ":sends": n(int64(sends)), ":sent": s(launch.AttemptSent),
		},
	})
	if err != nil {
		return fenceErr("fail attempt", requestID, chunk, attempt, err)
	}
	return nil
}

// NoteUnsettled records that send sends, a replay, was answered without
// settling the attempt (code): it stays "sent" and counts one more replay.
func (st *DynamoDB) NoteUnsettled(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                 key(reqPK(requestID), chunkSK(chunk)),
		UpdateExpression:    aws.String("SET #a.#code = :code, #a.#r = if_not_exists(#a.#r, :zero) + :one"),
		ConditionExpression: aws.String(fenceCond),
		ExpressionAttributeNames: map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#code": "code",
			"#n": "sends", "#r": "replays"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":code": s(code), ":zero": n(0), ":one": n(1),
			":sends": n(int64(sends)), ":sent": s(launch.AttemptSent)},
	})
	if err != nil {
		return fenceErr("note unsettled", requestID, chunk, attempt, err)
	}
	return nil
}

// SettleAttempt closes an attempt whose outcome no replay settled: ids are
// the units evidence proves it launched (they join the chunk's set); the
// attempt becomes "unknown" with code.
func (st *DynamoDB) SettleAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, ids []string, code string, at time.Time) (launch.ChunkState, error) {
	expr := "SET #a.#st = :unknown, #a.#l = :l, #a.#code = :code"
	names := map[string]string{"#a": attemptAttr(attempt), "#st": "state", "#l": "launched", "#code": "code", "#n": "sends"}
	vals := map[string]ddb.AttributeValue{":unknown": s(launch.AttemptUnknown), ":l": n(int64(len(ids))), ":code": s(code),
		":sends": n(int64(sends)), ":sent": s(launch.AttemptSent)}
	expr = addIDs(expr, names, vals, ids, at)
	attrs, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key: key(reqPK(requestID), chunkSK(chunk)), UpdateExpression: aws.String(expr),
		ConditionExpression: aws.String(fenceCond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValues: ddb.ReturnValueAllNew,
	})
	if err != nil {
		return launch.ChunkState{}, fenceErr("settle attempt", requestID, chunk, attempt, err)
	}
	return parseChunk(chunk, attrs), nil
}

// AddRetry counts one retry decision for the chunk and returns the new count.
func (st *DynamoDB) AddRetry(ctx context.Context, requestID string, chunk int) (int, error) {
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
func (st *DynamoDB) GiveUp(ctx context.Context, requestID string, chunk, missing int, class, code, reason string) (first bool, err error) {
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
func (st *DynamoDB) Chunks(ctx context.Context, requestID string) ([]launch.ChunkState, []launch.LostRecord, error) {
	var chunks []launch.ChunkState
	var lost []launch.LostRecord
	err := st.queryPrefix(ctx, requestID, "chunk#", func(it map[string]ddb.AttributeValue) {
		rest := strings.TrimPrefix(str(it[config.TableSK]), "chunk#")
		idx, _ := strconv.Atoi(rest[:min(6, len(rest))])
		if strings.Contains(rest, "#lost#") {
			lost = append(lost, launch.LostRecord{Chunk: idx, Reason: str(it["reason"]), Units: num(it["units"])})
			return
		}
		chunks = append(chunks, parseChunk(idx, it))
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list chunks of %s: %w", requestID, err)
	}
	return chunks, lost, nil
}

// queryPrefix passes each item of the request whose sort key begins with
// prefix to each, in sort-key order, one consistent Query page after
// another.
func (st *DynamoDB) queryPrefix(ctx context.Context, requestID, prefix string, each func(map[string]ddb.AttributeValue)) error {
	var start map[string]ddb.AttributeValue
	for {
		out, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(st.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :p)"),
			ExpressionAttributeNames:  map[string]string{"#pk": config.TablePK, "#sk": config.TableSK},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(reqPK(requestID)), ":p": s(prefix)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
			Limit:                     st.pageLimit,
		})
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			each(it)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

func attemptAV(r launch.AttemptRecord) ddb.AttributeValue {
	m := map[string]ddb.AttributeValue{
		"attempt": n(int64(r.Attempt)), "count": n(int64(r.Count)), "token": s(r.Token),
		"startedBy": s(r.StartedBy), "state": s(r.State), "launched": n(int64(r.Launched)),
		"sends": n(int64(r.Sends)),
	}
	if r.InstanceType != "" {
		m["instanceType"] = s(r.InstanceType)
	}
	if r.Subnet != "" {
		m["subnet"] = s(r.Subnet)
	}
	return &ddb.AttributeValueMemberM{Value: m}
}

func parseChunk(idx int, it map[string]ddb.AttributeValue) launch.ChunkState {
	c := launch.ChunkState{Index: idx, Attempts: map[int]launch.AttemptRecord{}}
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
		case "launchedAt":
			c.LaunchedAt, _ = time.Parse(time.RFC3339Nano, str(v))
		case "quotaWaitSince":
			c.QuotaWaitSince, _ = time.Parse(time.RFC3339Nano, str(v))
		default:
			if len(k) < 2 || k[0] != 'a' {
				continue
			}
			a, err := strconv.Atoi(k[1:])
			m, ok := v.(*ddb.AttributeValueMemberM)
			if err != nil || !ok {
				continue
			}
			rec := launch.AttemptRecord{
				Attempt: a, Count: num(m.Value["count"]), Token: str(m.Value["token"]),
				StartedBy: str(m.Value["startedBy"]), InstanceType: str(m.Value["instanceType"]),
				Subnet: str(m.Value["subnet"]), State: str(m.Value["state"]),
				Launched: num(m.Value["launched"]), Code: str(m.Value["code"]), Sends: num(m.Value["sends"]), Replays: num(m.Value["replays"]),
			}
			rec.SentAt, _ = time.Parse(time.RFC3339Nano, str(m.Value["sentAt"]))
			rec.IDs = listStrs(m.Value["ids"])
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

// list is a DynamoDB list of strings, in order (a set has none).
func list(v []string) ddb.AttributeValue {
	l := make([]ddb.AttributeValue, len(v))
	for i, x := range v {
		l[i] = s(x)
	}
	return &ddb.AttributeValueMemberL{Value: l}
}

func listStrs(v ddb.AttributeValue) []string {
	l, ok := v.(*ddb.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for _, x := range l.Value {
		out = append(out, str(x))
	}
	return out
}
