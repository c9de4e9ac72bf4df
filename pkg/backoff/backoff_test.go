package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	s := time.Second
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		p    Policy
		in   Input
		want Decision
	}{
		"chunk: first retry, jitter below the minimum": {
			in:   Input{Case: ChunkCall, Retries: 1, MinDelay: 2 * s, Rand: 0.5},
			want: Decision{Delay: 2 * s, SpendsAttempt: true},
		},
		"chunk: jitter grows with retries": {
			in:   Input{Case: ChunkCall, Retries: 5, MinDelay: s, Rand: 0.5}, // 0.5 × 16 s
			want: Decision{Delay: 8 * s, SpendsAttempt: true},
		},
		"chunk: the bucket's next slot wins": {
			in:   Input{Case: ChunkCall, Retries: 2, MinDelay: s, NextSlot: 40 * s, Rand: 0.9},
			want: Decision{Delay: 40 * s, SpendsAttempt: true},
		},
		"chunk: capped at Max": {
			in:   Input{Case: ChunkCall, Retries: 30, NextSlot: time.Hour, Rand: 0.99},
			want: Decision{Delay: 300 * s, SpendsAttempt: true},
		},
		"chunk: custom shape": {
			p:    Policy{Base: 2 * s, Max: 10 * s},
			in:   Input{Case: ChunkCall, Retries: 3, Rand: 0.75}, // 0.75 × min(10, 8)
			want: Decision{Delay: 6 * s, SpendsAttempt: true},
		},
		"chunk: zero retries read as the first": {
			in:   Input{Case: ChunkCall, Rand: 0.5},
			want: Decision{Delay: s / 2, SpendsAttempt: true},
		},
		"chunk: the wait ends past the deadline": {
			in:   Input{Case: ChunkCall, Retries: 1, MinDelay: 30 * s, Now: t0, Deadline: t0.Add(10 * s)},
			want: Decision{Delay: 30 * s, SpendsAttempt: true, PastDeadline: true},
		},
		"chunk: the wait ends at the deadline": {
			in:   Input{Case: ChunkCall, Retries: 1, MinDelay: 10 * s, Now: t0, Deadline: t0.Add(10 * s)},
			want: Decision{Delay: 10 * s, SpendsAttempt: true},
		},
		"relaunch: floor plus jitter": {
			in:   Input{Case: RelaunchCall, Rand: 0.5},
			want: Decision{Delay: 16 * s},
		},
		"relaunch: next slot plus jitter": {
			in:   Input{Case: RelaunchCall, MinDelay: 5 * s, NextSlot: 100 * s, Rand: 0.1},
			want: Decision{Delay: 103 * s},
		},
		"relaunch: not capped": {
			in:   Input{Case: RelaunchCall, NextSlot: 2 * time.Hour},
			want: Decision{Delay: 2 * time.Hour},
		},
		"hand-off: at least ten seconds": {
			in:   Input{Case: HandOff, MinDelay: s},
			want: Decision{Delay: 10 * s},
		},
		"hand-off: the error's retry-after": {
			in:   Input{Case: HandOff, MinDelay: 45 * s},
			want: Decision{Delay: 45 * s},
		},
		"limiter busy: its retry-after, no attempt spent": {
			in:   Input{Case: LimiterBusy, MinDelay: 8 * s, Rand: 0.9},
			want: Decision{Delay: 8 * s},
		},
		"limiter busy: at least BusyMin": {
			in:   Input{Case: LimiterBusy, MinDelay: s},
			want: Decision{Delay: 5 * s},
		},
		"limiter busy: past the deadline": {
			in:   Input{Case: LimiterBusy, MinDelay: 3 * s, NextSlot: 20 * s, Now: t0, Deadline: t0.Add(5 * s)},
			want: Decision{Delay: 20 * s, PastDeadline: true},
		},
		"unknown case waits nothing": {
			in:   Input{MinDelay: 3 * s},
			want: Decision{},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.Delay(tc.in); got != tc.want {
				t.Errorf("Delay(%+v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestLimiterBusyDoesNotGrow: a store that stays down answers busy again
// and again; each wait is the limiter's retry-after (5 s), whatever the
// number of answers and the draw, so launches resume within 10 s of the
// store answering.
func TestLimiterBusyDoesNotGrow(t *testing.T) {
	t.Parallel()
	var p Policy
	for retries := 1; retries <= 200; retries++ {
		for _, r := range []float64{0, 0.5, 0.999} {
			in := Input{Case: LimiterBusy, Retries: retries, MinDelay: 5 * time.Second, Rand: r}
			if d := p.Delay(in); d.Delay != 5*time.Second || d.SpendsAttempt {
				t.Fatalf("answer %d, draw %g: got %+v, want 5 s spending no attempt", retries, r, d)
			}
		}
	}
}

// TestChunkDelayBounds: whatever the draw, a chunk's delay lies between its
// least delay and Max.
func TestChunkDelayBounds(t *testing.T) {
	t.Parallel()
	var p Policy
	for retries := 1; retries <= 20; retries++ {
		for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
			for _, minDelay := range []time.Duration{0, time.Second, 10 * time.Minute} {
				d := p.Delay(Input{Case: ChunkCall, Retries: retries, MinDelay: minDelay, Rand: r}).Delay
				if d < min(minDelay, 300*time.Second) || d > 300*time.Second {
					t.Fatalf("retries %d, rand %v, min %v: delay %v outside [min, 300 s]", retries, r, minDelay, d)
				}
			}
		}
	}
}

func TestCaseString(t *testing.T) {
	t.Parallel()
	for c, want := range map[Case]string{ChunkCall: "chunk-call", RelaunchCall: "relaunch-call", HandOff: "hand-off", LimiterBusy: "limiter-busy", 0: "unknown"} {
		if got := c.String(); got != want {
			t.Errorf("Case(%d).String() = %q, want %q", c, got, want)
		}
	}
}
