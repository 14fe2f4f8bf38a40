package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/upstream"
)

// TLS to upstreams (docs/tls.md, "Upstream TLS"). A cluster whose
// tls_context (or cluster_manager.tls_context, with cluster_manager_tls)
// has status true dials its hosts with a conn.TLSDialer, built from
// config.ClusterTLS, the checks Validate makes. Every dialer shares one
// TCPDialer, the proxy's, so that the proxy's Quiesce covers their dials.
// A cluster without TLS keeps the proxy's dialer (ClusterSpec.Dialer nil).
// A TLS cluster's HTTP/1.1 connections offer ALPN http/1.1 and an Http2
// proxy's h2 (TLSDialer.H2Dialer, which upstream's multiplexed pool asks
// for), each within the cluster's alpn (config.ClientTLS.H2).
//
// Between reloads, the App's certificate watcher (tls.go) checks each
// cluster's CA, certificate and key files every 2 seconds; a change is
// read into its dialer (conn.TLSDialer.SetConfig) for new connections,
// and a file that fails to load leaves the last good material in use and
// is logged. A reload reads the files again too. A cluster whose
// settings and files are unchanged keeps its dialer (its session cache and
// counters) and its hosts' pooled connections; otherwise it gets a new
// dialer, and upstream.Manager replaces its hosts (ClusterSpec.Transport),
// closing the idle connections made with the old settings.

// upstreamKeepAlive is the TCP keep-alive of upstream sockets, as the
// proxy's own default dialer has it.
const upstreamKeepAlive = 30 * time.Second

// upstreamTLSState is the App's TLS to upstreams.
type upstreamTLSState struct {
	// tcp is the dialer every cluster's connections go through.
	tcp *conn.TCPDialer
	// clusters are the TLS clusters' dialers by cluster name, as the last
	// successful build or reload made them.
	clusters atomic.Pointer[map[string]*clusterDialer]
}

// clusterDialer is one TLS cluster's dialer.
type clusterDialer struct {
	// key is config.ClientTLS.Key with the hosts dialled in plain text.
	key string
	tls *conn.TLSDialer
	// dialer is tls, or a hostsDialer when hosts have tls_disable.
	dialer conn.Dialer
	// watch reloads the cluster's CA, certificate and key files into tls
	// when they change (tls.go's watcher checks it); nil without files.
	watch *conn.FileWatch
	// lastLog is when a handshake failure was last logged (UnixNano), and
	// quiet how many were not since: at most one line a second.
	lastLog atomic.Int64
	quiet   atomic.Int64
}

// upstreamDialer returns the TCP dialer of upstream connections, made on
// first use. Called while the App is built.
func (a *App) upstreamDialer() (*conn.TCPDialer, error) {
	if a.upTLS.tcp == nil {
		d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: a.workers.Submit, KeepAlive: upstreamKeepAlive})
		if err != nil {
			return nil, err
		}
		a.upTLS.tcp = d
	}
	return a.upTLS.tcp, nil
}

// upstreamTLS gives the specs of clusters with TLS their dialer and
// transport key, from cm (the config specs were built from), and makes
// them the current ones. Problems come back at the path of the field at
// fault. A cluster with insecure_skip is logged as a warning.
func (a *App) upstreamTLS(cm *config.ClusterManager, specs []upstream.ClusterSpec) error {
	tcp, err := a.upstreamDialer()
	if err != nil {
		return err
	}
	var old map[string]*clusterDialer
	if m := a.upTLS.clusters.Load(); m != nil {
		old = *m
	}
	byName := make(map[string]int, len(cm.Clusters))
	for i := range cm.Clusters {
		byName[cm.Clusters[i].Name] = i
	}
	next := map[string]*clusterDialer{}
	var p problems
	for si := range specs {
		s := &specs[si]
		ci, ok := byName[s.Name]
		if !ok {
			continue
		}
		ct := config.ClusterTLS(cm, ci, p.add)
		if ct == nil {
			continue
		}
		key := ct.Key
		plain := map[string]bool{}
		for _, h := range cm.Clusters[ci].Hosts {
			if h.TLSDisable {
				plain[h.Address] = true
				key += " plain:" + h.Address
			}
		}
		cd := old[s.Name]
		if cd == nil || cd.key != key {
			cd, err = a.newClusterDialer(s.Name, key, ct, tcp, plain)
			if err != nil {
				p.add(ct.Path, err.Error())
				continue
			}
		}
		if ct.InsecureSkip {
			a.log.Warn("the hosts' certificates are not verified (insecure_skip): TLS to them is encrypted but not authenticated",
				"cluster", s.Name, "path", ct.Path+".insecure_skip")
		}
		s.Dialer, s.Transport = cd.dialer, key
		next[s.Name] = cd
	}
	if err := p.err(); err != nil {
		return err
	}
	a.upTLS.clusters.Store(&next)
	return nil
}

// newClusterDialer builds the dialer of cluster name.
func (a *App) newClusterDialer(name, key string, ct *config.ClientTLS, tcp *conn.TCPDialer, plain map[string]bool) (*clusterDialer, error) {
	cd := &clusterDialer{key: key}
	d, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: ct.Config, TCP: tcp, Submit: a.workers.Submit, H2: ct.H2,
		OnHandshakeError: func(addr string, err error) { cd.logFailure(a, name, addr, err) }})
	if err != nil {
		return nil, err
	}
	cd.tls, cd.dialer = d, d
	inUse := ct.Key // the bytes of the files the dialer's configuration has; the watcher's alone
	cd.watch = conn.NewFileWatch(ct.Files, func() (bool, error) {
		next, err := ct.Reload()
		if err != nil {
			return false, fmt.Errorf("cluster %s: %w", name, err)
		}
		if next.Key == inUse {
			return false, nil // touched, not changed: the sessions stay
		}
		inUse = next.Key
		d.SetConfig(next.Config)
		a.log.Info("upstream TLS files changed: new connections use them", "cluster", name, "path", ct.Path)
		return true, nil
	})
	if len(plain) > 0 {
		cd.dialer = &hostsDialer{tls: d, tcp: tcp, plain: plain}
	}
	return cd, nil
}

// logFailure logs a failed handshake with its reason, at most once a
// second per cluster (a host that fails every dial under load would
// otherwise write a line per request); the count of those not logged
// rides on the next line. On a loop: it must not block, and slog's
// handler writes a line as the access log's does.
func (cd *clusterDialer) logFailure(a *App, cluster, addr string, err error) {
	now := time.Now().UnixNano()
	last := cd.lastLog.Load()
	if now-last < int64(time.Second) || !cd.lastLog.CompareAndSwap(last, now) {
		cd.quiet.Add(1)
		return
	}
	a.log.Warn("upstream TLS handshake failed; the request is answered 503 (connect failure)",
		"cluster", cluster, "host", addr, "err", err, "not_logged_since", cd.quiet.Swap(0))
}

// hostsDialer dials the hosts with tls_disable in plain text and the
// others with the cluster's TLS.
type hostsDialer struct {
	tls   *conn.TLSDialer
	tcp   *conn.TCPDialer
	plain map[string]bool // read only
	h2    bool            // H2Dialer's: h2 by ALPN to the TLS hosts
}

// Dial implements conn.Dialer.
func (d *hostsDialer) Dial(l *conn.Loop, addr string, timeout time.Duration, h conn.DialHandler) error {
	switch {
	case d.plain[addr]:
		return d.tcp.Dial(l, addr, timeout, h) // h2c for an Http2 proxy, as the host is configured
	case d.h2:
		return d.tls.H2Dialer().Dial(l, addr, timeout, h)
	}
	return d.tls.Dial(l, addr, timeout, h)
}

// H2Dialer implements conn.H2Capable: the TLS hosts by ALPN h2, the
// plain ones as before.
func (d *hostsDialer) H2Dialer() conn.Dialer {
	return &hostsDialer{tls: d.tls, tcp: d.tcp, plain: d.plain, h2: true}
}

// Quiesce implements conn.Dialer: both dial through tcp.
func (d *hostsDialer) Quiesce(ctx context.Context) error { return d.tcp.Quiesce(ctx) }

// UpstreamTLSStats are the counters of cluster's TLS dialer, nil when the
// cluster has no TLS. Any goroutine.
func (a *App) UpstreamTLSStats(cluster string) *conn.TLSStats {
	m := a.upTLS.clusters.Load()
	if m == nil || (*m)[cluster] == nil {
		return nil
	}
	return (*m)[cluster].tls.Stats()
}

// upstreamTLSCollector exports the TLS clusters' counters as
// ferry_upstream_tls_events_total{cluster, event}.
type upstreamTLSCollector struct {
	a    *App
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *upstreamTLSCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Any goroutine.
func (c *upstreamTLSCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.a.upTLS.clusters.Load()
	if m == nil {
		return
	}
	for name, cd := range *m {
		s := cd.tls.Stats()
		for _, e := range []struct {
			name string
			v    uint64
		}{
			{"handshake", s.Handshakes.Load()}, {"resumed", s.Resumed.Load()},
			{"handshake_error", s.HandshakeErrors.Load()}, {"handshake_timeout", s.HandshakeTimeouts.Load()},
			{"shed", s.Shed.Load()}, {"record_error", s.RecordErrors.Load()},
		} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(e.v), name, e.name)
		}
	}
}

// registerUpstreamTLSMetrics adds the upstream TLS counters to the
// gatherer; a reload may add TLS clusters, so it is always there.
func (a *App) registerUpstreamTLSMetrics() error {
	return a.metrics.gatherer.Register(&upstreamTLSCollector{a: a, desc: prometheus.NewDesc("ferry_upstream_tls_events_total",
		"TLS events of a cluster's connections to its hosts: handshakes (resumed among them), handshake failures "+
			"(each also a connect failure answered 503), handshake timeouts, handshakes shed for want of a worker, "+
			"and bad records after the handshake (docs/tls.md, Upstream TLS). Reset when the cluster's TLS settings "+
			"or files change on a reload.",
		[]string{"cluster", "event"}, nil)})
}
