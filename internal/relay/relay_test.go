package relay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/backlog"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// The harness runs one loop whose listener pairs its connections: the
// first accepted is a relay's Down side, the next one its Up side, and so
// on. The test holds both peers' sockets.

type harness struct {
	t       *testing.T
	eng     *eventloop.Engine
	tracker *conn.Tracker
	addr    string
	opts    relay.Options

	// wf, when set, is a network write filter on every connection.
	wf *countingWriter

	mu      sync.Mutex
	pending *peer         // a Down side waiting for its Up (loop only)
	ended   []*endRecord  // relays that ended
	opened  chan struct{} // one per accepted connection, once attached
}

type endRecord struct {
	err      error
	down, up int64
	highMark int
}

// peer is one connection's read filter.
type peer struct {
	h *harness
	c *conn.Conn
	r *relay.Relay
	i int
}

func (p *peer) InitReadCallbacks(filterchain.ReadCallbacks) {}

func (p *peer) OnNewConnection() filterchain.Status {
	h := p.h
	h.mu.Lock()
	first := h.pending == nil
	if first {
		h.pending = p
	} else {
		down := h.pending
		h.pending = nil
		p.r, p.i = down.r, relay.Up
	}
	h.mu.Unlock()
	if first {
		p.r, p.i = relay.New(p.c.Loop(), &h.opts, h), relay.Down
	}
	if err := p.r.Attach(p.i, p.c); err != nil {
		p.r.Abort(err, true)
	}
	h.opened <- struct{}{}
	return filterchain.Stop
}

func (p *peer) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	p.r.Read(p.i, buf)
	return filterchain.Stop
}

func (p *peer) OnEvent(ev filterchain.ConnectionEvent) { p.r.Closed(p.i, ev) }

// OnRelayEnd implements relay.Handler.
func (h *harness) OnRelayEnd(r *relay.Relay) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = append(h.ended, &endRecord{err: r.Err(), down: r.Bytes(relay.Down), up: r.Bytes(relay.Up), highMark: r.HighMark()})
}

func (h *harness) CreateFilters(c *conn.Conn) {
	m := c.Filters()
	m.AddReadFilter(&peer{h: h, c: c})
	if h.wf != nil {
		m.AddWriteFilter(h.wf)
	}
}

// countingWriter is a network write filter that counts what passes.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) OnWrite(bs [][]byte) filterchain.Status {
	for _, b := range bs {
		w.n.Add(int64(len(b)))
	}
	return filterchain.Continue
}

func start(t *testing.T, opts relay.Options) *harness { return startWith(t, opts, nil) }

func startWith(t *testing.T, opts relay.Options, wf *countingWriter) *harness {
	t.Helper()
	if opts.Spill.MemLimit == 0 {
		opts.Spill = spill.Options{MemLimit: 64 << 10, Dir: t.TempDir()}
	}
	h := &harness{t: t, opts: opts, tracker: conn.NewTracker(0), opened: make(chan struct{}, 16), wf: wf}
	lst := &eventloop.Listener{Name: "relay", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{h}}
	eng, err := eventloop.New([]*eventloop.Listener{lst}, eventloop.Options{Loops: 1, Tracker: h.tracker})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	h.eng, h.addr = eng, eng.Addrs()[0].String()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) stop() {
	testutil.Shutdown(h.t, 5*time.Second, testutil.Step{Name: "engine stop", Do: h.eng.Stop})
}

// dial connects a peer and waits until ferry attached it.
func (h *harness) dial() *net.TCPConn {
	h.t.Helper()
	c := testutil.DialTCP(h.t, h.addr, 20*time.Second)
	select {
	case <-h.opened:
	case <-time.After(10 * time.Second):
		h.t.Fatal("the connection was not attached")
	}
	return c
}

// pair dials a relay's two sides.
func (h *harness) pair() (down, up *net.TCPConn) { return h.dial(), h.dial() }

func (h *harness) ends() []*endRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*endRecord(nil), h.ended...)
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(b)
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v; want EOF (the other side's FIN)", n, err)
	}
}

// TestBothWaysAndHalfCloseEachWay: bytes move both ways; each side's FIN
// reaches the other while the other direction still carries bytes; the
// relay ends without error once both directions ended, with the byte
// counts of each side.
func TestBothWaysAndHalfCloseEachWay(t *testing.T) {
	h := start(t, relay.Options{})
	down, up := h.pair()
	_, _ = io.WriteString(down, "ping")
	if got := readN(t, up, 4); got != "ping" {
		t.Fatalf("up read %q", got)
	}
	_, _ = io.WriteString(up, "pong!")
	if got := readN(t, down, 5); got != "pong!" {
		t.Fatalf("down read %q", got)
	}
	_ = down.CloseWrite()
	expectEOF(t, up)
	// The half-closed side still receives, however much.
	late := bytes.Repeat([]byte("late"), 1<<18) // 1 MiB
	go func() { _, _ = up.Write(late); _ = up.CloseWrite() }()
	got, err := io.ReadAll(down)
	if err != nil || !bytes.Equal(got, late) {
		t.Fatalf("down read %d bytes after its FIN (%v), want %d", len(got), err, len(late))
	}
	testutil.WaitFor(t, 5*time.Second, "the relay ends", func() bool { return len(h.ends()) == 1 })
	e := h.ends()[0]
	if e.err != nil || e.down != 4 || e.up != int64(5+len(late)) {
		t.Fatalf("end: err %v, down %d, up %d", e.err, e.down, e.up)
	}
	testutil.WaitFor(t, 5*time.Second, "the sockets are released", func() bool { return h.tracker.Open() == 0 })
}

// TestBytesWaitForTheOtherSide: what Down sends before Up is attached is
// queued and delivered at the attach.
func TestBytesWaitForTheOtherSide(t *testing.T) {
	h := start(t, relay.Options{})
	down := h.dial()
	_, _ = io.WriteString(down, "early")
	up := h.dial()
	if got := readN(t, up, 5); got != "early" {
		t.Fatalf("up read %q", got)
	}
}

// TestResetEndsTheRelay: a side that resets ends the relay with an error
// and the other side is closed.
func TestResetEndsTheRelay(t *testing.T) {
	h := start(t, relay.Options{})
	down, up := h.pair()
	_ = down.SetLinger(0)
	_ = down.Close()
	if _, err := io.ReadAll(up); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("up: %v", err) // a FIN or a reset, either ends it
	}
	testutil.WaitFor(t, 5*time.Second, "the relay ends", func() bool { return len(h.ends()) == 1 })
}

// TestIdleTimeoutEndsTheRelay: no byte either way for the idle timeout
// closes both sides with ErrIdle.
func TestIdleTimeoutEndsTheRelay(t *testing.T) {
	h := start(t, relay.Options{IdleTimeout: 50 * time.Millisecond})
	down, up := h.pair()
	_, _ = io.WriteString(down, "x")
	readN(t, up, 1)
	testutil.WaitFor(t, 5*time.Second, "the idle relay ends", func() bool { return len(h.ends()) == 1 })
	if err := h.ends()[0].err; !errors.Is(err, relay.ErrIdle) {
		t.Fatalf("err %v, want ErrIdle", err)
	}
	for _, c := range []net.Conn{down, up} {
		if _, err := io.ReadAll(c); err != nil {
			t.Logf("%v", err)
		}
	}
}

// TestSlowSideSpillsAndMemoryStaysBounded: 16 MiB to a side that reads
// only after all were sent: the relay keeps at most about its queue's
// memory limit (the rest goes to the spill file) and every byte arrives
// in order.
func TestSlowSideSpillsAndMemoryStaysBounded(t *testing.T) {
	h := start(t, relay.Options{})
	down, up := h.pair()
	payload := make([]byte, 16<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	done := make(chan error, 1)
	go func() {
		_, err := down.Write(payload)
		if err == nil {
			err = down.CloseWrite()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err) // all of it left the client before the upstream read a byte
	}
	got, err := io.ReadAll(up)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("up read %d bytes (%v), want %d intact", len(got), err, len(payload))
	}
	_ = up.CloseWrite()
	expectEOF(t, down)
	testutil.WaitFor(t, 5*time.Second, "the relay ends", func() bool { return len(h.ends()) == 1 })
	if hm := h.ends()[0].highMark; hm > 2*(64<<10)+(256<<10) {
		t.Fatalf("the relay held %d bytes in memory; want about the 64 KiB queue limit", hm)
	}
}

// TestDirectWriteAfterCloseNeverReachesTheNextConnection pins
// docs/gnet.md, "Writes after close reach whoever reuses the fd", for the
// relay's direct writes: Down is full (its peer does not read) and waits
// for the sweep when its peer resets; gnet closes the socket and the next
// client takes the freed descriptor number. The bytes Up still sends, and
// the sweep's retry, must never reach the new client: it reads only what
// its own relay gives it.
func TestDirectWriteAfterCloseNeverReachesTheNextConnection(t *testing.T) {
	h := start(t, relay.Options{})
	down, up := h.pair()
	_ = down.SetReadBuffer(4 << 10)
	// Down does not read: 8 MiB from Up fill its socket, and the rest
	// waits in the relay's queue while Down waits for the sweep.
	big := bytes.Repeat([]byte("S"), 8<<20)
	if _, err := up.Write(big); err != nil {
		t.Fatal(err)
	}
	_ = down.SetLinger(0)
	_ = down.Close() // a reset: gnet closes the socket, its number is free
	// The next pair: its Down likely takes the freed descriptor. Up keeps
	// sending meanwhile (until its relay closes it).
	go func() {
		for {
			if _, err := up.Write(big[:64<<10]); err != nil {
				return
			}
		}
	}()
	d2, u2 := h.pair()
	_, _ = io.WriteString(u2, "mine")
	if got := readN(t, d2, 4); got != "mine" {
		t.Fatalf("the next client read %q: bytes of another relay reached it", got)
	}
	testutil.WaitFor(t, 5*time.Second, "the first relay ends", func() bool { return len(h.ends()) == 1 })
	_ = u2.CloseWrite()
	expectEOF(t, d2)
}

// TestKeptSocketIsClosedWhenTheEngineStops: Down half-closed while the
// relay still owes it bytes it cannot take (its peer does not read), so
// the relay keeps its socket (a dup past gnet's close). When the engine
// stops, no loop is left to finish the relay: the engine closes the kept
// socket (with a reset) so that it does not stay open until the process
// exits, and the socket budget comes back to zero.
func TestKeptSocketIsClosedWhenTheEngineStops(t *testing.T) {
	h := start(t, relay.Options{})
	down, up := h.pair()
	_ = down.SetReadBuffer(4 << 10)
	big := bytes.Repeat([]byte("K"), 8<<20)
	wrote := make(chan error, 1)
	go func() { _, err := up.Write(big); wrote <- err }()
	if err := <-wrote; err != nil { // the relay took it all: spilled
		t.Fatal(err)
	}
	_ = down.CloseWrite() // Down's FIN: gnet closes, the relay keeps the socket
	testutil.WaitFor(t, 10*time.Second, "Down's socket is kept", func() bool {
		return keptSockets(h) == 1
	})
	h.stop()
	if n := h.tracker.Open(); n != 0 {
		t.Fatalf("%d sockets still counted after the engine stopped", n)
	}
	// The client's socket ends: a reset (the relay owed bytes) or EOF,
	// never a read that waits for bytes that will not come.
	_ = down.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, down)
	if testutil.IsTimeout(err) {
		t.Fatal("the kept socket outlived the engine")
	}
}

// keptSockets counts the loop's kept sockets, on the loop.
func keptSockets(h *harness) int {
	n := make(chan int, 1)
	loops := h.eng.Loops()
	if len(loops) == 0 {
		return 0
	}
	if err := loops[0].Execute(func() { n <- loops[0].KeptSockets() }); err != nil {
		return 0
	}
	select {
	case v := <-n:
		return v
	case <-time.After(5 * time.Second):
		return 0
	}
}

// finRecorder is a network filter that records the close event of its
// connection and never writes.
type finRecorder struct {
	mu     sync.Mutex
	events []filterchain.ConnectionEvent
}

func (f *finRecorder) CreateFilters(c *conn.Conn)                  { c.Filters().AddReadFilter(f) }
func (f *finRecorder) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (f *finRecorder) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (f *finRecorder) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	buf.Drain(buf.Len())
	return filterchain.Stop
}

func (f *finRecorder) OnEvent(ev filterchain.ConnectionEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
}

func (f *finRecorder) seen() []filterchain.ConnectionEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]filterchain.ConnectionEvent(nil), f.events...)
}

// TestGnetClosesTheSocketOnAPeersFIN pins the gnet limitation the relay
// works around (docs/gnet.md, "A peer's FIN closes the socket"): a
// client that only half-closes its side gets its whole connection closed
// by gnet (the server's close event fires, and the client reads EOF with
// no byte the server could still have sent). If gnet ever keeps a
// half-closed socket open, this fails, and conn/relay.go's KeepWriting
// (the dup in the close event) can go.
func TestGnetClosesTheSocketOnAPeersFIN(t *testing.T) {
	f := &finRecorder{}
	lst := &eventloop.Listener{Name: "fin", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{f}}
	eng, err := eventloop.New([]*eventloop.Listener{lst}, eventloop.Options{Loops: 1, Tracker: conn.NewTracker(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	}()
	c := testutil.DialTCP(t, eng.Addrs()[0].String(), 10*time.Second)
	_, _ = io.WriteString(c, "hello")
	_ = c.CloseWrite()
	testutil.WaitFor(t, 5*time.Second, "gnet closes the half-closed connection", func() bool {
		ev := f.seen()
		return len(ev) == 1 && ev[0] == filterchain.RemoteClose
	})
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v: want EOF, the socket closed for a half-close", n, err)
	}
}

// TestWriteFiltersAreNotBypassed: a connection with network write filters
// is not written directly (that would pass the filters by): the relay
// writes through conn.Conn.Write, every byte goes through the filters, and
// the bytes arrive intact.
func TestWriteFiltersAreNotBypassed(t *testing.T) {
	wf := &countingWriter{}
	h := startWith(t, relay.Options{}, wf)
	down, up := h.pair()
	payload := bytes.Repeat([]byte("w"), 1<<20)
	go func() { _, _ = down.Write(payload) }() // no CloseWrite: without direct writes a FIN ends the relay
	got, err := io.ReadAll(io.LimitReader(up, int64(len(payload))))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("up read %d bytes (%v), want %d", len(got), err, len(payload))
	}
	_, _ = io.WriteString(up, "back")
	if got := readN(t, down, 4); got != "back" {
		t.Fatalf("down read %q", got)
	}
	if n := wf.n.Load(); n != int64(len(payload))+4 {
		t.Fatalf("the write filters saw %d bytes, want %d", n, len(payload)+4)
	}
}

// TestDiskBudgetEndsTheRelay: a side that never reads while the other
// sends fills its spill file only up to the process-wide disk budget; the
// write that would pass it ends the relay with spill.ErrDiskBudget (both
// sides closed), where it would otherwise grow the file without bound
// (gnet cannot pause reading, docs/gnet.md).
func TestDiskBudgetEndsTheRelay(t *testing.T) {
	disk := backlog.New(1 << 20)
	h := start(t, relay.Options{Spill: spill.Options{MemLimit: 64 << 10, Dir: t.TempDir(), DiskBudget: disk}})
	down, up := h.pair()
	_ = up.SetReadBuffer(16 << 10)
	go func() {
		chunk := make([]byte, 256<<10)
		for range 64 { // 16 MiB at most; the relay's end stops it sooner
			if _, err := down.Write(chunk); err != nil {
				return
			}
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "the relay ends at the disk budget", func() bool { return len(h.ends()) == 1 })
	if err := h.ends()[0].err; !errors.Is(err, spill.ErrDiskBudget) {
		t.Fatalf("the relay ended with %v, want spill.ErrDiskBudget", err)
	}
	if u := disk.Used(); u != 0 {
		t.Errorf("the disk budget counts %d bytes after the relay ended, want 0", u)
	}
	if p := disk.Peak(); p > 1<<20 {
		t.Errorf("the spill files held %d bytes at most, past the 1 MiB budget", p)
	}
	_ = down.Close()
	_, _ = io.Copy(io.Discard, up) // the relay closed it
}
