package conn

import "time"

// TimerHandler is told when one of its timers fires. An object that owns
// several timers tells them apart by pointer.
type TimerHandler interface {
	OnTimer(t *Timer)
}

// TimerFunc adapts a function to TimerHandler, for cold paths and tests.
type TimerFunc func()

// OnTimer implements TimerHandler.
func (f TimerFunc) OnTimer(*Timer) { f() }

// Timer is an intrusive timer on a Loop's timing wheel. Embed it in the
// object it belongs to and Init it once with that object as handler: no
// closure or allocation per timer. The zero value is a stopped timer.
// Loop only.
//
// Its state is in its links, not in flags: armed while prev is set, due
// (waiting in a batch being fired) while unlinked with next pointing to
// itself. 40 bytes, not 48: every client connection embeds one
// (docs/performance.md, "An idle HTTP/1.1 keep-alive connection costs
// about 1 KiB").
type Timer struct {
	h          TimerHandler
	when       int64
	prev, next *Timer
}

// Init sets the handler. Call it once, before the first Schedule.
func (t *Timer) Init(h TimerHandler) { t.h = h }

// Armed reports whether the timer is scheduled.
func (t *Timer) Armed() bool { return t.prev != nil }

// due reports whether the timer waits in a batch being fired (fireSlot).
func (t *Timer) due() bool { return t.prev == nil && t.next == t }

// When is the deadline of an armed timer, on the loops' clock (Now).
func (t *Timer) When() int64 { return t.when }

// wheel is a hashed timing wheel: slot i holds the timers whose deadline
// falls in tick i mod len(slots). A timer further away than one revolution
// stays in its slot and is skipped until its deadline comes round.
type wheel struct {
	tick     int64 // nanoseconds per slot
	slots    []Timer
	lastTick int64 // last tick processed
	count    int
	due      []*Timer // scratch for fireSlot
}

const wheelSlots = 1024

func (w *wheel) init(tick time.Duration, now int64) {
	w.tick = int64(tick)
	w.slots = make([]Timer, wheelSlots)
	for i := range w.slots {
		s := &w.slots[i]
		s.prev, s.next = s, s
	}
	w.lastTick = now / w.tick
}

func (w *wheel) add(t *Timer, when int64) {
	w.remove(t) // disarms it, or takes it out of a batch being fired
	t.when = when
	// The slot is the first tick at or after the deadline (ceil): a timer
	// filed under the tick its deadline falls in could be visited a moment
	// before it is due and then wait a whole revolution.
	tick := (when + w.tick - 1) / w.tick
	if tick <= w.lastTick {
		tick = w.lastTick + 1
	}
	head := &w.slots[tick%wheelSlots]
	t.prev, t.next = head.prev, head
	head.prev.next = t
	head.prev = t
	w.count++
}

// remove disarms t, or takes it out of the batch being fired (its due
// mark); a stopped timer is left as it is.
func (w *wheel) remove(t *Timer) {
	if t.prev == nil {
		t.next = nil
		return
	}
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next = nil, nil
	w.count--
}

// advance fires every timer due by now, in deadline-slot order.
func (w *wheel) advance(now int64) {
	target := now / w.tick
	if target-w.lastTick > wheelSlots {
		w.lastTick = target - wheelSlots
	}
	for w.lastTick < target {
		w.lastTick++
		if w.count == 0 {
			w.lastTick = target
			return
		}
		w.fireSlot(&w.slots[w.lastTick%wheelSlots], now)
	}
}

func (w *wheel) fireSlot(head *Timer, now int64) {
	w.due = w.due[:0]
	for t := head.next; t != head; {
		next := t.next
		if t.when <= now {
			w.remove(t)
			t.next = t // due
			w.due = append(w.due, t)
		}
		t = next
	}
	for i, t := range w.due {
		w.due[i] = nil
		// A timer fired earlier in this batch may have stopped or re-armed
		// this one; only a timer still due fires.
		if t.due() {
			t.next = nil
			t.h.OnTimer(t)
		}
	}
}
