package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ErrDialerBusy is returned by TCPDialer.Dial when no worker is free to
// run the dial.
var ErrDialerBusy = errors.New("conn: no worker free to dial")

// DialHandler hears how one Dial ended. Its methods run on the loop the
// dial was for, never inside Dial. Loop only.
type DialHandler interface {
	// OnDialed hands over c, open on the loop. The handler owns it from
	// then on, closing included; the close releases the socket's place in
	// the loop's Tracker.
	OnDialed(c *Conn)
	// OnDialFailed says no connection will come, and why. The socket's
	// place in the Tracker has been given back.
	OnDialFailed(err error)
}

// Dialer opens upstream connections on a given loop, so that an upstream
// and the downstream that wanted it share the loop and forward with plain
// writes (docs/life-of-a-request.md).
//
// The completion is delivered on the loop rather than returned, so that
// what happens between the socket opening and the caller hearing of it is
// the dialer's business. That is where TLS to upstreams plugs in: a TLS
// dialer in this package reuses TCPDialer's connect and enroll, and its
// Outbound wraps the socket before the Conn is built over it (as
// TLSServer's TLSConn does for accepted sockets, conn/tls.go), runs the
// handshake, and only then calls the caller's OnDialed, or closes the Conn
// and calls OnDialFailed. The caller's Dial does not change.
type Dialer interface {
	// Dial starts connecting to addr ("host:port") for loop l. timeout
	// bounds the connect and must be positive. Dial never blocks and never
	// calls h itself. After a nil return exactly one of h.OnDialed and
	// h.OnDialFailed runs later on l, unless the engine stops first (call
	// Quiesce before stopping it). An error means nothing was started and
	// h hears nothing: ErrBudget when l.Tracker has no socket to spare,
	// ErrDialerBusy when no worker is free. Any goroutine.
	Dial(l *Loop, addr string, timeout time.Duration, h DialHandler) error
	// Quiesce waits until no dial is in flight, or ctx ends. Call it
	// before stopping the engine: gnet's Enroll strands its goroutine when
	// the engine stops before the loop registers the socket. Any
	// goroutine.
	Quiesce(ctx context.Context) error
}

// TCPDialerOptions configures a TCPDialer.
type TCPDialerOptions struct {
	// Submit runs a function on a worker. It must not block: it fails when
	// no worker is free, and Dial then returns ErrDialerBusy. Required.
	Submit func(func()) error
	// KeepAlive is the TCP keep-alive period of dialled sockets, as
	// net.Dialer.KeepAlive: zero is Go's default (15s), negative is off.
	KeepAlive time.Duration
}

// TCPDialer is the plain TCP Dialer. A worker connects with a net.Dialer
// bounded by the timeout (gnet's own Register dials with no timeout), then
// enrolls the socket into the loop (gnet's EventLoop.Enroll), whose OnOpen
// wraps it in a Conn and hands it to the handler. The worker waits for the
// enroll's result, never a loop: registration runs on the loop, so a loop
// waiting for it would deadlock.
type TCPDialer struct {
	nd     net.Dialer
	submit func(func()) error
	// inflight counts dials between Dial and the end of their worker
	// (connect plus the wait for the enroll), for Quiesce.
	inflight atomic.Int64
}

// NewTCPDialer returns a TCPDialer. It fails when Submit is missing.
func NewTCPDialer(o TCPDialerOptions) (*TCPDialer, error) {
	if o.Submit == nil {
		return nil, errors.New("conn: TCPDialerOptions.Submit is required")
	}
	return &TCPDialer{nd: net.Dialer{KeepAlive: o.KeepAlive}, submit: o.Submit}, nil
}

// Dial implements Dialer. It reserves the socket in l.Tracker before
// anything else, so that a dial never passes the process's socket budget.
func (d *TCPDialer) Dial(l *Loop, addr string, timeout time.Duration, h DialHandler) error {
	return d.start(l, addr, timeout, h, nil)
}

// start is Dial, for a TLSDialer too: with td set, the socket is wrapped
// in TLS when it opens (tls_client.go).
func (d *TCPDialer) start(l *Loop, addr string, timeout time.Duration, h DialHandler, td *tlsDial) error {
	if timeout <= 0 {
		return fmt.Errorf("conn: dial %s: timeout %v is not positive", addr, timeout)
	}
	if err := l.Tracker.Acquire(0); err != nil {
		return err
	}
	dl := &dial{d: d, loop: l, addr: addr, timeout: timeout, h: h, tls: td}
	d.inflight.Add(1)
	if err := d.submit(dl.run); err != nil {
		d.inflight.Add(-1)
		l.Tracker.Release()
		return fmt.Errorf("%w: %w", ErrDialerBusy, err)
	}
	return nil
}

// InFlight is the number of dials whose worker has not finished. Any
// goroutine.
func (d *TCPDialer) InFlight() int64 { return d.inflight.Load() }

// Quiesce implements Dialer.
func (d *TCPDialer) Quiesce(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for d.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("conn: %d dials still in flight: %w", d.inflight.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// dial is one TCPDialer.Dial in flight. It is also the gnet context of the
// enrolled socket (an Outbound), so the loop's OnOpen finds it.
type dial struct {
	d       *TCPDialer
	loop    *Loop
	addr    string
	timeout time.Duration
	h       DialHandler
	// tls, when set, makes the socket a TLS client's when it opens.
	tls *tlsDial
	// opened is set by Open, on the loop. The worker reads it once the
	// enroll result arrived, which gnet sends after the loop ran OnOpen.
	opened atomic.Bool
}

// run connects and enrolls, on a worker.
func (dl *dial) run() {
	defer dl.d.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), dl.timeout)
	defer cancel()
	nc, err := dl.d.nd.DialContext(ctx, "tcp", dl.addr)
	if err == nil {
		err = dl.enroll(ctx, nc)
	}
	if err == nil {
		return // Open delivers the connection on the loop
	}
	dl.loop.Tracker.Release()
	if xerr := dl.loop.Execute(func() { dl.h.OnDialFailed(err) }); xerr != nil {
		return // the engine is stopping; nobody waits any more
	}
}

// enroll adds nc to the loop and waits, on the worker, for gnet to
// register it. A nil error means Open has run or will run.
func (dl *dial) enroll(ctx context.Context, nc net.Conn) error {
	ch, err := dl.loop.EL.Enroll(gnet.NewContext(context.Background(), Outbound(dl)), nc)
	if err != nil {
		_ = nc.Close() // gnet took nothing: the socket is still ours
		return fmt.Errorf("enroll: %w", err)
	}
	// From here gnet owns the socket (it dups the fd and closes nc): we
	// never touch nc again, so nothing of ours can write to a reused fd.
	select {
	case res := <-ch:
		if res.Err != nil {
			return fmt.Errorf("enroll: %w", res.Err)
		}
		if !dl.opened.Load() {
			// gnet reports success even when the loop could not add the
			// socket to its poller: it closed the fd and never ran OnOpen.
			return errors.New("enroll: the loop did not register the socket")
		}
		return nil
	case <-ctx.Done():
		// The loop has not registered the socket yet; gnet still owns it
		// and will open it, and Open then delivers it late. (Should the
		// loop's poller then refuse it, gnet closes it without OnOpen and
		// nobody hears of this dial: its place in the tracker and its
		// handler's count stay taken. Waiting longer here would hold the
		// worker, and Quiesce, for as long as the loop does not answer.)
		return nil
	}
}

// Open implements Outbound: the enrolled socket opened on the loop.
func (dl *dial) Open(gc gnet.Conn, l *Loop) gnet.Action {
	dl.opened.Store(true)
	if dl.tls != nil {
		return dl.tls.open(gc, l, dl.addr, dl.h)
	}
	c := New(gc, l, true)
	return c.RunInCallback(func() { dl.h.OnDialed(c) })
}

// Outbound is the gnet context (gnet.NewContext) of an upstream socket a
// Dialer enrolls into a loop. When the socket opens there, the event
// handler calls Open, from gnet's OnOpen: the dialer builds the Conn over
// the socket (wrapping it first if its protocol needs to) and hands it to
// whoever dialled. A close requested inside Open is Open's return value,
// as for any callback of the Conn (RunInCallback). Loop only.
type Outbound interface {
	Open(gc gnet.Conn, l *Loop) gnet.Action
}

var _ Dialer = (*TCPDialer)(nil)
