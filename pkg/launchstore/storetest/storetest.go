// Package storetest is the conformance suite every launchstore.Store
// passes: launchstore.Memory in its unit tests, launchstore.DynamoDB over
// dynalite. It pins what the handlers rely on — conditional claims and
// their failure branches, set and counter semantics, what Chunk and Chunks
// report after each transition, marks expiring, missing items, the jobs
// items (per-task inputs, task records whose writers never erase each
// other, forward-only observations, one decision, the quota gate) — and
// that the conditional writes hold under concurrent callers. Where the two
// could differ, the DynamoDB store is the reference.
package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// storeFunc returns an empty store for t (a fresh table on DynamoDB).
type storeFunc = func(t *testing.T) launchstore.Store

// TestStore runs the conformance suite. Every subtest takes its own store
// from newStore and runs in parallel.
func TestStore(t *testing.T, newStore func(t *testing.T) launchstore.Store) {
	for _, g := range []struct {
		name string
		run  func(*testing.T, storeFunc)
	}{
		{"Requests", testRequests},
		{"Attempts", testAttempts},
		{"GiveUp", testGiveUp},
		{"Failover", testFailover},
		{"Relaunch", testRelaunch},
		{"Missing", testMissing},
		{"Concurrency", testConcurrency},
		{"AttemptFencing", testAttemptFencing},
		{"LaunchedAt", testLaunchedAt},
		{"Items", testItems},
		{"TaskParts", testTaskParts},
		{"Observe", testObserve},
		{"ObserveRace", testObserveRace},
		{"Decide", testDecide},
		{"Tasks", testTasks},
		{"QuotaGate", testQuotaGate},
		{"QuotaWait", testQuotaWait},
		{"ClaimExecution", testClaimExecution},
		{"Callback", testCallback},
	} {
		t.Run(g.name, func(t *testing.T) { g.run(t, newStore) })
	}
}

var t0 = launchtest.T0

// ecs is the chunk spec of chunk i (< 10) of a 100-task ECS request.
func ecs(i int) launch.ChunkSpec {
	spec, err := launchtest.ECSRequest("spec", 100).Chunk(i)
	if err != nil {
		panic(err)
	}
	return spec
}

// rec is a record of attempt a of a chunk, as runtask would begin it.
func rec(a int, token string) launch.AttemptRecord {
	return launch.AttemptRecord{Attempt: a, Count: 10, Token: token, StartedBy: "th/0123456789ab/0/" + token}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, st launchstore.Store, r launch.Request, now time.Time) launch.StoredRequest {
	t.Helper()
	sr, err := st.CreateRequest(context.Background(), r, now)
	must(t, err)
	return sr
}

func chunk(t *testing.T, st launchstore.Store, requestID string, i int) launch.ChunkState {
	t.Helper()
	c, err := st.Chunk(context.Background(), requestID, i)
	must(t, err)
	return c
}

func begin(t *testing.T, st launchstore.Store, requestID string, i int, r launch.AttemptRecord) launch.ChunkState {
	t.Helper()
	c, err := st.BeginAttempt(context.Background(), requestID, ecs(i), r, t0.Add(time.Hour))
	must(t, err)
	return c
}

// claimSend claims send sends+1 of an attempt of req at t0.
func claimSend(t *testing.T, st launchstore.Store, i, attempt, sends int) {
	t.Helper()
	got, err := st.ClaimSend(context.Background(), req, i, attempt, sends, t0)
	must(t, err)
	if got != sends+1 {
		t.Fatalf("ClaimSend after %d sends: %d, want %d", sends, got, sends+1)
	}
}

func finish(t *testing.T, st launchstore.Store, requestID string, i, attempt int, ids ...string) launch.ChunkState {
	t.Helper()
	c, err := st.FinishAttempt(context.Background(), requestID, i, attempt, ids, nil, time.Time{})
	must(t, err)
	return c
}

// chunks returns Chunks' answer by chunk index.
func chunks(t *testing.T, st launchstore.Store, requestID string) (map[int]launch.ChunkState, []launch.LostRecord) {
	t.Helper()
	cs, lost, err := st.Chunks(context.Background(), requestID)
	must(t, err)
	byIndex := map[int]launch.ChunkState{}
	for _, c := range cs {
		byIndex[c.Index] = c
	}
	return byIndex, lost
}

// claim reads the stored claim of arn through ClaimRelaunch; it must exist.
func claim(t *testing.T, st launchstore.Store, arn string) launch.RelaunchClaim {
	t.Helper()
	c, created, err := st.ClaimRelaunch(context.Background(), launch.RelaunchClaim{TaskARN: arn, RequestID: "other", Chunk: 99}, t0.Add(time.Hour))
	must(t, err)
	if created {
		t.Fatalf("claim of %s: created; want the stored claim", arn)
	}
	return c
}

// sameSet compares string sets (DynamoDB does not promise an order).
func sameSet(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// isConditionFailed: both stores answer a failed condition with DynamoDB's
// error, so a handler classifies it the same on either.
func isConditionFailed(err error) bool {
	var ccf *ddb.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
