package launchstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Chunk implements Store: a chunk never written is empty.
func (m *Memory) Chunk(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error) {
	if err := m.lock(ctx); err != nil {
		return launch.ChunkState{}, err
	}
	defer m.mu.Unlock()
	return m.chunks[requestID][chunk].state(chunk), nil
}

// Chunks implements Store, in the order of DynamoDB's sort keys.
func (m *Memory) Chunks(ctx context.Context, requestID string) ([]launch.ChunkState, []launch.LostRecord, error) {
	if err := m.lock(ctx); err != nil {
		return nil, nil, err
	}
	defer m.mu.Unlock()
	var chunks []launch.ChunkState
	var lost []launch.LostRecord
	idx := slices.Collect(maps.Keys(m.chunks[requestID]))
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(chunkSK(a), chunkSK(b)) })
	for _, i := range idx {
		chunks = append(chunks, m.chunks[requestID][i].state(i))
	}
	sks := slices.Sorted(maps.Keys(m.lost[requestID]))
	for _, sk := range sks {
		lost = append(lost, m.lost[requestID][sk])
	}
	return chunks, lost, nil
}

// BeginAttempt implements Store: the earlier record of the attempt wins.
// Failures and Code are not part of a new record.
func (m *Memory) BeginAttempt(ctx context.Context, requestID string, c launch.ChunkSpec, rec launch.AttemptRecord, _ time.Time) (launch.ChunkState, error) {
	if err := m.lock(ctx); err != nil {
		return launch.ChunkState{}, err
	}
	defer m.mu.Unlock()
	rec.State, rec.Failures, rec.Code, rec.Sends, rec.Replays, rec.SentAt = launch.AttemptSent, nil, "", 0, 0, time.Time{}
	it := m.chunk(requestID, c.Index)
	if _, ok := it.attempts[rec.Attempt]; !ok {
		it.attempts[rec.Attempt] = rec
	}
	return it.state(c.Index), nil
}

// FinishAttempt implements Store; the attempt must have begun.
func (m *Memory) FinishAttempt(ctx context.Context, requestID string, chunk, attempt int, ids []string, failures []launch.Failure, at time.Time) (launch.ChunkState, error) {
	if err := m.lock(ctx); err != nil {
		return launch.ChunkState{}, err
	}
	defer m.mu.Unlock()
	if len(addSet(nil, ids...)) != len(ids) {
		return launch.ChunkState{}, fmt.Errorf("finish attempt %s/%d/%d: %w", requestID, chunk, attempt, errDuplicates(ids))
	}
	it := m.chunks[requestID][chunk]
	if it == nil || !hasAttempt(it, attempt) {
		return launch.ChunkState{}, fmt.Errorf("finish attempt %s/%d/%d: %w", requestID, chunk, attempt, conditionFailed())
	}
	rec := it.attempts[attempt]
	rec.State, rec.Launched, rec.Failures = launch.AttemptDone, len(ids), nil
	if len(ids) > 0 {
		rec.IDs = slices.Clone(ids)
	}
	fj, _ := json.Marshal(failures) // stored as JSON: nil reads back nil, empty empty
	_ = json.Unmarshal(fj, &rec.Failures)
	it.attempts[attempt] = rec
	it.addIDs(ids, at)
	return it.state(chunk), nil
}

func hasAttempt(it *memChunk, attempt int) bool {
	_, ok := it.attempts[attempt]
	return ok
}

// setAttempt changes a begun attempt's record, or fails as the condition
// attribute_exists(a<attempt>) does; set may refuse the change.
func (m *Memory) setAttempt(ctx context.Context, op, requestID string, chunk, attempt int, set func(*launch.AttemptRecord) error) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it := m.chunks[requestID][chunk]
	if it == nil || !hasAttempt(it, attempt) {
		return fmt.Errorf("%s %s/%d/%d: %w", op, requestID, chunk, attempt, conditionFailed())
	}
	rec := it.attempts[attempt]
	if err := set(&rec); err != nil {
		return fmt.Errorf("%s %s/%d/%d: %w", op, requestID, chunk, attempt, err)
	}
	it.attempts[attempt] = rec
	return nil
}

// ClaimSend implements Store.
func (m *Memory) ClaimSend(ctx context.Context, requestID string, chunk, attempt, sends int, at time.Time) (int, error) {
	err := m.setAttempt(ctx, "claim send", requestID, chunk, attempt, func(r *launch.AttemptRecord) error {
		if r.Sends != sends || r.State == launch.AttemptDone || r.State == launch.AttemptUnknown {
			return ErrFenced
		}
		r.State, r.Sends = launch.AttemptSent, sends+1
		if r.SentAt.IsZero() {
			r.SentAt = at.UTC()
		}
		return nil
	})
	return sends + 1, err
}

// fenced is the condition of a state change by send sends.
func fenced(r *launch.AttemptRecord, sends int) error {
	if r.Sends != sends || r.State != launch.AttemptSent {
		return ErrFenced
	}
	return nil
}

// FailAttempt implements Store.
func (m *Memory) FailAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error {
	return m.setAttempt(ctx, "fail attempt", requestID, chunk, attempt, func(r *launch.AttemptRecord) error {
		if err := fenced(r, sends); err != nil {
			return err
		}
		r.State, r.Code = launch.AttemptFailed, code
		return nil
	})
}

// NoteUnsettled implements Store.
func (m *Memory) NoteUnsettled(ctx context.Context, requestID string, chunk, attempt, sends int, code string) error {
	return m.setAttempt(ctx, "note unsettled", requestID, chunk, attempt, func(r *launch.AttemptRecord) error {
		if err := fenced(r, sends); err != nil {
			return err
		}
		r.Code, r.Replays = code, r.Replays+1
		return nil
	})
}

// SettleAttempt implements Store.
func (m *Memory) SettleAttempt(ctx context.Context, requestID string, chunk, attempt, sends int, ids []string, code string, at time.Time) (launch.ChunkState, error) {
	if len(addSet(nil, ids...)) != len(ids) {
		return launch.ChunkState{}, fmt.Errorf("settle attempt %s/%d/%d: %w", requestID, chunk, attempt, errDuplicates(ids))
	}
	err := m.setAttempt(ctx, "settle attempt", requestID, chunk, attempt, func(r *launch.AttemptRecord) error {
		if err := fenced(r, sends); err != nil {
			return err
		}
		r.State, r.Launched, r.Code = launch.AttemptUnknown, len(ids), code
		if len(ids) > 0 {
			r.IDs = slices.Clone(ids)
		}
		m.chunks[requestID][chunk].addIDs(ids, at)
		return nil
	})
	if err != nil {
		return launch.ChunkState{}, err
	}
	return m.Chunk(ctx, requestID, chunk)
}

// AddRetry implements Store.
func (m *Memory) AddRetry(ctx context.Context, requestID string, chunk int) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	it := m.chunk(requestID, chunk)
	it.retries++
	return it.retries, nil
}

// GiveUp implements Store: first only for the first call on the chunk.
func (m *Memory) GiveUp(ctx context.Context, requestID string, chunk, missing int, class, code, reason string) (bool, error) {
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	if it := m.chunks[requestID][chunk]; it != nil && it.gaveUp {
		return false, nil
	}
	it := m.chunk(requestID, chunk)
	it.gaveUp, it.reason, it.class, it.code = true, reason, class, code
	it.deadLettered += missing
	return true, nil
}
