package eventloop

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// tagFactory reports each connection its listener opens and lets the
// bytes through to the next filter.
type tagFactory chan struct{}

func (f tagFactory) CreateFilters(c *conn.Conn) { c.Filters().AddReadFilter(tagFilter(f)) }

type tagFilter chan struct{}

func (f tagFilter) InitReadCallbacks(filterchain.ReadCallbacks) { f <- struct{}{} }
func (f tagFilter) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (f tagFilter) OnData(filterchain.Buffer, bool) filterchain.Status {
	return filterchain.Continue
}

// echoOK sends "echo X" on c and expects X back.
func echoOK(t *testing.T, c net.Conn, r *bufio.Reader, x string) {
	t.Helper()
	send(t, c, "echo "+x+"\n")
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != x {
		t.Fatalf("echo %s: got %q, %v", x, line, err)
	}
}

// gnet has no way to stop accepting but Engine.Stop, which closes every
// connection, and an accept(2) error it does not expect stops the whole
// engine: shutdown(2) of the listening socket, the usual way to stop a
// listener without closing it, ends every connection gnet serves.
// StopAccepting takes the socket off gnet's poller instead
// (docs/gnet.md, "Stop accepting, keep serving").
func TestGnetStopsOnAnAcceptError(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
	e, err := New([]*Listener{l}, Options{Loops: 1, Tracker: conn.NewTracker(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	entries, err := e.ownListeners()
	if err != nil || len(entries) != 1 {
		t.Fatalf("listeners under gnet's poller: %v, %v", entries, err)
	}
	c := dial(t, e.Addrs()[0].String())
	echoOK(t, c, bufio.NewReader(c), "a")
	if err := syscall.Shutdown(entries[0].fd, syscall.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("gnet kept running after an accept error: the limitation is gone, docs/gnet.md can say so")
	}
	if !errors.Is(e.Err(), ErrStopped) {
		t.Fatalf("Err = %v, want ErrStopped", e.Err())
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection outlived the engine")
	}
}

func TestStopAcceptingKeepsServing(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
	e := runEngine(t, l, Options{Loops: 2, Tracker: conn.NewTracker(0)})
	addr := e.Addrs()[0].String()
	c := dial(t, addr)
	r := bufio.NewReader(c)
	echoOK(t, c, r, "before")
	n, err := e.StopAccepting()
	if err != nil || n != 1 {
		t.Fatalf("StopAccepting = %d, %v; want 1 socket", n, err)
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after StopAccepting: %v, want connection refused", err)
	}
	echoOK(t, c, r, "after")
	if n, err := e.StopAccepting(); err != nil || n != 0 {
		t.Fatalf("second StopAccepting = %d, %v; want 0, nil", n, err)
	}
}

// A second engine adopts the first one's listening socket: a connection
// that waits in the accept queue while nobody polls is served by the new
// engine, the port never closes, and the old engine keeps its
// connections. The new engine runs more loops with reuse_port than
// sockets it inherits: two loops poll one socket.
func TestAdoptInheritedListener(t *testing.T) {
	tr := conn.NewTracker(0)
	f1 := make(tagFactory, 8)
	l1 := &Listener{Name: "t", Address: "127.0.0.1:0",
		Filters: []conn.FilterFactory{f1, cmdFactory{marks: &marks{}}}}
	old := runEngine(t, l1, Options{Loops: 1, Tracker: tr})
	addr := old.Addrs()[0].String()
	a := dial(t, addr)
	ra := bufio.NewReader(a)
	echoOK(t, a, ra, "a")
	<-f1

	fds, err := old.ListenerFiles()
	if err != nil || len(fds) != 1 || len(fds[0]) != 1 {
		t.Fatalf("ListenerFiles = %v, %v", fds, err)
	}
	t.Cleanup(func() { closeAll(fds) })
	if n, err := old.StopAccepting(); err != nil || n != 1 {
		t.Fatalf("StopAccepting = %d, %v", n, err)
	}
	// Nobody polls the socket now, but it listens: the handshake
	// completes and the connection waits in the queue.
	q := dial(t, addr)
	rq := bufio.NewReader(q)
	send(t, q, "echo queued\n")

	f2 := make(tagFactory, 8)
	l2 := &Listener{Name: "t", Address: "127.0.0.1:0",
		Filters: []conn.FilterFactory{f2, cmdFactory{marks: &marks{}}}}
	next := runEngine(t, l2, Options{Loops: 2, ReusePort: true, Tracker: tr, Inherit: fds})
	if got := next.Addrs()[0].String(); got != addr {
		t.Fatalf("adopted address %s, want %s", got, addr)
	}
	line, err := rq.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "queued" {
		t.Fatalf("queued connection: %q, %v", line, err)
	}
	<-f2
	for i := range 4 {
		b := dial(t, addr)
		echoOK(t, b, bufio.NewReader(b), "b")
		select {
		case <-f2:
		case <-f1:
			t.Fatalf("connection %d went to the old engine", i)
		}
	}
	echoOK(t, a, ra, "a-still")
	// The new engine hands the socket on in turn: once, though two loops
	// poll it.
	again, err := next.ListenerFiles()
	if err != nil || len(again[0]) != 1 {
		t.Fatalf("ListenerFiles of the adopter = %v, %v", again, err)
	}
	closeAll(again)
}

func TestAdoptionRefusals(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0"}
	if _, err := New([]*Listener{l}, Options{Inherit: [][]int{}}); err == nil ||
		!strings.Contains(err.Error(), "0 listeners inherited for 1") {
		t.Fatalf("wrong count: %v", err)
	}
	fds := [2]int{}
	if err := syscall.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	defer closeAll([][]int{fds[:]})
	l = &Listener{Name: "t", Address: "127.0.0.1:0"}
	if _, err := New([]*Listener{l}, Options{Inherit: [][]int{{fds[0]}}}); err == nil ||
		!strings.Contains(err.Error(), "inherited descriptor") {
		t.Fatalf("a pipe: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // test listener
	file, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(file.Fd()))
	_ = file.Close()
	if err != nil {
		t.Fatal(err)
	}
	l = &Listener{Name: "t", Address: "127.0.0.1:1"}
	defer syscall.Close(fd) //nolint:errcheck // test descriptor
	if _, err := New([]*Listener{l}, Options{Inherit: [][]int{{fd}}}); err == nil ||
		!strings.Contains(err.Error(), "configured for 127.0.0.1:1") {
		t.Fatalf("another port: %v", err)
	}
}

// With reuse_port each loop has a socket of its own: all of them are
// handed over, and a new engine with fewer loops than sockets is refused
// (a socket nobody polled would hold its queue).
func TestAdoptReusePortSockets(t *testing.T) {
	hold, port, err := reservePort(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(hold) //nolint:errcheck // the reservation
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l1 := &Listener{Name: "t", Address: addr, Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
	old := runEngine(t, l1, Options{Loops: 2, ReusePort: true, Tracker: conn.NewTracker(0)})
	fds, err := old.ListenerFiles()
	if err != nil || len(fds[0]) != 2 {
		t.Fatalf("ListenerFiles = %v, %v; want 2 sockets", fds, err)
	}
	defer closeAll(fds)

	few := &Listener{Name: "t", Address: addr}
	e, err := New([]*Listener{few}, Options{Loops: 1, Tracker: conn.NewTracker(0), Inherit: fds})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err == nil || !strings.Contains(err.Error(), "hands over 2 sockets") {
		_ = e.Stop(context.Background())
		t.Fatalf("1 loop over 2 sockets: %v", err)
	}

	f2 := make(tagFactory, 16)
	l2 := &Listener{Name: "t", Address: addr, Filters: []conn.FilterFactory{f2, cmdFactory{marks: &marks{}}}}
	next := runEngine(t, l2, Options{Loops: 2, ReusePort: true, Tracker: conn.NewTracker(0), Inherit: fds})
	if n, err := old.StopAccepting(); err != nil || n != 2 {
		t.Fatalf("StopAccepting = %d, %v; want 2", n, err)
	}
	for range 8 { // spread over both sockets by the kernel's hash
		c := dial(t, addr)
		echoOK(t, c, bufio.NewReader(c), "x")
		<-f2
	}
	if got, err := next.ListenerFiles(); err != nil || len(got[0]) != 2 {
		t.Fatalf("the adopter hands over %v, %v; want 2 sockets", got, err)
	} else {
		closeAll(got)
	}
}
