package launchstore

import (
	"context"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// ClaimRelaunch implements Store: created is false if the relaunch item
// exists (whoever wrote it), and then the stored claim is returned.
func (m *Memory) ClaimRelaunch(ctx context.Context, c launch.RelaunchClaim, _ time.Time) (launch.RelaunchClaim, bool, error) {
	if err := m.lock(ctx); err != nil {
		return launch.RelaunchClaim{}, false, err
	}
	defer m.mu.Unlock()
	if it, ok := m.claims[c.TaskARN]; ok {
		got := launch.RelaunchClaim{TaskARN: c.TaskARN, RequestID: it.requestID, Chunk: it.chunk, State: it.state,
			NewARN: it.newARN, SlotAt: it.slotAt}
		if it.gen != nil {
			got.Gen = *it.gen
		}
		return got, false, nil
	}
	m.claims[c.TaskARN] = &memClaim{requestID: c.RequestID, chunk: c.Chunk, state: launch.RelaunchPending}
	c.State = launch.RelaunchPending
	return c, true, nil
}

// RegisterRelaunch implements Store.
func (m *Memory) RegisterRelaunch(ctx context.Context, requestID string, chunk int, arn string) (launch.ChunkState, error) {
	if err := m.lock(ctx); err != nil {
		return launch.ChunkState{}, err
	}
	defer m.mu.Unlock()
	it := m.chunk(requestID, chunk)
	if it.givingUp && !slices.Contains(it.ids, arn) {
		return launch.ChunkState{}, ErrFenced
	}
	it.relaunching, it.ids = addSet(it.relaunching, arn), addSet(it.ids, arn)
	return it.state(chunk), nil
}

// BeginGiveUp implements Store.
func (m *Memory) BeginGiveUp(ctx context.Context, requestID string, chunk int) (launch.ChunkState, error) {
	if err := m.lock(ctx); err != nil {
		return launch.ChunkState{}, err
	}
	defer m.mu.Unlock()
	it := m.chunk(requestID, chunk)
	it.givingUp = true
	return it.state(chunk), nil
}

// ChargeRelaunch implements Store. As DynamoDB's condition
// "attribute_not_exists(relaunches) OR relaunches < max", the first charge
// of a chunk passes whatever max is.
func (m *Memory) ChargeRelaunch(ctx context.Context, requestID string, chunk, max int) (bool, error) {
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	if it := m.chunks[requestID][chunk]; it != nil && it.relaunches != 0 && it.relaunches >= max {
		return false, nil
	}
	m.chunk(requestID, chunk).relaunches++
	return true, nil
}

// SetRelaunchSlot implements Store.
func (m *Memory) SetRelaunchSlot(ctx context.Context, arn string, at time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.claim(arn).slotAt = at.UTC()
	return nil
}

// AdvanceRelaunchToken implements Store: from gen to gen+1 (and settled)
// only if the stored generation is gen or has never been advanced.
func (m *Memory) AdvanceRelaunchToken(ctx context.Context, arn string, gen, sends int) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if it := m.claims[arn]; it != nil && ((it.gen != nil && *it.gen != gen) || (sends > 0 && it.sends != sends)) {
		return nil
	}
	it, next := m.claim(arn), gen+1
	it.gen, it.unsettled, it.unsettledAt = &next, false, time.Time{}
	return nil
}

// ClaimRelaunchSend implements Store.
func (m *Memory) ClaimRelaunchSend(ctx context.Context, arn string, gen int) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	it := m.claim(arn)
	if cur := 0; it.gen != nil {
		cur = *it.gen
		if cur != gen {
			return 0, ErrFenced
		}
	} else if gen != cur {
		return 0, ErrFenced
	}
	it.sends++
	return it.sends, nil
}

// SetRelaunchUnsettled implements Store: a mark keeps its first time; a
// zero at clears both.
func (m *Memory) SetRelaunchUnsettled(ctx context.Context, arn string, at time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it := m.claim(arn)
	switch {
	case at.IsZero():
		it.unsettled, it.unsettledAt = false, time.Time{}
	case it.unsettledAt.IsZero():
		it.unsettled, it.unsettledAt = true, at.UTC()
	default:
		it.unsettled = true
	}
	return nil
}

// RelaunchUnsettled implements Store (false for a missing claim).
func (m *Memory) RelaunchUnsettled(ctx context.Context, arn string) (bool, error) {
	u, _, err := m.RelaunchUnsettledSince(ctx, arn)
	return u, err
}

// RelaunchUnsettledSince implements Store (false for a missing claim).
func (m *Memory) RelaunchUnsettledSince(ctx context.Context, arn string) (bool, time.Time, error) {
	if err := m.lock(ctx); err != nil {
		return false, time.Time{}, err
	}
	defer m.mu.Unlock()
	it := m.claims[arn]
	if it == nil || !it.unsettled {
		return false, time.Time{}, nil
	}
	return true, it.unsettledAt, nil
}

// FinishRelaunch implements Store.
func (m *Memory) FinishRelaunch(ctx context.Context, c launch.RelaunchClaim, newARN string, at time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it := m.chunk(c.RequestID, c.Chunk)
	if slices.Contains(it.stopped, c.TaskARN) {
		// Settled first (see DynamoDB.FinishRelaunch).
		if slices.Contains(it.ids, newARN) {
			m.closeClaim(c.TaskARN, launch.RelaunchDone, newARN)
		}
		return nil
	}
	it.addIDs([]string{newARN}, at)
	it.stopped = addSet(it.stopped, c.TaskARN)
	m.closeClaim(c.TaskARN, launch.RelaunchDone, newARN)
	return nil
}

// GiveUpRelaunch implements Store: the lost record is (re)written, the
// task joins stoppedIds and counts lost once.
func (m *Memory) GiveUpRelaunch(ctx context.Context, c launch.RelaunchClaim, reason string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.lost[c.RequestID] == nil {
		m.lost[c.RequestID] = map[string]launch.LostRecord{}
	}
	m.lost[c.RequestID][chunkSK(c.Chunk)+"#lost#"+shortHash(c.TaskARN)] = launch.LostRecord{Chunk: c.Chunk, Reason: reason, Units: 1}
	if it := m.chunks[c.RequestID][c.Chunk]; it == nil || !slices.Contains(it.stopped, c.TaskARN) {
		it = m.chunk(c.RequestID, c.Chunk)
		it.stopped = addSet(it.stopped, c.TaskARN)
		it.lost++
	}
	m.closeClaim(c.TaskARN, launch.RelaunchGaveUp, "") // its reason is in the lost record
	return nil
}

func (m *Memory) closeClaim(arn, state, newARN string) {
	it := m.claim(arn)
	it.state, it.newARN = state, newARN
}
