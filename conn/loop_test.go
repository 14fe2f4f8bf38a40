package conn

import (
	"testing"
	"time"
)

// A busy loop yields to Go's scheduler once per YieldEvery of its clock,
// never more often, whatever the number of callbacks in between
// (docs/performance.md, "c500 and c5000: system calls per request").
func TestLoopYieldsOncePerInterval(t *testing.T) {
	l := NewLoop(nil, 0, NewTracker(0), DefaultOptions(Options{}))
	start := l.now
	step := int64(100 * time.Microsecond)
	yields := 0
	for now := start; now < start+int64(100*YieldEvery); now += step {
		if l.yieldDue(now) {
			if l.yielded != now {
				t.Fatalf("yield at +%v recorded at +%v", time.Duration(now-start), time.Duration(l.yielded-start))
			}
			yields++
		}
	}
	// The first callback yields (the loop has never yielded), then one
	// every YieldEvery: 100 intervals.
	if yields != 100 {
		t.Fatalf("%d yields over 100 intervals of %v at a callback every %v, want 100", yields, YieldEvery, time.Duration(step))
	}
	if l.yieldDue(l.yielded + int64(YieldEvery) - 1) {
		t.Fatal("yielded before YieldEvery passed")
	}
	if !l.yieldDue(l.yielded + int64(YieldEvery)) {
		t.Fatal("no yield once YieldEvery passed")
	}
}

// Refresh reads the clock and, once YieldEvery passed, yields and
// records it.
func TestRefreshYieldsWhenDue(t *testing.T) {
	l := NewLoop(nil, 0, NewTracker(0), DefaultOptions(Options{}))
	l.yielded = Now() - int64(YieldEvery)
	before := l.yielded
	l.Refresh()
	if l.yielded == before || l.yielded != l.now {
		t.Fatalf("Refresh after YieldEvery: yielded %d, now %d: want the yield recorded at now", l.yielded, l.now)
	}
}

// BenchmarkLoopRefresh is the per-callback cost of reading the clock and
// checking for a due yield (one Gosched per YieldEvery at most).
func BenchmarkLoopRefresh(b *testing.B) {
	l := NewLoop(nil, 0, NewTracker(0), DefaultOptions(Options{}))
	b.ReportAllocs()
	for b.Loop() {
		l.Refresh()
	}
}
