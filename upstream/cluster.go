package upstream

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// ErrNoHealthyHost is the error the proxy reports when Pick returns nil.
var ErrNoHealthyHost = errors.New("upstream: no healthy host")

// ClusterSpec defaults, applied by Manager.Update to zero fields.
const (
	DefaultConnectTimeout = 3 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxIdlePerHost = 1024
	// BurstIdleTimeout is how long a connection released past
	// MaxIdlePerHost stays idle before it closes.
	BurstIdleTimeout = time.Second
)

// ClusterSpec describes one cluster. Zero fields take the defaults above.
type ClusterSpec struct {
	// Name identifies the cluster; routes refer to it. Non-empty and unique.
	Name string
	// LB is the load-balancing policy; see ParseLBPolicy for MOSN names.
	LB LBPolicy
	// Hosts are the cluster's upstream servers, at least one, with distinct
	// addresses.
	Hosts []HostSpec
	// MetricsID is the cluster's label set in the per-loop metrics (an
	// internal/metrics ID, which the composition root resolves from the
	// name).
	MetricsID uint32
	// Dialer, when set, opens the cluster's connections in place of the
	// pool manager's: conn.TLSDialer for a cluster with TLS to its hosts.
	// nil dials with the manager's, at the cost of a nil check.
	Dialer conn.Dialer
	// Transport identifies how Dialer connects (its TLS settings and the
	// bytes of its certificate files; "" for plain TCP). A reload keeps a
	// host, its pools and their connections only when it is unchanged, so
	// that a connection is never lent under settings it was not made with.
	Transport string
	// ConnectTimeout bounds one dial: the TCP connect, and the TLS
	// handshake too with a TLS Dialer. Default 3s.
	ConnectTimeout time.Duration
	// IdleTimeout is how long a pooled connection may stay idle before it
	// is closed. Default 60s.
	IdleTimeout time.Duration
	// MaxConnsPerHost bounds the open and connecting sockets to one host,
	// summed over all event loops (Host.Conns); past it requests wait for a
	// connection of their loop, as under Breakers.MaxConnections. Zero
	// means no limit of its own (the process's socket budget binds).
	MaxConnsPerHost int
	// MaxIdlePerHost bounds the idle connections to one host kept by each
	// event loop for IdleTimeout: every loop owns its idle list, so a
	// global bound would need cross-loop coordination. A connection
	// released past it stays idle for BurstIdleTimeout at most, so that
	// the next burst reuses it instead of dialling again; past that the
	// total idle is at most loops × MaxIdlePerHost, and always at most
	// MaxConnsPerHost. Default 1024, as nginx's keepalive in the
	// reference config: a cap below what one loop has in flight makes
	// every burst of releases close connections that the next burst
	// dials again (measured by hand: docs/performance.md, "Up to 1024
	// idle connections per (host, loop)").
	MaxIdlePerHost int
	// Breakers are the cluster's circuit breaker limits, counted across
	// all event loops (breaker.go); zero limits, the default, shed
	// nothing.
	Breakers Thresholds
	// MaxPending bounds the requests waiting for a stream slot to one host
	// per event loop in the multiplexed pools (mux.go), besides
	// Breakers.MaxPendingRequests, which they count across the cluster as
	// ConnPool does; no config key sets it. Zero means no limit:
	// withDefaults sets it to math.MaxInt.
	MaxPending int
	// MaxRequestsPerConn closes a connection after it carried that many
	// requests. Zero means unlimited.
	MaxRequestsPerConn int
	// ConnBufferLimit bounds the bytes queued toward one upstream
	// connection (MOSN's conn_buffer_limit_bytes): past it the connection
	// reports itself full and the stream feeding it spills or stops
	// reading its client, as a downstream connection does past
	// ferry.buffers.write_high_watermark. Zero keeps the loop's watermarks.
	ConnBufferLimit int
	// HealthCheck, when set, runs active health checks on the hosts
	// (health.go); HealthChecker runs them.
	HealthCheck *HealthCheckSpec
	// Outlier, when set, ejects hosts whose requests fail in a row
	// (outlier.go).
	Outlier *OutlierSpec
	// PanicThreshold is Envoy's healthy_panic_threshold, a percentage in
	// 0..100: while fewer than that share of the hosts are healthy, picks
	// ignore health (panic mode, lb_panic.go). nil, the default, enters
	// panic mode only when no host is healthy; 0 never does (a cluster
	// without a healthy host picks nil).
	PanicThreshold *float64
	// DNS, when set, makes Hosts names to resolve ("name:port" targets)
	// and Resolved the hosts they resolved to (dns.go).
	DNS *DNSSpec
	// Resolved are a DNS cluster's hosts: Manager.ResolveSpecs fills them
	// in before Update, and the DNSRefresher after each resolution that
	// changed them. Unused without DNS.
	Resolved []HostSpec
}

// validate checks one spec; errors name the host index but not the cluster.
func (s *ClusterSpec) validate() error {
	if s.LB >= lbPolicyCount {
		return fmt.Errorf("unknown lb policy %d", uint8(s.LB))
	}
	if len(s.Hosts) == 0 {
		return errors.New("no hosts")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{name: "connect_timeout", v: int64(s.ConnectTimeout)},
		{name: "idle_timeout", v: int64(s.IdleTimeout)},
		{name: "max_conns_per_host", v: int64(s.MaxConnsPerHost)},
		{name: "max_idle_per_host", v: int64(s.MaxIdlePerHost)},
		{name: "max_connections", v: int64(s.Breakers.MaxConnections)},
		{name: "max_pending_requests", v: int64(s.Breakers.MaxPendingRequests)},
		{name: "max_requests", v: int64(s.Breakers.MaxRequests)},
		{name: "max_retries", v: int64(s.Breakers.MaxRetries)},
		{name: "max_pending", v: int64(s.MaxPending)},
		{name: "max_requests_per_conn", v: int64(s.MaxRequestsPerConn)},
		{name: "conn_buffer_limit", v: int64(s.ConnBufferLimit)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s is negative (%d)", f.name, f.v)
		}
	}
	if err := validatePanicThreshold(s.PanicThreshold); err != nil {
		return err
	}
	if s.HealthCheck != nil {
		if err := s.HealthCheck.validate(); err != nil {
			return err
		}
	}
	if s.Outlier != nil {
		if err := s.Outlier.validate(); err != nil {
			return err
		}
	}
	if s.DNS != nil {
		if err := s.DNS.validate(); err != nil {
			return err
		}
		if len(s.Resolved) == 0 {
			return errors.New("dns: the names are not resolved (Manager.ResolveSpecs)")
		}
		for i, h := range s.Resolved {
			if err := h.validate(); err != nil {
				return fmt.Errorf("resolved host %d: %w", i, err)
			}
		}
	}
	seen := make(map[string]int, len(s.Hosts))
	for i, h := range s.Hosts {
		if err := h.validate(); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
		if j, dup := seen[h.Address]; dup {
			return fmt.Errorf("host %d: address %q repeats host %d", i, h.Address, j)
		}
		seen[h.Address] = i
	}
	return nil
}

// withDefaults returns a copy of s with defaults applied and its own Hosts.
func (s ClusterSpec) withDefaults() ClusterSpec {
	s.Hosts = append([]HostSpec(nil), s.Hosts...)
	if s.DNS != nil {
		s.DNS = s.DNS.withDefaults()
		s.Resolved = append([]HostSpec(nil), s.Resolved...)
	}
	if s.HealthCheck != nil {
		s.HealthCheck = s.HealthCheck.clone()
	}
	if s.Outlier != nil {
		o := *s.Outlier
		s.Outlier = &o
	}
	if s.PanicThreshold != nil {
		t := *s.PanicThreshold
		s.PanicThreshold = &t
	}
	for _, hs := range [][]HostSpec{s.Hosts, s.Resolved} {
		for i := range hs {
			if hs[i].Weight == 0 {
				hs[i].Weight = 1
			}
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.MaxIdlePerHost, DefaultMaxIdlePerHost)
	def(&s.MaxPending, math.MaxInt)
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	return s
}

// Cluster is an immutable group of hosts with a load-balancing policy. A
// reload builds a new Cluster; a request that picked from an old one may
// finish on it.
type Cluster struct {
	// Spec is the effective spec, defaults applied. Read-only.
	Spec ClusterSpec
	b    *balancer
	// stats are the cluster's counters, kept across reloads (outlier.go).
	stats *clusterStats
	// brk is the cluster's circuit breaker counters, kept across reloads
	// like stats (breaker.go).
	brk *Breaker
	// targets are a DNS cluster's names, its spec's Hosts before
	// resolution (Spec.Hosts are what they resolved to); nil otherwise.
	targets []HostSpec
}

// Name is the cluster's name. Any goroutine.
func (c *Cluster) Name() string { return c.Spec.Name }

// Hosts returns the cluster's hosts in spec order. The slice is shared:
// callers must not modify it. Any goroutine.
func (c *Cluster) Hosts() []*Host { return c.b.hosts }

// Pick chooses a host for a request by the cluster's policy, skipping
// unhealthy hosts. In panic mode it picks among all of them, health
// ignored (counted in Stats().LBPanics): by default when no host is
// healthy, with ClusterSpec.PanicThreshold when the healthy share is below
// it, never with a threshold of 0. It returns nil for a cluster without
// hosts, or without a healthy host and panic mode off (the proxy answers
// with ErrNoHealthyHost). Lock-free, no allocation. Any goroutine.
func (c *Cluster) Pick() *Host { return c.PickExcluding(nil) }

// PickExcluding is Pick for a retry: it avoids prev, the host that just
// failed. It returns prev only when prev is the cluster's one healthy host
// (or, in panic mode, its one host). Lock-free, no allocation. Any
// goroutine.
func (c *Cluster) PickExcluding(prev *Host) *Host {
	b := c.b
	if b.panic == panicBelow && b.panicking() {
		return c.pickPanic(prev)
	}
	if h := b.pick(prev); h != nil || b.panic == panicNever {
		return h
	}
	return c.pickPanic(prev)
}

// HealthyHosts counts the cluster's healthy hosts, for admin. Any goroutine.
func (c *Cluster) HealthyHosts() int {
	n := 0
	for _, h := range c.b.hosts {
		if h.Healthy() {
			n++
		}
	}
	return n
}

// snapshot is one published set of clusters. Never modified.
type snapshot struct {
	byName map[string]*Cluster
	list   []*Cluster // spec order
}

// Manager holds the current set of clusters and swaps it atomically on
// reload.
type Manager struct {
	mu   sync.Mutex // serialises Update
	snap atomic.Pointer[snapshot]
	// removeFns hear of the hosts each Update removes (the pool managers).
	removeFns []func(removed []*Host)
	// changeFns hear of every Update's clusters (the health checker).
	changeFns []func(list []*Cluster)
}

// NewManager returns a Manager with no clusters. Any goroutine.
func NewManager() *Manager {
	m := &Manager{}
	m.snap.Store(&snapshot{byName: map[string]*Cluster{}})
	return m
}

// Get returns the current cluster named name, or nil. Lock-free, no
// allocation. Any goroutine.
func (m *Manager) Get(name string) *Cluster { return m.snap.Load().byName[name] }

// Clusters returns the current clusters in the order of the last Update.
// The slice is the caller's. Any goroutine.
func (m *Manager) Clusters() []*Cluster {
	return append([]*Cluster(nil), m.snap.Load().list...)
}

// Update validates specs and, when all are valid, replaces the whole set of
// clusters at once; otherwise it changes nothing and returns an error naming
// the cluster (index and name) and, where relevant, the host index.
//
// A host whose cluster name and address are unchanged keeps its *Host (with
// its counters, health and pools); its weight takes the new value. Hosts
// that disappear are marked Removed after the swap, and the pool managers
// built with this Manager (PoolManagerOptions.Clusters) are told, so that
// every loop closes their idle connections. Concurrent calls are
// serialised. Any goroutine.
func (m *Manager) Update(specs []ClusterSpec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.update(specs)
}

// update is Update with m.mu held.
func (m *Manager) update(specs []ClusterSpec) error {
	if err := validateAll(specs); err != nil {
		return err
	}
	old := m.snap.Load()
	next := &snapshot{
		byName: make(map[string]*Cluster, len(specs)),
		list:   make([]*Cluster, 0, len(specs)),
	}
	kept := make(map[*Host]bool)
	for i := range specs {
		c := buildCluster(specs[i].withDefaults(), old.byName[specs[i].Name], kept)
		next.byName[c.Spec.Name] = c
		next.list = append(next.list, c)
	}
	m.snap.Store(next)
	var removed []*Host
	for _, c := range old.list {
		for _, h := range c.b.hosts {
			if !kept[h] {
				h.removed.Store(true)
				removed = append(removed, h)
			}
		}
	}
	if len(removed) > 0 {
		for _, fn := range m.removeFns {
			fn(removed)
		}
	}
	for _, fn := range m.changeFns {
		fn(next.list)
	}
	return nil
}

// onChange registers fn to be called by every later Update with the new
// clusters, after the swap and with Update's lock held. fn must not
// block. Any goroutine.
func (m *Manager) onChange(fn func(list []*Cluster)) {
	m.mu.Lock()
	m.changeFns = append(m.changeFns, fn)
	m.mu.Unlock()
}

// onRemove registers fn to be called by every later Update that removes
// hosts, after they are marked Removed, with Update's lock held (so calls
// come in the order of the updates). fn must not block. Any goroutine.
func (m *Manager) onRemove(fn func(removed []*Host)) {
	m.mu.Lock()
	m.removeFns = append(m.removeFns, fn)
	m.mu.Unlock()
}

// validateAll checks every spec and the uniqueness of names.
func validateAll(specs []ClusterSpec) error {
	names := make(map[string]int, len(specs))
	for i := range specs {
		s := &specs[i]
		if s.Name == "" {
			return fmt.Errorf("upstream: cluster %d: empty name", i)
		}
		if j, dup := names[s.Name]; dup {
			return fmt.Errorf("upstream: cluster %d %q: name repeats cluster %d", i, s.Name, j)
		}
		names[s.Name] = i
		if err := s.validate(); err != nil {
			return fmt.Errorf("upstream: cluster %d %q: %w", i, s.Name, err)
		}
	}
	return nil
}

// buildCluster makes a Cluster from a defaulted spec, reusing the hosts of
// prev (the cluster of the same name, or nil) by address and recording them
// in kept.
func buildCluster(s ClusterSpec, prev *Cluster, kept map[*Host]bool) *Cluster {
	var targets []HostSpec
	if s.DNS != nil {
		targets, s.Hosts, s.Resolved = s.Hosts, s.Resolved, nil
	}
	reuse := map[string]*Host{}
	stats, brk := &clusterStats{}, &Breaker{}
	if prev != nil {
		stats, brk = prev.stats, prev.brk
		for _, h := range prev.b.hosts {
			reuse[h.address] = h
		}
	}
	hosts := make([]*Host, len(s.Hosts))
	weights := make([]uint64, len(s.Hosts))
	for i, hs := range s.Hosts {
		h := reuse[hs.Address]
		if h != nil && prev.Spec.Transport != s.Transport {
			h = nil // dialled another way now: a new host, with new pools (the old one is removed)
		}
		if h == nil {
			h = newHost(s.Name, hs)
		}
		h.weight.Store(hs.Weight)
		kept[h] = true
		hosts[i] = h
		weights[i] = uint64(hs.Weight)
	}
	c := &Cluster{Spec: s, b: newBalancer(s.LB, hosts, weights), stats: stats, brk: brk, targets: targets}
	c.b.setPanic(s.PanicThreshold)
	c.attachOutlier()
	return c
}
