package upstream

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// MuxHandler is the protocol side of a multiplexed connection (HTTP/2),
// as its pool needs it. Loop only.
type MuxHandler interface {
	// Ping sends a keep-alive probe; the handler calls MuxConn.PingAcked
	// when the peer answers it.
	Ping()
}

// MuxClient is a request waiting for a stream on a multiplexed
// connection. Loop only.
type MuxClient[H MuxHandler] interface {
	// OnMuxReady hands over one stream slot of mc; the client gives it
	// back with MuxConn.Done.
	OnMuxReady(mc *MuxConn[H])
	// OnMuxFailure says no connection will come, and why.
	OnMuxFailure(err error)
}

// MuxConn is one multiplexed upstream connection in a MuxPool: its
// protocol handler, the stream slots lent out, and what the peer allows.
type MuxConn[H MuxHandler] struct {
	// C is the connection.
	C *conn.Conn
	// Handler is what MuxManagerOptions.OnConnect attached.
	Handler H
	pool    *MuxPool[H]
	// Requests counts the streams ever taken on the connection.
	Requests int
	streams  int  // slots lent out
	limit    int  // slots the peer allows now
	settled  bool // limit is the peer's own (its settings arrived)
	draining bool // takes no new stream; closes once the last ends
	closed   bool
	refused  error // Refuse's reason
	pingOut  bool  // a PING is unanswered
	idleT    conn.Timer
	pingT    conn.Timer
}

// Host is the host the connection goes to.
func (mc *MuxConn[H]) Host() *Host { return mc.pool.host }

// Streams is the number of stream slots lent out. Loop only.
func (mc *MuxConn[H]) Streams() int { return mc.streams }

// Draining reports whether the connection takes no new stream. Loop only.
func (mc *MuxConn[H]) Draining() bool { return mc.draining }

// SetLimit tells the pool how many streams the peer allows at once
// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); settled says the value is the
// peer's own rather than an assumption made before its settings arrived.
// Waiting requests are served from the new room. Loop only.
func (mc *MuxConn[H]) SetLimit(n int, settled bool) {
	mc.limit, mc.settled = max(n, 0), mc.settled || settled
	if settled {
		mc.pool.known = max(n, 1)
	}
	if !mc.closed {
		mc.pool.serve()
	}
}

// Drain marks the connection as taking no new stream (a GOAWAY either
// way): the streams on it go on and it closes once the last one ends.
// Waiting requests are served elsewhere, by a new connection if needed.
// Loop only.
func (mc *MuxConn[H]) Drain() {
	if mc.draining || mc.closed {
		return
	}
	mc.draining = true
	if mc.streams == 0 {
		mc.C.Close(filterchain.CloseFlush)
		return
	}
	mc.pool.serve()
}

// Done gives back one stream slot taken with OnMuxReady. The connection
// serves a waiting request with it, or closes when draining and empty,
// or starts its idle timer. Loop only.
func (mc *MuxConn[H]) Done() {
	mc.streams--
	if mc.closed {
		return
	}
	p := mc.pool
	if mc.streams == 0 && (mc.draining || p.removed) {
		mc.C.Close(filterchain.CloseFlush)
		return
	}
	if p.serve(); mc.streams == 0 {
		mc.idle()
	}
}

// Refuse closes a new connection its handler cannot use (over TLS, ALPN
// did not choose the multiplexed protocol): the requests that waited for
// it fail with a connect failure wrapping err, instead of waiting for
// another dial that would end the same way. Call it from
// MuxManagerOptions.OnConnect. Loop only.
func (mc *MuxConn[H]) Refuse(err error) {
	if mc.closed || mc.refused != nil {
		return
	}
	mc.refused, mc.draining = err, true
	mc.C.Close(filterchain.CloseNow)
}

// PingAcked tells the pool the peer answered the keep-alive probe. Loop
// only.
func (mc *MuxConn[H]) PingAcked() {
	if !mc.pingOut || mc.closed {
		return
	}
	mc.pingOut = false
	mc.pool.loop.Stop(&mc.pingT)
	if mc.streams == 0 {
		mc.pool.loop.Schedule(&mc.pingT, mc.pool.m.pingInterval)
	}
}

// idle arms the idle timeout and the keep-alive probe of a connection
// with no stream.
func (mc *MuxConn[H]) idle() {
	p := mc.pool
	p.loop.Schedule(&mc.idleT, p.cluster.Spec.IdleTimeout)
	if !mc.pingOut {
		p.loop.Schedule(&mc.pingT, p.m.pingInterval)
	}
}

// OnEvent implements filterchain.ConnectionCallbacks: a closed connection
// leaves the pool. Its handler fails the streams that were on it.
func (mc *MuxConn[H]) OnEvent(filterchain.ConnectionEvent) { mc.pool.closed(mc) }

// muxIdle and muxPing are a MuxConn as the handler of its two timers.
type (
	muxIdle[H MuxHandler] MuxConn[H]
	muxPing[H MuxHandler] MuxConn[H]
)

// OnTimer implements conn.TimerHandler: an idle connection past the
// cluster's idle timeout is closed.
func (t *muxIdle[H]) OnTimer(*conn.Timer) {
	mc := (*MuxConn[H])(t)
	if mc.streams == 0 {
		mc.C.Close(filterchain.CloseFlush)
	}
}

// OnTimer implements conn.TimerHandler: the keep-alive probe of an idle
// connection. A PING unanswered within the ping timeout closes it: an
// upstream that stopped answering is found before a request is sent on
// it.
func (t *muxPing[H]) OnTimer(*conn.Timer) {
	mc := (*MuxConn[H])(t)
	p := mc.pool
	if mc.pingOut {
		p.m.pingTimeouts.Add(1)
		mc.C.Close(filterchain.CloseNow)
		return
	}
	if mc.streams > 0 {
		return // busy: its requests' own timeouts watch it; probed again once idle
	}
	mc.pingOut = true
	mc.Handler.Ping()
	p.loop.Schedule(&mc.pingT, p.m.pingTimeout)
}

// MuxPool holds one host's multiplexed connections on one loop. A request
// takes a stream slot on the first connection with room (so the traffic
// packs onto as few connections as the peer's stream limit allows, and
// the others time out idle); when every connection is full, it waits and
// a new connection is dialled.
//
// The cluster's circuit breakers count here as in ConnPool (breaker.go:
// admitConn, queueWaiter): max_connections bounds the connections of
// every host and loop (past it streams wait for a slot on this pool's
// connections, each full up to the peer's stream limit, and fail with a
// *LimitError only when the pool has none), and max_pending_requests the
// requests waiting for a slot (past it one fails at once). Loop only.
type MuxPool[H MuxHandler] struct {
	poolBase
	m       *MuxManager[H]
	conns   []*MuxConn[H]
	waiters []waiter[MuxClient[H]]
	// known is the stream limit the host's connections last stated,
	// used to judge how many waiters a connection in flight will serve.
	known int
}

// defaultMuxGuess is the stream limit assumed for a host before any of
// its connections stated one (HTTP/2 servers commonly allow 100 or more).
const defaultMuxGuess = 100

// Acquire hands cl a stream slot at once (OnMuxReady before it returns),
// or queues cl and dials as needed. A request that must wait counts
// under the cluster's max_pending_requests (all hosts and loops, as in
// ConnPool) and fails at once past it with a LimitError naming it.
// Loop only.
func (p *MuxPool[H]) Acquire(cl MuxClient[H]) {
	if mc := p.room(); mc != nil {
		p.take(mc, cl)
		return
	}
	if lim := p.cluster.Spec.MaxPending; lim > 0 && len(p.waiters) >= lim {
		cl.OnMuxFailure(ErrPoolOverflow)
		return
	}
	var err *LimitError
	if p.waiters, err = queueWaiter(p.waiters, p.cluster, cl); err != nil {
		cl.OnMuxFailure(err)
		return
	}
	p.dialMore()
}

// Cancel removes cl from the queue. Loop only.
func (p *MuxPool[H]) Cancel(cl MuxClient[H]) { p.waiters = cancelWaiter(p.waiters, cl) }

// Conns is the number of open connections. Loop only.
func (p *MuxPool[H]) Conns() int { return len(p.conns) }

// Connecting is the number of dials in flight. Loop only.
func (p *MuxPool[H]) Connecting() int { return p.connecting }

// Pending is the number of requests waiting for a stream. Loop only.
func (p *MuxPool[H]) Pending() int { return len(p.waiters) }

// room returns the first connection that can take a stream.
func (p *MuxPool[H]) room() *MuxConn[H] {
	for _, mc := range p.conns {
		if !mc.draining && mc.streams < mc.limit && !mc.C.Closed() {
			return mc
		}
	}
	return nil
}

func (p *MuxPool[H]) take(mc *MuxConn[H], cl MuxClient[H]) {
	if mc.streams == 0 {
		p.loop.Stop(&mc.idleT)
	}
	mc.streams++
	mc.Requests++
	if lim := p.cluster.Spec.MaxRequestsPerConn; lim > 0 && mc.Requests >= lim {
		mc.draining = true // its last stream: closed when the streams on it end
	}
	cl.OnMuxReady(mc)
}

// serve hands free slots to waiters, then dials for those left.
func (p *MuxPool[H]) serve() {
	for len(p.waiters) > 0 {
		mc := p.room()
		if mc == nil {
			break
		}
		var w MuxClient[H]
		p.waiters, w = popWaiter(p.waiters)
		p.take(mc, w)
	}
	p.dialMore()
}

// expected is the room waiters may count on without a new dial: the
// dials in flight and the connections whose peer has not stated its
// limit yet are assumed to allow what the host's connections last stated.
func (p *MuxPool[H]) expected() int {
	guess := p.known
	if guess == 0 {
		guess = defaultMuxGuess
	}
	n := p.connecting * guess
	for _, mc := range p.conns {
		if !mc.settled && !mc.draining {
			n += max(0, guess-mc.streams)
		}
	}
	return n
}

// dialMore dials until the connections in flight can be expected to
// serve every waiter, within the host's connection limit.
func (p *MuxPool[H]) dialMore() {
	for len(p.waiters) > p.expected() {
		if !p.dial() {
			return
		}
	}
}

// dial starts one connection; false when none could be started (a waiter
// was failed, or a connection limit holds every slot and a connection of
// ours will serve the waiters when a stream ends).
func (p *MuxPool[H]) dial() bool {
	d := p.m.dialer
	if cd := p.cluster.Spec.Dialer; cd != nil {
		// The cluster dials its hosts in TLS (ClusterSpec.Dialer): h2 by
		// ALPN through its HTTP/2 dialer (RFC 9113, 3.2; docs/tls.md,
		// Upstream TLS), never h2c in plain text. A dialer that cannot
		// offer h2 fails closed.
		h2, ok := cd.(conn.H2Capable)
		if !ok {
			for len(p.waiters) > 0 {
				p.failOne(p.connectErr(ErrH2OverTLS))
			}
			return false
		}
		d = h2.H2Dialer()
	}
	if le := admitConn(p.cluster, p.host, p.brk); le != nil {
		// The host's MaxConnsPerHost or the cluster's max_connections
		// (all loops) holds every slot: the waiters wait for a stream of
		// this loop's connections to end, unless the loop has none to the
		// host (open or dialling) that ever could: they fail now, naming
		// the limit, as ConnPool's atLimit does.
		if len(p.conns) == 0 && p.connecting == 0 {
			for len(p.waiters) > 0 {
				p.failOne(le)
			}
		}
		return false
	}
	err := p.startDial(d, (*muxDial[H])(p))
	switch {
	case err == nil:
		return true
	case errors.Is(err, conn.ErrDialerBusy):
		p.failOne(fmt.Errorf("%w: %w", ErrDialBusy, err))
	default:
		p.failOne(p.connectErr(err))
	}
	return false
}

// ErrH2OverTLS fails the requests of a multiplexed pool whose cluster
// dials in TLS with a dialer that cannot offer h2 by ALPN (not a
// conn.H2Capable): h2c to its hosts would be plain text.
var ErrH2OverTLS = errors.New("upstream: the cluster's TLS dialer cannot offer h2 by ALPN; refused rather than sent in plain text")

func (p *MuxPool[H]) failOne(err error) {
	var w MuxClient[H]
	if p.waiters, w = popWaiter(p.waiters); w != nil {
		w.OnMuxFailure(err)
	}
}

// dialFailed fails the waiters that the failed dial was expected to serve.
func (p *MuxPool[H]) dialFailed(err error) {
	err = p.poolBase.dialFailed(err)
	p.failOne(err)
	for len(p.waiters) > p.expected() {
		p.failOne(err)
	}
}

func (p *MuxPool[H]) opened(c *conn.Conn) {
	p.dialed(c)
	mc := &MuxConn[H]{C: c, pool: p}
	mc.idleT.Init((*muxIdle[H])(mc))
	mc.pingT.Init((*muxPing[H])(mc))
	c.Filters().AddConnectionCallbacks(mc)
	p.conns = append(p.conns, mc)
	if p.removed && len(p.waiters) == 0 {
		mc.draining = true
	}
	mc.Handler = p.m.onConnect(mc)
	if mc.refused != nil {
		p.host.connectFailed()
		err := p.connectErr(mc.refused)
		for len(p.waiters) > p.expected() {
			p.failOne(err)
		}
		return
	}
	if c.Closed() || mc.closed {
		return
	}
	// One stream may go before the peer states its limit (HTTP/2
	// assumes none, but a peer allowing fewer would refuse the rest).
	mc.limit = 1
	p.serve()
	if mc.draining && mc.streams == 0 {
		c.Close(filterchain.CloseFlush)
		return
	}
	if mc.streams == 0 {
		mc.idle()
	}
}

func (p *MuxPool[H]) closed(mc *MuxConn[H]) {
	if mc.closed {
		return
	}
	mc.closed = true
	releaseConn(p.host, p.brk)
	p.loop.Stop(&mc.idleT)
	p.loop.Stop(&mc.pingT)
	for i, x := range p.conns {
		if x == mc {
			copy(p.conns[i:], p.conns[i+1:])
			p.conns[len(p.conns)-1] = nil
			p.conns = p.conns[:len(p.conns)-1]
			break
		}
	}
	if mc.refused == nil {
		p.dialMore() // a refused connection's waiters failed: no new dial for them
	}
}

// drop runs on the loop once the host left its cluster: idle connections
// close now, busy ones drain.
func (p *MuxPool[H]) drop() {
	p.removed = true
	for _, mc := range append([]*MuxConn[H](nil), p.conns...) {
		mc.Drain()
	}
}

// muxDial is a MuxPool as the conn.DialHandler of its dials.
type muxDial[H MuxHandler] MuxPool[H]

// OnDialed implements conn.DialHandler.
func (d *muxDial[H]) OnDialed(c *conn.Conn) { (*MuxPool[H])(d).opened(c) }

// OnDialFailed implements conn.DialHandler.
func (d *muxDial[H]) OnDialFailed(err error) { (*MuxPool[H])(d).dialFailed(err) }

// MuxManager finds the multiplexed pool of a (host, loop) pair.
type MuxManager[H MuxHandler] struct {
	loopPools[*MuxPool[H]]
	dialer       conn.Dialer
	onConnect    func(mc *MuxConn[H]) H
	pingInterval time.Duration
	pingTimeout  time.Duration
	pingTimeouts atomic.Int64
}

// MuxManagerOptions configures a MuxManager.
type MuxManagerOptions[H MuxHandler] struct {
	// Loops is the number of event loops. Required.
	Loops int
	// Dialer opens the connections. Required. A dialer that negotiates
	// the protocol (TLS with ALPN) hands the connection to OnConnect only
	// once it is known to speak the multiplexed protocol.
	Dialer conn.Dialer
	// OnConnect sets a new connection up (its protocol read filter, its
	// preface) and returns its handler, before the connection serves any
	// stream. It must not call SetLimit: the connection carries one
	// stream until the handler reports the peer's limit with SetLimit.
	// Required.
	OnConnect func(mc *MuxConn[H]) H
	// Clusters, when set, tells the manager which hosts each Update
	// removes.
	Clusters *Manager
	// PingInterval is how long a connection stays idle before a keep-alive
	// PING (default 30s); PingTimeout how long the answer may take before
	// the connection is closed (default 10s).
	PingInterval, PingTimeout time.Duration
}

// Defaults of MuxManagerOptions.
const (
	DefaultMuxPingInterval = 30 * time.Second
	DefaultMuxPingTimeout  = 10 * time.Second
)

// NewMuxManager returns a MuxManager, or an error naming the option that
// is missing.
func NewMuxManager[H MuxHandler](o MuxManagerOptions[H]) (*MuxManager[H], error) {
	if err := checkManager("mux", o.Loops, o.Dialer, o.OnConnect != nil); err != nil {
		return nil, err
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultMuxPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultMuxPingTimeout
	}
	m := &MuxManager[H]{
		loopPools:    newLoopPools[*MuxPool[H]](o.Loops),
		dialer:       o.Dialer,
		onConnect:    o.OnConnect,
		pingInterval: o.PingInterval,
		pingTimeout:  o.PingTimeout,
	}
	if o.Clusters != nil {
		o.Clusters.onRemove(m.RemoveHosts)
	}
	return m, nil
}

// PingTimeouts counts the connections closed because a keep-alive PING
// went unanswered. Any goroutine.
func (m *MuxManager[H]) PingTimeouts() int64 { return m.pingTimeouts.Load() }

// Pool returns the pool of host h on loop l. Loop only (l's).
func (m *MuxManager[H]) Pool(l *conn.Loop, c *Cluster, h *Host) *MuxPool[H] {
	if p, ok := m.pool(l, c, h); ok {
		return p
	}
	p := &MuxPool[H]{poolBase: newPoolBase(l, c, h), m: m}
	m.register(l, h, p, &p.poolBase)
	return p
}

// RemoveHosts drops the pools of hosts that left their cluster, on every
// loop (PoolManager.RemoveHosts). Any goroutine.
func (m *MuxManager[H]) RemoveHosts(hosts []*Host) { m.removeHosts(hosts) }
