package conn

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Detached loops and connections have no gnet engine behind them. They let
// the layers above conn (upstream pools with a fake Dialer, filters) be
// unit-tested on one goroutine that plays the event loop with RunDetached.
// Production code never creates them.

// errDetached is what a detached loop answers to gnet operations it cannot
// perform.
var errDetached = errors.New("conn: detached loop has no gnet engine")

// NewDetachedLoop returns a Loop with no gnet loop behind it. Its Execute
// queues the function until RunDetached runs it; gnet's Enroll and
// Register fail, so a TCPDialer cannot use it.
func NewDetachedLoop(index int, tracker *Tracker, opts *Options) *Loop {
	return NewLoop(&detachedLoop{}, index, tracker, opts)
}

// NewDetachedConn returns an open Conn on detached loop l, as if a socket
// had just opened there; as for New, the caller reserved it in l.Tracker.
// Writes are taken whole and dropped, nothing is ever read, and a close
// completes (OnClose, which releases the socket) at the next RunDetached,
// as gnet's OnClose follows a close on the loop. Loop only.
func NewDetachedConn(l *Loop, upstream bool) *Conn {
	return New(&detachedSocket{loop: detachedOf(l)}, l, upstream)
}

// RunDetached plays detached loop l: it runs the functions queued by
// Execute and completes requested closes, in order, until none is left,
// and returns how many it ran. Call it from the goroutine that plays the
// loop.
func RunDetached(l *Loop) int {
	dl := detachedOf(l)
	n := 0
	for {
		dl.mu.Lock()
		q := dl.queue
		dl.queue = nil
		dl.mu.Unlock()
		if len(q) == 0 {
			return n
		}
		for _, fn := range q {
			l.Refresh()
			fn()
			n++
		}
	}
}

func detachedOf(l *Loop) *detachedLoop {
	dl, ok := l.EL.(*detachedLoop)
	if !ok {
		panic("conn: not a detached loop")
	}
	return dl
}

// detachedLoop is the gnet.EventLoop of a detached Loop.
type detachedLoop struct {
	mu    sync.Mutex
	queue []func()
}

func (dl *detachedLoop) post(fn func()) {
	dl.mu.Lock()
	dl.queue = append(dl.queue, fn)
	dl.mu.Unlock()
}

func (dl *detachedLoop) Register(context.Context, net.Addr) (<-chan gnet.RegisteredResult, error) {
	return nil, errDetached
}

func (dl *detachedLoop) Enroll(context.Context, net.Conn) (<-chan gnet.RegisteredResult, error) {
	return nil, errDetached
}

func (dl *detachedLoop) Execute(ctx context.Context, r gnet.Runnable) error {
	dl.post(func() { _ = r.Run(ctx) })
	return nil
}

func (dl *detachedLoop) Schedule(context.Context, gnet.Runnable, time.Duration) error {
	return errDetached
}

func (dl *detachedLoop) Close(gnet.Conn) error { return errDetached }

// detachedSocket is the gnet.Conn of a detached Conn: the methods Conn
// uses. The embedded interface is nil, so any other method panics.
type detachedSocket struct {
	gnet.Conn
	loop   *detachedLoop
	ctx    any
	closed bool
}

func (s *detachedSocket) conn() *Conn { c, _ := s.ctx.(*Conn); return c }

func (s *detachedSocket) Context() any                { return s.ctx }
func (s *detachedSocket) SetContext(ctx any)          { s.ctx = ctx }
func (s *detachedSocket) EventLoop() gnet.EventLoop   { return s.loop }
func (s *detachedSocket) LocalAddr() net.Addr         { return nil }
func (s *detachedSocket) RemoteAddr() net.Addr        { return nil }
func (s *detachedSocket) Fd() int                     { return -1 }
func (s *detachedSocket) SetLinger(int) error         { return nil }
func (s *detachedSocket) InboundBuffered() int        { return 0 }
func (s *detachedSocket) OutboundBuffered() int       { return 0 }
func (s *detachedSocket) Peek(int) ([]byte, error)    { return nil, nil }
func (s *detachedSocket) Discard(int) (int, error)    { return 0, nil }
func (s *detachedSocket) Write(p []byte) (int, error) { return s.take(len(p)) }
func (s *detachedSocket) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return s.take(n)
}

func (s *detachedSocket) take(n int) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return n, nil
}

// Close queues the close; RunDetached completes it with OnClose.
func (s *detachedSocket) Close() error {
	s.loop.post(s.finish)
	return nil
}

// Wake queues a read event over no new input, as gnet's Wake does.
func (s *detachedSocket) Wake(gnet.AsyncCallback) error {
	s.loop.post(func() {
		if c := s.conn(); c != nil && !s.closed && c.OnTraffic() == gnet.Close {
			s.finish()
		}
	})
	return nil
}

func (s *detachedSocket) finish() {
	if s.closed {
		return
	}
	s.closed = true
	if c := s.conn(); c != nil {
		c.OnClose()
	}
}
