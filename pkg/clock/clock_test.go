package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeNeverRunsBackwards(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	f.Advance(time.Second)
	f.Advance(-time.Hour)
	f.Set(t0)
	if got, want := f.Now(), t0.Add(time.Second); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFakeSleepAdvances(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := map[string]struct {
		ctx     context.Context
		d       time.Duration
		want    time.Duration // fake time gone by
		wantErr error
	}{
		"waits d":           {ctx: context.Background(), d: 3 * time.Second, want: 3 * time.Second},
		"zero":              {ctx: context.Background(), d: 0, want: 0},
		"negative":          {ctx: context.Background(), d: -time.Second, want: 0},
		"done ctx, no time": {ctx: done, d: time.Second, want: 0, wantErr: context.Canceled},
		"done ctx, zero d":  {ctx: done, d: 0, want: 0, wantErr: context.Canceled},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := NewFake(t0)
			var c Clock = f
			if err := c.Sleep(tc.ctx, tc.d); err != tc.wantErr {
				t.Fatalf("Sleep: got %v, want %v", err, tc.wantErr)
			}
			if got := f.Now().Sub(t0); got != tc.want {
				t.Fatalf("fake time gone by: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRealSleepCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Real{}).Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := (Real{}).Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0): got %v, want nil", err)
	}
}

func TestScaledRunsFaster(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	s := NewScaled(t0, 100)
	if err := s.Sleep(context.Background(), 2*time.Second); err != nil { // 20 ms real
		t.Fatal(err)
	}
	if got := s.Now().Sub(t0); got < 2*time.Second {
		t.Fatalf("got %v of simulated time after a 2 s simulated sleep, want ≥ 2s", got)
	}
	if got, want := s.RealDuration(10*time.Second), 100*time.Millisecond; got != want {
		t.Fatalf("RealDuration: got %v, want %v", got, want)
	}
}

// A deadline 1.5 s away in real time is 30 s away on a clock 20× faster:
// the local Lambda's 30 s timeout at time scale 20.
func TestRemaining(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(1500 * time.Millisecond)
	tests := []struct {
		name   string
		clk    Clock
		lo, hi time.Duration
	}{
		{"real", Real{}, time.Second, 1500 * time.Millisecond},
		{"scaled 20", NewScaled(time.Now(), 20), 20 * time.Second, 30 * time.Second},
		{"fake", NewFake(time.Now()), time.Second, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Remaining(tt.clk, deadline); got < tt.lo || got > tt.hi {
			t.Errorf("%s: Remaining = %v, want within [%v, %v]", tt.name, got, tt.lo, tt.hi)
		}
	}
}
