package conn

import (
	"errors"
	"math"
	"net"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/backlog"
	"github.com/ferry-proxy/ferry/internal/metrics"
)

// ErrClosed is returned by writes on a connection that is closing or closed.
var ErrClosed = errors.New("conn: connection closed")

// state is where a connection is in its life.
type state uint8

const (
	stateOpen      state = iota
	stateFlushing        // CloseFlush/CloseLinger: writing what is queued, no new writes
	stateLingering       // write side shut down, discarding input until EOF or timeout
	stateClosing         // close requested, gnet's OnClose not yet run
	stateClosed          // OnClose ran
)

// Options are the per-connection limits.
type Options struct {
	// HighWatermark is the outbound queue size above which the connection
	// reports itself full. Zero means DefaultHighWatermark. One write may
	// pass it: the queue holds at most HighWatermark plus the largest
	// write (for a proxied body, one read of the other side).
	HighWatermark int
	// LowWatermark is the size below which a full connection reports
	// itself drained. Zero means a quarter of HighWatermark.
	LowWatermark int
	// Budget, when set, is the process-wide budget that every
	// connection's outbound queue is counted against. Once it is used
	// up, a connection also reports itself full above its LowWatermark,
	// so that new bytes go to the writer's spill queue (which takes no
	// memory from a used-up budget either) instead of gnet's memory.
	Budget *backlog.Budget
	// FlushTimeout bounds CloseFlush and CloseLinger's flush. Zero means 30s.
	FlushTimeout time.Duration
	// LingerTimeout is how long CloseLinger discards input after the
	// flush. Zero means 5s.
	LingerTimeout time.Duration
	// LoopMetrics, when set, returns the counters of loop index (its
	// internal/metrics shard's), which its connections bump (counters.go).
	LoopMetrics func(index int) *metrics.Loop
}

// DefaultHighWatermark is Options.HighWatermark's default: about what
// nginx's proxy buffers hold for one slow client (tens of KiB), so that a
// slow reader pins little memory before its backlog spills to a file.
const DefaultHighWatermark = 32 << 10

func (o *Options) defaults() {
	if o.HighWatermark <= 0 {
		o.HighWatermark = DefaultHighWatermark
	}
	if o.LowWatermark <= 0 || o.LowWatermark >= o.HighWatermark {
		o.LowWatermark = o.HighWatermark / 4
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 30 * time.Second
	}
	if o.LingerTimeout <= 0 {
		o.LingerTimeout = 5 * time.Second
	}
}

// WatermarkListener hears when a connection's outbound queue crosses its
// watermarks. Loop only.
type WatermarkListener interface {
	OnAboveHighWatermark()
	OnBelowLowWatermark()
}

// Conn is a downstream or upstream connection. Loop only unless said.
//
// Its size is the per-connection memory floor of an idle keep-alive
// connection, so what can live on the Loop (tracker, options, the input of
// the read event in progress) does, and the filter manager is embedded.
type Conn struct {
	gc   gnet.Conn
	loop *Loop
	id   uint64

	mgr   filterchain.Manager
	state state
	// inCallback is set while this connection's own gnet callback runs:
	// closing it then is done by returning gnet.Close.
	inCallback bool
	closeNow   bool
	localClose bool

	watched  bool
	stalled  bool
	upstream bool
	wm       WatermarkListener
	// bytesIn and bytesOut are SetByteCounters' (counters.go), or nil.
	bytesIn, bytesOut *metrics.Counter
	// x is what only some connections need (a close that waits for its
	// queue to drain, a lingering close, their own watermarks, direct
	// writes), nil until one does: it keeps Conn in the 208-byte size
	// class, idle memory per connection (docs/performance.md, "An idle
	// HTTP/1.1 keep-alive connection costs about 1 KiB").
	x *rare
}

// rare is a Conn's state for what few connections do. It is allocated
// once per connection, when one of them first happens: a write gnet had
// to queue (the connection goes on the loop's watch list then), a close
// that must wait for its queue to drain (where a lingering close
// allocated its timer before), StartDirect (in place of its own state)
// or SetWatermarks (a dial of a cluster with its own buffer limit). A
// connection whose writes the socket takes whole never allocates it.
type rare struct {
	// held is the outbound queue as last seen, counted against the
	// budget; gnet only shrinks the queue between two looks, so it is
	// never below what gnet holds. Non-zero keeps the connection on the
	// loop's watch list, whose sweep gives it back as gnet drains.
	held int
	// deadline is the flush deadline while flushing; negative: linger
	// after the flush.
	deadline int64
	// linger times a lingering close (armed once it starts).
	linger Timer
	// high and low are SetWatermarks's, 0 for the loop's. int32
	// (clamped): no outbound queue comes near 2 GiB.
	high, low int32
	// direct is StartDirect's state (relay.go) once isDirect is set.
	direct   direct
	isDirect bool
	// finPending: ShutdownWrite waits for gnet's queue to drain
	// (finWhenDrained).
	finPending bool
}

// held is the outbound queue counted against the budget (rare.held).
func (c *Conn) held() int {
	if x := c.x; x != nil {
		return x.held
	}
	return 0
}

// dir returns the direct-write state (relay.go), nil before StartDirect.
func (c *Conn) dir() *direct {
	if x := c.x; x != nil && x.isDirect {
		return &x.direct
	}
	return nil
}

// more returns c's rare state, allocating it on first use.
func (c *Conn) more() *rare {
	if c.x == nil {
		c.x = &rare{}
	}
	return c.x
}

// New wraps gc, which has just opened on loop l. The socket was reserved in
// tracker by the caller and is released when the connection closes. Loop
// only.
func New(gc gnet.Conn, l *Loop, upstream bool) *Conn {
	c := &Conn{gc: gc, loop: l, upstream: upstream, id: l.Tracker.NextID()}
	c.mgr.Init(c)
	gc.SetContext(c)
	c.countOpen()
	return c
}

// DefaultOptions returns Options with every default filled in.
func DefaultOptions(o Options) *Options {
	o.defaults()
	return &o
}

// ID implements filterchain.Connection.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr implements filterchain.Connection. It is nil once gnet closed
// the socket.
func (c *Conn) RemoteAddr() net.Addr {
	if c.state == stateClosed {
		return nil
	}
	return c.gc.RemoteAddr()
}

// LocalAddr implements filterchain.Connection. It is nil once gnet closed
// the socket.
func (c *Conn) LocalAddr() net.Addr {
	if c.state == stateClosed {
		return nil
	}
	return c.gc.LocalAddr()
}

// Loop is the loop the connection belongs to.
func (c *Conn) Loop() *Loop { return c.loop }

// Filters is the connection's network filter manager, for set-up.
func (c *Conn) Filters() *filterchain.Manager { return &c.mgr }

// Upstream reports whether ferry dialled this connection.
func (c *Conn) Upstream() bool { return c.upstream }

// SetWatermarkListener installs l (nil removes it).
func (c *Conn) SetWatermarkListener(l WatermarkListener) { c.wm = l }

// Closed implements filterchain.Connection: true from the moment a close
// is requested.
func (c *Conn) Closed() bool { return c.state != stateOpen }

// Gone reports whether gnet has closed the socket.
func (c *Conn) Gone() bool { return c.state == stateClosed }

// Stalled reports whether the outbound queue is above the high watermark.
func (c *Conn) Stalled() bool { return c.stalled }

// OutboundBuffered is the number of bytes queued in ferry for the socket.
func (c *Conn) OutboundBuffered() int {
	if c.state == stateClosed {
		return 0
	}
	return c.gc.OutboundBuffered()
}

// InboundBuffered is the number of unconsumed input bytes held by gnet.
func (c *Conn) InboundBuffered() int {
	if c.state == stateClosed {
		return 0
	}
	return c.gc.InboundBuffered()
}

// Write implements filterchain.Connection.
func (c *Conn) Write(p []byte) error {
	if c.state != stateOpen {
		return ErrClosed
	}
	if c.mgr.HasWriteFilters() && c.mgr.OnWrite([][]byte{p}) == filterchain.Stop {
		return nil
	}
	n, err := c.gc.Write(p)
	c.countWritten(n)
	if err != nil {
		return err // gnet closed the socket; OnClose has run (docs/gnet.md, "Close inside a write")
	}
	c.afterWrite()
	return nil
}

// Writev implements filterchain.Connection.
func (c *Conn) Writev(bs [][]byte) error {
	if c.state != stateOpen {
		return ErrClosed
	}
	if c.mgr.HasWriteFilters() && c.mgr.OnWrite(bs) == filterchain.Stop {
		return nil
	}
	n, err := c.gc.Writev(bs)
	c.countWritten(n)
	if err != nil {
		return err
	}
	c.afterWrite()
	return nil
}

// afterWrite counts what gnet could not write at once and reports the
// connection full past its watermark. A write the socket took whole (the
// fast path) costs one comparison.
func (c *Conn) afterWrite() {
	if c.state != stateOpen {
		return
	}
	ob := c.gc.OutboundBuffered()
	if ob == 0 && c.held() == 0 {
		return
	}
	c.hold(ob)
	c.loop.addWatch(c) // the sweep gives the count back as gnet drains
	if !c.stalled && c.full(ob) {
		c.stalled = true
		if c.wm != nil {
			c.wm.OnAboveHighWatermark()
		}
	}
}

// full reports whether an outbound queue of ob bytes is past the
// connection's share: the high watermark, or the low one once the
// process-wide budget is used up.
func (c *Conn) full(ob int) bool {
	high, low := c.Watermarks()
	return ob > high || ob > low && c.loop.Opts.Budget.Over()
}

// SetWatermarks gives this connection its own watermarks in place of the
// loop's (a cluster's conn_buffer_limit_bytes for its upstream
// connections): past high bytes queued the connection reports itself
// full, and drained again at low. low is clamped below high; high <= 0
// keeps the loop's. Loop only.
func (c *Conn) SetWatermarks(high, low int) {
	if high <= 0 {
		return
	}
	if low <= 0 || low >= high {
		low = high / 4
	}
	x := c.more()
	x.high, x.low = clamp32(high), clamp32(low)
}

// clamp32 bounds a watermark to an int32 (2 GiB: past any outbound queue
// a connection may hold).
func clamp32(n int) int32 { return int32(min(n, math.MaxInt32)) }

// Watermarks returns the connection's high and low watermarks. Loop only.
func (c *Conn) Watermarks() (high, low int) {
	if x := c.x; x != nil && x.high > 0 {
		return int(x.high), int(x.low)
	}
	return c.loop.Opts.HighWatermark, c.loop.Opts.LowWatermark
}

// hold counts an outbound queue of ob bytes against the budget in place
// of the last count.
func (c *Conn) hold(ob int) {
	if d := int64(ob) - int64(c.held()); d != 0 {
		c.loop.Opts.Budget.Charge(d)
		c.more().held = ob
	}
}

// Close implements filterchain.Connection.
func (c *Conn) Close(mode filterchain.CloseMode) {
	if c.state >= stateClosing || (c.state != stateOpen && mode != filterchain.CloseNow) {
		return
	}
	c.localClose = true
	if mode != filterchain.CloseNow { // the state is open (above)
		// A graceful close of a TLS connection queues its close_notify
		// alert first, so that the flush below covers it (tls.go,
		// closeNotify). A plain socket pays this one type check.
		if t, ok := c.gc.(*TLSConn); ok {
			t.closeNotify()
			if c.state != stateOpen {
				return // the alert's write failed: gnet closed the socket
			}
		}
	}
	if mode == filterchain.CloseNow || c.gc.OutboundBuffered() == 0 && mode == filterchain.CloseFlush {
		c.closeSocket()
		return
	}
	c.state = stateFlushing
	x := c.more()
	x.deadline = c.loop.now + int64(c.loop.Opts.FlushTimeout)
	if mode == filterchain.CloseLinger {
		x.deadline = -x.deadline // negative: linger after the flush
	}
	c.loop.addWatch(c)
	c.recheckFlush()
}

// closeSocket asks gnet to close: at the end of our own callback when we are
// in one, else through gnet's queue. Either way gnet's OnClose follows.
func (c *Conn) closeSocket() {
	c.state = stateClosing
	if c.inCallback {
		c.closeNow = true
		return
	}
	_ = c.gc.Close() // asynchronous and safe; OnClose runs later on this loop
}

// recheck is called by the loop sweep; it reports whether to keep watching.
func (c *Conn) recheck() bool {
	switch c.state {
	case stateOpen:
		ob := c.gc.OutboundBuffered()
		c.hold(ob)
		if ob == 0 {
			c.finWhenDrained() // relay.go
		}
		if _, low := c.Watermarks(); c.stalled && ob <= low && c.state == stateOpen {
			c.stalled = false
			if c.wm != nil {
				c.wm.OnBelowLowWatermark()
			}
		}
		// The listener may have written (stalled again) or closed with a
		// flush (now flushing): either way the sweep keeps watching, as
		// it does while gnet still holds bytes it has to count down.
		return c.stalled || c.state == stateFlushing || c.held() > 0
	case stateFlushing:
		c.hold(c.gc.OutboundBuffered())
		return c.recheckFlush()
	default:
		// Closing: OnClose gives the count back.
		return false
	}
}

// recheckFlush finishes a flushing close once the queue is empty or the
// deadline passed; it reports whether to keep watching.
func (c *Conn) recheckFlush() bool {
	deadline := c.x.deadline // set by Close before the state became flushing
	lingerAfter := deadline < 0
	if lingerAfter {
		deadline = -deadline
	}
	if c.gc.OutboundBuffered() > 0 && c.loop.now < deadline {
		return true
	}
	if lingerAfter && c.gc.OutboundBuffered() == 0 {
		c.startLinger()
		return false
	}
	c.closeSocket()
	return false
}

// startLinger half-closes the write side and discards input until the peer
// closes or the linger timeout fires.
func (c *Conn) startLinger() {
	if err := syscall.Shutdown(c.gc.Fd(), syscall.SHUT_WR); err != nil {
		c.closeSocket()
		return
	}
	c.state = stateLingering
	c.hold(0) // gnet's queue is empty (recheckFlush): nothing left to count
	// c.x is set: a lingering close flushes first (Close).
	t := &c.x.linger
	t.Init(c)
	c.loop.Schedule(t, c.loop.Opts.LingerTimeout)
}

// OnTimer implements TimerHandler: the linger timeout closes the socket.
func (c *Conn) OnTimer(*Timer) {
	if c.state == stateLingering {
		c.closeSocket()
	}
}

// ResumeReading asks gnet for a read event over the input already buffered,
// as filterchain.ReadCallbacks.ContinueReading requires between events.
// Any goroutine.
func (c *Conn) ResumeReading() {
	_ = c.gc.Wake(nil) // guarded by gnet: a no-op once the socket is closed
}

// OnTraffic handles a read event: the filters see the input, and what they
// drained is discarded. Called by the event handler. Loop only.
func (c *Conn) OnTraffic() gnet.Action {
	switch c.state {
	case stateOpen:
	case stateClosing:
		return gnet.Close
	default: // flushing or lingering: input is no longer wanted
		_, _ = c.gc.Discard(-1)
		return gnet.None
	}
	data, _ := c.gc.Peek(-1)
	in := &c.loop.input // one read event at a time per loop
	in.data, in.off = data, 0
	c.inCallback = true
	c.mgr.OnRead(in, false)
	c.countRead(in.off)
	if in.off > 0 && c.state != stateClosed {
		_, _ = c.gc.Discard(in.off) // Discard(0) would drop everything
	}
	in.data = nil
	return c.endCallback()
}

// RunInCallback runs fn as if inside this connection's callback, so that a
// close requested by fn waits for the callback's return value. Used by the
// event handler for OnOpen. Loop only.
func (c *Conn) RunInCallback(fn func()) gnet.Action {
	c.inCallback = true
	fn()
	return c.endCallback()
}

// endCallback ends a callback of this connection: a close requested during
// it becomes the callback's return value.
func (c *Conn) endCallback() gnet.Action {
	c.inCallback = false
	if c.closeNow {
		return gnet.Close
	}
	return gnet.None
}

// Open runs the filters' OnNewConnection as part of gnet's OnOpen, so that
// a close they request becomes OnOpen's return value. Loop only.
func (c *Conn) Open() gnet.Action {
	c.inCallback = true
	c.mgr.OnNewConnection()
	return c.endCallback()
}

// OnClose is called by the event handler when gnet closes the socket. It
// runs once; it may run re-entrantly inside a write that failed
// (docs/gnet.md, "Close inside a write").
// Loop only.
func (c *Conn) OnClose() {
	if c.state == stateClosed {
		return
	}
	c.state = stateClosed
	c.stalled = false
	c.hold(0) // gnet frees its queue with the socket
	if x := c.x; x != nil {
		c.loop.Stop(&x.linger) // no-op unless a lingering close armed it
	}
	ev := filterchain.RemoteClose
	if c.localClose {
		ev = filterchain.LocalClose
	}
	c.mgr.OnEvent(ev)
	c.loop.Tracker.Release()
	c.countClose()
}

// input implements filterchain.Buffer over the bytes of one read event.
type input struct {
	data []byte
	off  int
}

func (b *input) Bytes() []byte { return b.data[b.off:] }
func (b *input) Len() int      { return len(b.data) - b.off }
func (b *input) Drain(n int) {
	if n > len(b.data)-b.off {
		panic("conn: Drain past the end of the input")
	}
	b.off += n
}

var (
	_ filterchain.Connection = (*Conn)(nil)
	_ filterchain.Buffer     = (*input)(nil)
)

// Reset closes the connection at once with a TCP reset (SO_LINGER 0), so
// the peer cannot mistake a truncated message for a complete one. Loop only.
func (c *Conn) Reset() {
	if c.state >= stateClosing {
		return
	}
	_ = c.gc.SetLinger(0) // best effort: without it the close is a FIN
	c.Close(filterchain.CloseNow)
}
