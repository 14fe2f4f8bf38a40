package upstream

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// The mux pool's tests use pool_test.go's fakeDialer and detached loops.

// muxHandler is the protocol handler of these tests: it counts PINGs.
type muxHandler struct{ pings int }

func (h *muxHandler) Ping() { h.pings++ }

type muxConn = MuxConn[*muxHandler]

// muxClient is a request waiting on a mux pool (pool_test.go's client).
type muxClient = client

type muxEnv struct {
	*poolEnv
	mm    *MuxManager[*muxHandler]
	conns []*muxConn
}

func newMuxEnv(t *testing.T, spec ClusterSpec) *muxEnv {
	t.Helper()
	e := &muxEnv{poolEnv: newPoolEnv(t, 1, spec)}
	mm, err := NewMuxManager(MuxManagerOptions[*muxHandler]{
		Loops: 1, Dialer: e.d, Clusters: e.clus,
		OnConnect: func(mc *muxConn) *muxHandler {
			e.conns = append(e.conns, mc)
			return &muxHandler{}
		},
		PingInterval: time.Second, PingTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mm = mm
	return e
}

func (e *muxEnv) mpool() *MuxPool[*muxHandler] {
	return e.mm.Pool(e.loops[0], e.cluster(), e.host("10.0.0.1:80"))
}

func acquireN(p *MuxPool[*muxHandler], n int) []*muxClient {
	cs := make([]*muxClient, n)
	for i := range cs {
		cs[i] = &muxClient{}
		p.Acquire(cs[i])
	}
	return cs
}

func served(cs []*muxClient) (n int) {
	for _, c := range cs {
		if c.mc != nil {
			n++
		}
	}
	return n
}

func muxSpec() ClusterSpec {
	return ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), ConnectTimeout: 2 * time.Second}
}

// TestMuxPoolSharesConnection: 100 requests share one connection once the
// peer allows 100 streams; one went before its settings arrived.
func TestMuxPoolSharesConnection(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	p := e.mpool()
	cs := acquireN(p, 100)
	if len(e.d.pending) != 1 {
		t.Fatalf("%d dials for 100 waiters, want 1 (a connection is expected to carry 100)", len(e.d.pending))
	}
	e.d.succeed()
	if n := served(cs); n != 1 {
		t.Fatalf("%d served before the peer's settings, want 1", n)
	}
	e.conns[0].SetLimit(100, true)
	if n := served(cs); n != 100 || p.Conns() != 1 || e.conns[0].Streams() != 100 {
		t.Fatalf("%d served on %d connections (%d streams), want 100 on 1", n, p.Conns(), e.conns[0].Streams())
	}
	// A 101st waits for a slot: with the limit known, it dials.
	extra := acquireN(p, 1)
	if len(e.d.pending) != 1 {
		t.Fatalf("%d dials for a waiter beyond the limit, want 1", len(e.d.pending))
	}
	cs[0].mc.Done() // a slot frees first: the waiter takes it
	if extra[0].mc != e.conns[0] {
		t.Fatal("the waiter did not take the freed slot")
	}
	e.d.succeed() // the dial lands with nobody waiting: idle
	if p.Conns() != 2 || e.conns[1].Streams() != 0 {
		t.Fatalf("%d connections, new one has %d streams", p.Conns(), e.conns[1].Streams())
	}
}

// TestMuxPoolLimitOneDialsPerStream: a peer allowing one stream makes the
// pool dial one connection per waiter.
func TestMuxPoolLimitOneDialsPerStream(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	p := e.mpool()
	cs := acquireN(p, 4)
	e.d.succeed()
	e.conns[0].SetLimit(1, true)
	if len(e.d.pending) != 3 {
		t.Fatalf("%d dials for 3 waiters at 1 stream per connection, want 3", len(e.d.pending))
	}
	for range 3 {
		c := e.d.succeed()
		_ = c
		e.conns[len(e.conns)-1].SetLimit(1, true)
	}
	if n := served(cs); n != 4 || p.Conns() != 4 {
		t.Fatalf("%d served on %d connections, want 4 on 4", n, p.Conns())
	}
}

// TestMuxPoolDrain: a draining connection takes no new stream and closes
// when its last stream ends.
func TestMuxPoolDrain(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	p := e.mpool()
	cs := acquireN(p, 2)
	e.d.succeed()
	mc := e.conns[0]
	mc.SetLimit(10, true)
	mc.Drain()
	next := acquireN(p, 1)
	if next[0].mc != nil || len(e.d.pending) != 1 {
		t.Fatal("a draining connection took a new stream, or no dial replaced it")
	}
	cs[0].mc.Done()
	if mc.C.Closed() {
		t.Fatal("closed with a stream left")
	}
	cs[1].mc.Done()
	conn.RunDetached(e.loops[0])
	if !mc.C.Closed() || p.Conns() != 0 {
		t.Fatalf("closed %v, %d connections; want the drained connection gone", mc.C.Closed(), p.Conns())
	}
}

// TestMuxPoolDialFailure fails the waiters the dial was to serve.
func TestMuxPoolDialFailure(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	p := e.mpool()
	cs := acquireN(p, 3)
	e.d.fail(errors.New("refused"))
	for i, c := range cs {
		if !errors.Is(c.err, ErrConnectFailed) {
			t.Fatalf("waiter %d: %v, want ErrConnectFailed", i, c.err)
		}
	}
	if p.Pending() != 0 {
		t.Fatalf("%d still pending", p.Pending())
	}
}

// TestMuxPoolIdleTimersAndPing: an idle connection is probed by PING;
// an unanswered one closes; an answered one stays until the idle timeout.
func TestMuxPoolIdleTimersAndPing(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	p := e.mpool()
	cs := acquireN(p, 1)
	e.d.succeed()
	mc := e.conns[0]
	cs[0].mc.Done()
	if !mc.idleT.Armed() || !mc.pingT.Armed() {
		t.Fatal("an idle connection has no idle timer or no ping timer")
	}
	(*muxPing[*muxHandler])(mc).OnTimer(&mc.pingT)
	if mc.Handler.pings != 1 || !mc.pingOut {
		t.Fatal("the ping timer sent no PING")
	}
	mc.PingAcked()
	if mc.pingOut || !mc.pingT.Armed() {
		t.Fatal("an answered PING did not re-arm the probe")
	}
	(*muxPing[*muxHandler])(mc).OnTimer(&mc.pingT)
	(*muxPing[*muxHandler])(mc).OnTimer(&mc.pingT) // the timeout: unanswered
	conn.RunDetached(e.loops[0])
	if !mc.C.Closed() || e.mm.PingTimeouts() != 1 || p.Conns() != 0 {
		t.Fatalf("closed %v, %d ping timeouts, %d conns", mc.C.Closed(), e.mm.PingTimeouts(), p.Conns())
	}
}

// TestMuxPoolMaxRequestsPerConn: a connection that carried its quota of
// streams takes no more and closes once they end.
func TestMuxPoolMaxRequestsPerConn(t *testing.T) {
	spec := muxSpec()
	spec.MaxRequestsPerConn = 2
	e := newMuxEnv(t, spec)
	p := e.mpool()
	cs := acquireN(p, 3)
	e.d.succeed()
	mc := e.conns[0]
	mc.SetLimit(10, true)
	if served(cs) != 2 || !mc.Draining() || len(e.d.pending) != 1 {
		t.Fatalf("%d served, draining %v, %d dials; want 2 on the first connection and a dial for the third", served(cs), mc.Draining(), len(e.d.pending))
	}
	cs[0].mc.Done()
	cs[1].mc.Done()
	conn.RunDetached(e.loops[0])
	if !mc.C.Closed() {
		t.Fatal("a connection past its request quota stayed open")
	}
	e.d.succeed()
}

// TestMuxPoolHostRemoved: a host that leaves its cluster has its idle
// connections closed and its busy ones drained.
func TestMuxPoolHostRemoved(t *testing.T) {
	spec := muxSpec()
	spec.Hosts = hosts("10.0.0.1:80", "10.0.0.2:80")
	e := newMuxEnv(t, spec)
	p := e.mpool()
	cs := acquireN(p, 2)
	e.d.succeed()
	e.conns[0].SetLimit(1, true)
	e.d.succeed()
	e.conns[1].SetLimit(1, true)
	busy, idle := cs[0].mc, cs[1].mc
	idle.Done()
	spec.Hosts = hosts("10.0.0.2:80")
	if err := e.clus.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	conn.RunDetached(e.loops[0])
	if !idle.C.Closed() || busy.C.Closed() || !busy.Draining() {
		t.Fatalf("idle closed %v, busy closed %v draining %v; want the idle one closed, the busy one draining", idle.C.Closed(), busy.C.Closed(), busy.Draining())
	}
	busy.Done()
	conn.RunDetached(e.loops[0])
	if !busy.C.Closed() {
		t.Fatal("the drained connection of a removed host stayed open")
	}
}

// TestMuxPoolRefusedConnection: a connection its handler refuses (TLS
// without h2 by ALPN) fails the waiters it was to serve, and no new dial
// starts for them.
func TestMuxPoolRefusedConnection(t *testing.T) {
	e := newMuxEnv(t, muxSpec())
	refuse := errors.New("no h2 by ALPN")
	e.mm.onConnect = func(mc *muxConn) *muxHandler {
		mc.Refuse(refuse)
		return &muxHandler{}
	}
	p := e.mpool()
	cs := acquireN(p, 3)
	c := e.d.succeed()
	conn.RunDetached(e.loops[0])
	for i, cl := range cs {
		if !errors.Is(cl.err, ErrConnectFailed) || !errors.Is(cl.err, refuse) {
			t.Fatalf("waiter %d: %v, want a connect failure wrapping the refusal", i, cl.err)
		}
	}
	if !c.Closed() || len(e.d.pending) != 0 || p.Conns() != 0 {
		t.Fatalf("closed %v, %d dials, %d conns; want the refused connection closed and no new dial", c.Closed(), len(e.d.pending), p.Conns())
	}
}

// twoHostMux is a mux env of a two-host cluster with breakers b, and the
// pools of its two hosts.
func twoHostMux(t *testing.T, b Thresholds) (e *muxEnv, p, other *MuxPool[*muxHandler]) {
	spec := muxSpec()
	spec.Hosts = hosts("10.0.0.1:80", "10.0.0.2:80")
	spec.Breakers = b
	e = newMuxEnv(t, spec)
	return e, e.mpool(), e.mm.Pool(e.loops[0], e.cluster(), e.host("10.0.0.2:80"))
}

// TestMuxPoolMaxConnections: max_connections counts the multiplexed
// connections of every host (and loop) of the cluster. Past it, streams
// wait for a slot on a full connection of their pool; a pool with no
// connection that could ever serve them fails them at once, naming the
// limit. A close frees the slot for another pool.
func TestMuxPoolMaxConnections(t *testing.T) {
	e, p, other := twoHostMux(t, Thresholds{MaxConnections: 1})
	cs := acquireN(p, 1)
	e.d.succeed()
	mc := e.conns[0]
	mc.SetLimit(2, true)
	more := acquireN(p, 2) // one fits, one waits: no second connection
	if served(more) != 1 || p.Pending() != 1 || len(e.d.pending) != 0 {
		t.Fatalf("%d served, %d pending, %d dials; want 1, 1, 0 at max_connections 1", served(more), p.Pending(), len(e.d.pending))
	}
	refused := acquireN(other, 2)
	for i, c := range refused {
		var le *LimitError
		if !errors.As(c.err, &le) || le.What != "max_connections" || le.Max != 1 || le.Cluster != "c" {
			t.Fatalf("request %d on a pool with no connection at the limit: %v, want max_connections (1) of c", i, c.err)
		}
	}
	brk := e.cluster().Breaker()
	if brk.Open(LimitConnections) != 1 || brk.Overflows(LimitConnections) == 0 || brk.Open(LimitPending) != 1 {
		t.Fatalf("connections %d, overflows %d, pending %d; want 1, >0, 1", brk.Open(LimitConnections),
			brk.Overflows(LimitConnections), brk.Open(LimitPending))
	}
	cs[0].mc.Done() // a stream ends: the waiter takes its slot
	if served(more) != 2 || p.Pending() != 0 || brk.Open(LimitPending) != 0 {
		t.Fatalf("%d served, %d pending (breaker %d) after a stream ended; want 2, 0, 0", served(more), p.Pending(), brk.Open(LimitPending))
	}
	for _, c := range more {
		c.mc.Done()
	}
	mc.C.Close(filterchain.CloseNow)
	conn.RunDetached(e.loops[0])
	if brk.Open(LimitConnections) != 0 {
		t.Fatalf("after the close: %d connections counted, want 0", brk.Open(LimitConnections))
	}
	late := acquireN(other, 1)
	if late[0].err != nil || len(e.d.pending) != 1 {
		t.Fatalf("after the close: %v, %d dials; want a dial for the other host", late[0].err, len(e.d.pending))
	}
	e.d.fail(errors.New("refused"))
	if brk.Open(LimitConnections) != 0 {
		t.Fatalf("after a failed dial: %d connections counted, want 0", brk.Open(LimitConnections))
	}
}

// TestMuxPoolMaxPendingRequests: max_pending_requests counts the streams
// waiting for a slot in every multiplexed pool of the cluster; past it a
// request fails at once naming the limit, and a waiter that is served,
// cancelled or failed gives its count back.
func TestMuxPoolMaxPendingRequests(t *testing.T) {
	e, p, other := twoHostMux(t, Thresholds{MaxPendingRequests: 3})
	cs := acquireN(p, 2)
	os := acquireN(other, 2)
	var le *LimitError
	if os[0].err != nil || !errors.As(os[1].err, &le) || le.What != "max_pending_requests" || le.Max != 3 {
		t.Fatalf("waiters: %v, %v; want the fourth refused by max_pending_requests (3)", os[0].err, os[1].err)
	}
	brk := e.cluster().Breaker()
	if brk.Open(LimitPending) != 3 || brk.Overflows(LimitPending) != 1 {
		t.Fatalf("pending %d, overflows %d; want 3, 1", brk.Open(LimitPending), brk.Overflows(LimitPending))
	}
	p.Cancel(cs[1])
	if brk.Open(LimitPending) != 2 {
		t.Fatalf("after a cancel: %d pending, want 2", brk.Open(LimitPending))
	}
	e.d.succeed() // p's dial: one stream before the peer's settings
	if cs[0].mc == nil || brk.Open(LimitPending) != 1 {
		t.Fatalf("served %v, %d pending; want the waiter served and 1 pending", cs[0].mc != nil, brk.Open(LimitPending))
	}
	e.d.fail(errors.New("refused")) // other's dial fails its waiter
	if !errors.Is(os[0].err, ErrConnectFailed) || brk.Open(LimitPending) != 0 {
		t.Fatalf("%v, %d pending; want a connect failure and 0 pending", os[0].err, brk.Open(LimitPending))
	}
	again := acquireN(other, 3)
	for i, c := range again {
		if c.err != nil {
			t.Fatalf("after recovery, waiter %d: %v", i, c.err)
		}
	}
}
