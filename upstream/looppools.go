package upstream

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ferry-proxy/ferry/conn"
)

// poolBase is what ConnPool and MuxPool share: one host on one loop, the
// cluster's limits and what the pool counts under them. Loop only.
type poolBase struct {
	host    *Host
	cluster *Cluster
	loop    *conn.Loop
	// brk counts the pool's connections under max_connections (and a
	// MuxPool's waiters under max_pending_requests): the cluster's Breaker
	// when the pool was made (a reload keeps it).
	brk        *Breaker
	connecting int // dials in flight
	// removed is set once the host left its cluster (Host.Removed).
	removed bool
}

func newPoolBase(l *conn.Loop, c *Cluster, h *Host) poolBase {
	return poolBase{host: h, cluster: c, loop: l, brk: c.brk}
}

// startDial dials the host through d for dh, counting the dial in flight
// and the connection under the host's limits (admitConn admitted it). An
// error gives the connection slot back.
func (b *poolBase) startDial(d conn.Dialer, dh conn.DialHandler) error {
	b.connecting++
	err := d.Dial(b.loop, b.host.Address(), b.cluster.Spec.ConnectTimeout, dh)
	if err != nil {
		b.connecting--
		releaseConn(b.host, b.brk)
	}
	return err
}

// dialed counts the end of a dial that opened c, and bounds c's buffers
// by the cluster's per_connection_buffer_limit_bytes.
func (b *poolBase) dialed(c *conn.Conn) {
	b.connecting--
	if lim := b.cluster.Spec.ConnBufferLimit; lim > 0 {
		c.SetWatermarks(lim, lim/4)
	}
}

// dialFailed counts the end of a dial that failed with err, against the
// host too, and returns the error its waiters fail with.
func (b *poolBase) dialFailed(err error) error {
	b.connecting--
	releaseConn(b.host, b.brk)
	b.host.connectFailed()
	return b.connectErr(err)
}

// connectErr is an ErrConnectFailed naming the host, for err.
func (b *poolBase) connectErr(err error) error {
	return fmt.Errorf("%w: %s: %w", ErrConnectFailed, b.host.Address(), err)
}

// checkManager reports the first required option of a manager (kind
// "pool" or "mux") that is missing.
func checkManager(kind string, loops int, d conn.Dialer, onConnect bool) error {
	switch {
	case loops <= 0:
		return fmt.Errorf("upstream: %s manager: Loops is %d, want at least 1", kind, loops)
	case d == nil:
		return errors.New("upstream: " + kind + " manager: Dialer is required")
	case !onConnect:
		return errors.New("upstream: " + kind + " manager: OnConnect is required")
	}
	return nil
}

// loopPools is the per-loop registry of host pools that PoolManager
// (HTTP/1.1) and MuxManager (HTTP/2) share, generic in the pool type.
type loopPools[P interface{ drop() }] struct {
	// pools is indexed by loop index; each map is touched only by its loop.
	pools []map[*Host]poolEntry[P]
	// loops holds, by index, each loop that has created a pool, so that a
	// host removal reaches every loop that may hold its connections.
	loops []atomic.Pointer[conn.Loop]
}

// poolEntry is a pool with its poolBase, which the registry refreshes.
type poolEntry[P any] struct {
	p    P
	base *poolBase
}

func newLoopPools[P interface{ drop() }](n int) loopPools[P] {
	lp := loopPools[P]{pools: make([]map[*Host]poolEntry[P], n), loops: make([]atomic.Pointer[conn.Loop], n)}
	for i := range lp.pools {
		lp.pools[i] = map[*Host]poolEntry[P]{}
	}
	return lp
}

// pool returns the pool of host h on loop l, now under cluster c (the
// current limits after a reload; the Breaker is the same), and true; false
// when the loop has none for h. Loop only (l's).
func (lp *loopPools[P]) pool(l *conn.Loop, c *Cluster, h *Host) (P, bool) {
	e, ok := lp.pools[l.Index][h]
	if ok {
		e.base.cluster = c
	}
	return e.p, ok
}

// register files the new pool p of host h on loop l, whose poolBase is b;
// when h was removed already, p is not kept and b is marked removed.
// Loop only (l's).
func (lp *loopPools[P]) register(l *conn.Loop, h *Host, p P, b *poolBase) {
	// Publish the loop before reading Removed: a removal that does not see
	// the loop marked the host before this read, and then this read sees
	// it (atomics are sequentially consistent).
	if lp.loops[l.Index].Load() == nil {
		lp.loops[l.Index].Store(l)
	}
	if h.Removed() {
		b.removed = true
		return
	}
	lp.pools[l.Index][h] = poolEntry[P]{p: p, base: b}
}

// removeHosts drops the pools of hosts on every loop that has pools: each
// is forgotten and its drop runs, on its loop. It returns at once. Any
// goroutine.
func (lp *loopPools[P]) removeHosts(hosts []*Host) {
	if len(hosts) == 0 {
		return
	}
	for i := range lp.loops {
		l := lp.loops[i].Load()
		if l == nil {
			continue
		}
		// An error means the engine is stopping: it closes every
		// connection itself.
		_ = l.Execute(func() { lp.dropHosts(l.Index, hosts) })
	}
}

// dropHosts runs removeHosts on loop i.
func (lp *loopPools[P]) dropHosts(i int, hosts []*Host) {
	pools := lp.pools[i]
	for _, h := range hosts {
		if e, ok := pools[h]; ok {
			delete(pools, h)
			e.p.drop()
		}
	}
}
