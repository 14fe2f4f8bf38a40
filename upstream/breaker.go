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
