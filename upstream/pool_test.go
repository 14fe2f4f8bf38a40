package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// The pool's tests play the event loops themselves: loops and connections
// are conn's detached ones, and fakeDialer completes each dial when the
// test says so, on the dial's loop, as a conn.Dialer must.

// handler is the protocol handler OnConnect attaches in these tests.
type handler struct{ c *conn.Conn }

type testConn = PooledConn[*handler]

// pendingDial is one fakeDialer.Dial waiting for the test's verdict.
type pendingDial struct {
	l       *conn.Loop
	addr    string
	timeout time.Duration
	h       conn.DialHandler
}

// fakeDialer is a conn.Dialer whose dials end when the test ends them.
type fakeDialer struct {
	t       *testing.T
	pending []pendingDial
	// refuse, when set, is what Dial returns (nothing is started).
	refuse error
}

func (d *fakeDialer) Dial(l *conn.Loop, addr string, timeout time.Duration, h conn.DialHandler) error {
	if d.refuse != nil {
		return d.refuse
	}
	if err := l.Tracker.Acquire(0); err != nil {
		return err
	}
	d.pending = append(d.pending, pendingDial{l: l, addr: addr, timeout: timeout, h: h})
	return nil
}

// Quiesce reports the dials the test has not ended as in flight.
func (d *fakeDialer) Quiesce(context.Context) error {
	if n := len(d.pending); n > 0 {
		return fmt.Errorf("%d dials in flight", n)
	}
	return nil
}

func (d *fakeDialer) next() pendingDial {
	d.t.Helper()
	if len(d.pending) == 0 {
		d.t.Fatal("no dial in flight")
	}
	pd := d.pending[0]
	d.pending = d.pending[1:]
	return pd
}

// succeed ends the oldest dial with a new connection, delivered on its
// loop, and returns the connection.
func (d *fakeDialer) succeed() *conn.Conn {
	d.t.Helper()
	pd := d.next()
	var c *conn.Conn
	_ = pd.l.Execute(func() {
		c = conn.NewDetachedConn(pd.l, true)
		pd.h.OnDialed(c)
	})
	conn.RunDetached(pd.l)
	return c
}

// fail ends the oldest dial with err, delivered on its loop.
func (d *fakeDialer) fail(err error) {
	d.t.Helper()
	pd := d.next()
	pd.l.Tracker.Release()
	_ = pd.l.Execute(func() { pd.h.OnDialFailed(err) })
	conn.RunDetached(pd.l)
}

// client is a request waiting on a pool or a mux pool: it gets a
// connection (pc), a stream slot (mc) or an error, once.
type client struct {
	pc  *testConn
	mc  *muxConn
	err error
}

// serve fails the test (a panic) if c was served before.
func (c *client) serve() {
	if c.pc != nil || c.mc != nil || c.err != nil {
		panic("client served twice")
	}
}

func (c *client) OnPoolReady(pc *testConn) { c.serve(); c.pc = pc }
func (c *client) OnPoolFailure(err error)  { c.serve(); c.err = err }
func (c *client) OnMuxReady(mc *muxConn)   { c.serve(); c.mc = mc }
func (c *client) OnMuxFailure(err error)   { c.serve(); c.err = err }

// poolEnv is a cluster of hosts, a pool manager over a fakeDialer and
// detached loops.
type poolEnv struct {
	t       *testing.T
	clus    *Manager
	d       *fakeDialer
	m       *PoolManager[*handler]
	tracker *conn.Tracker
	loops   []*conn.Loop
	// handlers counts OnConnect calls.
	handlers int
}

func newPoolEnv(t *testing.T, loops int, spec ClusterSpec) *poolEnv {
	t.Helper()
	e := &poolEnv{t: t, clus: NewManager(), d: &fakeDialer{t: t}, tracker: conn.NewTracker(0)}
	if err := e.clus.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	opts := conn.DefaultOptions(conn.Options{})
	for i := range loops {
		e.loops = append(e.loops, conn.NewDetachedLoop(i, e.tracker, opts))
	}
	m, err := NewPoolManager(PoolManagerOptions[*handler]{
		Loops: loops, Dialer: e.d, Clusters: e.clus,
		OnConnect: func(pc *testConn) *handler {
			e.handlers++
			return &handler{c: pc.C}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	return e
}

func (e *poolEnv) cluster() *Cluster { return e.clus.Get("c") }

// host is the cluster's host at addr.
func (e *poolEnv) host(addr string) *Host {
	e.t.Helper()
	for _, h := range e.cluster().Hosts() {
		if h.Address() == addr {
			return h
		}
	}
	e.t.Fatalf("no host %s", addr)
	return nil
}

func (e *poolEnv) pool(loop int, addr string) *ConnPool[*handler] {
	return e.m.Pool(e.loops[loop], e.cluster(), e.host(addr))
}

// checkout acquires from p and ends the dial it starts, if any; the
// client must then hold a connection.
func (e *poolEnv) checkout(p *ConnPool[*handler]) *testConn {
	e.t.Helper()
	cl := &client{}
	p.Acquire(cl)
	if cl.pc == nil && cl.err == nil {
		e.d.succeed()
	}
	if cl.pc == nil {
		e.t.Fatalf("no connection: %v", cl.err)
	}
	return cl.pc
}

func TestPoolCheckoutDialsThenReuses(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), ConnectTimeout: 2 * time.Second})
	p := e.pool(0, "10.0.0.1:80")
	cl := &client{}
	p.Acquire(cl)
	if cl.pc != nil || cl.err != nil {
		t.Fatal("an empty pool answered before its dial ended")
	}
	if len(e.d.pending) != 1 || p.Pending() != 1 || p.Connecting() != 1 {
		t.Fatalf("%d dials, %d pending, %d connecting; want 1 each", len(e.d.pending), p.Pending(), p.Connecting())
	}
	if err := e.m.Quiesce(context.Background()); err == nil {
		t.Fatal("Quiesce returned with a dial in flight")
	}
	pd := e.d.pending[0]
	if pd.addr != "10.0.0.1:80" || pd.timeout != 2*time.Second || pd.l != e.loops[0] {
		t.Fatalf("dialled %s (timeout %v) for loop %p; want 10.0.0.1:80, 2s, loop 0", pd.addr, pd.timeout, pd.l)
	}
	c := e.d.succeed()
	if err := e.m.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cl.pc == nil || cl.pc.C != c {
		t.Fatal("the dialled connection did not reach the waiting client")
	}
	pc := cl.pc
	if pc.Handler == nil || pc.Handler.c != c || e.handlers != 1 {
		t.Fatalf("handler %+v after %d OnConnect calls; want one built for the connection", pc.Handler, e.handlers)
	}
	if pc.Host() != e.host("10.0.0.1:80") || pc.Reused() || p.Active() != 1 || p.Pending() != 0 || p.Connecting() != 0 {
		t.Fatalf("host %v reused %v active %d pending %d connecting %d", pc.Host(), pc.Reused(), p.Active(), p.Pending(), p.Connecting())
	}
	pc.Release(true)
	if p.Idle() != 1 || p.Active() != 0 {
		t.Fatalf("after release: %d idle, %d active; want 1, 0", p.Idle(), p.Active())
	}
	again := &client{}
	p.Acquire(again)
	if again.pc != pc || len(e.d.pending) != 0 {
		t.Fatal("a second request did not get the idle connection at once")
	}
	if !pc.Reused() || pc.Requests != 2 || e.handlers != 1 {
		t.Fatalf("reused %v, %d requests, %d handlers; want true, 2, 1", pc.Reused(), pc.Requests, e.handlers)
	}
	if got := e.host("10.0.0.1:80").Conns(); got != 1 || e.tracker.Open() != 1 {
		t.Fatalf("host counts %d connections, tracker %d sockets; want 1, 1", got, e.tracker.Open())
	}
	pc.Release(false) // an exchange that left the connection unusable
	conn.RunDetached(e.loops[0])
	if !c.Gone() || p.Idle() != 0 || e.host("10.0.0.1:80").Conns() != 0 || e.tracker.Open() != 0 {
		t.Fatalf("after a release as not reusable: gone %v, %d idle, host %d, tracker %d",
			c.Gone(), p.Idle(), e.host("10.0.0.1:80").Conns(), e.tracker.Open())
	}
}

func TestPoolReusesIdleOldestFirst(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80")})
	p := e.pool(0, "10.0.0.1:80")
	var held []*testConn
	for range 4 {
		held = append(held, e.checkout(p))
	}
	order := []int{2, 0, 3, 1}
	for _, i := range order {
		held[i].Release(true)
	}
	for n, i := range order {
		if got := e.checkout(p); got != held[i] {
			t.Fatalf("checkout %d got connection %d, want %d (the oldest idle)", n, index(held, got), i)
		}
	}
	if len(e.d.pending) != 0 {
		t.Fatalf("%d dials while idle connections were there", len(e.d.pending))
	}
}

func index(pcs []*testConn, pc *testConn) int {
	for i, p := range pcs {
		if p == pc {
			return i
		}
	}
	return -1
}

func TestPoolMaxConnsPerHost(t *testing.T) {
	e := newPoolEnv(t, 2, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), MaxConnsPerHost: 2})
	h := e.host("10.0.0.1:80")
	p0 := e.pool(0, "10.0.0.1:80")
	a, b, w := &client{}, &client{}, &client{}
	p0.Acquire(a)
	p0.Acquire(b)
	p0.Acquire(w)
	if len(e.d.pending) != 2 || h.Conns() != 2 || p0.Pending() != 3 {
		t.Fatalf("%d dials, host %d connections, %d pending; want 2, 2, 3", len(e.d.pending), h.Conns(), p0.Pending())
	}
	e.d.succeed()
	e.d.succeed()
	if a.pc == nil || b.pc == nil || w.pc != nil || w.err != nil {
		t.Fatal("want the first two served and the third waiting")
	}
	// Another loop holds nothing that could come back to it: it fails at
	// once instead of waiting for its timeout.
	other := &client{}
	e.pool(1, "10.0.0.1:80").Acquire(other)
	if !errors.Is(other.err, ErrPoolOverflow) {
		t.Fatalf("other loop at the host limit: %v, want ErrPoolOverflow", other.err)
	}
	a.pc.Release(true) // served to the waiter, not parked
	if w.pc != a.pc || p0.Idle() != 0 {
		t.Fatalf("waiter got %p (want %p), %d idle", w.pc, a.pc, p0.Idle())
	}
	if h.Conns() != 2 || len(e.d.pending) != 0 {
		t.Fatalf("host %d connections, %d dials; the limit is 2", h.Conns(), len(e.d.pending))
	}
}

func TestPoolPendingBound(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), Breakers: Thresholds{MaxPendingRequests: 2}})
	p := e.pool(0, "10.0.0.1:80")
	a, b, c := &client{}, &client{}, &client{}
	p.Acquire(a)
	p.Acquire(b)
	p.Acquire(c)
	var le *LimitError
	if !errors.As(c.err, &le) || le.What != "max_pending_requests" || le.Max != 2 || !errors.Is(c.err, ErrPoolOverflow) || a.err != nil || b.err != nil {
		t.Fatalf("third request past max_pending_requests 2: %v (first two: %v, %v)", c.err, a.err, b.err)
	}
	if brk := e.cluster().Breaker(); brk.Open(LimitPending) != 2 || brk.Overflows(LimitPending) != 1 {
		t.Fatalf("breaker: %d pending, %d overflows; want 2, 1", brk.Open(LimitPending), brk.Overflows(LimitPending))
	}
	if p.Pending() != 2 || len(e.d.pending) != 2 {
		t.Fatalf("%d pending, %d dials; want 2, 2", p.Pending(), len(e.d.pending))
	}
	p.Cancel(a) // its request went away: room for one more
	d := &client{}
	p.Acquire(d)
	if d.err != nil || p.Pending() != 2 {
		t.Fatalf("after a cancel: %v, %d pending", d.err, p.Pending())
	}
	if len(e.d.pending) != 2 {
		t.Fatalf("%d dials for 2 waiters with 2 in flight, want no new one", len(e.d.pending))
	}
	e.d.succeed()
	e.d.succeed()
	if a.pc != nil || b.pc == nil || d.pc == nil {
		t.Fatal("want the cancelled request skipped and the others served in order")
	}
}

func TestPoolDialFailure(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80")})
	h := e.host("10.0.0.1:80")
	p := e.pool(0, "10.0.0.1:80")
	cl := &client{}
	p.Acquire(cl)
	refused := errors.New("connection refused")
	e.d.fail(refused)
	if !errors.Is(cl.err, ErrConnectFailed) || !errors.Is(cl.err, refused) || !strings.Contains(cl.err.Error(), "10.0.0.1:80") {
		t.Fatalf("failure %v: want ErrConnectFailed naming the host and the cause", cl.err)
	}
	if h.ConnectFailures() != 1 || h.Conns() != 0 || p.Connecting() != 0 || p.Pending() != 0 || e.tracker.Open() != 0 {
		t.Fatalf("failures %d, host %d, connecting %d, pending %d, tracker %d; want 1, 0, 0, 0, 0",
			h.ConnectFailures(), h.Conns(), p.Connecting(), p.Pending(), e.tracker.Open())
	}

	// Dials the dialer refuses to start fail the request at once.
	// Dials the process refuses (no worker, no socket) leave the request
	// waiting: the redial timer dials again.
	for _, refuse := range []error{conn.ErrDialerBusy, conn.ErrBudget} {
		e.d.refuse = refuse
		cl := &client{}
		p.Acquire(cl)
		if cl.err != nil || p.Pending() != 1 || !p.redialT.Armed() {
			t.Fatalf("dialer refusing with %v: %v, %d pending, redial armed %v; want waiting, 1, true", refuse, cl.err, p.Pending(), p.redialT.Armed())
		}
		if h.Conns() != 0 || p.Connecting() != 0 || e.tracker.Open() != 0 {
			t.Fatalf("after %v: host %d, connecting %d, tracker %d", refuse, h.Conns(), p.Connecting(), e.tracker.Open())
		}
		e.d.refuse = nil
		e.loops[0].Stop(&p.redialT)
		(*poolRedial[*handler])(p).OnTimer(&p.redialT) // the timer fires
		e.d.succeed()
		if cl.pc == nil {
			t.Fatalf("after %v: the redial did not serve the waiter", refuse)
		}
		cl.pc.C.Close(0)
		cl.pc.Release(false)
		conn.RunDetached(e.loops[0])
	}
	if h.ConnectFailures() != 1 {
		t.Fatalf("%d connect failures; a dial never started is not one", h.ConnectFailures())
	}
}

// TestHostRemovalClosesIdleConnsOnEveryLoop reloads a cluster without one
// of its hosts: every loop closes that host's idle connections, and keeps
// none of its connections from then on; the other host is untouched.
func TestHostRemovalClosesIdleConnsOnEveryLoop(t *testing.T) {
	spec := ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80", "10.0.0.2:80")}
	e := newPoolEnv(t, 2, spec)
	gone, kept := e.host("10.0.0.1:80"), e.host("10.0.0.2:80")
	var goneIdle, keptIdle []*testConn
	var lent *testConn
	for i := range e.loops {
		pg, pk := e.pool(i, gone.Address()), e.pool(i, kept.Address())
		a, b, k := e.checkout(pg), e.checkout(pg), e.checkout(pk)
		if i == 0 {
			lent = e.checkout(pg)
		}
		a.Release(true)
		b.Release(true)
		k.Release(true)
		goneIdle = append(goneIdle, a, b)
		keptIdle = append(keptIdle, k)
	}
	before := e.m.Pool(e.loops[1], e.cluster(), gone)
	if gone.Conns() != 5 || e.tracker.Open() != 7 {
		t.Fatalf("host %d connections, tracker %d; want 5, 7", gone.Conns(), e.tracker.Open())
	}

	spec.Hosts = hosts("10.0.0.2:80")
	if err := e.clus.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	if !gone.Removed() || kept.Removed() {
		t.Fatal("Removed is wrong after the reload")
	}
	for _, pc := range goneIdle {
		if pc.C.Closed() {
			t.Fatal("a connection closed off its loop: the removal must run on the loops")
		}
	}
	for _, l := range e.loops {
		conn.RunDetached(l)
	}
	for i, pc := range goneIdle {
		if !pc.C.Gone() {
			t.Fatalf("idle connection %d (loop %d) of the removed host is still open", i, i/2)
		}
	}
	for i, pc := range keptIdle {
		if pc.C.Closed() {
			t.Fatalf("idle connection of the kept host on loop %d was closed", i)
		}
	}
	if before.Idle() != 0 || gone.Conns() != 1 || e.tracker.Open() != 3 {
		t.Fatalf("%d idle, host %d connections, tracker %d; want 0, 1 (lent out), 3", before.Idle(), gone.Conns(), e.tracker.Open())
	}

	// The connection lent out finishes its request and is closed, not
	// parked.
	lent.Release(true)
	conn.RunDetached(e.loops[0])
	if !lent.C.Gone() || gone.Conns() != 0 {
		t.Fatalf("lent-out connection after release: gone %v, host %d connections", lent.C.Gone(), gone.Conns())
	}
	// A request that picked the host before the reload still gets served,
	// by a pool that is not kept and keeps nothing.
	late := e.m.Pool(e.loops[1], e.cluster(), gone)
	if late == before || e.m.Pool(e.loops[1], e.cluster(), gone) == late {
		t.Fatal("a removed host's pool was kept")
	}
	pc := e.checkout(late)
	pc.Release(true)
	conn.RunDetached(e.loops[1])
	if !pc.C.Gone() || late.Idle() != 0 || gone.Conns() != 0 || e.tracker.Open() != 2 {
		t.Fatalf("late connection: gone %v, %d idle, host %d, tracker %d; want closed and counted out",
			pc.C.Gone(), late.Idle(), gone.Conns(), e.tracker.Open())
	}
}

func TestIdleTimeoutClosesPooledConn(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), IdleTimeout: time.Second})
	p := e.pool(0, "10.0.0.1:80")
	pc := e.checkout(p)
	pc.Release(true)
	if p.Idle() != 1 || e.loops[0].Timers() != 1 {
		t.Fatalf("%d idle, %d timers; want 1, 1", p.Idle(), e.loops[0].Timers())
	}
	pc.OnTimer(&pc.idleT) // as the wheel does at the timeout
	conn.RunDetached(e.loops[0])
	if !pc.C.Gone() || p.Idle() != 0 || e.loops[0].Timers() != 0 || e.host("10.0.0.1:80").Conns() != 0 {
		t.Fatalf("gone %v, %d idle, %d timers, host %d", pc.C.Gone(), p.Idle(), e.loops[0].Timers(), e.host("10.0.0.1:80").Conns())
	}
}

// TestNewManagersNameMissingOption: both managers refuse a missing
// required option, each naming itself and the option (checkManager).
func TestNewManagersNameMissingOption(t *testing.T) {
	pool := PoolManagerOptions[*handler]{Loops: 1, Dialer: &fakeDialer{t: t}, OnConnect: func(*testConn) *handler { return nil }}
	mux := MuxManagerOptions[*muxHandler]{Loops: 1, Dialer: pool.Dialer, OnConnect: func(*muxConn) *muxHandler { return nil }}
	for _, tc := range []struct {
		err  func() error
		want string
	}{
		{func() error { o := pool; o.Loops = 0; return second(NewPoolManager(o)) }, "upstream: pool manager: Loops is 0, want at least 1"},
		{func() error { o := pool; o.Dialer = nil; return second(NewPoolManager(o)) }, "upstream: pool manager: Dialer is required"},
		{func() error { o := pool; o.OnConnect = nil; return second(NewPoolManager(o)) }, "upstream: pool manager: OnConnect is required"},
		{func() error { o := mux; o.Loops = -1; return second(NewMuxManager(o)) }, "upstream: mux manager: Loops is -1, want at least 1"},
		{func() error { o := mux; o.Dialer = nil; return second(NewMuxManager(o)) }, "upstream: mux manager: Dialer is required"},
		{func() error { o := mux; o.OnConnect = nil; return second(NewMuxManager(o)) }, "upstream: mux manager: OnConnect is required"},
	} {
		if err := tc.err(); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if _, err := NewPoolManager(pool); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMuxManager(mux); err != nil {
		t.Fatal(err)
	}
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }

// TestConnBufferLimitSetsWatermarks: a cluster's ConnBufferLimit becomes
// the watermarks of every connection its pools open; without it they keep
// the loop's.
func TestConnBufferLimitSetsWatermarks(t *testing.T) {
	for _, tc := range []struct {
		limit, high, low int
	}{
		{limit: 32768, high: 32768, low: 8192},
		{limit: 0, high: conn.DefaultHighWatermark, low: conn.DefaultHighWatermark / 4},
	} {
		e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), ConnBufferLimit: tc.limit})
		pc := e.checkout(e.pool(0, "10.0.0.1:80"))
		if high, low := pc.C.Watermarks(); high != tc.high || low != tc.low {
			t.Errorf("limit %d: watermarks %d/%d, want %d/%d", tc.limit, high, low, tc.high, tc.low)
		}
		pc.Release(false)
		conn.RunDetached(e.loops[0])
	}
	if err := NewManager().Update([]ClusterSpec{{Name: "c", Hosts: hosts("10.0.0.1:80"), ConnBufferLimit: -1}}); err == nil ||
		!strings.Contains(err.Error(), "conn_buffer_limit is negative") {
		t.Fatalf("negative limit: %v", err)
	}
}

func TestPoolMaxRequestsPerConnCloses(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), MaxRequestsPerConn: 2})
	p := e.pool(0, "10.0.0.1:80")
	pc := e.checkout(p)
	pc.Release(true)
	if again := e.checkout(p); again != pc {
		t.Fatal("the second request did not reuse the connection")
	}
	pc.Release(true) // its second request: the limit
	conn.RunDetached(e.loops[0])
	if !pc.C.Gone() || p.Idle() != 0 || e.host("10.0.0.1:80").Conns() != 0 {
		t.Fatalf("after max_requests_per_conn: gone %v, %d idle, host %d", pc.C.Gone(), p.Idle(), e.host("10.0.0.1:80").Conns())
	}
}
