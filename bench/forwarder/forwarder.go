package main

import (
	"context"
	"log"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

const (
	// dialTimeout bounds the upstream dial of each client connection.
	dialTimeout = 3 * time.Second
	// maxPending is how many client bytes may wait for the upstream to open;
	// one more and the client is closed.
	maxPending = 1 << 20
	// closeGrace is how long a connection whose peer has gone may keep
	// sending what gnet still holds for it before it is closed anyway.
	closeGrace = 10 * time.Second
	// drainEvery is how often connections waiting for that are checked.
	drainEvery = 10 * time.Millisecond
	// stopTimeout bounds the wait for the engine to stop.
	stopTimeout = 10 * time.Second
)

// options configures serve.
type options struct {
	addr     string // listen host:port, explicit port
	upstream string // upstream host:port
	loops    int    // event loops; 0 = runtime.NumCPU()
	// log receives dial failures and gnet's warnings and errors; nil means
	// stderr.
	log *log.Logger
	// dial opens an upstream connection; nil means a net.Dialer with
	// dialTimeout. Tests replace it to hold the upstream back.
	dial func() (net.Conn, error)
}

// serve runs the forwarder on opts.addr until ctx ends, then stops the
// engine and returns. ready, if not nil, is called once the listener is
// bound. Like gnet.Run, it returns nil when the engine stopped for an
// internal reason that gnet only logs.
func serve(ctx context.Context, opts options, ready func()) error {
	if opts.log == nil {
		opts.log = log.New(os.Stderr, "forwarder: ", log.LstdFlags)
	}
	if opts.dial == nil {
		d := &net.Dialer{Timeout: dialTimeout}
		opts.dial = func() (net.Conn, error) { return d.Dial("tcp", opts.upstream) }
	}
	loops := opts.loops
	if loops == 0 {
		loops = runtime.NumCPU()
	}
	f := &forwarder{opts: opts, ctx: ctx, ready: ready, stopped: make(chan struct{})}
	err := gnet.Run(f, "tcp://"+opts.addr,
		gnet.WithNumEventLoop(loops),
		gnet.WithReusePort(true),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{opts.log}))
	close(f.stopped)
	if f.watcher != nil {
		<-f.watcher
	}
	return err
}

// forwarder is the gnet event handler.
//
// Concurrency: the two connections of a link live on the same event loop,
// so link and end state is touched only there, without locks. mu guards
// only the drain queue, which the loops append to and the ticker
// goroutine empties.
type forwarder struct {
	gnet.BuiltinEventEngine

	opts    options
	ctx     context.Context // its end stops the engine
	ready   func()
	stopped chan struct{} // closed when gnet.Run has returned
	watcher chan struct{} // closed when the stopping goroutine has ended; set in OnBoot

	mu       sync.Mutex
	draining []drainer
}

// side tells the two connections of a link apart.
type side uint8

const (
	downstream side = iota // accepted from a client
	upstream               // dialed to the upstream
)

// link pairs a client connection with its upstream connection. Loop only.
type link struct {
	down, up gnet.Conn // open connections; nil before OnOpen and after OnClose
	dialing  bool      // the upstream is not open yet: keep the client's bytes
	pending  []byte    // client bytes that arrived while dialing (a copy)
}

// end is what each connection keeps in its Context. Loop only.
type end struct {
	l       *link
	side    side
	closed  bool      // OnClose ran: the gnet.Conn must not be touched (docs/gnet.md, "Writes after close reach whoever reuses the fd")
	closeBy time.Time // while draining: close at this time even if bytes are left
}

// peer returns the other connection of the link, or nil if it is not open.
func (e *end) peer() gnet.Conn {
	if e.side == downstream {
		return e.l.up
	}
	return e.l.down
}

// drainer is a connection whose peer has closed, waiting for gnet to send
// what it still holds for it.
type drainer struct {
	c    gnet.Conn
	e    *end
	loop gnet.EventLoop // c's loop, read on the loop when queued
}

// OnBoot starts the goroutine that stops the engine when the context ends,
// and reports readiness: the listener is bound by now. Run's goroutine.
func (f *forwarder) OnBoot(eng gnet.Engine) gnet.Action {
	f.watcher = make(chan struct{})
	go func() {
		defer close(f.watcher)
		select {
		case <-f.ctx.Done():
			// Stop returns once the engine is down, at once if it already
			// is. It is bounded: gnet never marks an engine whose start
			// failed after OnBoot as shutting down, and Stop would wait for
			// that forever.
			sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			_ = eng.Stop(sctx)
			cancel()
		case <-f.stopped:
		}
	}()
	if f.ready != nil {
		f.ready()
	}
	return gnet.None
}

// OnOpen starts the upstream dial for a new client connection, or finishes
// the link when the upstream connection opens: the bytes the client sent
// meanwhile are its first output. Loop only.
func (f *forwarder) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if e, ok := c.Context().(*end); ok { // the upstream, enrolled by dialUpstream
		l := e.l
		l.dialing = false
		if l.down == nil { // the client left while we dialed
			return nil, gnet.Close
		}
		l.up = c
		out := l.pending
		l.pending = nil
		return out, gnet.None // gnet writes out at once and keeps what the socket does not take
	}
	l := &link{down: c, dialing: true}
	c.SetContext(&end{l: l, side: downstream})
	go f.dialUpstream(c, c.EventLoop(), l)
	return nil, gnet.None
}

// dialUpstream dials the upstream for client down and enrolls the new
// connection on down's loop, whose OnOpen then completes link l. A failure
// closes the client. The dialer's goroutine; it touches no link state.
func (f *forwarder) dialUpstream(down gnet.Conn, loop gnet.EventLoop, l *link) {
	nc, err := f.opts.dial()
	if err != nil {
		f.opts.log.Printf("dial upstream: %v", err)
		_ = down.Close() // asynchronous, and a no-op if the client is gone
		return
	}
	ctx := gnet.NewContext(context.Background(), &end{l: l, side: upstream})
	res, err := loop.Enroll(ctx, nc)
	if err != nil {
		_ = nc.Close() // not enrolled: still ours
		_ = down.Close()
		return
	}
	// Enroll finishes on gnet's pool (it dups the fd and closes nc); a
	// failure there would otherwise leave the client waiting forever.
	select {
	case r := <-res:
		if r.Err != nil {
			f.opts.log.Printf("enroll upstream: %v", r.Err)
			_ = down.Close()
		}
	case <-f.stopped:
	}
}

// OnTraffic hands everything read on c to its peer with one Write, or keeps
// it while the upstream is still being dialed. Loop only.
func (f *forwarder) OnTraffic(c gnet.Conn) gnet.Action {
	e, ok := c.Context().(*end)
	if !ok {
		return gnet.Close
	}
	buf, _ := c.Peek(-1) // valid until Discard
	l := e.l
	if peer := e.peer(); peer != nil {
		// Write sends from buf directly and copies only what the socket
		// does not take, so buf may be discarded afterwards. On a write
		// error gnet has already closed peer (its OnClose ran).
		if _, err := peer.Write(buf); err != nil {
			return gnet.Close
		}
	} else if e.side == downstream && l.dialing {
		if len(l.pending)+len(buf) > maxPending {
			return gnet.Close
		}
		l.pending = append(l.pending, buf...)
	} // else the peer has gone and so will c: drop the bytes
	_, _ = c.Discard(len(buf))
	return gnet.None
}

// OnClose unlinks c and closes its peer once gnet has sent what it holds
// for it. It may run inside a peer's Write (docs/gnet.md, "Close inside a write"). Loop only.
func (f *forwarder) OnClose(c gnet.Conn, _ error) gnet.Action {
	e, ok := c.Context().(*end)
	if !ok {
		return gnet.None
	}
	e.closed = true
	peer := e.peer()
	if e.side == downstream {
		e.l.down, e.l.pending = nil, nil
	} else {
		e.l.up = nil
	}
	if peer != nil {
		f.closeAfterFlush(peer)
	}
	return gnet.None
}

// closeAfterFlush closes c now if gnet holds no output for it, else queues
// it for the drain checks that OnTick schedules. Loop only.
func (f *forwarder) closeAfterFlush(c gnet.Conn) {
	if c.OutboundBuffered() == 0 {
		_ = c.Close() // asynchronous: its OnClose runs later on this loop
		return
	}
	e := c.Context().(*end) // every open conn of ours has one
	e.closeBy = time.Now().Add(closeGrace)
	f.queueDrain(drainer{c: c, e: e, loop: c.EventLoop()})
}

// queueDrain adds d to the drain queue. Loop only.
func (f *forwarder) queueDrain(d drainer) {
	f.mu.Lock()
	f.draining = append(f.draining, d)
	f.mu.Unlock()
}

// OnTick runs a drain check for every queued connection on its own loop.
// The ticker goroutine: it touches only the queue and EventLoop.Execute.
func (f *forwarder) OnTick() (time.Duration, gnet.Action) {
	f.mu.Lock()
	batch := f.draining
	f.draining = nil
	f.mu.Unlock()
	for _, d := range batch {
		_ = d.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			f.drainCheck(d)
			return nil
		})) // fails only when the engine is stopping, which closes every conn anyway
	}
	return drainEvery, gnet.None
}

// drainCheck closes d's connection once its output is sent or its grace
// period is over, and queues it again otherwise. Loop only.
func (f *forwarder) drainCheck(d drainer) {
	switch {
	case d.e.closed: // its client or upstream closed it meanwhile
	case d.c.OutboundBuffered() == 0 || time.Now().After(d.e.closeBy):
		_ = d.loop.Close(d.c) // synchronous: OnClose runs now
	default:
		f.queueDrain(d)
	}
}

// gnetLogger passes gnet's warnings and errors to a log.Logger and drops
// its debug and info lines. gnet's default logger writes to stdout, where
// only "listening on ADDR" may appear.
type gnetLogger struct{ l *log.Logger }

func (g gnetLogger) Debugf(string, ...any)     {}
func (g gnetLogger) Infof(string, ...any)      {}
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Printf("gnet warn: "+f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Printf("gnet error: "+f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Fatalf("gnet fatal: "+f, a...) }

var _ gnet.EventHandler = (*forwarder)(nil)
