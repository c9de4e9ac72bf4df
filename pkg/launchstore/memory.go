package launchstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Memory is a Store in process memory with the DynamoDB store's semantics,
// item for item: the same items exist after the same calls (a failed
// condition creates nothing, an unconditional update creates its item),
// string sets de-duplicate and keep their first-insertion order, counters
// start at zero, marks are filtered by their end against now and never
// deleted, and a failed condition is the same error, wrapping a
// *types.ConditionalCheckFailedException. It does not model DynamoDB's
// limits (key and item sizes, invalid UTF-8) nor its TTL deletion.
//
// Every value returned is a copy: Request decodes the stored JSON on each
// call, where DynamoDB hands out its cached request. Use NewMemory. Safe
// for concurrent use: each method is atomic under one lock.
type Memory struct {
	mu       sync.Mutex
	requests map[string]*memRequest                  // req#<id> / meta
	hashes   map[string]string                       // reqhash#<hash> / meta: requestId
	chunks   map[string]map[int]*memChunk            // req#<id> / chunk#<i>
	lost     map[string]map[string]launch.LostRecord // req#<id> / chunk#<i>#lost#<hash>, by sort key
	marks    map[string]map[string]time.Time         // failover#<scope> / <placement>: until
	claims   map[string]*memClaim                    // relaunch#<arn> / relaunch
	jobs     map[string]*memJobs                     // req#<id> / item#<i>, task#<arn>, quota
	// Attributes of req#<id> / meta (closed mark, callback state) and the
	// item req#<id> / execution (claim.go, cancel.go, callback.go).
	closed     map[string]string
	callbacks  map[string]*CallbackState
	execClaims map[string]ExecutionClaim
}

type memRequest struct {
	body              []byte // the request's JSON, as DynamoDB stores it
	created, deadline time.Time
	summaryCheck      *time.Time
}

// memChunk is a chunk item; an attribute DynamoDB would not hold is zero.
// relaunches only grows by one from 0, so 0 is "no attribute".
type memChunk struct {
	ids, stopped, relaunching               []string // string sets, in insertion order
	attempts                                map[int]launch.AttemptRecord
	retries, relaunches, lost, deadLettered int
	gaveUp, givingUp                        bool
	reason, class, code                     string
	launchedAt                              time.Time
	quotaWaitSince                          time.Time
}

// addIDs records launched ids and, as DynamoDB's SET, their launch time.
func (it *memChunk) addIDs(ids []string, at time.Time) {
	if len(ids) > 0 {
		it.ids, it.launchedAt = addSet(it.ids, ids...), at.UTC()
	}
}

type memClaim struct {
	requestID, state, newARN string // the claim's reason is never read back
	chunk                    int
	slotAt                   time.Time
	gen                      *int // tokenGen; nil is generation 0
	sends                    int  // ClaimRelaunchSend's counter
	unsettled                bool
	unsettledAt              time.Time
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{
		requests: map[string]*memRequest{}, hashes: map[string]string{},
		chunks: map[string]map[int]*memChunk{}, lost: map[string]map[string]launch.LostRecord{},
		marks: map[string]map[string]time.Time{}, claims: map[string]*memClaim{},
		jobs: map[string]*memJobs{}, closed: map[string]string{},
		callbacks: map[string]*CallbackState{}, execClaims: map[string]ExecutionClaim{},
	}
}

var _ Store = (*Memory)(nil)

// Len is the number of items the DynamoDB store would hold after the same
// calls (each request counts twice: its meta and its hash item).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.requests) + len(m.hashes) + len(m.claims) + len(m.execClaims)
	for _, c := range m.chunks {
		n += len(c)
	}
	for _, l := range m.lost {
		n += len(l)
	}
	for _, mk := range m.marks {
		n += len(mk)
	}
	for _, j := range m.jobs {
		n += j.len()
	}
	return n
}

// lock takes the lock unless ctx is done, as a DynamoDB call would fail.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("launchstore: %w", err)
	}
	m.mu.Lock()
	return nil
}

// conditionFailed is DynamoDB's answer to a write whose condition is false.
func conditionFailed() error {
	return &ddb.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
}

// chunk returns the chunk item, creating it as an update would.
func (m *Memory) chunk(requestID string, i int) *memChunk {
	cs := m.chunks[requestID]
	if cs == nil {
		cs = map[int]*memChunk{}
		m.chunks[requestID] = cs
	}
	c := cs[i]
	if c == nil {
		c = &memChunk{attempts: map[int]launch.AttemptRecord{}}
		cs[i] = c
	}
	return c
}

// claim returns the relaunch item of arn, creating it as an update would.
func (m *Memory) claim(arn string) *memClaim {
	c := m.claims[arn]
	if c == nil {
		c = &memClaim{}
		m.claims[arn] = c
	}
	return c
}

// state is parseChunk's answer for the item (nil: no item).
func (c *memChunk) state(i int) launch.ChunkState {
	s := launch.ChunkState{Index: i, Attempts: map[int]launch.AttemptRecord{}}
	if c == nil {
		return s
	}
	s.IDs, s.Stopped, s.Relaunching = slices.Clone(c.ids), slices.Clone(c.stopped), slices.Clone(c.relaunching)
	for a, rec := range c.attempts {
		rec.Failures, rec.IDs = slices.Clone(rec.Failures), slices.Clone(rec.IDs)
		s.Attempts[a] = rec
	}
	s.Retries, s.Relaunches, s.Lost, s.DeadLettered = c.retries, c.relaunches, c.lost, c.deadLettered
	s.GaveUp, s.Reason, s.Class, s.Code, s.LaunchedAt = c.gaveUp, c.reason, c.class, c.code, c.launchedAt
	s.QuotaWaitSince = c.quotaWaitSince
	return s
}

// addSet is DynamoDB's ADD of a string set: new values are appended once.
func addSet(set []string, vals ...string) []string {
	for _, v := range vals {
		if !slices.Contains(set, v) {
			set = append(set, v)
		}
	}
	return set
}

// CreateRequest implements Store (see DynamoDB.CreateRequest).
func (m *Memory) CreateRequest(ctx context.Context, r launch.Request, now time.Time) (launch.StoredRequest, error) {
	dl := r.Deadline(now)
	body, err := json.Marshal(r)
	if err != nil {
		return launch.StoredRequest{}, fmt.Errorf("store request: %w", err)
	}
	if err := m.lock(ctx); err != nil {
		return launch.StoredRequest{}, err
	}
	defer m.mu.Unlock()
	if it, ok := m.requests[r.RequestID]; ok {
		stored, err := it.decode(r.RequestID)
		if err != nil {
			return launch.StoredRequest{}, err
		}
		if launch.Fingerprint(stored.Request) != launch.Fingerprint(r) {
			return launch.StoredRequest{}, ErrRequestConflict
		}
		return stored, nil
	}
	m.requests[r.RequestID] = &memRequest{body: body, created: now.UTC(), deadline: dl.UTC()}
	m.hashes[launch.RequestHash(r.RequestID)] = r.RequestID
	return launch.StoredRequest{Request: r, Plan: launch.NewPlan(r, dl), Created: now.UTC(), Deadline: dl.UTC()}, nil
}

func (it *memRequest) decode(requestID string) (launch.StoredRequest, error) {
	sr := launch.StoredRequest{Created: it.created, Deadline: it.deadline}
	if err := json.Unmarshal(it.body, &sr.Request); err != nil {
		return launch.StoredRequest{}, fmt.Errorf("request %q: stored request unreadable: %w", requestID, err)
	}
	sr.Plan = launch.NewPlan(sr.Request, sr.Deadline)
	return sr, nil
}

// Request implements Store.
func (m *Memory) Request(ctx context.Context, requestID string) (launch.StoredRequest, error) {
	if err := m.lock(ctx); err != nil {
		return launch.StoredRequest{}, err
	}
	defer m.mu.Unlock()
	it, err := m.request(requestID)
	if err != nil {
		return launch.StoredRequest{}, err
	}
	return it.decode(requestID)
}

// request returns the meta item of requestID; the caller holds the lock.
func (m *Memory) request(requestID string) (*memRequest, error) {
	it, ok := m.requests[requestID]
	if !ok {
		return nil, fmt.Errorf("request %q: %w", requestID, ErrNotFound)
	}
	return it, nil
}

// RequestIDForHash implements Store.
func (m *Memory) RequestIDForHash(ctx context.Context, hash string) (string, error) {
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	id, ok := m.hashes[hash]
	if !ok {
		return "", fmt.Errorf("request hash %s: %w", hash, ErrNotFound)
	}
	return id, nil
}

// MarkSummaryCheck implements Store.
func (m *Memory) MarkSummaryCheck(ctx context.Context, requestID string, now time.Time) (time.Time, error) {
	if err := m.lock(ctx); err != nil {
		return time.Time{}, err
	}
	defer m.mu.Unlock()
	it, err := m.request(requestID)
	if err != nil {
		return time.Time{}, err
	}
	if it.summaryCheck == nil {
		at := now.UTC()
		it.summaryCheck = &at
	}
	return *it.summaryCheck, nil
}

// MarkUnavailable implements Store.
func (m *Memory) MarkUnavailable(ctx context.Context, scope string, p launch.Placement, until time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.marks[scope] == nil {
		m.marks[scope] = map[string]time.Time{}
	}
	m.marks[scope][p.Key()] = until.UTC()
	return nil
}

// Unavailable implements Store: marks whose end is after now.
func (m *Memory) Unavailable(ctx context.Context, scope string, now time.Time) (map[string]time.Time, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	marks := maps.Clone(m.marks[scope])
	if marks == nil {
		marks = map[string]time.Time{}
	}
	maps.DeleteFunc(marks, func(_ string, until time.Time) bool { return !until.After(now) })
	return marks, nil
}

// errDuplicates is DynamoDB's refusal of a string set given twice the same value.
func errDuplicates(vals []string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Fault: smithy.FaultClient,
		Message: fmt.Sprintf("One or more parameter values were invalid: Input collection %v contains duplicates.", vals)}
}
