package relay

import (
	"errors"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/spill"
)

// The two sides of a relay. Any two connections will do; the names say
// how the TCP proxy and the upgrade use them.
const (
	Down = 0 // the client's connection
	Up   = 1 // the upstream's
)

// ErrIdle is the error of a relay that ended on its idle timeout.
var ErrIdle = errors.New("relay: idle timeout")

// peekMax bounds one write out of a queue.
const peekMax = 256 << 10

// Options configures a relay. One Options may serve many relays; it must
// not change while they run.
type Options struct {
	// IdleTimeout ends the relay when no byte moved either way for that
	// long. Zero means none.
	IdleTimeout time.Duration
	// Spill configures the queues that hold what one side cannot take
	// yet (memory first, then a temp file).
	Spill spill.Options
}

// Handler hears that a relay ended. Loop only.
type Handler interface {
	// OnRelayEnd runs once, when both connections are closed or closing.
	// Err says why the relay ended early, nil when both directions ended
	// with a FIN.
	OnRelayEnd(r *Relay)
}

// Relay carries bytes both ways between two connections of one loop.
// Loop only.
type Relay struct {
	loop *conn.Loop
	opts *Options
	h    Handler
	s    [2]side
	idle conn.Timer
	last int64 // loop clock of the last byte moved
	high int   // most bytes held in memory at once
	// closing: one side can no longer be written while the other may
	// still send: the relay ends once the other side got what it is owed.
	closing bool
	ended   bool
	err     error
}

// side is one connection of a relay and the bytes waiting for it.
type side struct {
	r *Relay
	c *conn.Conn // nil until attached (an upstream still connecting)
	q *spill.Queue
	// read counts the bytes read from this side.
	read int64
	// blocked: the connection is full (a short direct write, or above its
	// high watermark); new bytes for it are queued.
	blocked bool
	// eof: nothing more is read from this side (its FIN came, or it
	// closed).
	eof bool
	// shut: the other side's FIN was forwarded (shutdown(SHUT_WR)).
	shut bool
	// gone: nothing more can be written to this side.
	gone bool
}

// New returns a relay on loop l whose end h hears. Attach both sides; the
// bytes read from one before the other is attached wait in its queue.
// Loop only.
func New(l *conn.Loop, opts *Options, h Handler) *Relay {
	r := &Relay{loop: l, opts: opts, h: h, last: l.Now()}
	r.s[Down].r, r.s[Up].r = r, r
	r.idle.Init(r)
	if opts.IdleTimeout > 0 {
		l.Schedule(&r.idle, opts.IdleTimeout)
	}
	return r
}

// Attach gives side i its connection, open on the relay's loop, and
// writes it what waits for it. A plain connection is written directly
// (conn.Conn.StartDirect), which is what lets a FIN from its peer be a
// half-close; a TLS one through its record layer, with its watermarks.
// The caller hands the relay the connection's reads (Read) and close
// event (Closed). Loop only.
func (r *Relay) Attach(i int, c *conn.Conn) error {
	s := &r.s[i]
	if s.c != nil {
		return errors.New("relay: side attached twice")
	}
	if c.Loop() != r.loop {
		// Its events and the sweep that retries its writes run on
		// another goroutine.
		c.Close(filterchain.CloseNow)
		return errors.New("relay: connection of another loop")
	}
	if r.ended {
		c.Close(filterchain.CloseNow)
		return r.err
	}
	if c.TLS() == nil && c.OutboundBuffered() == 0 && !c.Filters().HasWriteFilters() {
		if err := c.StartDirect(s); err != nil {
			return err
		}
	} else {
		// TLS, network write filters to run, or gnet still holds bytes
		// written before the relay (an upgrade's request head): gnet's
		// writes through conn.Conn.Write, no half-close.
		c.SetWatermarkListener(s)
	}
	s.c = c
	r.pump(s)
	return nil
}

// Write sends b to side i ahead of every byte the relay reads for it
// from now on (an upgrade's 101 head, before the upstream's first frame).
// b may be reused once Write returns. Loop only.
func (r *Relay) Write(i int, b []byte) error {
	if r.ended {
		return r.err
	}
	if err := r.deliver(&r.s[i], b); err != nil {
		r.abort(err, true)
		return err
	}
	return nil
}

// Read moves side i's input to the other side and drains it. Loop only.
func (r *Relay) Read(i int, buf filterchain.Buffer) {
	b := buf.Bytes()
	if len(b) == 0 {
		return
	}
	buf.Drain(len(b)) // the bytes are written or queued before we return
	if r.ended {
		return
	}
	r.s[i].read += int64(len(b))
	r.last = r.loop.Now()
	if err := r.deliver(&r.s[1-i], b); err != nil {
		r.abort(err, true)
		return
	}
	r.noteHigh()
}

// deliver writes b to d, or queues what d cannot take now.
func (r *Relay) deliver(d *side, b []byte) error {
	switch {
	case d.gone:
		return nil // nothing would read it
	case d.c == nil || d.blocked || d.queued() > 0:
		return d.enqueue(b)
	}
	n, err := d.write(b)
	if err != nil {
		return err
	}
	if n < len(b) {
		if err := d.enqueue(b[n:]); err != nil {
			return err
		}
		d.block()
	} else if d.full() {
		d.block()
	}
	return nil
}

// Closed tells the relay that side i's connection closed: ev is
// filterchain.RemoteClose when its peer sent a FIN, reset or closed it.
// Call it from the connection's OnEvent: a FIN keeps a plain socket open
// for writing there (conn.Conn.KeepWriting). Loop only.
func (r *Relay) Closed(i int, ev filterchain.ConnectionEvent) {
	if r.ended {
		return
	}
	s, o := &r.s[i], &r.s[1-i]
	s.eof = true
	owed := !o.eof || s.queued() > 0 // the other direction still has bytes for s
	if !(ev == filterchain.RemoteClose && owed && s.c.KeepWriting()) {
		s.gone = true
		s.drop()
		if owed {
			// What the other side sends has nowhere to go: it gets what
			// s sent, then it is closed.
			r.closing = true
		}
	}
	r.advance()
}

// advance forwards FINs whose direction has delivered every byte and
// ends the relay once both directions are done.
func (r *Relay) advance() {
	for changed := true; changed && !r.ended; {
		changed = false
		for i := range r.s {
			src, dst := &r.s[i], &r.s[1-i]
			if r.closing && !src.gone && !src.eof && dst.gone {
				src.eof = true // its reads go nowhere from now
				changed = true
			}
			if !src.eof || dst.c == nil || dst.shut || dst.gone || dst.queued() > 0 {
				continue
			}
			changed = true
			if err := r.finish(dst); err != nil {
				r.abort(err, true)
				return
			}
		}
	}
	if !r.ended && r.s[Down].done() && r.s[Up].done() {
		r.end(nil, false)
	}
}

// finish sends dst the FIN of the other side, all its bytes delivered.
func (r *Relay) finish(dst *side) error {
	c := dst.c
	if r.closing || !c.Direct() {
		// No half-close: the connection ends (a TLS one after its
		// outbound queue is written, conn's CloseFlush).
		dst.gone, dst.eof = true, true
		if c.Kept() {
			c.CloseKept(false)
		} else {
			c.Close(filterchain.CloseFlush)
		}
		return nil
	}
	dst.shut = true
	err := c.ShutdownWrite()
	if c.Kept() {
		// Its own FIN came earlier: the socket is done both ways.
		dst.gone = true
		c.CloseKept(false)
	}
	return err
}

// done reports whether nothing more moves from or to the side.
func (d *side) done() bool { return d.eof && (d.shut || d.gone) && d.queued() == 0 }

// pump writes d's queue until it is empty or d is full.
func (r *Relay) pump(d *side) {
	for !r.ended && d.queued() > 0 {
		if d.gone {
			d.drop()
			break
		}
		b, err := d.q.Peek(peekMax)
		if err != nil {
			r.abort(err, true)
			return
		}
		n, err := d.write(b)
		if err != nil {
			r.abort(err, true)
			return
		}
		d.q.Discard(n)
		if n > 0 {
			r.last = r.loop.Now()
		}
		if n < len(b) || d.full() {
			d.block()
			return
		}
	}
	r.advance()
}

// block waits for d to drain: a direct connection is tried again by the
// loop sweep (conn.Conn.WaitWritable), another one reports its low
// watermark.
func (d *side) block() {
	d.blocked = true
	if d.c.Direct() {
		d.c.WaitWritable()
	}
}

// OnWritable implements conn.WritableListener.
func (d *side) OnWritable() { d.unblock() }

// OnAboveHighWatermark implements conn.WatermarkListener: deliver and pump
// see Stalled themselves.
func (d *side) OnAboveHighWatermark() {}

// OnBelowLowWatermark implements conn.WatermarkListener.
func (d *side) OnBelowLowWatermark() { d.unblock() }

func (d *side) unblock() {
	if !d.blocked || d.r.ended {
		return
	}
	d.blocked = false
	d.r.pump(d)
}

// write writes b to d's connection and returns how much it took.
func (d *side) write(b []byte) (int, error) {
	if d.c.Direct() {
		return d.c.WriteDirect(b)
	}
	if err := d.c.Write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// full reports a connection written through gnet above its high
// watermark.
func (d *side) full() bool { return !d.c.Direct() && d.c.Stalled() }

func (d *side) queued() int64 {
	if d.q == nil {
		return 0
	}
	return d.q.Len()
}

func (d *side) enqueue(b []byte) error {
	if d.q == nil {
		d.q = spill.New(d.r.opts.Spill)
	}
	_, err := d.q.Write(b)
	return err
}

// drop forgets what waits for d.
func (d *side) drop() {
	if d.q != nil {
		_ = d.q.Close() // best effort: closes a spill file
		d.q = nil
	}
}

// noteHigh records the bytes held in memory for both sides.
func (r *Relay) noteHigh() {
	if n := r.Buffered(); n > r.high {
		r.high = n
	}
}

// Buffered is the number of bytes the relay holds in memory: its queues'
// memory and what gnet queued for a TLS side. Loop only.
func (r *Relay) Buffered() int {
	n := 0
	for i := range r.s {
		s := &r.s[i]
		if s.q != nil {
			n += s.q.InMemory()
		}
		if s.c != nil && !s.c.Direct() {
			n += s.c.OutboundBuffered()
		}
	}
	return n
}

// HighMark is the most bytes Buffered reported after a read. Loop only.
func (r *Relay) HighMark() int { return r.high }

// Bytes is the number of bytes read from side i. Loop only.
func (r *Relay) Bytes(i int) int64 { return r.s[i].read }

// Err says why the relay ended early: nil while it runs or when both
// directions ended with a FIN. Loop only.
func (r *Relay) Err() error { return r.err }

// Ended reports whether the relay ended. Loop only.
func (r *Relay) Ended() bool { return r.ended }

// OnTimer implements conn.TimerHandler: the idle timeout.
func (r *Relay) OnTimer(*conn.Timer) {
	if r.ended {
		return
	}
	idle := time.Duration(r.loop.Now() - r.last)
	if idle < r.opts.IdleTimeout {
		r.loop.Schedule(&r.idle, r.opts.IdleTimeout-idle)
		return
	}
	r.abort(ErrIdle, false)
}

// Abort ends the relay at once: both connections close, with a reset when
// reset is set, and err is the relay's Err. Loop only.
func (r *Relay) Abort(err error, reset bool) { r.abort(err, reset) }

func (r *Relay) abort(err error, reset bool) {
	if r.ended {
		return
	}
	r.end(err, reset)
}

// end closes what is still open and tells the handler.
func (r *Relay) end(err error, reset bool) {
	r.ended, r.err = true, err
	r.loop.Stop(&r.idle)
	for i := range r.s {
		s := &r.s[i]
		s.drop()
		c := s.c
		if c == nil {
			continue
		}
		switch {
		case c.Kept():
			c.CloseKept(reset)
		case reset:
			c.Reset()
		default:
			c.Close(filterchain.CloseFlush)
		}
	}
	if r.h != nil {
		r.h.OnRelayEnd(r)
	}
}

var (
	_ conn.WritableListener  = (*side)(nil)
	_ conn.WatermarkListener = (*side)(nil)
	_ conn.TimerHandler      = (*Relay)(nil)
)
