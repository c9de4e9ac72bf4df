package report

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Snapshot is a run's state at one moment. Units are tasks or instances.
type Snapshot struct {
	// SimSeconds since submit.
	SimSeconds float64
	Requested  int
	// Launched units (each chunk's work once); InFlight are units whose
	// chunk is being called or retried; Deferred are units whose chunk
	// holds a limiter slot in a Step Functions Wait; DeadLettered gave up.
	Launched, InFlight, Deferred, DeadLettered int
	// Throttled counts synchronous throttles, Async the asynchronous ones.
	Throttled, Async int64
	// Completed counts tasks that ran and stopped (shown when > 0).
	Completed int
}

// Progress shows a run's progress. Update may be called often; Done once,
// with the final snapshot. Safe for use by one goroutine.
type Progress interface {
	Update(Snapshot)
	Done(Snapshot)
}

// IsTerminal reports whether f is a character device (a terminal), where a
// live bar can redraw itself.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewProgress returns a live mpb bar on w when tty, otherwise a Lines
// progress printing a plain line every interval (real time).
func NewProgress(ctx context.Context, w io.Writer, tty bool, total int, interval time.Duration) Progress {
	if !tty {
		return &Lines{W: w, Every: interval}
	}
	return newBar(ctx, w, total)
}

// Lines prints one plain line per Every (real time) and a last one on Done:
// for logs and CI, where a redrawn bar would be noise.
type Lines struct {
	W     io.Writer
	Every time.Duration
	// Now is the real clock (default time.Now).
	Now  func() time.Time
	last time.Time
}

// Update prints s if Every has passed since the last line.
func (l *Lines) Update(s Snapshot) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	t := now()
	if !l.last.IsZero() && t.Sub(l.last) < l.Every {
		return
	}
	l.last = t
	fmt.Fprintln(l.W, Line(s))
}

// Done prints s.
func (l *Lines) Done(s Snapshot) { fmt.Fprintln(l.W, Line(s)) }

// Line renders a snapshot as one plain progress line.
func Line(s Snapshot) string {
	p := 0.0
	if s.Requested > 0 {
		p = 100 * float64(s.Launched) / float64(s.Requested)
	}
	line := fmt.Sprintf("t=%5.0fs  launched %d/%d (%3.0f%%)  in flight %d  deferred %d  throttled %d",
		s.SimSeconds, s.Launched, s.Requested, p, s.InFlight, s.Deferred, s.Throttled+s.Async)
	if s.Completed > 0 {
		line += fmt.Sprintf("  completed %d", s.Completed)
	}
	if s.DeadLettered > 0 {
		line += fmt.Sprintf("  dead-lettered %d", s.DeadLettered)
	}
	return line
}

// bar is the terminal progress: one mpb bar of launched units, with the
// other counts as decorators.
type bar struct {
	p   *mpb.Progress
	b   *mpb.Bar
	mu  sync.Mutex
	cur Snapshot
}

func newBar(ctx context.Context, w io.Writer, total int) *bar {
	pb := &bar{}
	pb.p = mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(36), mpb.WithRefreshRate(100*time.Millisecond))
	pb.b = pb.p.AddBar(int64(total),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf("t=%4.0fs", pb.snap().SimSeconds) }, decor.WCSyncSpaceR),
			decor.Name("launched", decor.WCSyncSpaceR),
			decor.CountersNoUnit("%d/%d", decor.WCSyncWidth),
		),
		mpb.AppendDecorators(
			decor.Percentage(decor.WCSyncSpace),
			decor.Any(func(decor.Statistics) string {
				s := pb.snap()
				out := fmt.Sprintf("in flight %4d  deferred %4d  throttled %d", s.InFlight, s.Deferred, s.Throttled+s.Async)
				if s.Completed > 0 {
					out += fmt.Sprintf("  completed %d", s.Completed)
				}
				if s.DeadLettered > 0 {
					out += fmt.Sprintf("  dead-lettered %d", s.DeadLettered)
				}
				return out
			}, decor.WCSyncSpace),
		),
	)
	return pb
}

func (b *bar) snap() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

func (b *bar) Update(s Snapshot) {
	b.mu.Lock()
	b.cur = s
	b.mu.Unlock()
	b.b.SetCurrent(int64(s.Launched))
}

func (b *bar) Done(s Snapshot) {
	b.Update(s)
	if s.Launched >= s.Requested {
		b.b.SetTotal(-1, true)
	} else {
		b.b.Abort(false)
	}
	b.p.Wait()
}
