package conn

import (
	"testing"
	"time"
	"unsafe"

	"github.com/ferry-proxy/ferry/filterchain"
)

// Conn is most of what ferry itself holds for an idle keep-alive
// connection: it stays in the 208-byte size class, Timer at 40 bytes, and
// what only some
// connections need (a close waiting for its queue, their own watermarks)
// is allocated apart, never for a connection that writes whole and
// closes with nothing queued (docs/performance.md, "An idle HTTP/1.1
// keep-alive connection costs about 1 KiB").
func TestConnStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 208 {
		t.Fatalf("conn.Conn is %d bytes: past the 208-byte size class, every idle connection pays 16 more", n)
	}
	// A client connection's state embeds a Timer (proxy's downstream: 112
	// bytes with a 40-byte Timer, the 128-byte class with a 48-byte one).
	if n := unsafe.Sizeof(Timer{}); n > 40 {
		t.Fatalf("conn.Timer is %d bytes, want at most 40", n)
	}
	opts := DefaultOptions(Options{HighWatermark: 100, LowWatermark: 20})
	l := NewDetachedLoop(0, NewTracker(0), opts)
	c := New(&closingSocket{}, l, false)
	if err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.Close(filterchain.CloseFlush)
	if c.x != nil {
		t.Fatal("a connection that wrote whole and closed with nothing queued allocated its rare state")
	}
	if high, low := c.Watermarks(); high != 100 || low != 20 {
		t.Fatalf("watermarks %d/%d, want the loop's 100/20", high, low)
	}
	d := New(&fastSocket{}, l, true)
	d.SetWatermarks(1000, 0)
	if high, low := d.Watermarks(); high != 1000 || low != 250 {
		t.Fatalf("after SetWatermarks(1000, 0): %d/%d, want 1000/250", high, low)
	}
	if high, low := c.Watermarks(); high != 100 || low != 20 {
		t.Fatalf("another connection's SetWatermarks changed this one's: %d/%d", high, low)
	}
}

// closingSocket is a fastSocket that can be closed.
type closingSocket struct{ fastSocket }

func (closingSocket) Close() error { return nil }

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
