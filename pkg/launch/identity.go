package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// StartedByPrefix starts the startedBy of every task this product launches
// (and the th:startedBy tag of every instance); the EventBridge rule for
// TaskFailedToStart matches it with a prefix pattern.
const StartedByPrefix = "th/"

// EC2 tag keys put on every instance.
const (
	TagStartedBy = "th:startedBy"
	TagRequestID = "th:requestId"
)

// RequestHash returns the 12 hex digits (48 bits) of SHA-256(requestId) that
// identify a request in startedBy and client tokens. 48 bits keep startedBy
// within ECS's 36 characters; a collision between two live requests would
// only merge their ledger groups, never their tokens (tokens use 96 bits).
func RequestHash(requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	return hex.EncodeToString(h[:6])
}

// StartedBy returns th/<request hash>/<chunk>/<attempt>: at most 3+12+1+5+1+2
// = 24 characters for the largest request (10,000 chunks, 50 attempts),
// within ECS's 36 letters, digits, -, / and _.
func StartedBy(requestID string, chunk, attempt int) string {
	return fmt.Sprintf("%s%s/%d/%d", StartedByPrefix, RequestHash(requestID), chunk, attempt)
}

// RelaunchAttemptBase starts the attempt numbers of relaunches: attempts of
// a chunk stay below MaxMaxAttempts, so any attempt ≥ RelaunchAttemptBase in
// a startedBy is a relaunch. Keeping the field numeric lets every reader of
// th/<hash>/<chunk>/<attempt> (the simulator's ledger, rules) group the
// relaunch with its chunk.
const RelaunchAttemptBase = 100000

// RelaunchStartedBy is the startedBy of a task relaunched after the task
// stoppedARN failed to start: the chunk is kept and the attempt field is
// RelaunchAttemptBase + (24 bits of SHA-256(stoppedARN)) mod 900000 — at
// most 3+12+1+5+1+6 = 28 characters.
func RelaunchStartedBy(requestID string, chunk int, stoppedARN string) string {
	h := sha256.Sum256([]byte(stoppedARN))
	n := (int(h[0])<<16 | int(h[1])<<8 | int(h[2])) % 900000
	return fmt.Sprintf("%s%s/%d/%d", StartedByPrefix, RequestHash(requestID), chunk, RelaunchAttemptBase+n)
}

// Identity is what a startedBy value says about a task.
type Identity struct {
	RequestHash string
	Chunk       int
	// Attempt is the attempt number (≥ RelaunchAttemptBase for a relaunch).
	Attempt  int
	Relaunch bool
}

// ParseStartedBy reads a startedBy (or th:startedBy tag) written by this
// package. ok is false for anything else, so foreign tasks are ignored.
func ParseStartedBy(s string) (id Identity, ok bool) {
	rest, found := strings.CutPrefix(s, StartedByPrefix)
	if !found {
		return Identity{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || len(parts[0]) != 12 {
		return Identity{}, false
	}
	if _, err := hex.DecodeString(parts[0]); err != nil {
		return Identity{}, false
	}
	chunk, err := strconv.Atoi(parts[1])
	if err != nil || chunk < 0 {
		return Identity{}, false
	}
	id = Identity{RequestHash: parts[0], Chunk: chunk}
	if id.Attempt, err = strconv.Atoi(parts[2]); err != nil || id.Attempt < 0 {
		return Identity{}, false
	}
	id.Relaunch = id.Attempt >= RelaunchAttemptBase
	return id, true
}

// ClientToken returns the idempotency token of (requestId, chunk, attempt):
// th-<24 hex of SHA-256(requestId)>-<chunk>-<attempt>, at most 43 printable
// ASCII characters (RunTask and RunInstances allow 64). The same triple
// always gives the same token, so a retry of an ambiguous call is
// recognised by AWS as the same call; the next attempt gives a new one.
func ClientToken(requestID string, chunk, attempt int) string {
	h := sha256.Sum256([]byte(requestID))
	return fmt.Sprintf("th-%s-%d-%d", hex.EncodeToString(h[:12]), chunk, attempt)
}

// RelaunchToken is the idempotency token of the relaunch of the task
// stoppedARN: the ARN keys the relaunch, so a duplicated event (or a retried
// relaunch after a lost response) maps to one task.
func RelaunchToken(stoppedARN string) string {
	h := sha256.Sum256([]byte(stoppedARN))
	return "th-r-" + hex.EncodeToString(h[:20])
}

// RelaunchTokenGen is the client token of generation gen of the relaunch of
// stoppedARN: gen 0 is RelaunchToken; the generation advances only after a
// call answered failures[] (nothing launched), since ECS answers a replayed
// token with its first answer, so a token that got "Capacity is
// unavailable" would get it for as long as the token lives.
func RelaunchTokenGen(stoppedARN string, gen int) string {
	if gen <= 0 {
		return RelaunchToken(stoppedARN)
	}
	return RelaunchToken(stoppedARN) + "-" + strconv.Itoa(gen)
}
