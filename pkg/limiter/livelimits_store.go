package limiter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item-level attributes of a stored limit document (no bucket suffix, so
// parseItem passes them by).
const (
	attrLim   = "lim"   // the document, compact JSON; absent: the initial limits
	attrLimV  = "limV"  // its version
	attrLimBy = "limBy" // who set it
	attrLimAt = "limAt" // when (µs since the epoch)
	// limitsSortKey is the sort key of the durable copy, beside the bucket
	// item under the same partition key, without a TTL.
	limitsSortKey = "limits"
)

// liveMemory is MemoryStore's stored limits: the bucket item's, the durable
// copy's, and the newest an answer carried. Guarded by the store's mutex.
type liveMemory struct {
	item, durable, seen map[string]StoredLimits
}

func (l *liveMemory) seeLocked(key string) {
	if s, ok := l.item[key]; ok && s.Version > l.seen[key].Version {
		if l.seen == nil {
			l.seen = map[string]StoredLimits{}
		}
		l.seen[key] = s
	}
}

var _ LiveStore = (*MemoryStore)(nil)

// SeenLimits implements LiveStore.
func (m *MemoryStore) SeenLimits(key string) (StoredLimits, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.live.seen[key]
	return s, ok
}

// LoadLimits implements LiveStore.
func (m *MemoryStore) LoadLimits(ctx context.Context, key string) (StoredLimits, bool, error) {
	if err := ctx.Err(); err != nil {
		return StoredLimits{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.live.durable[key]
	return s, ok, nil
}

// WriteLimits implements LiveStore.
func (m *MemoryStore) WriteLimits(ctx context.Context, key string, prev int64, next StoredLimits, rates map[string]BucketState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.itemLocked(key)
	if cur := m.live.item[key].Version; cur != prev {
		return &LimitsConflictError{Key: key, Read: prev, Now: cur}
	}
	for b, r := range rates {
		if it[b].Epoch != r.Epoch {
			return &LimitsConflictError{Key: key, Read: prev, Now: prev}
		}
	}
	next.At = fromMicros(micros(next.At))
	if m.live.item == nil {
		m.live.item, m.live.durable = map[string]StoredLimits{}, map[string]StoredLimits{}
	}
	m.live.item[key] = next
	for b, r := range rates {
		st := it[b]
		st.Rate, st.RateAt = r.Rate, fromMicros(micros(r.RateAt))
		it[b] = st
	}
	if m.live.durable[key].Version < next.Version {
		m.live.durable[key] = next
	}
	m.live.seeLocked(key)
	return nil
}

// liveSeen is DynamoStore's newest stored limits per key, from its calls'
// answers.
type liveSeen struct {
	mu   sync.Mutex
	seen map[string]StoredLimits
}

// note keeps the document an answer (av, an item) carries if it is the
// newest seen: answers to concurrent calls arrive in any order.
func (l *liveSeen) note(key string, av map[string]ddbtypes.AttributeValue) {
	s, ok := decodeLimits(av)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Version > l.seen[key].Version {
		if l.seen == nil {
			l.seen = map[string]StoredLimits{}
		}
		l.seen[key] = s
	}
}

// noteRead records what a consistent read of key's item found, even none
// (the item expired): what a limits write must condition on.
func (l *liveSeen) noteRead(key string, av map[string]ddbtypes.AttributeValue) {
	s, ok := decodeLimits(av)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		delete(l.seen, key)
		return
	}
	if l.seen == nil {
		l.seen = map[string]StoredLimits{}
	}
	l.seen[key] = s
}

// noteAnswer notes the item an UpdateItem answered: the item after, or
// before on a failed condition.
func (l *liveSeen) noteAnswer(key string, out *dynamodb.UpdateItemOutput, err error) {
	if out != nil {
		l.note(key, out.Attributes)
	}
	if ccf, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err); ok {
		l.note(key, ccf.Item)
	}
}

func decodeLimits(av map[string]ddbtypes.AttributeValue) (StoredLimits, bool) {
	v, ok := av[attrLimV].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return StoredLimits{}, false
	}
	var s StoredLimits
	s.Version, _ = strconv.ParseInt(v.Value, 10, 64)
	if d, ok := av[attrLim].(*ddbtypes.AttributeValueMemberS); ok {
		s.Doc = d.Value
	}
	if b, ok := av[attrLimBy].(*ddbtypes.AttributeValueMemberS); ok {
		s.By = b.Value
	}
	if a, ok := av[attrLimAt].(*ddbtypes.AttributeValueMemberN); ok {
		us, _ := strconv.ParseInt(a.Value, 10, 64)
		s.At = fromMicros(us)
	}
	return s, true
}

var _ LiveStore = (*DynamoStore)(nil)

// SeenLimits implements LiveStore.
func (s *DynamoStore) SeenLimits(key string) (StoredLimits, bool) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	l, ok := s.live.seen[key]
	return l, ok
}

func (s *DynamoStore) limitsKey(key string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		s.o.PartitionKey: &ddbtypes.AttributeValueMemberS{Value: key},
		s.o.SortKey:      &ddbtypes.AttributeValueMemberS{Value: limitsSortKey},
	}
}

// LoadLimits implements LiveStore with a strongly consistent GetItem of
// the durable copy.
func (s *DynamoStore) LoadLimits(ctx context.Context, key string) (StoredLimits, bool, error) {
	s.reads.Add(1)
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: s.limitsKey(key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return StoredLimits{}, false, fmt.Errorf("limiter: load limits %s: %w", key, err)
	}
	l, ok := decodeLimits(out.Item)
	return l, ok, nil
}

// limitsUpdate is the update expression that stores a document: SET the
// version, who and when, and the document (REMOVE it on a reset).
func limitsUpdate(next StoredLimits) (string, map[string]string, map[string]ddbtypes.AttributeValue) {
	names := map[string]string{"#lim": attrLim, "#v": attrLimV, "#by": attrLimBy, "#at": attrLimAt}
	values := map[string]ddbtypes.AttributeValue{
		":v": num(next.Version), ":by": &ddbtypes.AttributeValueMemberS{Value: next.By}, ":at": num(micros(next.At)),
	}
	sets := []string{"#v = :v", "#by = :by", "#at = :at"}
	if next.Doc == "" {
		return "SET " + strings.Join(sets, ", ") + " REMOVE #lim", names, values
	}
	values[":doc"] = &ddbtypes.AttributeValueMemberS{Value: next.Doc}
	return "SET " + strings.Join(append(sets, "#lim = :doc"), ", "), names, values
}

// WriteLimits implements LiveStore: one conditional UpdateItem of the
// bucket item (document, version, who, when and the probed learned rates),
// then one of the durable copy that only moves it forward.
func (s *DynamoStore) WriteLimits(ctx context.Context, key string, prev int64, next StoredLimits, rates map[string]BucketState) error {
	expr, names, values := limitsUpdate(next)
	conds := []string{"attribute_not_exists(#v)"}
	if prev != 0 {
		values[":prev"] = num(prev)
		conds[0] = "#v = :prev"
	}
	var sets []string
	i := 0
	for b, r := range rates {
		rn, an, qn := fmt.Sprintf("#r%d", i), fmt.Sprintf("#ra%d", i), fmt.Sprintf("#q%d", i)
		names[rn], names[an], names[qn] = attrRate+b, attrRateAt+b, attrEpoch+b
		values[fmt.Sprintf(":r%d", i)], values[fmt.Sprintf(":ra%d", i)] = numF(r.Rate), num(micros(r.RateAt))
		values[fmt.Sprintf(":q%d", i)] = num(r.Epoch)
		sets = append(sets, fmt.Sprintf("%s = :r%d", rn, i), fmt.Sprintf("%s = :ra%d", an, i))
		conds = append(conds, epochCond(qn, fmt.Sprintf(":q%d", i), r.Epoch))
		i++
	}
	if len(sets) > 0 {
		expr = strings.Replace(expr, "SET ", "SET "+strings.Join(sets, ", ")+", ", 1)
	}
	s.writes.Add(1)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: s.keyAttrs(key),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValues:                        ddbtypes.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	s.live.noteAnswer(key, out, err)
	if ccf, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err); ok {
		s.conflicts.Add(1)
		if ccf.Item == nil { // dynalite answers no ALL_OLD: read what won
			_, _ = s.Load(ctx, key)
		}
		now, _ := s.SeenLimits(key)
		return &LimitsConflictError{Key: key, Read: prev, Now: now.Version}
	}
	if err != nil {
		return fmt.Errorf("limiter: write limits %s: %w", key, err)
	}
	return s.writeDurable(ctx, key, next)
}

func (s *DynamoStore) writeDurable(ctx context.Context, key string, next StoredLimits) error {
	expr, names, values := limitsUpdate(next)
	s.writes.Add(1)
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: s.limitsKey(key),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_not_exists(#v) OR #v < :v"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if _, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err); ok {
		return nil // a newer version is there already
	}
	if err != nil {
		return fmt.Errorf("limiter: write limits %s (durable copy): %w", key, err)
	}
	return nil
}
