package conn

import (
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/metrics"
)

// readSocket is a gnet.Conn holding unread input; it takes every write
// whole. Methods the test does not need are left to the nil embedded
// interface (calling one panics).
type readSocket struct {
	gnet.Conn
	in []byte
}

func (s *readSocket) SetContext(any)                 { _ = 0 }
func (s *readSocket) OutboundBuffered() int          { return 0 }
func (s *readSocket) Peek(int) ([]byte, error)       { return s.in, nil }
func (s *readSocket) Write(p []byte) (int, error)    { return len(p), nil }
func (s *readSocket) Writev(b [][]byte) (int, error) { return len(b[0]) + len(b[1]), nil }
func (s *readSocket) Discard(n int) (int, error) {
	s.in = s.in[n:]
	return n, nil
}

// drainHalf consumes half of what it is offered.
type drainHalf struct{}

func (drainHalf) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (drainHalf) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (drainHalf) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	buf.Drain(buf.Len() / 2)
	return filterchain.Continue
}

// TestLoopCounters: a loop given counters (Options.LoopMetrics) counts
// its connections opened and open, the bytes its filters consumed and
// the bytes written; a loop without counts nothing and does not fail.
func TestLoopCounters(t *testing.T) {
	reg, err := metrics.New(metrics.Options{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions(Options{LoopMetrics: func(i int) *metrics.Loop { return reg.Shard(i).Loop() }})
	l := NewDetachedLoop(1, NewTracker(0), opts)
	s := &readSocket{in: make([]byte, 100)}
	c := New(s, l, false)
	c.Filters().AddReadFilter(drainHalf{})
	d := NewDetachedConn(l, true)
	m := reg.Shard(1).Loop()
	if m.Connections.Load() != 2 || m.Active.Load() != 2 {
		t.Fatalf("after two opens: %d opened, %d open", m.Connections.Load(), m.Active.Load())
	}
	c.OnTraffic()
	if got := m.BytesRead.Load(); got != 50 {
		t.Fatalf("read %d bytes, want the 50 the filter consumed", got)
	}
	if err := c.Write(make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	if err := c.Writev([][]byte{make([]byte, 3), make([]byte, 4)}); err != nil {
		t.Fatal(err)
	}
	if got := m.BytesWritten.Load(); got != 14 {
		t.Fatalf("wrote %d bytes, want 14", got)
	}
	d.Close(filterchain.CloseNow)
	RunDetached(l)
	if m.Connections.Load() != 2 || m.Active.Load() != 1 {
		t.Fatalf("after a close: %d opened, %d open; want 2, 1", m.Connections.Load(), m.Active.Load())
	}
	if other := reg.Shard(0).Loop(); other.Connections.Load() != 0 {
		t.Fatal("loop 1's connection counted on loop 0")
	}
	// No counters: nothing to count, nothing fails.
	bare := NewDetachedLoop(0, NewTracker(0), DefaultOptions(Options{}))
	if err := NewDetachedConn(bare, false).Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}
