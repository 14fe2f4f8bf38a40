// Package upstream owns ferry's view of the servers it proxies to: clusters
// of hosts, the load-balancing policies that pick a host for each request,
// per-host counters and health flags, and the per-loop connection pools
// (pool*.go).
//
// # Specs and snapshots
//
// The package takes its own spec types (ClusterSpec, HostSpec, LBPolicy); the
// caller translates the config package into them, so upstream imports no
// config. Manager.Update validates a full set of ClusterSpecs, applies
// defaults, builds one immutable *Cluster per spec and swaps the whole set in
// with one atomic store. A *Cluster is never modified after it is published;
// a reload builds new ones.
//
// A *Host is identified by its cluster name and address. Update keeps the
// same *Host pointer for every (cluster, address) pair present before and
// after a reload, so counters, health and the connection pools keyed by
// *Host survive it. A Host dropped by a reload is marked Removed, and Update
// then calls PoolManager.RemoveHosts on every pool manager built with the
// Manager (PoolManagerOptions.Clusters): each loop that holds pools closes
// the host's idle connections at once and forgets its pool. A connection
// lent out is closed when its request releases it, and a dial still in
// flight when it lands (unless a request already waiting takes it: waiting
// requests picked the host before the reload and are still served). A
// request that picks the removed host from an old snapshot gets a pool of
// its own that keeps nothing. Removed itself is read only there, when a
// pool is created; Pick never sees a removed host, because no current
// cluster holds it.
// PoolManager and MuxManager (HTTP/2) keep their pools in the same
// per-loop registry, loopPools (looppools.go), generic in the pool type:
// registering a new pool (publish the loop, then read Removed) and
// RemoveHosts are written once. The lookup of an existing pool stays in
// each manager's Pool, a plain map read on the request path.
//
// # Connection pools
//
// A ConnPool holds one host's connections on one event loop: idle ones in
// a FIFO, requests waiting for one, and the dials in flight. It never
// dials itself: a conn.Dialer (conn/dial.go) connects on a worker and
// delivers the connection, or the failure, on the pool's loop, so
// upstream does not import gnet. The pools are generic over the protocol
// handler H that PoolManagerOptions.OnConnect attaches to each
// connection, so the proxy gets its *upConn back typed, with no
// assertion. A cluster with TLS to its hosts brings its own Dialer
// (ClusterSpec.Dialer, a conn.TLSDialer); ClusterSpec.Transport names its
// settings, and a reload that changes them replaces the cluster's hosts,
// so that no connection outlives the settings it was made with. Taking an idle connection and giving it back allocates
// nothing (BenchmarkPoolCheckout measures it, TestPoolCheckoutAllocs pins
// it).
//
// # Circuit breakers and defaults that never shed (breaker.go)
//
// Without circuit_breakers nothing refuses a request a healthy upstream
// could take: no per-host connection cap (MaxConnsPerHost 0), no pending
// cap, and a dial the process cannot start now (conn.ErrDialerBusy: every
// worker busy; conn.ErrBudget: the socket budget spent) leaves the request
// waiting: for one of its loop's connections to come back, or for the
// pool's redial timer (20 ms), which dials again for every waiter no dial
// in flight serves. Each waiter is a stream a listener admitted, so the
// queues are bounded by max_connections and the HTTP/2 stream limits, not
// by a limit of their own; each request's route timeout still bounds its
// wait. Before, 1,024 connections per host and 1,024 waiters per (host,
// loop) shed 71-82% of 10,000 concurrent streams with 503s; now none
// (h2load -c 100 -m 100 -D 4, then -c 1000 -m 10 -D 4, against an h2c
// listener in front of bench/upstream on 127.0.0.1; docs/performance.md,
// "Defaults that never shed").
//
// Thresholds (MOSN's circuit_breakers[0]) are per cluster and counted
// across every loop by the cluster's Breaker: one atomic counter per limit,
// each on its own cache line, taken with a CAS loop so that two loops
// never both take the last slot. A reload keeps the Breaker of a cluster
// that keeps its name, so what is in flight stays counted. The pool counts
// max_connections (open and connecting sockets of every host; past it
// requests wait for a connection of their loop, as in Envoy, and fail with
// a *LimitError only on a loop holding none to the host) and
// max_pending_requests (requests waiting for a connection; past it a
// request fails at once). The proxy counts max_requests (each attempt
// from its pool request to its detach) and max_retries (a policy retry
// from its decision to the end of the retried attempt). A limit not set
// costs a field read on the request path; a set one, an atomic add and
// subtract per request on a line the loops share (BenchmarkBreakerRequest,
// figures in docs/performance.md).
//
// # Multiplexed pools (mux.go)
//
// HTTP/2 upstreams share connections between requests: a MuxPool holds
// one host's multiplexed connections on one loop, and a request takes a
// stream slot rather than a connection. Slots are taken on the first
// connection with room, so traffic packs onto as few connections as the
// peer's stream limit allows and the rest time out idle; when every
// connection is full the request waits and the pool dials, as many
// connections as the waiters need at the limit the host's connections
// last stated (MOSN's one connection per host and protocol is a known
// bottleneck: a slow stream limit or a busy upstream core caps the host).
// The protocol handler (H, a MuxHandler) reports what the peer allows
// (MuxConn.SetLimit: one stream until its settings arrive), a GOAWAY
// (Drain: no new stream, closed when the last one ends) and PING answers;
// the pool times idle connections (the cluster's idle timeout) and probes
// them with PING, closing one that does not answer in time. The pool is
// protocol-agnostic and dials through a conn.Dialer: the manager's for a
// plain cluster (h2c), and for a cluster with TLS (ClusterSpec.Dialer) its
// HTTP/2 dialer (conn.H2Capable: ALPN offering "h2" alone; a host that
// does not choose it fails the dial, conn.ErrH2NotNegotiated). A TLS
// dialer that cannot offer h2 fails the waiters with ErrH2OverTLS rather
// than send h2c in plain text. The proxy's OnConnect refuses a TLS
// connection whose ALPN is not h2 all the same (MuxConn.Refuse fails the
// waiters, no redial) and sends :scheme https on one that is. Failing
// streams is the handler's: the pool only forgets a closed connection.
//
// # Load balancing
//
// Cluster.Pick and Cluster.PickExcluding are lock-free and allocation-free.
// Every policy skips unhealthy hosts. In panic mode Pick routes across all
// of them by the policy's draw, health ignored, and counts it in
// Cluster.Stats().LBPanics: by default when no host is healthy, and with
// ClusterSpec.PanicThreshold (Envoy's healthy_panic_threshold) when the
// healthy share of the hosts is below it; a threshold of 0 turns panic mode
// off, and a cluster without a healthy host then picks nil (lb_panic.go).
// The threshold's test reads two words: a healthy count that the balancer
// caches with the epoch of host health changes it was made at (one
// process-wide counter, moved by every change between healthy and out of
// rotation), recounted only when the epoch moved.
// Unhealthy candidates are redrawn (up to 32 times, or n times for round
// robin); past that, Pick scans the hosts in order for the next healthy one,
// which favours the host after a long run of unhealthy ones. See LBPolicy
// for each policy's algorithm.
//
// RingHash and Maglev (lb_hash.go, lb_ring.go, lb_maglev.go) map a request
// key to a host: Cluster.PickHash takes the key (the proxy computes it from
// the route's hash policy), Cluster.Hashing says whether the cluster wants
// one, and a request without a key gets a weighted random pick. Their
// lookup structures are built in Manager.Update from the whole host list
// and never on the pick path; health is applied at pick time by walking on
// from the key's entry to the next usable host, so keys of healthy hosts
// never move when another host fails. Removing one of N hosts keeps every
// other host's keys on the ring and all but about 1% of them with Maglev
// (TestHashConsistency). Every policy picks from 100 hosts in under 50 ns
// without allocating (go test -run x -bench BenchmarkPick100 -benchmem
// ./upstream/).
//
// # Health checks and outlier detection
//
// A host is out of rotation while any reason in its down word holds:
// active health checks failed it (health.go), outlier detection ejected it
// (outlier.go), or SetHealthy(false). Pick reads the word with one atomic
// load per candidate, so every loop sees a flip at its next pick, without
// a lock.
//
// HealthChecker runs the active checks of every cluster with a
// HealthCheckSpec. Each checked host has one probe owned by one event
// loop, host number mod loops (host numbers follow creation order, so a
// reload never moves a kept host), and driven by a conn.Timer on that
// loop; the first probe is at a random point of the interval so hosts do
// not probe in step. A probe dials through the conn.Dialer like a pooled
// connection (the connect on a worker, the socket on the loop). A Tcp
// probe passes when the connection opens. An Http1 probe sends one
// "METHOD path HTTP/1.1" with Connection: close on a fresh connection and
// parses the response head with internal/codec/http1 straight from the
// loop's input (nothing copied), at most maxProbeHead (8 KiB) bytes; the
// status passes when it is in ExpectedStatuses (200 only by default).
// Timeout bounds the connect and the head. A host starts healthy (as in
// MOSN), leaves after UnhealthyThreshold failures in a row and returns
// after HealthyThreshold passes; a dial refused for ferry's own reasons
// (socket budget, workers busy) is no verdict. 10,000 checked hosts add no
// goroutine (TestHealthCheckManyHostsNoGoroutines). The checker follows
// Manager.Update: kept hosts keep their probe and counts, removed hosts'
// probes stop (their connection closed, a dial in flight dropped when it
// lands), and a host whose cluster drops health_check returns to rotation.
// Loops are known only once they exist: HealthChecker.AddLoop, or
// KnownLoops at every probe and update (internal/app warms them up).
//
// Outlier detection counts, per host, consecutive 5xx, consecutive
// gateway failures (502-504) and consecutive connect failures, in atomics
// (the requests of one host run on every loop). The proxy reports each
// response status (Host.Outcome), and its own upstream failures as the
// status they stand for (a timeout 504, a reset or a malformed response
// 502) or as Host.ConnectFailed. The failure that reaches a threshold
// ejects the host at once, for BaseEjectionTime × its multiplier (capped
// by MaxEjectionTime; the multiplier drops by one per Interval in
// rotation), unless MaxEjectionPercent of the cluster is out already (one
// host may always go, as in Envoy). The return is a timer on the loop that
// reported the failure: no sweep, no goroutine. With no outlier_detection,
// Outcome is one atomic load and a nil check; with it, a success only
// loads the counters (BenchmarkPickOutlier, TestPickOutlierAllocs).
//
// # Goroutines
//
//   - Manager.Update runs on a control goroutine (startup, admin, xDS); calls
//     are serialised by a mutex. Manager.Get and Manager.Clusters, Cluster.Pick
//     and every Host method may be called from any goroutine: loops, workers
//     and control goroutines.
//   - Host counters are atomics. Health is one atomic word of reasons
//     (health check failed, ejected, SetHealthy(false)) written by health
//     checks and outlier detection and read by Pick (loops).
//   - Connection pools (pool*.go, mux*.go) are per event loop and Loop only, except
//     PoolManager.RemoveHosts (it hands the work to the loops with
//     Loop.Execute) and PoolManager.Quiesce.
//
// # Imports
//
// upstream may import conn (Loop, Conn and the Dialer interface),
// filterchain, internal/* and bytedance/gopkg. It must not import gnet
// (dialling and enrolling sockets is conn's), proxy, router, eventloop or
// config.
package upstream
