package limiter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoAPI is the part of the DynamoDB client DynamoStore uses; a
// *dynamodb.Client satisfies it.
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Attribute name prefixes of the bucket item; the bucket name follows.
const (
	attrTAT       = "tat_"
	attrPos       = "pos_"
	attrRate      = "rate_"
	attrRateAt    = "rateAt_"
	attrEpoch     = "ep_"
	attrSignal    = "why_"
	attrThrottled = "thr_"
	attrBurstAt   = "bAt_"
	attrBurstPos  = "bPos_"
	sortKey       = "bucket"
	// keepFor is how long an idle item outlives its last slot (TTL).
	keepFor = 24 * time.Hour
	// maxAttempts bounds the conditional writes of one operation.
	maxAttempts = 16
)

// DynamoOptions names the attributes of the table's key schema. Zero
// fields take the defaults, which are the product's table (pkg/config's
// TablePK, TableSK, TableTTL).
type DynamoOptions struct {
	// PartitionKey is the string partition key. Default "pk".
	PartitionKey string
	// SortKey is the string sort key. Default "sk".
	SortKey string
	// TTLAttribute is the table's TTL attribute (epoch seconds). Default
	// "expiresAt".
	TTLAttribute string
}

// DynamoStore is the Store on a DynamoDB table with a string partition
// key, a string sort key and a TTL attribute (DynamoOptions). See the
// package doc for the two-branch conditional write. Safe for concurrent
// use; share one per process so its branch guesses see every response.
type DynamoStore struct {
	api   DynamoAPI
	table string
	o     DynamoOptions

	mu    sync.Mutex
	known map[string]map[string]int64 // key → bucket → newest TAT seen (µs)
	// inflight counts this process's Take writes in flight per key.
	inflight map[string]int64
	first    map[string]chan struct{} // key → serialises this process's first-contact writes

	writes, conflicts, reads atomic.Int64

	live liveSeen // stored limit documents answers carried (livelimits_store.go)
}

// NewDynamoStore returns a store on table through api.
func NewDynamoStore(api DynamoAPI, table string, optFns ...func(*DynamoOptions)) *DynamoStore {
	o := DynamoOptions{}
	for _, fn := range optFns {
		fn(&o)
	}
	o.PartitionKey = cmp.Or(o.PartitionKey, "pk")
	o.SortKey = cmp.Or(o.SortKey, "sk")
	o.TTLAttribute = cmp.Or(o.TTLAttribute, "expiresAt")
	return &DynamoStore{api: api, table: table, o: o, known: map[string]map[string]int64{}, inflight: map[string]int64{}, first: map[string]chan struct{}{}}
}

var _ Store = (*DynamoStore)(nil)

// DynamoStats counts the store's DynamoDB calls since it was created.
type DynamoStats struct {
	// Writes counts UpdateItem calls, failed conditional writes included.
	Writes int64
	// Conflicts counts ConditionalCheckFailed responses.
	Conflicts int64
	// Reads counts GetItem calls.
	Reads int64
}

// Stats returns the call counters.
func (s *DynamoStore) Stats() DynamoStats {
	return DynamoStats{Writes: s.writes.Load(), Conflicts: s.conflicts.Load(), Reads: s.reads.Load()}
}

func (s *DynamoStore) keyAttrs(key string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		s.o.PartitionKey: &ddbtypes.AttributeValueMemberS{Value: key},
		s.o.SortKey:      &ddbtypes.AttributeValueMemberS{Value: sortKey},
	}
}

func num(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// note records the TATs of item. They only move forward: responses to
// concurrent calls arrive in any order, and a TAT only grows but for Give,
// which sets exact (our own give-back). A TAT another process gave back
// leaves ours high until the real one passes it: such calls pay a read.
func (s *DynamoStore) note(key string, item Item, exact bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.known[key]
	if k == nil {
		k = map[string]int64{}
		s.known[key] = k
	}
	for b, st := range item {
		if t := micros(st.TAT); t > k[b] || exact {
			k[b] = t
		}
	}
}

// estimate returns, for each debit's bucket, the newest TAT this process
// has seen pushed by its own writes still in flight (see backlogGuesses).
func (s *DynamoStore) estimate(key string, debits []Debit) Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := Item{}
	for _, d := range debits {
		if t, ok := s.known[key][d.Bucket]; ok {
			it[d.Bucket] = BucketState{TAT: fromMicros(t + s.inflight[key]*d.Inc.Microseconds())}
		}
	}
	return it
}

// backlogGuesses guesses each debit's branch: backlog iff the newest TAT
// known, pushed by this process's writes still in flight, is at or after
// the arrival time (a TAT only grows). Under load the newest TAT seen lags the real one
// by the writes in flight; without that correction guesses flip to idle too
// early and thrash (a prototype on dynalite measured 78 writes per
// acquisition with a guess refreshed from the clock, against 1.2 with a
// guess kept until a write contradicts it). from, when not nil, is a fresh
// item to use instead.
func (s *DynamoStore) backlogGuesses(key string, debits []Debit, atUS int64, from Item) []bool {
	g := make([]bool, len(debits))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range debits {
		if from != nil {
			st, ok := from[d.Bucket]
			g[i] = ok && micros(st.TAT) >= atUS
			continue
		}
		t, ok := s.known[key][d.Bucket]
		// Our own writes in flight push the TAT further than we have seen.
		t += s.inflight[key] * d.Inc.Microseconds()
		g[i] = ok && t >= atUS
	}
	return g
}

// firstLock returns key's first-contact semaphore (a channel of one slot,
// so waiting on it respects the caller's context).
func (s *DynamoStore) firstLock(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.first[key]
	if c == nil {
		c = make(chan struct{}, 1)
		s.first[key] = c
	}
	return c
}

// Take implements Store with one conditional UpdateItem per attempt. Each
// attempt reads arrive afresh: after a lost race, or a wait behind the
// first-contact lock, the first reading lies in the past, and a write
// arriving there would charge an idle bucket where its tokens had already
// refilled (TAT = stale now + inc under-counts the call) and hand out a slot
// measured from a past instant.
func (s *DynamoStore) Take(ctx context.Context, key string, arrive Arrival, debits []Debit) (Item, time.Time, error) {
	at, limit := arrive()
	atUS, limitUS := micros(at), micros(limit)
	if err := checkFull(Item{}, atUS, limitUS, debits); err != nil {
		return nil, time.Time{}, err // even an idle bucket could not serve it
	}
	var fresh Item
	if checkFull(s.estimate(key, debits), atUS, limitUS, debits) != nil {
		// TATs only grow (but for Give), so the bucket is likely full:
		// confirm with a read rather than spend a failing write.
		var err error
		if fresh, err = s.Load(ctx, key); err != nil {
			return nil, time.Time{}, err
		}
		s.note(key, fresh, false)
		if err := checkFull(fresh, atUS, limitUS, debits); err != nil {
			return nil, time.Time{}, err
		}
	}
	for range maxAttempts {
		var held chan struct{}
		if fresh == nil && s.unknown(key, debits) {
			// First contact: serialise this process's blind guesses on the
			// item, so the first answer informs the others instead of 64
			// concurrent idle guesses failing on a busy bucket.
			held = s.firstLock(key)
			select {
			case held <- struct{}{}:
			case <-ctx.Done():
				return nil, time.Time{}, fmt.Errorf("limiter: take %s: %w", key, ctx.Err())
			}
			if !s.unknown(key, debits) {
				<-held
				held = nil
			}
		}
		if held != nil { // the wait took time
			at, limit = arrive()
			atUS, limitUS = micros(at), micros(limit)
		}
		g := s.backlogGuesses(key, debits, atUS, fresh)
		s.mu.Lock()
		s.inflight[key]++
		s.mu.Unlock()
		item, err := s.takeOnce(ctx, key, atUS, limitUS, debits, g)
		s.mu.Lock()
		s.inflight[key]--
		s.mu.Unlock()
		if held != nil {
			<-held
		}
		if err == nil {
			s.note(key, item, false)
			return item, at, nil
		}
		ccf, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err)
		if !ok {
			return nil, time.Time{}, fmt.Errorf("limiter: take %s: %w", key, err)
		}
		s.conflicts.Add(1)
		if ccf.Item != nil {
			fresh = parseItem(ccf.Item)
		} else if fresh, err = s.Load(ctx, key); err != nil {
			return nil, time.Time{}, err
		}
		s.note(key, fresh, false)
		if err := checkEpoch(fresh, debits); err != nil {
			return nil, time.Time{}, err
		}
		if _, err := takeLanes(fresh, debits, atUS); err != nil {
			return nil, time.Time{}, err // the lanes moved: plan again
		}
		// The race and the read took time: the retry arrives now.
		at, limit = arrive()
		atUS, limitUS = micros(at), micros(limit)
		if err := checkFull(fresh, atUS, limitUS, debits); err != nil {
			return nil, time.Time{}, err
		}
	}
	return nil, time.Time{}, fmt.Errorf("limiter: take %s: still conflicting after %d conditional writes", key, maxAttempts)
}

// unknown reports whether this process has seen no TAT of some debit's
// bucket yet.
func (s *DynamoStore) unknown(key string, debits []Debit) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range debits {
		if _, ok := s.known[key][d.Bucket]; !ok {
			return true
		}
	}
	return false
}

func (s *DynamoStore) takeOnce(ctx context.Context, key string, atUS, limitUS int64, debits []Debit, backlog []bool) (Item, error) {
	names := map[string]string{"#e": s.o.TTLAttribute}
	values := map[string]ddbtypes.AttributeValue{
		":at": num(atUS),
		":e":  num(limitUS/1e6 + int64(keepFor.Seconds())),
	}
	sets := make([]string, 0, len(debits)+1)
	conds := make([]string, 0, len(debits))
	lx := &updateExpr{names: names, values: values} // lanes (dynamolanes.go)
	for i, d := range debits {
		t, inc, tau := fmt.Sprintf("#t%d", i), d.Inc.Microseconds(), d.Tau.Microseconds()
		names[t] = attrTAT + d.Bucket
		p, ep := fmt.Sprintf("#p%d", i), fmt.Sprintf("#q%d", i)
		names[p], names[ep] = attrPos+d.Bucket, attrEpoch+d.Bucket
		values[":zero"] = num(0)
		values[fmt.Sprintf(":k%d", i)] = numF(d.N)
		values[fmt.Sprintf(":q%d", i)] = num(d.Epoch)
		sets = append(sets, fmt.Sprintf("%s = if_not_exists(%s, :zero) + :k%d", p, p, i))
		conds = append(conds, epochCond(ep, fmt.Sprintf(":q%d", i), d.Epoch))
		if d.Lanes != nil {
			lx.laneEpoch(i, d)
		}
		if d.Lanes != nil && d.Lanes.Preempt {
			lx.preempt(i, d, t)
		} else if backlog[i] {
			lx.laneFront(i, d, fmt.Sprintf("%s + :i%d", t, i))
			// TAT += inc, if the new slot (TAT + inc − tau) is within the bound.
			values[fmt.Sprintf(":i%d", i)] = num(inc)
			values[fmt.Sprintf(":m%d", i)] = num(limitUS + tau - inc)
			sets = append(sets, fmt.Sprintf("%s = %s + :i%d", t, t, i))
			conds = append(conds, fmt.Sprintf("(%s >= :at AND %s <= :m%d)", t, t, i))
		} else {
			// The burst mark: DynamoDB evaluates every operand of an update
			// on the item before it, so bPos_ gets the frontier before the take.
			ba, bp := fmt.Sprintf("#ba%d", i), fmt.Sprintf("#bp%d", i)
			names[ba], names[bp] = attrBurstAt+d.Bucket, attrBurstPos+d.Bucket
			values[fmt.Sprintf(":n%d", i)] = num(atUS + inc)
			lx.laneFront(i, d, fmt.Sprintf(":n%d", i))
			sets = append(sets, fmt.Sprintf("%s = :n%d", t, i), ba+" = :at", fmt.Sprintf("%s = if_not_exists(%s, :zero)", bp, p))
			conds = append(conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s < :at)", t, t))
		}
	}
	sets = append(append(sets, lx.sets...), "#e = :e")
	conds = append(conds, lx.conds...)
	pruneValues(values, sets, conds)
	out, err := s.update(ctx, key, names, values, sets, conds)
	if err != nil {
		return nil, err
	}
	return parseItem(out.Attributes), nil
}

// Give implements Store: a consistent read, then one conditional write on
// the buckets whose tokens have not refilled yet.
func (s *DynamoStore) Give(ctx context.Context, key string, now time.Time, debits []Debit) (Item, error) {
	nowUS := micros(now)
	for range 4 {
		item, err := s.Load(ctx, key)
		if err != nil {
			return nil, err
		}
		names := map[string]string{}
		values := map[string]ddbtypes.AttributeValue{}
		var sets, conds []string
		for i, d := range debits {
			inc := d.Inc.Microseconds()
			st, ok := item[d.Bucket]
			if !ok || st.Epoch != d.Epoch || micros(st.TAT) < nowUS+inc {
				continue
			}
			t, p, ep := fmt.Sprintf("#t%d", i), fmt.Sprintf("#p%d", i), fmt.Sprintf("#q%d", i)
			names[t], names[p], names[ep] = attrTAT+d.Bucket, attrPos+d.Bucket, attrEpoch+d.Bucket
			values[fmt.Sprintf(":i%d", i)] = num(inc)
			values[fmt.Sprintf(":f%d", i)] = num(nowUS + inc)
			values[fmt.Sprintf(":k%d", i)] = numF(d.N)
			values[fmt.Sprintf(":q%d", i)] = num(d.Epoch)
			values[":zero"] = num(0)
			sets = append(sets, fmt.Sprintf("%s = %s - :i%d", t, t, i), fmt.Sprintf("%s = if_not_exists(%s, :zero) - :k%d", p, p, i))
			conds = append(conds, fmt.Sprintf("%s >= :f%d", t, i), epochCond(ep, fmt.Sprintf(":q%d", i), d.Epoch))
		}
		if len(sets) == 0 {
			return item, nil
		}
		out, err := s.update(ctx, key, names, values, sets, conds)
		if err == nil {
			it := parseItem(out.Attributes)
			s.note(key, it, true)
			return it, nil
		}
		if _, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err); !ok {
			return nil, fmt.Errorf("limiter: give %s: %w", key, err)
		}
		s.conflicts.Add(1)
	}
	return nil, fmt.Errorf("limiter: give %s: still conflicting", key)
}

// swapExpr is a Swap's update: the fields that change (a count alone as
// an increment) and the conditions on the compared ones (Store.Swap).
type swapExpr struct {
	names  map[string]string
	values map[string]ddbtypes.AttributeValue
	sets   []string
	conds  []string
}

func (x *swapExpr) field(i int, f stateField, bucket string, prev, next BucketState) {
	n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
	pv, nv := f.get(prev), f.get(next)
	reanchor, marks := prev.Epoch != next.Epoch, marksChange(prev, next)
	switch {
	case nv.(*ddbtypes.AttributeValueMemberN).Value == pv.(*ddbtypes.AttributeValueMemberN).Value:
	case f.prefix == attrThrottled && !marks: // a count alone adds
		x.names[n], x.values[v], x.values[":zero"] = f.prefix+bucket, numF(next.Throttled-prev.Throttled), num(0)
		x.sets = append(x.sets, fmt.Sprintf("%s = if_not_exists(%s, :zero) + %s", n, n, v))
	default:
		x.names[n], x.values[v] = f.prefix+bucket, nv
		x.sets = append(x.sets, n+" = "+v)
	}
	if f.compare == compareNever || f.compare == compareOnReanchor && (!reanchor || prev.loose) || f.compare == compareOnMarks && !marks {
		return
	}
	x.names[n] = f.prefix + bucket
	if pv.(*ddbtypes.AttributeValueMemberN).Value == "0" {
		x.values[":zero"] = num(0)
		x.conds = append(x.conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s = :zero)", n, n))
		return
	}
	x.values[fmt.Sprintf(":p%d", i)] = pv
	x.conds = append(x.conds, fmt.Sprintf("%s = :p%d", n, i))
}

// update is one conditional UpdateItem of key's item: SET sets if every
// cond holds, answering the item after (ALL_NEW) or, on a failed
// condition, before (ALL_OLD, where DynamoDB returns it).
func (s *DynamoStore) update(ctx context.Context, key string, names map[string]string, values map[string]ddbtypes.AttributeValue, sets, conds []string) (*dynamodb.UpdateItemOutput, error) {
	s.writes.Add(1)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.keyAttrs(key),
		UpdateExpression:                    aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:                 aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        ddbtypes.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	s.live.noteAnswer(key, out, err) // the item's stored limits ride on every answer
	return out, err
}

// Swap implements Store with one UpdateItem conditioned on the compared
// attributes of prev (absent or 0 for zero values).
func (s *DynamoStore) Swap(ctx context.Context, key, bucket string, prev, next BucketState) (bool, Item, error) {
	x := &swapExpr{names: map[string]string{"#e": s.o.TTLAttribute}, values: map[string]ddbtypes.AttributeValue{}}
	for i, f := range stateFields {
		x.field(i, f, bucket, prev, next)
	}
	x.values[":e"] = num(max(next.TAT.Unix(), next.RateAt.Unix()) + int64(keepFor.Seconds()))
	x.sets = append(x.sets, "#e = :e")
	if next.LastSignal != prev.LastSignal {
		x.names["#w"] = attrSignal + bucket
		x.values[":w"] = &ddbtypes.AttributeValueMemberS{Value: next.LastSignal}
		x.sets = append(x.sets, "#w = :w")
	}
	out, err := s.update(ctx, key, x.names, x.values, x.sets, x.conds)
	if err == nil {
		it := parseItem(out.Attributes)
		s.note(key, it, true)
		return true, it, nil
	}
	ccf, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err)
	if !ok {
		return false, nil, fmt.Errorf("limiter: swap %s %s: %w", key, bucket, err)
	}
	s.conflicts.Add(1)
	if ccf.Item != nil {
		return false, parseItem(ccf.Item), nil
	}
	item, err := s.Load(ctx, key)
	return false, item, err
}

// Load implements Store with a strongly consistent GetItem.
func (s *DynamoStore) Load(ctx context.Context, key string) (Item, error) {
	s.reads.Add(1)
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.keyAttrs(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("limiter: load %s: %w", key, err)
	}
	s.live.noteRead(key, out.Item)
	return parseItem(out.Item), nil
}

// When Swap compares a field (see Store.Swap).
const (
	compareNever = iota
	compareAlways
	compareOnReanchor
	compareOnMarks
)

// stateField is one attribute of a bucket's state: its name prefix, how
// it is read and written, and when Swap compares it.
type stateField struct {
	prefix  string
	compare int
	get     func(BucketState) ddbtypes.AttributeValue
	set     func(*BucketState, string)
}

func timeField(prefix string, compare int, f func(*BucketState) *time.Time) stateField {
	return stateField{prefix, compare,
		func(s BucketState) ddbtypes.AttributeValue { return num(micros(*f(&s))) },
		func(s *BucketState, v string) { us, _ := strconv.ParseInt(v, 10, 64); *f(s) = fromMicros(us) }}
}

func floatField(prefix string, compare int, f func(*BucketState) *float64) stateField {
	return stateField{prefix, compare,
		func(s BucketState) ddbtypes.AttributeValue { return numF(*f(&s)) },
		func(s *BucketState, v string) { *f(s), _ = strconv.ParseFloat(v, 64) }}
}

// stateFields are the bucket attributes, named <prefix><bucket>.
var stateFields = []stateField{
	timeField(attrTAT, compareOnReanchor, func(s *BucketState) *time.Time { return &s.TAT }),
	floatField(attrPos, compareOnReanchor, func(s *BucketState) *float64 { return &s.Pos }),
	floatField(attrRate, compareNever, func(s *BucketState) *float64 { return &s.Rate }),
	timeField(attrRateAt, compareOnReanchor, func(s *BucketState) *time.Time { return &s.RateAt }),
	{attrEpoch, compareAlways, func(s BucketState) ddbtypes.AttributeValue { return num(s.Epoch) },
		func(s *BucketState, v string) { s.Epoch, _ = strconv.ParseInt(v, 10, 64) }},
	timeField("aAt_", compareNever, func(s *BucketState) *time.Time { return &s.AnchorAt }),
	floatField("aPos_", compareNever, func(s *BucketState) *float64 { return &s.AnchorPos }),
	floatField("aRate_", compareNever, func(s *BucketState) *float64 { return &s.AnchorRate }),
	floatField("aPrev_", compareNever, func(s *BucketState) *float64 { return &s.AnchorPrev }),
	floatField(attrThrottled, compareOnMarks, func(s *BucketState) *float64 { return &s.Throttled }),
	timeField("mAt_", compareAlways, func(s *BucketState) *time.Time { return &s.MarkAt }),
	floatField("mPos_", compareNever, func(s *BucketState) *float64 { return &s.MarkPos }),
	floatField("mThr_", compareNever, func(s *BucketState) *float64 { return &s.MarkThrottled }),
	timeField(attrBurstAt, compareNever, func(s *BucketState) *time.Time { return &s.BurstAt }),
	floatField(attrBurstPos, compareNever, func(s *BucketState) *float64 { return &s.BurstPos }),
}

// allFields are the attributes parseItem reads: the state and the lanes.
var allFields = append(append([]stateField{}, stateFields...), laneFields()...)

func numF(v float64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'g', -1, 64)}
}

// epochCond is the condition that attribute name holds epoch (absent
// counts as epoch 0).
func epochCond(name, value string, epoch int64) string {
	if epoch == 0 {
		return fmt.Sprintf("(attribute_not_exists(%s) OR %s = %s)", name, name, value)
	}
	return fmt.Sprintf("%s = %s", name, value)
}

// parseItem reads the bucket attributes of a DynamoDB item; attributes it
// does not know are ignored.
func parseItem(av map[string]ddbtypes.AttributeValue) Item {
	item := Item{}
	for name, v := range av {
		n, ok := v.(*ddbtypes.AttributeValueMemberN)
		if w, isS := v.(*ddbtypes.AttributeValueMemberS); isS && strings.HasPrefix(name, attrSignal) {
			st := item[name[len(attrSignal):]]
			st.LastSignal = w.Value
			item[name[len(attrSignal):]] = st
		}
		if !ok {
			continue
		}
		for _, f := range allFields {
			if bucket, ok := strings.CutPrefix(name, f.prefix); ok {
				st := item[bucket]
				f.set(&st, n.Value)
				item[bucket] = st
				break
			}
		}
	}
	return item
}
