package limiter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestLocalAllowN(t *testing.T) {
	t.Parallel()
	// 10 per s (one token per 100 ms), burst 3; the timeline is shared.
	type step struct {
		at   time.Duration
		n    int
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then empty", []step{{0, 1, true}, {0, 1, true}, {0, 1, true}, {0, 1, false}}},
		{"refills one per 100 ms", []step{{0, 3, true}, {ms(99), 1, false}, {ms(100), 1, true}, {ms(150), 1, false}, {ms(200), 1, true}}},
		{"weighted", []step{{0, 2, true}, {0, 2, false}, {ms(100), 2, true}}},
		{"more than burst never", []step{{0, 4, false}, {time.Hour, 4, false}, {time.Hour, 3, true}}},
		{"full after idle, not more", []step{{0, 3, true}, {time.Hour, 3, true}, {time.Hour, 1, false}}},
		{"n ≤ 0 always", []step{{0, 3, true}, {0, 0, true}, {0, -1, true}}},
		{"stale t counts as latest", []step{{ms(1000), 3, true}, {ms(500), 1, false}, {0, 1, false}, {ms(1100), 1, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLocal(10, 3, func(o *LocalOptions) { o.Clock = clock.NewFake(t0) })
			for i, s := range tt.steps {
				if got := l.AllowN(t0.Add(s.at), s.n); got != s.want {
					t.Fatalf("step %d AllowN(t0+%v, %d): got %v, want %v", i, s.at, s.n, got, s.want)
				}
			}
		})
	}
}

func TestLocalInfAndZero(t *testing.T) {
	t.Parallel()
	inf := NewLocal(Inf, 0)
	zero := NewLocal(0, 2)
	for i := range 1000 {
		if !inf.AllowN(t0, 1000) {
			t.Fatalf("Inf refused at %d", i)
		}
	}
	if zero.AllowN(t0, 1) {
		t.Fatal("a zero limit admitted a token")
	}
	if got := Every(100 * time.Millisecond); got != 10 {
		t.Fatalf("Every(100ms): got %v, want 10", got)
	}
}

func TestLocalReserveCancel(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	l := NewLocal(10, 2, func(o *LocalOptions) { o.Clock = clk })
	a := l.ReserveN(time.Time{}, 2) // the burst: now
	b := l.ReserveN(time.Time{}, 1) // 100 ms later
	c := l.ReserveN(time.Time{}, 1) // 200 ms later
	for _, tc := range []struct {
		name string
		r    Reservation
		want time.Duration
	}{{"a", a, 0}, {"b", b, ms(100)}, {"c", c, ms(200)}} {
		if !tc.r.OK() || tc.r.Delay() != tc.want {
			t.Fatalf("%s: OK %v Delay %v, want %v", tc.name, tc.r.OK(), tc.r.Delay(), tc.want)
		}
	}
	c.Cancel()
	c.Cancel() // twice: gives back once
	if d := l.ReserveN(time.Time{}, 1).Delay(); d != ms(200) {
		t.Fatalf("after cancelling c the next slot is %v away, want 200ms (c's)", d)
	}
	clk.Advance(ms(300))
	b.Cancel() // its time has come: used, nothing given back
	if l.AllowN(clk.Now(), 2) {
		t.Fatal("a reservation cancelled after its time gave tokens back")
	}
	if r := l.ReserveN(time.Time{}, 3); r.OK() {
		t.Fatal("n above burst was reservable")
	}
}

func TestLocalWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal(10, 1)
		ctx := context.Background()
		start := time.Now()
		for range 3 {
			if err := l.Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), ms(200); got != want {
			t.Fatalf("3 waits at 10/s burst 1 took %v, want %v", got, want)
		}
		dctx, cancel := context.WithTimeout(ctx, ms(50))
		defer cancel()
		if err := l.Wait(dctx, 1); err == nil {
			t.Fatal("Wait succeeded although the deadline comes before the slot")
		}
		cctx, cancel2 := context.WithCancel(ctx)
		go func() { time.Sleep(ms(10)); cancel2() }()
		if err := l.Wait(cctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait: got %v, want context.Canceled", err)
		}
		// Both failed waits gave their token back: the next slot is 100 ms
		// after the last granted one.
		start = time.Now()
		if err := l.Wait(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got > ms(100) {
			t.Fatalf("Wait after two failed waits took %v, want ≤ 100ms", got)
		}
		if err := l.Wait(ctx, 2); err == nil {
			t.Fatal("Wait(n > burst) succeeded")
		}
	})
}

func TestLocalDoesNotAllocate(t *testing.T) {
	l := NewLocal(1e9, 1000)
	now := time.Now()
	for name, f := range map[string]func(){
		"Allow":  func() { l.Allow() },
		"AllowN": func() { l.AllowN(now, 1) },
		"ReserveN+Cancel": func() {
			r := l.ReserveN(now, 1)
			r.Cancel()
		},
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, a)
		}
	}
}

// allower is what x/time/rate and Local have in common.
type allower interface{ AllowN(time.Time, int) bool }

// TestStaleTimestampsOverAdmit replays what concurrent callers do when they
// read the clock before taking the limiter's lock: their timestamps reach the
// limiter out of order. x/time/rate rewinds its "last" to the stale time and
// then refills the same interval again for the next, fresh caller; Local
// counts a stale time as the latest it has seen and stays within the bound.
func TestStaleTimestampsOverAdmit(t *testing.T) {
	t.Parallel()
	const limit, burst = 10, 5
	// 2,000 callers at 1 ms steps; each even caller's timestamp is 400 ms stale.
	var times []time.Time
	for i := range 2000 {
		at := t0.Add(ms(i))
		if i%2 == 0 {
			at = at.Add(-ms(400))
		}
		times = append(times, at)
	}
	elapsed := times[len(times)-1].Sub(t0)
	bound := burst + int(limit*elapsed.Seconds()) + 1
	count := func(l allower) int {
		n := 0
		for _, at := range times {
			if l.AllowN(at, 1) {
				n++
			}
		}
		return n
	}
	xr := count(rate.NewLimiter(limit, burst))
	ours := count(NewLocal(limit, burst, func(o *LocalOptions) { o.Clock = clock.NewFake(t0) }))
	t.Logf("bound %d: x/time/rate admitted %d, Local admitted %d", bound, xr, ours)
	if ours > bound {
		t.Errorf("Local admitted %d, above the bound %d", ours, bound)
	}
	if xr <= bound {
		t.Errorf("x/time/rate admitted %d, within the bound %d: the reproduction no longer reproduces", xr, bound)
	}
}

// TestConcurrentStaleTimestamps runs real goroutines that read a shared
// clock, yield, and only then call AllowN: Local stays within the bound.
func TestConcurrentStaleTimestamps(t *testing.T) {
	t.Parallel()
	const limit, burst, workers = 100, 10, 32
	clk := clock.NewFake(t0)
	ours := NewLocal(limit, burst, func(o *LocalOptions) { o.Clock = clk })
	xr := rate.NewLimiter(limit, burst)
	var admitted, xadmitted atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				at := clk.Now()
				time.Sleep(time.Microsecond) // let the clock move on: a stale read
				if ours.AllowN(at, 1) {
					admitted.Add(1)
				}
				if xr.AllowN(at, 1) {
					xadmitted.Add(1)
				}
			}
		})
	}
	for range 400 {
		clk.Advance(ms(5))
		time.Sleep(100 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	elapsed := clk.Now().Sub(t0)
	bound := int64(burst + limit*elapsed.Seconds() + 1)
	t.Logf("over %v: bound %d, Local %d, x/time/rate %d", elapsed, bound, admitted.Load(), xadmitted.Load())
	if admitted.Load() > bound {
		t.Fatalf("Local admitted %d, above the bound %d", admitted.Load(), bound)
	}
}

// FuzzLocal checks the GCRA invariants on arbitrary timelines: never more
// than burst + rate·elapsed admitted, never a negative delay.
func FuzzLocal(f *testing.F) {
	f.Add(uint16(10), uint8(3), []byte{0, 1, 0, 1, 200, 2, 5, 3})
	f.Add(uint16(1), uint8(1), []byte{255, 1, 255, 1, 0, 1})
	f.Fuzz(func(t *testing.T, r uint16, b uint8, ops []byte) {
		if r == 0 || b == 0 || len(ops) > 1024 {
			return
		}
		clk := clock.NewFake(t0)
		l := NewLocal(Limit(r), int(b), func(o *LocalOptions) { o.Clock = clk })
		admitted := 0
		for i := 0; i+1 < len(ops); i += 2 {
			clk.Advance(ms(int(ops[i])))
			n := int(ops[i+1]%8) + 1
			if ops[i+1]&0x80 != 0 {
				res := l.ReserveN(time.Time{}, n)
				if res.OK() && res.DelayFrom(clk.Now()) < 0 {
					t.Fatalf("negative delay %v", res.DelayFrom(clk.Now()))
				}
				res.Cancel()
				continue
			}
			if l.AllowN(clk.Now(), n) {
				admitted += n
			}
		}
		bound := float64(b) + float64(r)*clk.Now().Sub(t0).Seconds() + 1
		if float64(admitted) > bound {
			t.Fatalf("admitted %d > bound %.1f", admitted, bound)
		}
	})
}

func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal(1e9, 1<<30)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}

func BenchmarkXRateAllow(b *testing.B) {
	l := rate.NewLimiter(1e9, 1<<30)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	l := NewLocal(1e9, 1<<30)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow()
		}
	})
}

func BenchmarkXRateAllowParallel(b *testing.B) {
	l := rate.NewLimiter(1e9, 1<<30)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow()
		}
	})
}

func TestLocalSetLimitKeepsTokens(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	l := NewLocal(10, 4, func(o *LocalOptions) { o.Clock = clk })
	if !l.AllowN(t0, 2) {
		t.Fatal("burst refused")
	}
	l.SetLimit(5) // 2 tokens left, now refilling at 5/s
	if !l.AllowN(t0, 2) || l.AllowN(t0, 1) {
		t.Fatal("SetLimit changed the tokens in the bucket")
	}
	if r := l.ReserveN(time.Time{}, 1); r.Delay() != ms(200) {
		t.Fatalf("next token after SetLimit(5): %v, want 200ms", r.Delay())
	}
}
