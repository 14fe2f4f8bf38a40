package app

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/tcpproxy"
)

// tcp_proxy network filters (tcpproxy). Each filter dials through the
// upstream TCP dialer (the proxy's, upstream_tls.go), or through its
// cluster's own Dialer when the cluster has TLS to its hosts, so the
// proxy's Drain (PoolManager.Quiesce on the same TCPDialer) and Shutdown's
// second Quiesce cover the relays' dials too. Its spill queues share the
// proxy's options and the process-wide backlog budget.

// prefixes reads the CIDR ranges at path, a range that does not parse
// reported under its index; ok is false after a problem.
func prefixes(cs []config.CidrRange, path string, p *problems) (out []netip.Prefix, ok bool) {
	ok = true
	for j, c := range cs {
		pf, err := c.Prefix()
		if err != nil {
			p.add(fmt.Sprintf("%s[%d]", path, j), err.Error())
			ok = false
		}
		out = append(out, pf)
	}
	return out, ok
}

// tcpProxyFactory builds the tcp_proxy filter at path from tc, counted
// under listener metrics id.
func (a *App) tcpProxyFactory(tc *config.TCPProxyConfig, id metrics.ID, path string, p *problems) *tcpproxy.Factory {
	cfg := tcpproxy.Config{Cluster: tc.Cluster, MaxConnectAttempts: int(tc.MaxConnectAttempts), MetricsID: uint32(id)}
	if tc.IdleTimeout != nil {
		cfg.IdleTimeout = tc.IdleTimeout.Std()
	}
	bad := false
	for i := range tc.Routes {
		r := &tc.Routes[i]
		rp := fmt.Sprintf("%s.config.routes[%d]", path, i)
		route := tcpproxy.Route{Cluster: r.Cluster}
		var srcOK, dstOK bool
		route.Sources, srcOK = prefixes(r.SourceAddrs, rp+".source_addrs", p)
		route.Destinations, dstOK = prefixes(r.DestinationAddrs, rp+".destination_addrs", p)
		bad = bad || !srcOK || !dstOK
		var err error
		if route.SourcePorts, err = portRanges(r.SourcePort); err != nil {
			p.add(rp+".source_port", err.Error())
			bad = true
		}
		if route.DestinationPorts, err = portRanges(r.DestinationPort); err != nil {
			p.add(rp+".destination_port", err.Error())
			bad = true
		}
		cfg.Routes = append(cfg.Routes, route)
	}
	if bad {
		return nil
	}
	f, err := tcpproxy.NewFactory(cfg, tcpproxy.Deps{Clusters: a.clusters, Dialer: a.upTLS.tcp,
		Spill: a.relaySpill, Metrics: a.metrics.reg})
	if err != nil {
		p.add(path+".config", err.Error())
		return nil
	}
	return f
}

// portRanges converts config.ParsePorts' ranges.
func portRanges(s string) ([]tcpproxy.PortRange, error) {
	rs, err := config.ParsePorts(s)
	if err != nil {
		return nil, err
	}
	out := make([]tcpproxy.PortRange, 0, len(rs))
	for _, r := range rs {
		out = append(out, tcpproxy.PortRange{Min: r[0], Max: r[1]})
	}
	return out, nil
}

// quiesceUpstreamDials waits for the upstream TCP dialer's dials in
// flight (the tcp_proxy relays' among them): called before the engine
// stops, since gnet's Enroll strands its goroutine otherwise
// (docs/gnet.md).
func (a *App) quiesceUpstreamDials(ctx context.Context) error {
	if a.upTLS.tcp == nil {
		return nil
	}
	return a.upTLS.tcp.Quiesce(ctx)
}

// listenerUpgrades is a proxy filter's allowed Upgrade protocols
// (proxy.FactoryConfig.Upgrades): websocket unless an entry disables it,
// and every token an entry enables (config/upgrade_configs.go).
func listenerUpgrades(ucs []config.UpgradeConfig) []string {
	if len(ucs) == 0 {
		return nil // proxy's default: websocket
	}
	on := map[string]bool{"websocket": true}
	order := []string{"websocket"}
	for i := range ucs {
		t := strings.ToLower(ucs[i].UpgradeType)
		if _, ok := on[t]; !ok {
			order = append(order, t)
		}
		on[t] = ucs[i].On()
	}
	out := []string{}
	for _, t := range order {
		if on[t] {
			out = append(out, t)
		}
	}
	return out
}
