// Package backlog is the process-wide budget for the memory that slow
// peers' backlogs hold: bytes waiting in gnet's outbound buffers (conn) and
// in the memory part of spill queues (internal/spill).
//
// A slow reader of a large response leaves bytes in ferry; each connection
// bounds its own share (the write high watermark, the spill queue's memory
// limit) and the Budget bounds the sum, so that many slow readers cannot
// take the machine's memory: past the limit, spill queues take no more
// memory (every new backlog byte goes to its temp file) and connections
// stop taking more than their low watermark into gnet (README.md,
// "Configuration": ferry.buffers).
//
// Goroutines: a Budget is shared by every event loop; its methods use
// atomics only, and are called on the slow path (a backlog growing or
// shrinking), never for a write that the socket took whole.
//
// Imports: the standard library only.
package backlog

import "sync/atomic"

// Budget counts the bytes of memory held by backlogs against a limit. The
// nil *Budget counts nothing and never refuses. Any goroutine.
type Budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

// New returns a budget of limit bytes; limit <= 0 means no limit (the
// bytes are still counted).
func New(limit int64) *Budget { return &Budget{limit: limit} }

// Take reserves n bytes if that keeps the budget within its limit and
// reports whether it did. Spill queues take a chunk before they allocate
// it. Any goroutine.
func (b *Budget) Take(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if b.limit > 0 && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.notePeak(u + n)
			return true
		}
	}
}

// Charge adds n (negative: subtracts) without checking the limit: a
// connection reports bytes gnet already holds, which cannot be refused
// after the fact. Any goroutine.
func (b *Budget) Charge(n int64) {
	if b == nil || n == 0 {
		return
	}
	if u := b.used.Add(n); n > 0 {
		b.notePeak(u)
	}
}

// Give returns n bytes taken with Take. Any goroutine.
func (b *Budget) Give(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Over reports whether the budget is used up: every backlog spills at once.
// Any goroutine.
func (b *Budget) Over() bool {
	return b != nil && b.limit > 0 && b.used.Load() >= b.limit
}

// Used is the number of bytes counted now. Any goroutine.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Peak is the most bytes counted at once since New or ResetPeak. Any
// goroutine.
func (b *Budget) Peak() int64 {
	if b == nil {
		return 0
	}
	return b.peak.Load()
}

// ResetPeak starts a new peak from the bytes counted now. Any goroutine.
func (b *Budget) ResetPeak() {
	if b != nil {
		b.peak.Store(b.used.Load())
	}
}

// Limit is the limit given to New (<= 0: none). Any goroutine.
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

func (b *Budget) notePeak(v int64) {
	for {
		p := b.peak.Load()
		if v <= p || b.peak.CompareAndSwap(p, v) {
			return
		}
	}
}
