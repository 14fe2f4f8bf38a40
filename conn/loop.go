package conn

import (
	"context"
	"runtime"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/internal/metrics"
)

// TimerTick is the resolution of loop timers.
const TimerTick = 10 * time.Millisecond

// Loop is ferry's state for one gnet event loop: its timing wheel and the
// connections whose outbound queue it watches. Loop only, except Execute.
type Loop struct {
	// EL is the gnet loop.
	EL gnet.EventLoop
	// Index numbers the loops from 0, so that per-loop tables (upstream
	// pools) are plain slices.
	Index int
	// Tracker is the socket budget of the process.
	Tracker *Tracker
	// Opts are the connection limits of every connection on the loop.
	Opts *Options

	// input is the read event in progress (gnet runs one at a time).
	input input
	// now caches the clock for the callback in progress: Refresh at every
	// entry into the loop, so a request's several timer updates cost one
	// clock read.
	now int64
	// yielded is when the loop last gave Go's scheduler a turn (Refresh).
	yielded int64

	wheel wheel
	// watch holds connections above their high watermark or flushing
	// before a close; Sweep checks them.
	watch []*Conn
	spare []*Conn // the other buffer of watch, reused by Sweep
	// nwatch mirrors len(watch) for the ticker goroutine.
	nwatch atomicInt
	// sweepFn is Sweep as a gnet runnable, allocated once.
	sweepFn gnet.RunnableFunc
	// metrics are the loop's counters (Options.LoopMetrics), or nil.
	metrics *metrics.Loop
	// writers are directly written connections waiting to be writable,
	// spareW the other buffer, pollFds the sweep's ppoll set; kept are
	// the sockets kept open past gnet's close (relay.go).
	writers, spareW, kept []*Conn
	pollFds               []pollFd
}

// NewLoop returns the state for loop el.
func NewLoop(el gnet.EventLoop, index int, tracker *Tracker, opts *Options) *Loop {
	l := &Loop{EL: el, Index: index, Tracker: tracker, Opts: opts, metrics: opts.loopMetrics(index)}
	l.now = Now()
	l.wheel.init(TimerTick, l.now)
	l.sweepFn = func(context.Context) error { l.Sweep(); return nil }
	return l
}

// Now is the clock of every loop timer, in nanoseconds. Any goroutine.
func Now() int64 { return time.Now().UnixNano() }

// Refresh reads the clock for the callback that starts. The event handler
// calls it on every entry into the loop (OnOpen, OnTraffic, OnClose, an
// Execute, a sweep). Loop only.
//
// It also yields to Go's scheduler every YieldEvery. A busy loop goroutine
// never parks (gnet polls again while there are events), so without this
// the runtime's sysmon would preempt it every 10 ms, taking its P away in
// the middle of a system call; each such retake wakes another thread and
// keeps sysmon polling every 20 µs. docs/performance.md, "c500 and c5000:
// system calls per request", has the counts.
func (l *Loop) Refresh() {
	l.now = Now()
	if l.yieldDue(l.now) {
		runtime.Gosched()
	}
}

// YieldEvery is how often a busy loop yields to Go's scheduler (Refresh):
// well under the 10 ms after which the runtime preempts a goroutine, and
// rare enough that the yields cost nothing measurable. Against no yield,
// and against yielding only when the loop has not idled for YieldEvery,
// it gave the lowest p99 at 500 connections and no higher at 50
// (docs/performance.md, "p99 at c50 and c500: the yield stays, every
// 2 ms").
const YieldEvery = 2 * time.Millisecond

// yieldDue reports whether the loop, at clock now, last yielded YieldEvery
// or more ago, and if so counts this as its yield.
func (l *Loop) yieldDue(now int64) bool {
	if now-l.yielded < int64(YieldEvery) {
		return false
	}
	l.yielded = now
	return true
}

// Schedule arms t to fire after d (from the current callback's clock),
// re-arming it if it was armed. Loop only.
func (l *Loop) Schedule(t *Timer, d time.Duration) { l.wheel.add(t, l.now+int64(d)) }

// Stop disarms t. Loop only.
func (l *Loop) Stop(t *Timer) { l.wheel.remove(t) }

// Timers is the number of armed timers. Loop only.
func (l *Loop) Timers() int { return l.wheel.count }

// Watching reports whether any connection waits for its outbound queue to
// drain, so that the ticker sweeps more often. Any goroutine.
func (l *Loop) Watching() bool { return l.nwatch.load() > 0 }

// Execute runs fn on the loop. It is how workers hand work back. Any
// goroutine.
func (l *Loop) Execute(fn func()) error {
	return l.EL.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.Refresh()
		fn()
		return nil
	}))
}

// TriggerSweep asks the loop to run Sweep. Any goroutine.
func (l *Loop) TriggerSweep() error {
	return l.EL.Execute(context.Background(), l.sweepFn)
}

// Sweep fires due timers and re-checks watched connections. The ticker
// triggers it; tests may call it directly. Loop only.
func (l *Loop) Sweep() {
	l.Refresh()
	l.wheel.advance(l.now)
	if len(l.writers) > 0 {
		l.sweepWriters() // relay.go
		l.noteWatch()
	}
	if len(l.watch) == 0 {
		return
	}
	// Callbacks run by recheck may watch connections (this one again, or
	// another): they go to a fresh list, never into the one being walked.
	cur := l.watch
	l.watch = l.spare[:0]
	for i, c := range cur {
		cur[i] = nil
		c.watched = false
		if c.recheck() {
			l.addWatch(c)
		}
	}
	l.spare = cur[:0]
	l.noteWatch()
}

func (l *Loop) addWatch(c *Conn) {
	if c.watched {
		return
	}
	c.watched = true
	l.watch = append(l.watch, c)
	l.noteWatch()
}

// noteWatch tells the ticker how many connections wait for a sweep.
func (l *Loop) noteWatch() { l.nwatch.store(int64(len(l.watch) + len(l.writers))) }
