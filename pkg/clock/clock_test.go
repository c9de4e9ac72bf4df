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
