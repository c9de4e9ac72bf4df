package sim

import (
	"testing"
	"time"
)

func TestParseStartedBy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in             string
		hash           string
		chunk, attempt int
		ok             bool
	}{
		{"th/0123456789ab/12/3", "0123456789ab", 12, 3, true},
		{"th/abc/0/0", "abc", 0, 0, true},
		{"th//1/0", "", -1, -1, false},
		{"th/abc/x/0", "", -1, -1, false},
		{"th/abc/1", "", -1, -1, false},
		{"ecs-svc/123", "", -1, -1, false},
		{"", "", -1, -1, false},
	} {
		h, c, a, ok := ParseStartedBy(tc.in)
		if h != tc.hash || c != tc.chunk || a != tc.attempt || ok != tc.ok {
			t.Errorf("ParseStartedBy(%q) = %q %d %d %v, want %q %d %d %v", tc.in, h, c, a, ok, tc.hash, tc.chunk, tc.attempt, tc.ok)
		}
	}
}

func TestCountDuplicatesAndLost(t *testing.T) {
	t.Parallel()
	l := newLedger()
	add := func(startedBy string, n int) []int {
		var idx []int
		for i := 0; i < n; i++ {
			idx = append(idx, l.add(LedgerEntry{Kind: KindTask, ID: startedBy + string(rune('a'+len(l.entries))), StartedBy: startedBy}))
		}
		return idx
	}
	add("th/h1/0/0", 10) // chunk 0 complete
	add("th/h1/1/0", 10) // chunk 1 …
	add("th/h1/1/1", 3)  // … plus a retry that launched 3 more: 3 duplicates
	failed := add("th/h1/2/0", 10)
	for _, i := range failed[:4] { // 4 failed to start …
		l.stopped(i, time.Time{}, StopTaskFailedToStart, "Timeout waiting for network interface provisioning to complete.", nil)
	}
	add("th/h1/2/1", 4) // … and were relaunched: no duplicates
	add("manual", 2)
	l.mark([]string{"th/h1/0/0a"}, true)
	c := Count(l.Entries(), func(hash string, chunk int) int { return 10 })
	want := Counts{Launched: 39, FailedToStart: 4, Effective: 35, Duplicates: 3, Unique: 32, LostResponses: 1, Unacknowledged: 1, Untracked: 2}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if got := Lost(35, 30, 2); got != 3 {
		t.Fatalf("Lost(35, 30, 2) = %d, want 3", got)
	}
	if got := Lost(10, 12, 0); got != 0 {
		t.Fatalf("Lost never goes below 0: got %d", got)
	}
}
