package sim

import (
	"strconv"
	"testing"
	"time"
)

// TestBucketTimeline walks one bucket (burst 4, 2 per s) through a timeline
// of takes, as x/time's tests do.
func TestBucketTimeline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b := newBucket("b", Bucket{Burst: 4, Rate: 2}, t0)
	for i, step := range []struct {
		ms int
		n  float64
		ok bool
	}{
		{0, 3, true},     // 4 → 1
		{0, 2, false},    // 1 left
		{250, 1.5, true}, // +0.5 → 1.5 → 0
		{250, 0.1, false},
		{2250, 4, true},  // +4 → 4 (capped) → 0
		{1250, 1, false}, // earlier time is ignored: still 0
		{2500, 0.5, true},
		{10000, 5, false}, // never more than the burst
		{10000, 4, true},
	} {
		b.advance(at(step.ms))
		if got := b.has(step.n); got != step.ok {
			t.Fatalf("step %d (t=%d ms, n=%v): got %v, want %v (tokens %v)", i, step.ms, step.n, got, step.ok, b.tokens)
		}
		if step.ok {
			b.take(step.n)
		}
	}
}

// TestBucketStorm: a storm slows the refill, never the burst (the
// co-tenant caller, which draws on the bucket as a caller, is tested in
// cotenant_caller_test.go).
func TestBucketStorm(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		storm       float64
		wantAfter1s float64 // tokens one second after emptying
	}{
		"calm":  {1, 40},
		"storm": {0.1, 4},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBucket("b", Bucket{Burst: 100, Rate: 40}, t0)
			b.reconfigure(t0, b.cfg, tc.storm)
			if b.tokens != 100 {
				t.Fatalf("burst: got %v, want 100", b.tokens)
			}
			b.take(b.tokens)
			b.advance(t0.Add(time.Second))
			if d := b.tokens - tc.wantAfter1s; d > 1e-9 || d < -1e-9 {
				t.Fatalf("after 1 s: got %v, want %v", b.tokens, tc.wantAfter1s)
			}
		})
	}
}

func TestUnlimitedBucket(t *testing.T) {
	t.Parallel()
	b := newBucket("b", Bucket{}, time.Time{})
	for i := 0; i < 1000; i++ {
		if !b.has(1e9) {
			t.Fatal("a zero bucket must be unlimited")
		}
		b.take(1e9)
	}
}

func FuzzParseStartedBy(f *testing.F) {
	for _, s := range []string{"th/0123456789ab/12/3", "th/a/0/0", "th//1/0", "x/y/z", "th/a/-1/0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, c, a, ok := ParseStartedBy(s)
		if !ok {
			if h != "" || c != -1 || a != -1 {
				t.Fatalf("%q: not ok but got %q %d %d", s, h, c, a)
			}
			return
		}
		if h == "" || c < 0 || a < 0 {
			t.Fatalf("%q: ok with %q %d %d", s, h, c, a)
		}
		// Re-rendered, it parses to the same parts.
		h2, c2, a2, ok2 := ParseStartedBy("th/" + h + "/" + strconv.Itoa(c) + "/" + strconv.Itoa(a))
		if !ok2 || h2 != h || c2 != c || a2 != a {
			t.Fatalf("%q: round trip gave %q %d %d %v", s, h2, c2, a2, ok2)
		}
	})
}
