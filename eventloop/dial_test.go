package eventloop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// dialProbe is the conn.DialHandler of one dial through a real engine. On
// OnDialed (on the loop) it installs a read filter that passes what the
// upstream sends to got, and writes hello.
type dialProbe struct {
	loop  *conn.Loop
	hello string
	done  chan struct{}
	c     *conn.Conn
	err   error
	got   chan string
}

func newDialProbe(l *conn.Loop, hello string) *dialProbe {
	return &dialProbe{loop: l, hello: hello, done: make(chan struct{}), got: make(chan string, 4)}
}

func (p *dialProbe) OnDialed(c *conn.Conn) {
	p.c = c
	c.Filters().AddReadFilter(p)
	c.Filters().InitializeReadFilters()
	p.err = c.Write([]byte(p.hello))
	close(p.done)
}

func (p *dialProbe) OnDialFailed(err error) {
	p.err = err
	close(p.done)
}

func (p *dialProbe) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (p *dialProbe) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (p *dialProbe) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	p.got <- string(buf.Bytes())
	buf.Drain(buf.Len())
	return filterchain.Stop
}

func (p *dialProbe) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dial never ended")
	}
}

// engineLoop starts an engine and returns one of its loops (a loop exists
// once a client connected to it).
func engineLoop(t *testing.T) (*Engine, *conn.Loop) {
	t.Helper()
	e, addr, _ := startEngine(t, nil, conn.Options{})
	c := dial(t, addr)
	if _, err := io.WriteString(c, "echo up\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return e, e.Loops()[0]
}

func goSubmit(fn func()) error { go fn(); return nil }

// TestTCPDialerEnrollsOnTheLoop dials a real upstream: the connection is
// handed over on the loop it was dialled for, carries bytes both ways, and
// gives its socket back when closed.
func TestTCPDialerEnrollsOnTheLoop(t *testing.T) {
	e, l := engineLoop(t)
	upstream := testutil.NewRawServer(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			return
		}
		_, _ = io.WriteString(c, "pong\n")
		_, _ = io.Copy(io.Discard, r) // until ferry closes
	})
	d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit, KeepAlive: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	base := e.Tracker().Open()
	p := newDialProbe(l, "ping\n")
	if err := d.Dial(l, upstream.Addr(), 5*time.Second, p); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	expectPong(t, p)
	if p.c.Loop() != l || !p.c.Upstream() {
		t.Fatalf("connection on loop %d (upstream %v), want loop %d", p.c.Loop().Index, p.c.Upstream(), l.Index)
	}
	if got := e.Tracker().Open(); got != base+1 {
		t.Fatalf("tracker %d, want %d (the dialled socket)", got, base+1)
	}
	if err := l.Execute(func() { p.c.Close(filterchain.CloseNow) }); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the dialled socket to be released", func() bool {
		return e.Tracker().Open() == base
	})
	if err := d.Quiesce(context.Background()); err != nil || d.InFlight() != 0 {
		t.Fatalf("Quiesce: %v, %d in flight", err, d.InFlight())
	}
}

// TestTCPDialerConnectFailure reports a refused connect on the loop and
// gives the socket back.
func TestTCPDialerConnectFailure(t *testing.T) {
	e, l := engineLoop(t)
	addr := testutil.ClosedAddr(t)
	d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		t.Fatal(err)
	}
	base := e.Tracker().Open()
	p := newDialProbe(l, "")
	if err := d.Dial(l, addr, 5*time.Second, p); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if !errors.Is(p.err, syscall.ECONNREFUSED) || p.c != nil {
		t.Fatalf("got %v (conn %v), want ECONNREFUSED and no connection", p.err, p.c)
	}
	if err := d.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.Tracker().Open(); got != base {
		t.Fatalf("tracker %d after a failed dial, want %d", got, base)
	}
}
