// Package tcpproxy is MOSN's tcp_proxy network filter: each client
// connection is relayed byte for byte to a host of a cluster.
//
// The cluster is the filter's cluster, else the first route whose
// criteria all match (source and destination CIDRs and ports; a criterion
// left empty matches anything, as Envoy's; MOSN's own code never matches
// an empty list). A connection no route matches is closed. The host is
// picked by the cluster's balancer; a failed connect tries another host
// (PickExcluding the last) up to max_connect_attempts (default 1, as
// Envoy), and when every attempt failed the client is closed. The client's
// bytes wait in the relay's queue while the upstream connects.
//
// The bytes move through internal/relay on the client's loop, upstream
// connection included (conn.Dialer dials for that loop; a cluster with
// TLS to its hosts dials with its own Dialer, upstream.ClusterSpec.Dialer,
// and that side is written through its record layer): backpressure
// both ways with memory bounded by the spill queues, half-close, and the
// idle timeout. TLS termination in front of the filter is the listener's
// (conn.TLSServer); the filter sees plain text.
//
// Counters: per listener, connections (ferry_listener_downstream_*), bytes
// each way (the listener's received/sent bytes), connect failures and
// connections with no upstream (ferry_listener_tcp_proxy_*); per cluster,
// bytes each way and connect failures; Factory.Stats for tests and logs.
//
// Imports: conn, filterchain, upstream, internal/relay, internal/spill,
// internal/metrics; never proxy or gnet.
package tcpproxy
