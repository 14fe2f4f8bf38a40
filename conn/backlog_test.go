package conn

import (
	"syscall"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/internal/backlog"
)

// slowSocket is a gnet.Conn whose peer reads nothing until the test says:
// every write lands in the outbound queue. Methods the test does not need
// are left to the nil embedded interface (calling one panics).
type slowSocket struct {
	gnet.Conn
	queued int
}

func (s *slowSocket) SetContext(any)        {}
func (s *slowSocket) OutboundBuffered() int { return s.queued }
func (s *slowSocket) Write(p []byte) (int, error) {
	s.queued += len(p)
	return len(p), nil
}

// marks counts watermark events.
type marks struct{ above, below int }

func (m *marks) OnAboveHighWatermark() { m.above++ }
func (m *marks) OnBelowLowWatermark()  { m.below++ }

// TestBacklogBudget: what gnet could not write is counted against the
// process-wide budget until the sweep sees it drained; a connection is full
// past its high watermark, or past its low one once the budget is used up;
// a close gives its count back; a write the socket takes whole counts
// nothing.
func TestBacklogBudget(t *testing.T) {
	budget := backlog.New(150)
	opts := DefaultOptions(Options{HighWatermark: 100, LowWatermark: 20, Budget: budget})
	l := NewDetachedLoop(0, NewTracker(0), opts)
	open := func() (*Conn, *slowSocket, *marks) {
		s, m := &slowSocket{}, &marks{}
		c := New(s, l, false)
		c.SetWatermarkListener(m)
		return c, s, m
	}
	a, sa, ma := open()
	b, sb, mb := open()
	write := func(c *Conn, n int) {
		t.Helper()
		if err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}

	write(a, 50)
	if budget.Used() != 50 || a.Stalled() || !a.watched {
		t.Fatalf("50 queued: budget %d, stalled %v, watched %v; want 50, not full, watched", budget.Used(), a.Stalled(), a.watched)
	}
	write(a, 60)
	if budget.Used() != 110 || !a.Stalled() || ma.above != 1 {
		t.Fatalf("110 queued past a high watermark of 100: budget %d, stalled %v, %d events", budget.Used(), a.Stalled(), ma.above)
	}
	write(b, 30)
	if b.Stalled() {
		t.Fatal("30 queued with room in the budget: b must not be full")
	}
	write(b, 30) // the budget (150) is now used up: b is full past its low watermark
	if budget.Used() != 170 || !budget.Over() || !b.Stalled() || mb.above != 1 {
		t.Fatalf("budget %d (over %v), b stalled %v; want 170, used up, and b full at 60 > 20", budget.Used(), budget.Over(), b.Stalled())
	}

	sa.queued = 10 // the peer read: the sweep counts the queue down and reports a drained
	l.Sweep()
	if budget.Used() != 70 || a.Stalled() || ma.below != 1 {
		t.Fatalf("a drained to 10: budget %d, stalled %v, %d drained events; want 70, not full, 1", budget.Used(), a.Stalled(), ma.below)
	}
	sb.queued = 0
	l.Sweep()
	if budget.Used() != 10 || b.Stalled() || mb.below != 1 || b.watched {
		t.Fatalf("b drained: budget %d, stalled %v, watched %v", budget.Used(), b.Stalled(), b.watched)
	}
	a.OnClose()
	if budget.Used() != 0 {
		t.Fatalf("after a closed: budget %d, want 0", budget.Used())
	}
	if peak := budget.Peak(); peak != 170 {
		t.Fatalf("peak %d, want 170", peak)
	}

	// A socket that takes every write whole: nothing is counted or watched.
	fast := New(&fastSocket{}, l, false)
	if err := fast.Write(make([]byte, 1000)); err != nil || budget.Used() != 0 || fast.watched {
		t.Fatalf("a write taken whole: err %v, budget %d, watched %v", err, budget.Used(), fast.watched)
	}
}

// fastSocket takes every write whole.
type fastSocket struct{ gnet.Conn }

func (fastSocket) SetContext(any)              {}
func (fastSocket) OutboundBuffered() int       { return 0 }
func (fastSocket) Write(p []byte) (int, error) { return len(p), nil }

// fdSocket is a slowSocket over a real socket fd, for the half-close.
type fdSocket struct {
	slowSocket
	fd int
}

func (s *fdSocket) Fd() int { return s.fd }

// TestShutdownWriteWaitsForTheQueue: ShutdownWrite on a connection
// written through gnet, with bytes still queued, neither fails (which
// made HTTP/2 tunnels close the upstream connection instead, losing its
// answer after the FIN: proxy/h2tunnel.go) nor passes them: the FIN goes
// from the sweep that sees the queue drained, and the connection stays
// open to read.
func TestShutdownWriteWaitsForTheQueue(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Close(fds[0]); _ = syscall.Close(fds[1]) }()
	l := NewDetachedLoop(0, NewTracker(0), DefaultOptions(Options{HighWatermark: 100}))
	s := &fdSocket{fd: fds[0]}
	c := New(s, l, true)
	if err := c.Write(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	peerEOF := func() bool {
		n, err := syscall.Read(fds[1], make([]byte, 1))
		if err != nil && err != syscall.EAGAIN {
			t.Fatal(err)
		}
		return n == 0 && err == nil
	}
	if err := c.ShutdownWrite(); err != nil {
		t.Fatalf("ShutdownWrite with 10 bytes queued: %v", err)
	}
	if peerEOF() || c.Closed() {
		t.Fatalf("FIN sent past the queued bytes (closed %v)", c.Closed())
	}
	l.Sweep()
	if peerEOF() {
		t.Fatal("FIN sent while gnet still queues bytes")
	}
	s.queued = 0 // gnet wrote them
	l.Sweep()
	if eof := peerEOF(); !eof || c.Closed() || c.watched {
		t.Fatalf("queue drained: peer saw the FIN %v, closed %v, watched %v; want a FIN on an open connection", eof, c.Closed(), c.watched)
	}
}
