// Package ratelog keeps a storm of like events from becoming a storm of log
// lines: per key, at most one line per interval gets through, and that line
// says how many it stands for.
//
// An edge proxy that loses an upstream sees thousands of connect failures a
// second. Logging each blocks the loops on the log writer and buries
// everything else; logging none (Debug only) leaves the operator blind. A
// Limiter sits between the two: the first event of a key in an interval is
// logged at once, the rest are counted, and the next line that gets through
// carries the count ("suppressed": N). docs/operations.md, "Logs".
//
// The check is two atomic loads on the path that is let through or held back,
// and takes no lock: any goroutine, including event loops.
package ratelog

import (
	"sync/atomic"
	"time"
)

// Limiter lets one event per key through each interval. The zero value is
// not usable; build one with New. Any goroutine.
type Limiter struct {
	every int64 // nanoseconds
	slots []slot
	now   func() int64
}

// slot is one key's state, on its own cache line so that two loops failing
// on different keys do not share one.
type slot struct {
	next       atomic.Int64  // the earliest time the next event goes through
	suppressed atomic.Uint64 // events held back since the last one let through
	_          [48]byte
}

// New returns a Limiter for keys 0..keys-1 that lets one event of each
// through per every (which must be positive).
func New(keys int, every time.Duration) *Limiter {
	if every <= 0 {
		panic("ratelog: the interval must be positive")
	}
	return &Limiter{every: int64(every), slots: make([]slot, keys), now: func() int64 { return time.Now().UnixNano() }}
}

// Allow reports whether an event of key may be logged now and, if so, how
// many events of key were held back since the last one let through. A key
// out of range is always let through, with nothing suppressed.
func (l *Limiter) Allow(key int) (ok bool, suppressed uint64) {
	if key < 0 || key >= len(l.slots) {
		return true, 0
	}
	s := &l.slots[key]
	now := l.now()
	next := s.next.Load()
	if now < next || !s.next.CompareAndSwap(next, now+l.every) {
		s.suppressed.Add(1)
		return false, 0
	}
	return true, s.suppressed.Swap(0)
}
