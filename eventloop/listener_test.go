package eventloop

import (
	"bufio"
	"errors"
	"net"
	"strings"
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

// TestAddListenerOnASpareSlot: an engine started with one spare slot
// opens a listener while it runs: the listener accepts and serves, the
// configured one goes on, ListenerFiles hands both over, StopListener
// stops it like any other, and a second AddListener finds no slot.
// An Open that fails part-way puts the dead socket back in every place
// it had begun to swap, and frees the slot: the failed listener's address
// refuses connections, and the next AddListener opens on the same slot.
func TestAddListenerFailedOpenFreesTheSlot(t *testing.T) {
	mk := &marks{}
	e := runListeners(t, []*Listener{{Name: "one", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}}},
		Options{Loops: 2, Tracker: conn.NewTracker(0), Spare: 1})
	n := len(e.spares[0].entries)
	calls := 0
	e.swapFD = func(fd int, pe pollEntry) error {
		if calls++; calls == n { // the slot's last registration
			return errors.New("dup3: injected")
		}
		return swapIn(fd, pe)
	}
	p, err := e.PrepareListener(&Listener{Name: "two", Address: "127.0.0.2:0"})
	if err != nil {
		t.Fatal(err)
	}
	failed := p.Addr().String()
	if _, _, err := p.Open(); err == nil || !strings.Contains(err.Error(), "listener two: dup3: injected") {
		t.Fatalf("Open = %v, want the injected failure", err)
	}
	if _, err := net.Dial("tcp", failed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial the listener that did not open: %v, want connection refused", err)
	}
	if e.Addrs()[1].String() == failed || !e.Listeners()[1].Spare() {
		t.Fatalf("after the failed Open: addresses %v, slot spare %v", e.Addrs(), e.Listeners()[1].Spare())
	}
	e.swapFD = swapIn
	added, i, err := e.AddListener(&Listener{Name: "three", Address: "127.0.0.3:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}})
	if err != nil || i != 1 || added.Name != "three" {
		t.Fatalf("AddListener on the freed slot: %v, %d, %v", added, i, err)
	}
	c := dial(t, e.Addrs()[1].String())
	echoOK(t, c, bufio.NewReader(c), "after a failed open")
}

func TestAddListenerOnASpareSlot(t *testing.T) {
	mk := &marks{}
	l1 := &Listener{Name: "one", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}}
	e := runListeners(t, []*Listener{l1}, Options{Loops: 2, Tracker: conn.NewTracker(0), Spare: 1})
	if ls := e.Listeners(); len(ls) != 2 || !ls[1].Spare() {
		t.Fatalf("listeners %v: want the configured one and a spare slot", ls)
	}
	added, i, err := e.AddListener(&Listener{Name: "two", Address: "127.0.0.2:0",
		Filters: []conn.FilterFactory{cmdFactory{marks: mk}}})
	if err != nil {
		t.Fatal(err)
	}
	if i != 1 || added.Spare() || added.Name != "two" {
		t.Fatalf("AddListener: slot %d, spare %v, name %q", i, added.Spare(), added.Name)
	}
	addr2 := e.Addrs()[1].String()
	if !strings.HasPrefix(addr2, "127.0.0.2:") {
		t.Fatalf("the added listener's address %s", addr2)
	}
	c := dial(t, addr2)
	r := bufio.NewReader(c)
	echoOK(t, c, r, "added")
	c1 := dial(t, e.Addrs()[0].String())
	echoOK(t, c1, bufio.NewReader(c1), "configured")
	files, err := e.ListenerFiles()
	if err != nil {
		t.Fatal(err)
	}
	closeAll(files)
	if len(files) != 2 || len(files[0]) == 0 || len(files[1]) == 0 {
		t.Fatalf("ListenerFiles = %v; want both listeners' sockets", files)
	}
	if _, _, err := e.AddListener(&Listener{Name: "three", Address: "127.0.0.3:0"}); err == nil ||
		!strings.Contains(err.Error(), "no spare listener slot left") {
		t.Fatalf("a second AddListener with one slot: %v", err)
	}
	if n, err := e.StopListener(i); err != nil || n != 1 {
		t.Fatalf("StopListener(added) = %d, %v", n, err)
	}
	if _, err := net.Dial("tcp", addr2); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial the stopped added listener: %v, want connection refused", err)
	}
	echoOK(t, c, r, "still served")
}
