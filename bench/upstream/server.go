package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// closeGrace bounds how long a closing connection waits for its last
// response to leave gnet's outbound buffer before it is closed anyway.
const closeGrace = 10 * time.Second

// sweepEvery is how often loops with connections waiting to close are
// checked for a drained outbound buffer.
const sweepEvery = 5 * time.Millisecond

// Options configures a Server.
type Options struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:0".
	Addr string
	// Loops is the number of event loops; 0 means one per CPU.
	Loops int
	// ReusePort gives every loop its own SO_REUSEPORT listener. With port 0
	// the port is chosen once (bind, read, close) before the loops bind it.
	ReusePort bool
	// Logger receives gnet's warnings and errors; nil means stderr.
	Logger *log.Logger
	// MaxConns, when > 0, is the most connections kept open: one past it
	// is closed as soon as it is accepted. gnet stops the whole engine
	// when accept meets EMFILE (docs/gnet.md, "EMFILE kills the engine"),
	// so a budget below the descriptor limit keeps the origin alive when
	// every proxy in the benchmark holds its idle upstream connections.
	MaxConns int64
}

// Server is the benchmark origin. Create it with NewServer, call Run (which
// blocks) and Stop.
type Server struct {
	gnet.BuiltinEventEngine

	opts  Options
	resps *responses

	bootOnce sync.Once
	booted   chan struct{} // closed once OnBoot ran or Run failed
	mu       sync.Mutex    // guards the fields below
	eng      gnet.Engine
	addr     string
	runErr   error
	loops    map[gnet.EventLoop]*loopState

	open    atomic.Int64 // connections between OnOpen and OnClose
	refused atomic.Int64 // connections closed because open was at MaxConns
}

// Refused returns how many connections were closed at accept because the
// server held MaxConns already. Any goroutine.
func (s *Server) Refused() int64 { return s.refused.Load() }

// loopState tracks, per event loop, the connections that wait for their
// last response to be flushed before they are closed.
//
// Concurrency: closing is touched only on the loop (OnTraffic and the
// sweep that OnTick schedules with Execute); pending mirrors its length so
// the ticker goroutine can skip idle loops without a data race.
type loopState struct {
	closing []closer
	pending atomic.Int32
}

// closer is a connection waiting to close, with its state: once st.closed is
// set the gnet.Conn must not be touched (gnet may reuse it: docs/gnet.md, "Writes after close reach whoever reuses the fd").
type closer struct {
	c  gnet.Conn
	st *connState
}

// connState is the per-connection parser state kept in Conn.Context().
type connState struct {
	scanned  int       // bytes of the pending head already searched
	bodyLeft int64     // request body bytes still to discard
	closing  bool      // close once the outbound buffer is empty
	queued   bool      // registered with the loop's sweep
	closed   bool      // OnClose ran
	closeBy  time.Time // give up waiting for the flush at this time
	out      [][]byte  // responses batched for one Writev
}

// NewServer returns a server that is not running yet.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = log.New(os.Stderr, "upstream: ", log.LstdFlags)
	}
	return &Server{
		opts: opts, resps: newResponses(), booted: make(chan struct{}),
		loops: make(map[gnet.EventLoop]*loopState),
	}
}

// Run binds the listener and serves until Stop. It blocks. Any goroutine.
func (s *Server) Run() error {
	addr, err := s.resolveAddr()
	if err == nil {
		err = gnet.Run(s, "tcp://"+addr,
			gnet.WithMulticore(s.opts.Loops == 0),
			gnet.WithNumEventLoop(s.opts.Loops),
			gnet.WithReusePort(s.opts.ReusePort),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true),
			gnet.WithLogger(quietLogger{s.opts.Logger}))
	}
	if err != nil {
		err = fmt.Errorf("upstream: serve %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	s.runErr = err
	s.mu.Unlock()
	s.bootOnce.Do(func() { close(s.booted) })
	return err
}

// resolveAddr picks a concrete port for port 0 when ReusePort is on:
// otherwise every loop would bind its own random port.
func (s *Server) resolveAddr() (string, error) {
	host, port, err := net.SplitHostPort(s.opts.Addr)
	if err != nil {
		return "", fmt.Errorf("bad -addr %q: %w", s.opts.Addr, err)
	}
	if !s.opts.ReusePort || port != "0" {
		return s.opts.Addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	return addr, nil
}

// Addr waits until the listener is bound and returns its address.
// Any goroutine.
func (s *Server) Addr(ctx context.Context) (string, error) {
	select {
	case <-s.booted:
	case <-ctx.Done():
		return "", fmt.Errorf("upstream: wait for listener: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		if s.runErr != nil {
			return "", s.runErr
		}
		return "", errors.New("upstream: engine stopped before binding")
	}
	return s.addr, nil
}

// Stop shuts the engine down; it takes at least gnet's 500 ms poll
// interval. Any goroutine.
func (s *Server) Stop(ctx context.Context) error {
	if _, err := s.Addr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if err := eng.Stop(ctx); err != nil {
		return fmt.Errorf("upstream: stop: %w", err)
	}
	return nil
}

// OnBoot records the engine and the bound address. Run's goroutine.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	addr, err := listenerAddr(eng)
	s.mu.Lock()
	s.eng, s.addr, s.runErr = eng, addr, err
	s.mu.Unlock()
	s.bootOnce.Do(func() { close(s.booted) })
	if err != nil {
		return gnet.Shutdown
	}
	return gnet.None
}

// listenerAddr reads the bound address of the engine's listener.
func listenerAddr(eng gnet.Engine) (string, error) {
	fd, err := eng.Dup()
	if err != nil {
		return "", fmt.Errorf("upstream: dup listener: %w", err)
	}
	defer syscall.Close(fd) //nolint:errcheck // a dup we only read from
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return "", fmt.Errorf("upstream: getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	default:
		return "", fmt.Errorf("upstream: unexpected listener address %T", sa)
	}
}

// OnOpen attaches the parser state, or closes c at once when MaxConns
// connections are open already (OnClose still runs and counts it out).
// Loop only.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&connState{})
	if n := s.open.Add(1); s.opts.MaxConns > 0 && n > s.opts.MaxConns {
		s.refused.Add(1)
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnTraffic parses every complete request buffered on c and answers them
// with one Writev. Loop only.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	st, ok := c.Context().(*connState)
	if !ok {
		return gnet.Close
	}
	if !st.closing {
		s.serve(c, st)
		if len(st.out) > 0 {
			_, err := c.Writev(st.out)
			clear(st.out)
			st.out = st.out[:0]
			if err != nil {
				return gnet.Close
			}
		}
	}
	if st.closing {
		return s.drainThenClose(c, st)
	}
	return gnet.None
}

// OnClose marks the state so that a pending sweep forgets the conn. Loop only.
func (s *Server) OnClose(c gnet.Conn, _ error) gnet.Action {
	s.open.Add(-1)
	if st, ok := c.Context().(*connState); ok {
		st.closed = true
	}
	return gnet.None
}

// OnTick schedules a sweep on every loop that has connections waiting to
// close. Ticker goroutine.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for el, ls := range s.loops {
		if ls.pending.Load() > 0 {
			_ = el.Execute(context.Background(), gnet.RunnableFunc(ls.sweep)) // fails only at shutdown
		}
	}
	return sweepEvery, gnet.None
}

// serve consumes complete requests from c, queueing responses in st.out.
func (s *Server) serve(c gnet.Conn, st *connState) {
	for {
		if st.bodyLeft > 0 {
			n := min(int64(c.InboundBuffered()), st.bodyLeft)
			_, _ = c.Discard(int(n)) // n <= buffered, cannot fail
			if st.bodyLeft -= n; st.bodyLeft > 0 {
				return
			}
		}
		buf, _ := c.Peek(-1)
		if len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' { // RFC 9112 §2.2: ignore
			_, _ = c.Discard(2) // Discard invalidates buf: peek again
			continue
		}
		if len(buf) == 0 {
			return
		}
		n := headEnd(buf, &st.scanned)
		if n == 0 {
			if len(buf) > maxHead {
				s.fail(st, 431, "Request Header Fields Too Large")
			}
			return
		}
		if !s.answer(st, buf[:n]) {
			return
		}
		_, _ = c.Discard(n)
	}
}

// answer queues the response to one request head and reports whether the
// connection stays open for more requests.
func (s *Server) answer(st *connState, head []byte) bool {
	req, err := parseHead(head)
	switch {
	case errors.Is(err, errChunked):
		s.fail(st, 501, "Not Implemented")
		return false
	case err != nil:
		s.fail(st, 400, "Bad Request")
		return false
	}
	mode := modeKeep
	switch {
	case req.wantsClose():
		mode = modeClose
	case req.http10:
		mode = modeKeep10
	}
	if size, ok := bodySize(req.path); ok {
		st.out = append(st.out, s.resps.ok(size, mode, req.head))
	} else {
		st.out = append(st.out, errorResponse(404, "Not Found", mode))
	}
	st.bodyLeft = req.contentLength
	if mode == modeClose {
		st.closing, st.closeBy = true, time.Now().Add(closeGrace)
		return false
	}
	return true
}

// fail queues an error response and marks the connection for closing.
func (s *Server) fail(st *connState, status int, reason string) {
	st.out = append(st.out, errorResponse(status, reason, modeClose))
	st.closing, st.closeBy = true, time.Now().Add(closeGrace)
}

// drainThenClose discards further input and closes c if its outbound
// buffer is empty. Otherwise it hands c to the loop's sweep: gnet drops
// unsent bytes on close (docs/gnet.md, "Unsent bytes are dropped on close") and has no "drained" callback.
// (Re-arming with Wake instead starves gnet's own flush on that loop.)
// Loop only.
func (s *Server) drainThenClose(c gnet.Conn, st *connState) gnet.Action {
	if n := c.InboundBuffered(); n > 0 {
		_, _ = c.Discard(n) // n == buffered, cannot fail
	}
	if c.OutboundBuffered() == 0 {
		return gnet.Close
	}
	if !st.queued {
		st.queued = true
		ls := s.loopState(c.EventLoop())
		ls.closing = append(ls.closing, closer{c: c, st: st})
		ls.pending.Add(1)
	}
	return gnet.None
}

// loopState returns the sweep state of el, creating it on first use.
// Any goroutine.
func (s *Server) loopState(el gnet.EventLoop) *loopState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, ok := s.loops[el]
	if !ok {
		ls = &loopState{}
		s.loops[el] = ls
	}
	return ls
}

// sweep closes the waiting connections whose output has drained or whose
// grace period is over. Loop only (run through EventLoop.Execute).
func (ls *loopState) sweep(context.Context) error {
	now := time.Now()
	keep := ls.closing[:0]
	for _, w := range ls.closing {
		switch {
		case w.st.closed:
		case w.c.OutboundBuffered() == 0 || now.After(w.st.closeBy):
			_ = w.c.EventLoop().Close(w.c) // runs OnClose; errors only for stale conns
		default:
			keep = append(keep, w)
		}
	}
	clear(ls.closing[len(keep):])
	ls.closing = keep
	ls.pending.Store(int32(len(keep)))
	return nil
}

// quietLogger forwards gnet's warnings and errors and drops the rest.
type quietLogger struct{ l *log.Logger }

func (q quietLogger) Debugf(string, ...any) {}
func (q quietLogger) Infof(string, ...any)  {}
func (q quietLogger) Warnf(f string, a ...any) {
	q.l.Printf("gnet warn: "+f, a...)
}
func (q quietLogger) Errorf(f string, a ...any) {
	q.l.Printf("gnet error: "+f, a...)
}
func (q quietLogger) Fatalf(f string, a ...any) {
	q.l.Fatalf("gnet fatal: "+f, a...)
}

var _ gnet.EventHandler = (*Server)(nil)
