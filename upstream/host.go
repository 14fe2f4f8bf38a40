package upstream

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
)

// MaxWeight is the largest host weight a HostSpec may carry.
const MaxWeight = 1<<16 - 1

// HostSpec describes one upstream host of a cluster.
type HostSpec struct {
	// Address is "ip:port", "[ipv6]:port" or "name:port". The port is
	// numeric, 1..65535. Names are resolved when dialling.
	Address string
	// Weight is the host's share of the traffic for the weighted policies
	// (WeightedRoundRobin, Random, LeastRequest). Zero means 1; at most
	// MaxWeight.
	Weight uint32
	// MetricsID is the host's label set in the per-loop metrics (an
	// internal/metrics ID, which the composition root resolves from the
	// cluster and address, so a host kept across a reload keeps it).
	MetricsID uint32
}

// validate checks the spec; the error does not name the host.
func (s HostSpec) validate() error {
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		return fmt.Errorf("address %q: want host:port: %w", s.Address, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: empty host", s.Address)
	}
	if strings.ContainsAny(host, " \t\r\n/") {
		return fmt.Errorf("address %q: invalid character in host", s.Address)
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port %q is not a number in 1..65535", s.Address, port)
	}
	if s.Weight > MaxWeight {
		return fmt.Errorf("weight %d above the maximum %d", s.Weight, MaxWeight)
	}
	return nil
}

// Host is one upstream server of one cluster. Its identity (cluster name and
// address) never changes; its weight may change on a reload. Everything else
// is an atomic counter or flag, so every method may be called from any
// goroutine.
//
// Concurrency: the counters are plain atomics and are not updated together.
// A reader sees each counter's latest value, not a consistent set.
type Host struct {
	address string
	cluster string
	// metricsID is HostSpec.MetricsID.
	metricsID uint32

	// weight is atomic because Manager.Update keeps the *Host across a
	// reload that changes its weight, while loops still read the old one.
	weight atomic.Uint32
	// down holds the reasons the host is out of rotation (downCheck,
	// downEjected, downManual); zero means healthy. Health checks and
	// outlier detection write it, Pick reads it on every loop: one load.
	down atomic.Uint32
	// seq numbers the hosts of a Manager in creation order; a health
	// check runs on loop seq mod loops (health.go).
	seq uint64
	// od is the outlier detection state (outlier.go); od.det is nil when
	// the cluster has no outlier_detection, and then Outcome and
	// ConnectFailed cost one load and a nil check.
	od outlierHost
	// hc is the health check record (health.go), for admin and metrics.
	hc healthStats
	// removed is set by Manager.Update when a reload drops the host.
	removed atomic.Bool

	// active lives on the host, not in a per-loop pool, because
	// LeastRequest compares hosts across all loops.
	active atomic.Int64
	// conns counts open and connecting sockets across all loops, so that
	// MaxConnsPerHost is a per-host limit, not a per-loop one.
	conns atomic.Int64
	// requests and connectFailures are statistics for admin.
	requests        atomic.Uint64
	connectFailures atomic.Uint64
}

// Reasons a host is out of rotation (Host.down bits).
const (
	// downCheck: active health checks failed unhealthy_threshold times.
	downCheck uint32 = 1 << iota
	// downEjected: outlier detection ejected the host.
	downEjected
	// downManual: SetHealthy(false).
	downManual
)

// hostSeq numbers new hosts (Host.seq).
//
//nolint:gochecknoglobals // a counter, so that hosts spread over the loops
var hostSeq atomic.Uint64

// newHost returns a healthy host.
func newHost(cluster string, s HostSpec) *Host {
	h := &Host{address: s.Address, cluster: cluster, metricsID: s.MetricsID, seq: hostSeq.Add(1) - 1}
	h.weight.Store(s.Weight)
	h.od.timer.Init((*returnTimer)(h))
	return h
}

// MetricsID is HostSpec.MetricsID. Any goroutine.
func (h *Host) MetricsID() uint32 { return h.metricsID }

// Address is the host's "host:port". Any goroutine.
func (h *Host) Address() string { return h.address }

// ClusterName is the name of the cluster the host belongs to. Any goroutine.
func (h *Host) ClusterName() string { return h.cluster }

// String returns "cluster/address", for logs. Any goroutine.
func (h *Host) String() string { return h.cluster + "/" + h.address }

// Weight is the host's current weight, at least 1. Any goroutine.
func (h *Host) Weight() uint32 { return h.weight.Load() }

// Healthy reports whether load balancers may pick the host: no health
// check failed it, outlier detection has not ejected it and SetHealthy did
// not take it out. A new host is healthy. Any goroutine.
func (h *Host) Healthy() bool { return h.down.Load() == 0 }

// SetHealthy takes the host out of rotation by hand, or puts it back (it
// stays out while a health check or an ejection holds it); Pick sees the
// change on its next call. Any goroutine.
func (h *Host) SetHealthy(ok bool) { h.setDown(downManual, !ok) }

// setDown sets or clears one reason the host is out of rotation. Any
// goroutine.
func (h *Host) setDown(bit uint32, on bool) {
	var old, now uint32
	if on {
		old = h.down.Or(bit)
		now = old | bit
	} else {
		old = h.down.And(^bit)
		now = old &^ bit
	}
	if (old == 0) != (now == 0) {
		healthEpoch.Add(1) // after the change: a balancer's count at the old epoch is redone (lb_panic.go)
	}
}

// Removed reports whether a reload dropped the host from its cluster. A
// removed host is never picked by a current cluster. Pool managers built
// with the Manager have already been told (PoolManager.RemoveHosts) and
// close its idle connections on every loop; PoolManager.Pool reads Removed
// so that a request still holding the host gets a pool that keeps nothing.
// Any goroutine.
func (h *Host) Removed() bool { return h.removed.Load() }

// Active is the number of requests in flight on the host. Any goroutine.
func (h *Host) Active() int64 { return h.active.Load() }

// IncActive records the start of a request on the host; it also counts the
// request in Requests. Pair it with one DecActive. Any goroutine.
func (h *Host) IncActive() {
	h.active.Add(1)
	h.requests.Add(1)
}

// DecActive records the end of a request started with IncActive. Any
// goroutine.
func (h *Host) DecActive() { h.active.Add(-1) }

// Requests is the number of requests ever started on the host (IncActive
// calls). Any goroutine.
func (h *Host) Requests() uint64 { return h.requests.Load() }

// AddConn adds delta to the host's connection count (open and connecting
// sockets, all loops) and returns the new count. Any goroutine.
func (h *Host) AddConn(delta int64) int64 { return h.conns.Add(delta) }

// Conns is the host's connection count (open and connecting sockets, all
// loops). Any goroutine.
func (h *Host) Conns() int64 { return h.conns.Load() }

// TryAddConn adds one connection if the count stays at or below limit, and
// reports whether it did. Unlike AddConn followed by a check, two loops
// racing for the last slot cannot both win. Any goroutine.
func (h *Host) TryAddConn(limit int64) bool {
	for {
		n := h.conns.Load()
		if n >= limit {
			return false
		}
		if h.conns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// ConnectFailures is the number of failed connection attempts. Any
// goroutine.
func (h *Host) ConnectFailures() uint64 { return h.connectFailures.Load() }

// connectFailed counts a failed connection attempt.
func (h *Host) connectFailed() { h.connectFailures.Add(1) }
