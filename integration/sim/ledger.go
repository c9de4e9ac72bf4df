package sim

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind says what a ledger entry launched.
type Kind string

// Ledger entry kinds.
const (
	KindTask     Kind = "task"
	KindInstance Kind = "instance"
)

// Tag keys the product puts on instances (docs/contracts.md, Identity).
const (
	TagStartedBy = "th:startedBy"
	TagRequestID = "th:requestId"
)

// LedgerEntry is one launched task or instance. Times are simulated.
type LedgerEntry struct {
	Kind        Kind              `json:"kind"`
	ID          string            `json:"id"` // task ARN or instance ID
	Cluster     string            `json:"cluster,omitempty"`
	ClientToken string            `json:"clientToken,omitempty"`
	StartedBy   string            `json:"startedBy,omitempty"` // ECS startedBy, or the th:startedBy tag
	Group       string            `json:"group,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// RequestHash, Chunk and Attempt are parsed from StartedBy
	// "th/<hash>/<chunk>/<attempt>"; Chunk and Attempt are -1 when absent.
	RequestHash string `json:"requestHash,omitempty"`
	Chunk       int    `json:"chunk"`
	Attempt     int    `json:"attempt"`
	// RequestID is the th:requestId tag, when present.
	RequestID  string    `json:"requestId,omitempty"`
	LaunchedAt time.Time `json:"launchedAt"`
	// StoppedAt, StopCode and StoppedReason are set when the task stopped
	// (or the instance terminated).
	StoppedAt     *time.Time `json:"stoppedAt,omitempty"`
	StopCode      string     `json:"stopCode,omitempty"`
	StoppedReason string     `json:"stoppedReason,omitempty"`
	// ExitCode is the essential container's exit code, when it exited on
	// its own (nil for tasks stopped by StopTask, a Spot interruption or a
	// failure to start).
	ExitCode *int `json:"exitCode,omitempty"`
	// ArrayIndex is TH_ARRAY_INDEX from the RunTask's container overrides'
	// environment, when present and numeric.
	ArrayIndex *int `json:"arrayIndex,omitempty"`
	// FailedToStart: stopped with TaskFailedToStart (not counted as launched
	// work by Counts).
	FailedToStart bool `json:"failedToStart,omitempty"`
	// LostResponse: the call that launched it had its response lost.
	LostResponse bool `json:"lostResponse,omitempty"`
	// Acknowledged: some response carrying it reached the client (the
	// original one, or a client-token replay).
	Acknowledged bool `json:"acknowledged"`
}

// ParseStartedBy splits "th/<hash>/<chunk>/<attempt>". ok is false for any
// other shape.
func ParseStartedBy(s string) (hash string, chunk, attempt int, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 || parts[0] != "th" || parts[1] == "" {
		return "", -1, -1, false
	}
	c, err1 := strconv.Atoi(parts[2])
	a, err2 := strconv.Atoi(parts[3])
	if err1 != nil || err2 != nil || c < 0 || a < 0 {
		return "", -1, -1, false
	}
	return parts[1], c, a, true
}

// Ledger records every launch. Safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	entries []*LedgerEntry // pointers: growing the slice copies 8 bytes per entry
	byID    map[string]int
}

func newLedger() *Ledger { return &Ledger{byID: map[string]int{}} }

func (l *Ledger) add(e LedgerEntry) int {
	e.Chunk, e.Attempt = -1, -1
	if h, c, a, ok := ParseStartedBy(e.StartedBy); ok {
		e.RequestHash, e.Chunk, e.Attempt = h, c, a
	}
	if e.RequestID == "" && e.Tags != nil {
		e.RequestID = e.Tags[TagRequestID]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, &e)
	l.byID[e.ID] = len(l.entries) - 1
	return len(l.entries) - 1
}

func (l *Ledger) stopped(i int, at time.Time, code, reason string, exit *int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[i]
	e.StoppedAt = &at
	if exit != nil {
		c := *exit
		e.ExitCode = &c
	}
	e.StopCode, e.StoppedReason = code, reason
	e.FailedToStart = code == StopTaskFailedToStart
}

// mark sets a flag on the entries with the given IDs.
func (l *Ledger) mark(ids []string, lost bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		i, ok := l.byID[id]
		if !ok {
			continue
		}
		if lost {
			l.entries[i].LostResponse = true
		} else {
			l.entries[i].Acknowledged = true
		}
	}
}

// Entries returns a copy of every entry, in launch order.
func (l *Ledger) Entries() []LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LedgerEntry, len(l.entries))
	for i, e := range l.entries {
		out[i] = *e
	}
	return out
}

// Tasks returns the entries of ECS tasks, in launch order: each task's
// final state once it stopped (ExitCode, StopCode, StoppedReason,
// StoppedAt) with its ArrayIndex, for comparing per-index results with
// what the product reports.
func (l *Ledger) Tasks() []LedgerEntry {
	all := l.Entries()
	out := all[:0]
	for _, e := range all {
		if e.Kind == KindTask {
			out = append(out, e)
		}
	}
	return out
}

// Get returns the entry of a task ARN or instance ID.
func (l *Ledger) Get(id string) (LedgerEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.byID[id]
	if !ok {
		return LedgerEntry{}, false
	}
	return *l.entries[i], true
}

// For returns the entries of one request: key matches the th:requestId tag
// or the request hash parsed from startedBy. An empty key returns all.
func (l *Ledger) For(key string) []LedgerEntry {
	all := l.Entries()
	if key == "" {
		return all
	}
	out := all[:0:0]
	for _, e := range all {
		if e.RequestID == key || e.RequestHash == key {
			out = append(out, e)
		}
	}
	return out
}

// ChunkSize tells how many tasks or instances a chunk of a request asked for.
type ChunkSize func(requestHash string, chunk int) int

// Counts summarises entries per docs/contracts.md "Reports and the ledger".
type Counts struct {
	Launched      int `json:"launched"`      // entries
	FailedToStart int `json:"failedToStart"` // stopped with TaskFailedToStart
	Effective     int `json:"effective"`     // launched − failed to start
	// Duplicates = Σ over (request, chunk) of max(0, effective − chunk size).
	Duplicates int `json:"duplicates"`
	// Unique = Σ over (request, chunk) of min(effective, chunk size): the
	// requested work that really exists, counted once.
	Unique        int `json:"unique"`
	LostResponses int `json:"lostResponses"`
	// Unacknowledged: launched, response lost, and never seen by the client
	// in a replay either.
	Unacknowledged int `json:"unacknowledged"`
	Untracked      int `json:"untracked"` // entries without a th/ startedBy
}

// Count summarises entries. size gives each chunk's size; nil counts no
// duplicates (Unique = Effective).
func Count(entries []LedgerEntry, size ChunkSize) Counts {
	type key struct {
		hash  string
		chunk int
	}
	var c Counts
	per := map[key]int{}
	for _, e := range entries {
		c.Launched++
		if e.LostResponse {
			c.LostResponses++
			if !e.Acknowledged {
				c.Unacknowledged++
			}
		}
		if e.FailedToStart {
			c.FailedToStart++
			continue
		}
		c.Effective++
		if e.RequestHash == "" {
			c.Untracked++
			c.Unique++
			continue
		}
		per[key{e.RequestHash, e.Chunk}]++
	}
	keys := make([]key, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].hash != keys[j].hash {
			return keys[i].hash < keys[j].hash
		}
		return keys[i].chunk < keys[j].chunk
	})
	for _, k := range keys {
		n := per[k]
		if size == nil {
			c.Unique += n
			continue
		}
		want := size(k.hash, k.chunk)
		c.Unique += min(n, want)
		c.Duplicates += max(0, n-want)
	}
	return c
}

// Lost is the contracts' lost = requested − launched − dead-lettered, with
// launched = Counts.Unique (each chunk's work counted once), never below 0.
func Lost(requested, unique, deadLettered int) int {
	return max(0, requested-unique-deadLettered)
}
