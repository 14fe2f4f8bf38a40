package eventloop

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/ants/v2"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// These tests pin ferry's workarounds for gnet limitations that no other
// test covers; docs/gnet.md lists every limitation with the test that pins
// its workaround.

// recordFactory hands each accepted connection to the test and reports
// its close.
type recordFactory struct {
	conns  chan *conn.Conn
	closed chan *conn.Conn
}

func (f recordFactory) CreateFilters(c *conn.Conn) {
	c.Filters().AddReadFilter(&recordFilter{f: f, c: c})
}

type recordFilter struct {
	f recordFactory
	c *conn.Conn
}

func (r *recordFilter) InitReadCallbacks(filterchain.ReadCallbacks) {
	r.f.conns <- r.c
}
func (r *recordFilter) OnNewConnection() filterchain.Status { return filterchain.Continue }
func (r *recordFilter) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	buf.Drain(buf.Len())
	return filterchain.Stop
}
func (r *recordFilter) OnEvent(filterchain.ConnectionEvent) { r.f.closed <- r.c }

// onLoop runs fn on c's loop and waits for it.
func onLoop(t *testing.T, c *conn.Conn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Loop().Execute(func() { fn(); close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("loop did not run the function")
	}
}

// gnet's Write does not check that the connection is still open: once the
// fd number is reused by a new accept, bytes written through a stale
// pointer go to the new client. conn.Conn checks its state before every
// write. The next client's socket is created before the first connection
// closes, so that the next accept takes the lowest free fd, the one just
// freed (Linux); whichever fd it gets, its client must receive only its
// own bytes.
func TestWriteAfterCloseNeverReachesTheNextConnection(t *testing.T) {
	f := recordFactory{conns: make(chan *conn.Conn, 2), closed: make(chan *conn.Conn, 2)}
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{f}}
	e := runEngine(t, l, Options{Loops: 1, Tracker: conn.NewTracker(0)})
	addr := e.Addrs()[0].(*net.TCPAddr)

	ca := dial(t, addr.String())
	a := <-f.conns
	// The second client's socket exists before a closes.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	file := os.NewFile(uintptr(fd), "client-b")
	t.Cleanup(func() { _ = file.Close() })

	onLoop(t, a, func() { a.Close(filterchain.CloseNow) })
	<-f.closed
	_ = ca.Close()

	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	cb, err := net.FileConn(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cb.Close() })
	_ = cb.SetDeadline(time.Now().Add(10 * time.Second))
	b := <-f.conns

	var staleErr error
	onLoop(t, a, func() {
		staleErr = a.Write([]byte("STALE-WRITE\n"))
		_ = b.Write([]byte("fresh\n"))
	})
	if staleErr == nil {
		t.Fatal("a write on a closed connection reported success")
	}
	line, err := bufio.NewReader(cb).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != "fresh\n" {
		t.Fatalf("the next connection's client got %q first, want only its own bytes", line)
	}
}

// Importing gnet releases ants' package-level default pool (gnet's init),
// so ferry never uses it: internal/worker owns its pool. If a gnet upgrade
// stopped doing this, the workaround could go; this test says so.
func TestGnetReleasesAntsDefaultPool(t *testing.T) {
	err := ants.Submit(func() {})
	if !errors.Is(err, ants.ErrPoolClosed) {
		t.Fatalf("ants.Submit with gnet linked: %v, want ants.ErrPoolClosed", err)
	}
}

// gnet runs at most 256 event loops and silently runs 256 when asked for
// more; New refuses instead, naming the limit.
func TestMoreLoopsThanGnetRunsIsRefused(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0"}
	_, err := New([]*Listener{l}, Options{Loops: MaxLoops + 1})
	if err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("New with %d loops: %v, want an error naming the limit of 256", MaxLoops+1, err)
	}
	if _, err := New([]*Listener{l}, Options{Loops: MaxLoops}); err != nil {
		t.Fatalf("New with %d loops: %v", MaxLoops, err)
	}
}

// Network filters run inline on the loop: a filter that panics must not
// take the loop (and the process) down. Its connection is closed, the
// panic counted, and the other connections on the same loop go on.
func TestNetworkFilterPanicClosesOnlyItsConnection(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
	e := runEngine(t, l, Options{Loops: 1, Tracker: conn.NewTracker(0)})
	addr := e.Addrs()[0].String()
	other := dial(t, addr)
	otherR := bufio.NewReader(other)
	echo := func(what string) {
		t.Helper()
		send(t, other, "echo "+what+"\n")
		if line, err := otherR.ReadString('\n'); err != nil || line != what+"\n" {
			t.Fatalf("echo on the other connection: %q, %v", line, err)
		}
	}
	echo("before")
	before := filterchain.NetworkFilterPanics()
	bad := dial(t, addr)
	send(t, bad, "panic\n")
	if _, err := bufio.NewReader(bad).ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the panicking filter's connection: %v, want it closed (EOF)", err)
	}
	if got := filterchain.NetworkFilterPanics() - before; got != 1 {
		t.Fatalf("NetworkFilterPanics grew by %d, want 1", got)
	}
	echo("after")
}
