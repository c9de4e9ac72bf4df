package launchstore

import (
	"context"
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
