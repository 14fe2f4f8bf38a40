package upstream

import (
	"sync/atomic"

	"github.com/ferry-proxy/ferry/conn"
)

// loopPools is the per-loop registry of host pools that PoolManager
// (HTTP/1.1) and MuxManager (HTTP/2) share, generic in the pool type.
type loopPools[P interface{ drop() }] struct {
	// pools is indexed by loop index; each map is touched only by its loop.
	pools []map[*Host]P
	// loops holds, by index, each loop that has created a pool, so that a
	// host removal reaches every loop that may hold its connections.
	loops []atomic.Pointer[conn.Loop]
}

func newLoopPools[P interface{ drop() }](n int) loopPools[P] {
	lp := loopPools[P]{pools: make([]map[*Host]P, n), loops: make([]atomic.Pointer[conn.Loop], n)}
	for i := range lp.pools {
		lp.pools[i] = map[*Host]P{}
	}
	return lp
}

// register files the new pool p of host h on loop l and reports true;
// false when h was removed already, and then p is not kept (the caller
// marks it removed). Loop only (l's).
func (lp *loopPools[P]) register(l *conn.Loop, h *Host, p P) bool {
	// Publish the loop before reading Removed: a removal that does not see
	// the loop marked the host before this read, and then this read sees
	// it (atomics are sequentially consistent).
	if lp.loops[l.Index].Load() == nil {
		lp.loops[l.Index].Store(l)
	}
	if h.Removed() {
		return false
	}
	lp.pools[l.Index][h] = p
	return true
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
		if p, ok := pools[h]; ok {
			delete(pools, h)
			p.drop()
		}
	}
}
