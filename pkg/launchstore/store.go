package launchstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Store is the launch handlers' persistence: requests and their plans,
// chunk state and attempt records, capacity failover marks, and relaunch
// claims. Every decision is one conditional write, so concurrent Lambdas
// never race on a read-modify-write. Implementations: DynamoDB (the
// product's table) and Memory (tests, a single process). Both pass
// storetest.TestStore.
type Store interface {
	// Requests (written once by plan).
	CreateRequest(ctx context.Context, r launch.Request, now time.Time) (launch.StoredRequest, error)
	Request(ctx context.Context, requestID string) (launch.StoredRequest, error)
	RequestIDForHash(ctx context.Context, hash string) (string, error)

	// Chunks: attempts are recorded before the call they describe.
	Chunk(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error)
	Chunks(ctx context.Context, requestID string) ([]launch.ChunkState, []launch.LostRecord, error)
	BeginAttempt(ctx context.Context, requestID string, c launch.ChunkSpec, rec launch.AttemptRecord, expires time.Time) (launch.ChunkState, error)
	// FinishAttempt, SettleAttempt and FinishRelaunch set the chunk's
	// LaunchedAt to at when they record new ids, in the same write.
	FinishAttempt(ctx context.Context, requestID string, chunk, attempt int, ids []string, failures []launch.Failure, at time.Time) (launch.ChunkState, error)
	// ClaimSend claims send sends+1 of a begun attempt (state "sent"
	// again, SentAt set on the first claim) if sends is still its last;
	// ErrFenced otherwise. FailAttempt, NoteUnsettled and SettleAttempt
	// change the attempt only while it is "sent" and sends is its last
	// claim. NoteUnsettled counts a replay answered without settling
	// (Replays) and keeps the attempt "sent".
	ClaimSend(ctx context.Context, requestID string, chunk, attempt, sends int, at time.Time) (int, error)
	NoteUnsettled(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error
	FailAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error
	SettleAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, ids []string, code string, at time.Time) (launch.ChunkState, error)
	AddRetry(ctx context.Context, requestID string, chunk int) (int, error)
	// BeginGiveUp marks the chunk as being given up and returns it as
	// stored then: its missing units are counted from that snapshot, and
	// RegisterRelaunch of a task the chunk never recorded fails with
	// ErrFenced from then on (its unit is among those missing).
	BeginGiveUp(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error)
	GiveUp(ctx context.Context, requestID string, chunk, missing int, class, code, reason string) (first bool, err error)
	MarkSummaryCheck(ctx context.Context, requestID string, now time.Time) (time.Time, error)

	// Items: a version-2 request's per-task inputs (req#<id> / item#<i>),
	// written by plan before any chunk runs, read by the launchers.
	// PutItems writes items first.. first+len-1 (idempotent: the same
	// index always gets the same item); Item returns one (ErrNotFound).
	PutItems(ctx context.Context, requestID string, first int, items []json.RawMessage) error
	Item(ctx context.Context, requestID string, index int) (json.RawMessage, error)

	// Tasks (req#<id> / task#<arn>): see launch.TaskRecord. RecordTasks
	// writes the launcher's fields of each ref (setting Referenced), and
	// creates the record if absent; it never touches the observation or
	// the outcome. ObserveTask stores o if it is After the stored
	// observation (advanced true) and returns the record as stored after
	// the call, creating it (not Referenced) if absent. DecideTask sets
	// the outcome once (first false: it was already decided; the stored
	// record is returned either way; an empty outcome is an error). Task:
	// ErrNotFound when absent.
	RecordTasks(ctx context.Context, requestID string, refs []launch.TaskRef) error
	ObserveTask(ctx context.Context, requestID string, o launch.TaskObservation) (rec launch.TaskRecord, advanced bool, err error)
	DecideTask(ctx context.Context, requestID, arn, outcome, why string) (rec launch.TaskRecord, first bool, err error)
	Task(ctx context.Context, requestID, arn string) (launch.TaskRecord, error)
	Tasks(ctx context.Context, requestID string) ([]launch.TaskRecord, error)

	// Quota gate (req#<id> / quota): a request's units waiting for quota
	// probe at most once per interval, or once per task of the request
	// that stopped since the last probe. NoteTaskStopped counts a stop
	// (creating the gate if absent). ClaimQuotaProbe claims a probe at
	// now if a stop was counted since the last claim or the last claim is
	// at least every old (ok false otherwise: wait). QuotaGate reads it
	// (zero value when absent).
	NoteTaskStopped(ctx context.Context, requestID string) error
	ClaimQuotaProbe(ctx context.Context, requestID string, now time.Time, every time.Duration) (ok bool, err error)
	QuotaGate(ctx context.Context, requestID string) (launch.QuotaGate, error)
	// SetQuotaWait records that a chunk waits for quota since since (zero:
	// it no longer waits); ChunkState.QuotaWaitSince reads it back.
	SetQuotaWait(ctx context.Context, requestID string, chunk int, since time.Time) error

	// Failover marks: placements without capacity, fleet-wide.
	MarkUnavailable(ctx context.Context, scope string, p launch.Placement, until time.Time) error
	Unavailable(ctx context.Context, scope string, now time.Time) (map[string]time.Time, error)

	// Relaunch claims, keyed by the stopped task's ARN.
	ClaimRelaunch(ctx context.Context, c launch.RelaunchClaim, expires time.Time) (launch.RelaunchClaim, bool, error)
	RegisterRelaunch(ctx context.Context, requestID string, chunk int, arn string) (launch.ChunkState, error)
	ChargeRelaunch(ctx context.Context, requestID string, chunk, max int) (ok bool, err error)
	SetRelaunchSlot(ctx context.Context, arn string, at time.Time) error
	// ClaimRelaunchSend claims the next send of the relaunch's call with
	// token generation gen (ErrFenced when the generation moved on) and
	// returns its number; AdvanceRelaunchToken moves gen to gen+1 only if
	// no other send was claimed since sends (0: unconditional on sends).
	ClaimRelaunchSend(ctx context.Context, arn string, gen int) (int, error)
	AdvanceRelaunchToken(ctx context.Context, arn string, gen, sends int) error
	SetRelaunchUnsettled(ctx context.Context, arn string, at time.Time) error
	RelaunchUnsettled(ctx context.Context, arn string) (bool, error)
	RelaunchUnsettledSince(ctx context.Context, arn string) (unsettled bool, since time.Time, err error)
	FinishRelaunch(ctx context.Context, c launch.RelaunchClaim, newARN string, at time.Time) error
	GiveUpRelaunch(ctx context.Context, c launch.RelaunchClaim, reason string) error
}

// ErrRequestConflict is returned by CreateRequest when the requestId is
// already used by a different request.
var ErrRequestConflict = errors.New("requestId: already used by a different request")

// ErrFenced is returned when an attempt's record changed since the caller
// claimed its send: another invocation sent it since, or it was answered.
var ErrFenced = errors.New("attempt: changed by another send")

// ErrNotFound is returned when an item does not exist.
var ErrNotFound = errors.New("not found")

var _ Store = (*DynamoDB)(nil)
