package eventloop

import (
	"bufio"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

// TestStopListenerStopsOnlyIt: StopListener closes one listener's socket
// (new connections refused) while the other listener accepts and every
// connection of both goes on being served; ListenerFiles then hands over
// the other listener alone. The second listener binds 127.0.0.2: gnet
// tells its listeners apart by address.
func TestStopListenerStopsOnlyIt(t *testing.T) {
	mk := &marks{}
	l1 := &Listener{Name: "one", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}}
	l2 := &Listener{Name: "two", Address: "127.0.0.2:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}}
	e := runListeners(t, []*Listener{l1, l2}, Options{Loops: 2, Tracker: conn.NewTracker(0)})
	addr1, addr2 := e.Addrs()[0].String(), e.Addrs()[1].String()
	c := dial(t, addr2)
	r := bufio.NewReader(c)
	echoOK(t, c, r, "before")
	if n, err := e.StopListener(1); err != nil || n != 1 {
		t.Fatalf("StopListener = %d, %v; want 1 socket", n, err)
	}
	if !l2.Removed() || l1.Removed() {
		t.Fatalf("removed: one %v, two %v; want two only", l1.Removed(), l2.Removed())
	}
	if _, err := net.Dial("tcp", addr2); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial the stopped listener: %v, want connection refused", err)
	}
	echoOK(t, c, r, "after")
	c1 := dial(t, addr1)
	echoOK(t, c1, bufio.NewReader(c1), "other")
	files, err := e.ListenerFiles()
	if err != nil {
		t.Fatal(err)
	}
	closeAll(files)
	if len(files) != 2 || len(files[0]) == 0 || len(files[1]) != 0 {
		t.Fatalf("ListenerFiles = %v; want the first listener's sockets only", files)
	}
	if _, err := e.StopListener(2); err == nil {
		t.Fatal("StopListener(2) of two listeners: no error")
	}
}
