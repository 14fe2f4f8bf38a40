package upstream

import (
	"fmt"
	"sync/atomic"
)

// Limit names one circuit breaker limit of a cluster (MOSN's and Envoy's
// circuit_breakers thresholds).
type Limit uint8

// Limits.
const (
	// LimitConnections is max_connections: open and connecting sockets to
	// the cluster's hosts, all loops. Past it no connection is dialled and
	// requests wait for one to come back (Envoy's upstream_cx_overflow);
	// a request whose loop holds no connection to the host, which nothing
	// could ever serve, fails at once.
	LimitConnections Limit = iota
	// LimitPending is max_pending_requests: requests waiting for a
	// connection, all hosts and loops. A request past it fails at once.
	LimitPending
	// LimitRequests is max_requests: requests in flight to the cluster
	// (waiting for a connection or sent), all loops. A request past it
	// fails at once.
	LimitRequests
	// LimitRetries is max_retries: retries in flight to the cluster. A
	// retry past it is not made: the failure it would have retried is
	// answered.
	LimitRetries
	// LimitCount is the number of limits (the size of per-limit tables).
	LimitCount
)

// String is the limit's config key. Any goroutine.
func (l Limit) String() string {
	switch l {
	case LimitConnections:
		return "max_connections"
	case LimitPending:
		return "max_pending_requests"
	case LimitRequests:
		return "max_requests"
	case LimitRetries:
		return "max_retries"
	}
	return fmt.Sprintf("limit(%d)", uint8(l))
}

// Thresholds are a cluster's circuit breaker limits, counted across every
// event loop (MOSN's circuit_breakers[0]). Zero means no limit: the
// default sheds nothing a healthy upstream can take. Every waiting or
// in-flight request is a stream the listener admitted, so without limits
// the queues stay bounded by the listeners' max_connections and stream
// limits (upstream/doc.go, "Circuit breakers").
type Thresholds struct {
	MaxConnections     int
	MaxPendingRequests int
	MaxRequests        int
	MaxRetries         int
}

// max is the limit l, 0 for none.
func (t *Thresholds) max(l Limit) int {
	switch l {
	case LimitConnections:
		return t.MaxConnections
	case LimitPending:
		return t.MaxPendingRequests
	case LimitRequests:
		return t.MaxRequests
	case LimitRetries:
		return t.MaxRetries
	}
	return 0
}

// paddedCount is a counter alone on its cache line: the loops update the
// counters of one breaker concurrently, and counters sharing a line would
// contend even when they are different counters.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// Breaker holds one cluster's circuit breaker counters: what is open under
// each limit, and how often each limit refused. The limits themselves are
// the cluster's (Cluster.Limit): a reload that keeps the cluster's name
// keeps its Breaker, so that what is in flight across the reload is
// counted against the new limits and given back to the same counters.
// Every method is lock-free. Any goroutine.
type Breaker struct {
	open      [LimitCount]paddedCount
	overflows [LimitCount]atomic.Uint64
}

// TryAcquire counts one more under l unless that passes limit (0: no
// limit, and it always counts), and reports whether it did. A refusal is
// counted in Overflows. Two loops racing for the last slot cannot both
// win. Pair each success with one Release. Any goroutine.
func (b *Breaker) TryAcquire(l Limit, limit int) bool {
	c := &b.open[l].n
	if limit <= 0 {
		c.Add(1)
		return true
	}
	for {
		n := c.Load()
		if n >= int64(limit) {
			b.overflows[l].Add(1)
			return false
		}
		if c.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives back one TryAcquire of l. Any goroutine.
func (b *Breaker) Release(l Limit) { b.open[l].n.Add(-1) }

// Open is what is counted under l now. Any goroutine.
func (b *Breaker) Open(l Limit) int64 { return b.open[l].n.Load() }

// Overflows is how often l refused. Any goroutine.
func (b *Breaker) Overflows(l Limit) uint64 { return b.overflows[l].Load() }

// overflow counts a refusal of l that TryAcquire did not see (a
// connection not dialled at the host's limit).
func (b *Breaker) overflow(l Limit) { b.overflows[l].Add(1) }

// LimitError is a request refused by a circuit breaker limit (or the
// host's MaxConnsPerHost): it names which, for the overload reply. It
// wraps ErrPoolOverflow.
type LimitError struct {
	// Cluster is the cluster's name.
	Cluster string
	// What is the limit's config key (Limit.String), or
	// "max_conns_per_host".
	What string
	// Max is the limit's value.
	Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("cluster %s: circuit breaker %s (%d) reached", e.Cluster, e.What, e.Max)
}

// Unwrap makes errors.Is(err, ErrPoolOverflow) hold.
func (e *LimitError) Unwrap() error { return ErrPoolOverflow }

// Breaker is the cluster's circuit breaker counters. Any goroutine.
func (c *Cluster) Breaker() *Breaker { return c.brk }

// Limit is the cluster's circuit breaker limit l, 0 for none. Any
// goroutine.
func (c *Cluster) Limit(l Limit) int { return c.Spec.Breakers.max(l) }

// waiter is a request waiting for a connection (C is the pool's client
// type: PoolClient or MuxClient), and the breaker that counts it as
// pending (the cluster's when it queued: a reload may publish a new
// *Cluster meanwhile, with the same Breaker).
type waiter[C comparable] struct {
	cl  C
	brk *Breaker
}

// queueWaiter appends cl to ws under c's max_pending_requests, or returns
// the LimitError naming it.
func queueWaiter[C comparable](ws []waiter[C], c *Cluster, cl C) ([]waiter[C], *LimitError) {
	if limit := c.Limit(LimitPending); !c.brk.TryAcquire(LimitPending, limit) {
		return ws, &LimitError{Cluster: c.Spec.Name, What: LimitPending.String(), Max: limit}
	}
	return append(ws, waiter[C]{cl: cl, brk: c.brk}), nil
}

// popWaiter takes the oldest waiter off ws, giving back its pending slot;
// the zero C when ws is empty.
func popWaiter[C comparable](ws []waiter[C]) ([]waiter[C], C) {
	var w waiter[C]
	if len(ws) == 0 {
		return ws, w.cl
	}
	w = ws[0]
	copy(ws, ws[1:])
	ws[len(ws)-1] = waiter[C]{}
	w.brk.Release(LimitPending)
	return ws[:len(ws)-1], w.cl
}

// cancelWaiter removes cl from ws (its request went away), giving back
// its pending slot.
func cancelWaiter[C comparable](ws []waiter[C], cl C) []waiter[C] {
	for i, w := range ws {
		if w.cl == cl {
			copy(ws[i:], ws[i+1:])
			ws[len(ws)-1] = waiter[C]{}
			w.brk.Release(LimitPending)
			return ws[:len(ws)-1]
		}
	}
	return ws
}

// admitConn takes one connection slot to h under the host's
// MaxConnsPerHost and the cluster's max_connections (counted in brk), or
// returns the LimitError naming the limit that refused (each refusal is
// counted in brk's max_connections overflows). Pair a success with
// releaseConn.
func admitConn(c *Cluster, h *Host, brk *Breaker) *LimitError {
	if lim := c.Spec.MaxConnsPerHost; lim > 0 {
		if !h.TryAddConn(int64(lim)) {
			brk.overflow(LimitConnections)
			return &LimitError{Cluster: c.Spec.Name, What: "max_conns_per_host", Max: lim}
		}
	} else {
		h.AddConn(1)
	}
	if limit := c.Limit(LimitConnections); !brk.TryAcquire(LimitConnections, limit) {
		h.AddConn(-1)
		return &LimitError{Cluster: c.Spec.Name, What: LimitConnections.String(), Max: limit}
	}
	return nil
}

// releaseConn gives back an admitConn: the connection closed or its dial
// failed.
func releaseConn(h *Host, brk *Breaker) {
	h.AddConn(-1)
	brk.Release(LimitConnections)
}
