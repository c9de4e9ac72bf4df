package limiter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StoredLimits is a limit document kept in the table (see the package doc,
// Live limits): Doc is the override document as ParseLimits reads it, in
// compact JSON ("" when none is stored: the deployment's initial value
// applies), Version counts the sets and resets, By and At record who made
// the last one and when.
type StoredLimits struct {
	Doc     string    `json:"doc,omitempty"`
	Version int64     `json:"version"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// LiveStore is the optional part of a Store that carries stored limit
// documents. MemoryStore and DynamoStore implement it; a Distributed over
// a Store without it keeps the limits it was built with.
type LiveStore interface {
	// SeenLimits returns the newest document carried by key's bucket item
	// in the answers of this store's calls so far, without any I/O; ok is
	// false when no answer carried one. After a Load it is what that read
	// found.
	SeenLimits(key string) (StoredLimits, bool)
	// LoadLimits reads key's durable copy (the bucket item expires with
	// its TTL; the copy does not).
	LoadLimits(ctx context.Context, key string) (StoredLimits, bool, error)
	// WriteLimits stores next in key's bucket item if the item still
	// carries version prev (0: none), and every bucket of rates still has
	// the epoch given, setting those buckets' learned rate (Rate, RateAt)
	// in the same write; then in the durable copy unless it holds a newer
	// version. A failed condition is a *LimitsConflictError, nothing
	// written.
	WriteLimits(ctx context.Context, key string, prev int64, next StoredLimits, rates map[string]BucketState) error
}

// LimitsConflictError says a stored limit document changed between its
// read and a write conditioned on it: nothing was written.
type LimitsConflictError struct {
	Key string
	// Read and Now are the versions read and found (Now is 0 when unknown).
	Read, Now int64
}

func (e *LimitsConflictError) Error() string {
	return fmt.Sprintf("limits of %s changed concurrently (version %d read, now %d): another limits set or reset won; nothing was written by this one: read them again and retry", e.Key, e.Read, e.Now)
}

// maxStoredDoc bounds a stored document: limitsJson's bound (Lambda's
// environment), which also bounds what it adds to every acquisition's
// write: at most two write units (DynamoDB bills a write by the item's
// size, per 1 KB).
const maxStoredDoc = 2048

// appliedLimits is the stored document a Distributed uses for one key.
type appliedLimits struct {
	version int64
	lims    *Limits // nil: the initial limits
}

// limitsOf returns the limits bucket resolves in: its service item's
// stored document when one applies, else the initial limits. d.mu held.
func (d *Distributed) limitsOf(bucket string) *Limits {
	svc, _, _ := strings.Cut(bucket, ":")
	if a := d.live[d.Key(svc)]; a.lims != nil {
		return a.lims
	}
	return d.lims
}

// adopt applies the document the store last saw in key's item when it is
// newer than the one applied: the answer of the call just made carries
// it, so a change costs no read. It asks the store before taking d.mu: a
// store may read the clock (d.now) under its own lock.
func (d *Distributed) adopt(key string) {
	ls, ok := d.store.(LiveStore)
	if !ok {
		return
	}
	if s, ok := ls.SeenLimits(key); ok {
		d.mu.Lock()
		d.applyLocked(key, s)
		d.mu.Unlock()
	}
}

// applyLocked makes s the limits of key's service if it is newer than the
// one applied. A document that no longer parses (a newer release's) keeps
// the limits in force. d.mu held.
func (d *Distributed) applyLocked(key string, s StoredLimits) {
	if d.live == nil {
		d.live = map[string]appliedLimits{}
	}
	if s.Version <= d.live[key].version {
		return
	}
	a := appliedLimits{version: s.Version}
	if s.Doc != "" {
		l, err := ParseLimits(s.Doc)
		if err != nil {
			d.log.Error("limiter: stored limits do not parse; keeping those in force", "key", key, "version", s.Version, "err", err)
			a.lims = d.live[key].lims
		} else {
			a.lims = l
		}
	}
	d.live[key] = a
	svc := strings.Split(key, "#")[1]
	for b := range d.resolved {
		if strings.HasPrefix(b, svc+":") {
			delete(d.resolved, b)
		}
	}
	d.log.Info("limiter: stored limits applied", "key", key, "version", s.Version, "by", s.By, "initial", s.Doc == "")
}

// appliedVersion is the version of key's stored limits in use (0: the
// initial limits).
func (d *Distributed) appliedVersion(key string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live[key].version
}

// recheckLimits returns takes' limits again when the stored limits changed
// since *applied (the version lims were resolved in; -1: unknown), and
// moves *applied. The first time per key it reads the durable copy if the
// item carried no document (firstLimits). Takes the new limits refuse
// (a bucket no longer configured) keep the old.
func (d *Distributed) recheckLimits(ctx context.Context, service string, takes []Take, lims []BucketLimit, applied *int64) []BucketLimit {
	key := d.Key(service)
	d.firstLimits(ctx, key)
	v := d.appliedVersion(key)
	if v == *applied {
		return lims
	}
	*applied = v
	l, err := d.check(service, takes)
	if err != nil {
		d.log.Error("limiter: takes invalid under the stored limits; timed under those before", "key", key, "version", v, "err", err)
		return lims
	}
	return l
}

// giveBackIfChanged gives a take's tokens back when its answer brought
// stored limits newer than applied, the ones it was timed under, and
// reports whether it did: the caller then takes again under the new ones.
// So every process applies a change from the answer that brings it, not
// one acquisition later (a fleet of warm sandboxes would otherwise each
// take once more at the old rate). It costs one give-back per process and
// change; a failed one keeps the take (as timed under the old limits).
func (d *Distributed) giveBackIfChanged(ctx context.Context, key string, applied int64, debits []Debit) bool {
	if d.appliedVersion(key) == applied {
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	item, err := d.store.Give(sctx, key, d.now(), debits)
	if err != nil {
		return false
	}
	d.remember(key, item, true)
	return true
}

// firstLimits applies key's durable copy when the bucket item's answers
// carried no document (it expired with its TTL, or none was ever stored):
// once per process and key, at its first acquisition. A failed read keeps
// the initial limits until an answer carries a document.
func (d *Distributed) firstLimits(ctx context.Context, key string) {
	ls, ok := d.store.(LiveStore)
	if !ok {
		return
	}
	d.mu.Lock()
	_, done := d.live[key]
	if !done {
		if d.live == nil {
			d.live = map[string]appliedLimits{}
		}
		d.live[key] = appliedLimits{}
	}
	d.mu.Unlock()
	if _, seen := ls.SeenLimits(key); done || seen {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	s, ok, err := ls.LoadLimits(sctx, key)
	if err != nil {
		d.log.Warn("limiter: stored limits unreadable; initial limits in force", "key", key, "err", err)
		return
	}
	if ok {
		d.mu.Lock()
		d.applyLocked(key, s)
		d.mu.Unlock()
	}
}

// StoredLimits returns the document stored for service (from one read of
// its bucket item and one of the durable copy); ok is false when none was
// ever stored. A document with Doc "" is a reset: the initial limits
// apply.
func (d *Distributed) StoredLimits(ctx context.Context, service string) (StoredLimits, bool, error) {
	ls, ok := d.store.(LiveStore)
	if !ok {
		return StoredLimits{}, false, errors.New("limiter: the store keeps no limit documents")
	}
	c, err := d.current(ctx, ls, d.Key(service))
	return c.stored, c.ok, err
}

// currentLimits is a service item as read before a limits write.
type currentLimits struct {
	item   Item
	inItem int64        // the version the bucket item carries (0: none)
	stored StoredLimits // the newest of the item's and the durable copy's
	ok     bool
}

func (d *Distributed) current(ctx context.Context, ls LiveStore, key string) (currentLimits, error) {
	item, err := d.load(ctx, key)
	if err != nil {
		return currentLimits{}, fmt.Errorf("limits: read %s: %w", key, err)
	}
	c := currentLimits{item: item}
	c.stored, c.ok = ls.SeenLimits(key)
	c.inItem = c.stored.Version
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	durable, ok, err := ls.LoadLimits(sctx, key)
	if err != nil {
		return currentLimits{}, fmt.Errorf("limits: read %s: %w", key, err)
	}
	if ok && (!c.ok || durable.Version > c.stored.Version) {
		c.stored, c.ok = durable, true
	}
	return c, nil
}

// SetLimits validates doc exactly as ParseLimits does (the error names the
// key; nothing is written) and stores it in every service's bucket item,
// recorded with by and the time. A bucket whose configured rate it raises
// probes up from the rate in force (its learned rate, else the old
// configured one) in the same write; a lowered rate applies at the next
// acquisition. Each write is conditioned on the version read: a concurrent
// set fails with a *LimitsConflictError, and the services already written
// are put back.
func (d *Distributed) SetLimits(ctx context.Context, services []string, doc, by string) (StoredLimits, error) {
	if strings.TrimSpace(doc) == "" {
		return StoredLimits{}, errors.New("limits: empty document (to go back to the deployment's initial value, reset)")
	}
	lims, err := ParseLimits(doc)
	if err != nil {
		return StoredLimits{}, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(doc)); err != nil {
		return StoredLimits{}, fmt.Errorf("limits: %w", err)
	}
	if buf.Len() > maxStoredDoc {
		return StoredLimits{}, fmt.Errorf("limits: %d bytes compact, must be at most %d (the document rides in the bucket item every acquisition writes)", buf.Len(), maxStoredDoc)
	}
	return d.storeLimits(ctx, services, buf.String(), lims, by)
}

// ResetLimits removes the stored document of every service (recorded as
// SetLimits records): the initial limits apply again at the next
// acquisition of every process.
func (d *Distributed) ResetLimits(ctx context.Context, services []string, by string) (StoredLimits, error) {
	return d.storeLimits(ctx, services, "", d.lims, by)
}

// written is one service item's write, kept to put it back.
type written struct {
	key     string
	version int64
	before  StoredLimits
	rates   map[string]BucketState // the probed buckets' state before
}

func (d *Distributed) storeLimits(ctx context.Context, services []string, doc string, lims *Limits, by string) (StoredLimits, error) {
	ls, ok := d.store.(LiveStore)
	if !ok {
		return StoredLimits{}, errors.New("limiter: the store keeps no limit documents")
	}
	now := d.now()
	var done []written
	var last StoredLimits
	for _, svc := range services {
		w, next, err := d.writeService(ctx, ls, svc, doc, lims, by, now)
		if err != nil {
			if uerr := d.undo(ctx, ls, done, by, now); uerr != nil {
				return StoredLimits{}, fmt.Errorf("%w; putting back the services already written failed: %v", err, uerr)
			}
			return StoredLimits{}, err
		}
		done, last = append(done, w), next
	}
	return last, nil
}

// writeService stores doc in svc's item, conditioned on the version it
// reads. A conflict where the version did not move (a decrease changed a
// probed bucket's epoch) is tried again.
func (d *Distributed) writeService(ctx context.Context, ls LiveStore, svc, doc string, lims *Limits, by string, now time.Time) (written, StoredLimits, error) {
	key := d.Key(svc)
	var first int64 = -1
	for try := 0; ; try++ {
		c, err := d.current(ctx, ls, key)
		if err != nil {
			return written{}, StoredLimits{}, err
		}
		if first >= 0 && c.stored.Version != first {
			return written{}, StoredLimits{}, &LimitsConflictError{Key: key, Read: first, Now: c.stored.Version}
		}
		first = c.stored.Version
		old := d.lims
		if c.stored.Doc != "" {
			if l, err := ParseLimits(c.stored.Doc); err == nil {
				old = l
			}
		}
		rates, before := d.probes(svc, old, lims, c.item, now)
		next := StoredLimits{Doc: doc, Version: max(c.stored.Version, c.inItem) + 1, By: by, At: now}
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		err = ls.WriteLimits(sctx, key, c.inItem, next, rates)
		cancel()
		if _, conflict := errors.AsType[*LimitsConflictError](err); conflict && try < 3 {
			continue
		}
		if err != nil {
			return written{}, StoredLimits{}, err
		}
		return written{key: key, version: next.Version, before: c.stored, rates: before}, next, nil
	}
}

// probes returns, for every bucket of svc whose configured rate lims
// raises over old, the learned rate to store: the rate in force now from
// now, in the bucket's epoch (the recovery then climbs to the new ceiling
// after its hold); and those buckets' state before.
func (d *Distributed) probes(svc string, old, lims *Limits, item Item, now time.Time) (map[string]BucketState, map[string]BucketState) {
	scope := d.o.AccountScope
	names := map[string]bool{}
	for _, b := range append(old.bucketNames(scope), lims.bucketNames(scope)...) {
		names[b] = strings.HasPrefix(b, svc+":")
	}
	rates, before := map[string]BucketState{}, map[string]BucketState{}
	for b, mine := range names {
		o, err1 := old.Bucket(scope, b)
		n, err2 := lims.Bucket(scope, b)
		if !mine || err1 != nil || err2 != nil || n.Rate <= o.Rate {
			continue
		}
		st := item[b]
		rates[b] = BucketState{Rate: float64(effRate(o, st, now)), RateAt: now, Epoch: st.Epoch}
		before[b] = st
	}
	return rates, before
}

// undo puts back the items storeLimits wrote before a failure: their
// document as it was (as a newer version, so processes that applied the
// new one go back) and the probed buckets' learned rates.
func (d *Distributed) undo(ctx context.Context, ls LiveStore, done []written, by string, now time.Time) error {
	var errs []error
	for _, w := range done {
		back := w.before
		back.Version, back.By, back.At = w.version+1, by+" (undo)", now
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		errs = append(errs, ls.WriteLimits(sctx, w.key, w.version, back, w.rates))
		cancel()
	}
	return errors.Join(errs...)
}
