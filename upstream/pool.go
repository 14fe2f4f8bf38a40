package upstream

import (
	"context"
	"errors"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// Pool failure reasons, for the proxy's status code and counters.
var (
	// ErrPoolOverflow: a limit refused the request (errors.As a
	// *LimitError says which).
	ErrPoolOverflow = errors.New("upstream: pending request queue full")
	// ErrConnectFailed: dialling the host failed or timed out.
	ErrConnectFailed = errors.New("upstream: connect failed")
	// ErrDialBusy: no worker was free to dial.
	ErrDialBusy = errors.New("upstream: dialer saturated")
)

// PoolClient is a request waiting for a connection whose protocol handler
// is an H. Loop only.
type PoolClient[H any] interface {
	// OnPoolReady hands over a connection; the client owns it until
	// Release.
	OnPoolReady(pc *PooledConn[H])
	// OnPoolFailure says no connection will come, and why.
	OnPoolFailure(err error)
}

// PooledConn is an upstream connection, the protocol handler its user
// attached, and its place in a pool.
type PooledConn[H any] struct {
	// C is the connection.
	C *conn.Conn
	// Handler is the protocol state that PoolManagerOptions.OnConnect
	// built for C before its first use.
	Handler H
	pool    *ConnPool[H]
	// Requests counts requests sent on the connection.
	Requests int
	idle     bool
	idleT    conn.Timer
}

// Reused reports whether the connection carried a request before the
// current one; a reused connection that fails before any response byte may
// have been closed by the upstream as we wrote, so the request is safe to
// retry on a fresh one.
func (pc *PooledConn[H]) Reused() bool { return pc.Requests > 1 }

// Host is the host the connection goes to.
func (pc *PooledConn[H]) Host() *Host { return pc.pool.host }

// Release gives the connection back. reusable is false when the exchange
// left it in an unknown state; it is then closed. Loop only.
func (pc *PooledConn[H]) Release(reusable bool) { pc.pool.release(pc, reusable) }

// OnTimer implements conn.TimerHandler: an idle connection past its idle
// timeout is closed, gracefully: a TLS one sends close_notify first
// (docs/tls.md, "Closing"); a plain one closes at once either way.
func (pc *PooledConn[H]) OnTimer(*conn.Timer) { pc.C.Close(filterchain.CloseFlush) }

// OnEvent implements filterchain.ConnectionCallbacks: a closed connection
// leaves the pool.
func (pc *PooledConn[H]) OnEvent(filterchain.ConnectionEvent) { pc.pool.closed(pc) }

// ConnPool holds one host's connections on one loop. Loop only.
type ConnPool[H any] struct {
	// poolBase: once removed, the pool keeps no idle connection any more.
	poolBase
	m *PoolManager[H]
	// redialT dials again after the process refused a dial (redialLater).
	redialT conn.Timer

	idle    connQueue[H]
	active  int
	waiters []waiter[PoolClient[H]]
}

// Acquire hands cl an idle connection at once (OnPoolReady before it
// returns), or queues cl and dials. Loop only.
//
// Idle connections are taken oldest first (FIFO), so requests rotate over
// every pooled connection and the upstream's own threads or loops get an
// even share. LIFO reuse concentrates the traffic on the few connections at
// the top of the stack, which may all sit on one upstream worker. FIFO won
// a manual A/B at 50 connections (docs/performance.md, "Idle upstream
// connections are reused oldest first", has the figures and the command).
func (p *ConnPool[H]) Acquire(cl PoolClient[H]) {
	for pc := p.idle.pop(); pc != nil; pc = p.idle.pop() {
		pc.idle = false
		p.loop.Stop(&pc.idleT)
		if pc.C.Closed() {
			continue
		}
		p.active++
		pc.Requests++
		cl.OnPoolReady(pc)
		return
	}
	var err *LimitError
	if p.waiters, err = queueWaiter(p.waiters, p.cluster, cl); err != nil {
		cl.OnPoolFailure(err)
		return
	}
	if p.connecting < len(p.waiters) {
		p.dial()
	}
}

// Cancel removes cl from the queue (its request went away). Loop only.
func (p *ConnPool[H]) Cancel(cl PoolClient[H]) { p.waiters = cancelWaiter(p.waiters, cl) }

// Idle is the number of idle connections. Loop only.
func (p *ConnPool[H]) Idle() int { return p.idle.len() }

// Active is the number of connections lent out. Loop only.
func (p *ConnPool[H]) Active() int { return p.active }

// Connecting is the number of dials in flight. Loop only.
func (p *ConnPool[H]) Connecting() int { return p.connecting }

// Pending is the number of requests waiting for a connection. Loop only.
func (p *ConnPool[H]) Pending() int { return len(p.waiters) }

func (p *ConnPool[H]) popWaiter() PoolClient[H] {
	var cl PoolClient[H]
	p.waiters, cl = popWaiter(p.waiters)
	return cl
}

func (p *ConnPool[H]) release(pc *PooledConn[H], reusable bool) {
	p.active--
	limit := p.cluster.Spec.MaxRequestsPerConn
	if !reusable || pc.C.Closed() || (limit > 0 && pc.Requests >= limit) {
		mode := filterchain.CloseNow // the exchange left it in an unknown state
		if reusable {
			mode = filterchain.CloseFlush // its quota is used up: close_notify on TLS
		}
		pc.C.Close(mode)
		p.serveWaitersByDial()
		return
	}
	if w := p.popWaiter(); w != nil {
		p.active++
		pc.Requests++
		w.OnPoolReady(pc)
		return
	}
	if p.removed {
		pc.C.Close(filterchain.CloseFlush) // idle: close_notify on TLS
		return
	}
	timeout := p.cluster.Spec.IdleTimeout
	if p.idle.len() >= p.cluster.Spec.MaxIdlePerHost {
		// Past the cap the connection is kept through a burst only: the
		// next burst of requests reuses it (FIFO: after those below the
		// cap), or it closes after BurstIdleTimeout. Closing it at once
		// made every burst dial again what the one before closed
		// (docs/performance.md, "Idle connections past the cap").
		timeout = min(timeout, BurstIdleTimeout)
	}
	pc.idle = true
	p.idle.push(pc)
	p.loop.Schedule(&pc.idleT, timeout)
}

// closed removes a connection that closed, idle or lent out.
func (p *ConnPool[H]) closed(pc *PooledConn[H]) {
	releaseConn(p.host, p.brk)
	p.loop.Stop(&pc.idleT)
	defer p.serveWaitersByDial() // a slot under the host limit just freed
	if !pc.idle {
		return // lent out: its request sees the close and releases it
	}
	pc.idle = false
	p.idle.remove(pc)
}

// drop runs on the loop once the host left its cluster: its idle
// connections are closed now, and the pool keeps none from here on (a
// connection lent out is closed when it comes back, a dial in flight when
// it lands, unless a waiting request takes it). Requests already waiting
// are still served: they picked the host before it was removed.
func (p *ConnPool[H]) drop() {
	p.removed = true
	for pc := p.idle.pop(); pc != nil; pc = p.idle.pop() {
		pc.idle = false
		p.loop.Stop(&pc.idleT)
		pc.C.Close(filterchain.CloseFlush) // idle: close_notify on TLS
	}
}

// connQueue is the FIFO of a pool's idle connections: taken from the
// front in O(1) (a head index, the slice compacted once the consumed
// front is half of it), returned at the back. With hundreds of idle
// connections a copy-down per Acquire would cost a memmove each.
type connQueue[H any] struct {
	q    []*PooledConn[H]
	head int
}

func (c *connQueue[H]) len() int { return len(c.q) - c.head }

func (c *connQueue[H]) push(pc *PooledConn[H]) {
	if c.head > 0 && c.head >= len(c.q)/2 {
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
	c.q = append(c.q, pc)
}

func (c *connQueue[H]) pop() *PooledConn[H] {
	if c.head == len(c.q) {
		return nil
	}
	pc := c.q[c.head]
	c.q[c.head] = nil
	if c.head++; c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	}
	return pc
}

// remove takes pc out wherever it is (a connection that closed while
// idle).
func (c *connQueue[H]) remove(pc *PooledConn[H]) {
	for i := c.head; i < len(c.q); i++ {
		if c.q[i] == pc {
			copy(c.q[i:], c.q[i+1:])
			c.q[len(c.q)-1] = nil
			c.q = c.q[:len(c.q)-1]
			if c.head == len(c.q) {
				c.q, c.head = c.q[:0], 0
			}
			return
		}
	}
}

// serveWaitersByDial dials for waiters that lost a connection they were
// counting on.
func (p *ConnPool[H]) serveWaitersByDial() {
	if len(p.waiters) > p.connecting {
		p.dial()
	}
}

// dial starts one connection through the manager's conn.Dialer, whose
// result comes back on this loop through poolDial. When no connection may
// be dialled, the waiter keeps waiting for one of this loop's connections
// to come back: past a connection limit (atLimit), or when the process
// refused the dial (redialLater: no dialer worker free, no socket left).
func (p *ConnPool[H]) dial() bool {
	c := p.cluster
	if err := admitConn(c, p.host, p.brk); err != nil {
		p.atLimit(err)
		return false
	}
	d := p.m.dialer
	if cd := c.Spec.Dialer; cd != nil {
		d = cd // the cluster's own: TLS to its hosts
	}
	err := p.startDial(d, (*poolDial[H])(p))
	switch {
	case err == nil:
		return true
	case errors.Is(err, conn.ErrDialerBusy), errors.Is(err, conn.ErrBudget):
		p.redialLater()
	default:
		p.failOne(p.connectErr(err))
	}
	return false
}

// atLimit runs when a connection limit refused a dial for a waiter: it
// waits for one of this loop's connections to come back (a release serves
// the oldest waiter, a close dials again), unless the loop has none,
// active or connecting, that could: then it fails now with err rather
// than at its timeout. This is what makes a limit queue rather than shed
// while the loop has connections to the host.
func (p *ConnPool[H]) atLimit(err error) {
	if p.active == 0 && p.connecting == 0 {
		p.failOne(err)
	}
}

// redialDelay is how long a pool whose dial the process refused (no
// worker free, no socket left) waits before it dials again for waiters
// that none of its connections will serve.
const redialDelay = 2 * conn.TimerTick

// redialLater runs when the process refused a dial (the dialer's workers
// are busy, the socket budget is spent): bounds of the process, not of
// the upstream, so the waiter is not failed. It waits for one of this
// loop's connections to come back or for the redial timer, which dials
// again for every waiter no dial in flight serves: a burst of new streams
// queues until dials get through (the upstream then takes as many as the
// listeners admitted), or each request's own timeout answers it.
func (p *ConnPool[H]) redialLater() {
	if !p.redialT.Armed() {
		p.redialT.Init((*poolRedial[H])(p))
		p.loop.Schedule(&p.redialT, redialDelay)
	}
}

// poolRedial is a pool as the handler of its redial timer.
type poolRedial[H any] ConnPool[H]

// OnTimer implements conn.TimerHandler: dial for the waiters left, until
// the dialer refuses again (which re-arms the timer).
func (r *poolRedial[H]) OnTimer(*conn.Timer) {
	p := (*ConnPool[H])(r)
	for len(p.waiters) > p.connecting && p.dial() {
	}
}

func (p *ConnPool[H]) failOne(err error) {
	if w := p.popWaiter(); w != nil {
		w.OnPoolFailure(err)
	}
}

// dialFailed runs on the loop when a dial failed.
func (p *ConnPool[H]) dialFailed(err error) { p.failOne(p.poolBase.dialFailed(err)) }

// opened runs on the loop when a dialled connection opened on it.
func (p *ConnPool[H]) opened(c *conn.Conn) {
	p.dialed(c)
	pc := &PooledConn[H]{C: c, pool: p}
	pc.idleT.Init(pc)
	c.Filters().AddConnectionCallbacks(pc)
	pc.Handler = p.m.onConnect(pc)
	p.active++
	p.release(pc, true)
}

// poolDial is a pool as the conn.DialHandler of its dials (a conversion of
// the pool pointer: no allocation, and the pool's own API stays free of
// the dialer's callbacks).
type poolDial[H any] ConnPool[H]

// OnDialed implements conn.DialHandler.
func (d *poolDial[H]) OnDialed(c *conn.Conn) { (*ConnPool[H])(d).opened(c) }

// OnDialFailed implements conn.DialHandler.
func (d *poolDial[H]) OnDialFailed(err error) { (*ConnPool[H])(d).dialFailed(err) }

// PoolManager finds the pool of a (host, loop) pair. Its connections carry
// a protocol handler of type H.
type PoolManager[H any] struct {
	loopPools[*ConnPool[H]]
	dialer    conn.Dialer
	onConnect func(pc *PooledConn[H]) H
}

// PoolManagerOptions configures a PoolManager.
type PoolManagerOptions[H any] struct {
	// Loops is the number of event loops. Required.
	Loops int
	// Dialer opens the connections. Required.
	Dialer conn.Dialer
	// OnConnect sets a new connection up (installs the protocol's read
	// filter) and returns its handler, which becomes PooledConn.Handler,
	// before its first use. Required.
	OnConnect func(pc *PooledConn[H]) H
	// Clusters, when set, tells the manager which hosts each Update
	// removes, so that their pools close their idle connections on every
	// loop.
	Clusters *Manager
}

// NewPoolManager returns a PoolManager, or an error naming the option
// that is missing.
func NewPoolManager[H any](o PoolManagerOptions[H]) (*PoolManager[H], error) {
	if err := checkManager("pool", o.Loops, o.Dialer, o.OnConnect != nil); err != nil {
		return nil, err
	}
	m := &PoolManager[H]{
		loopPools: newLoopPools[*ConnPool[H]](o.Loops),
		dialer:    o.Dialer,
		onConnect: o.OnConnect,
	}
	if o.Clusters != nil {
		o.Clusters.onRemove(m.RemoveHosts)
	}
	return m, nil
}

// Quiesce waits until the dialer has no dial in flight, or ctx ends. Call
// it before stopping the engine. Any goroutine.
func (m *PoolManager[H]) Quiesce(ctx context.Context) error { return m.dialer.Quiesce(ctx) }

// Pool returns the pool of host h on loop l. Loop only (l's).
//
// A host already removed from its cluster (a request that picked it just
// before a reload) gets a pool of its own that is not kept: its connection
// is closed when released.
func (m *PoolManager[H]) Pool(l *conn.Loop, c *Cluster, h *Host) *ConnPool[H] {
	if p, ok := m.pool(l, c, h); ok {
		return p
	}
	p := &ConnPool[H]{poolBase: newPoolBase(l, c, h), m: m}
	m.register(l, h, p, &p.poolBase)
	return p
}

// RemoveHosts drops the pools of hosts that left their cluster: on every
// loop that has pools, their idle connections are closed and the pools are
// forgotten (ConnPool.drop says what happens to the rest). It returns at
// once; the work runs on the loops. Manager.Update calls it for the
// managers created with PoolManagerOptions.Clusters. Any goroutine.
func (m *PoolManager[H]) RemoveHosts(hosts []*Host) { m.removeHosts(hosts) }
