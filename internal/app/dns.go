package app

import (
	"context"
	"fmt"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/upstream"
)

// dnsSpec is the DNS setting of a STRICT_DNS or LOGICAL_DNS cluster, nil
// for the others (validated: config/validate_cluster.go).
func dnsSpec(c *config.Cluster) *upstream.DNSSpec {
	var d upstream.DNSSpec
	switch c.Type {
	case config.ClusterStrictDNS:
		d.Mode = upstream.StrictDNS
	case config.ClusterLogicalDNS:
		d.Mode = upstream.LogicalDNS
	default:
		return nil
	}
	switch c.DNSLookupFamily {
	case "V4_ONLY":
		d.Family = upstream.V4Only
	case "V6_ONLY":
		d.Family = upstream.V6Only
	}
	if c.DNSRefreshRate != nil {
		d.RefreshRate = c.DNSRefreshRate.Std()
	}
	return &d
}

// resolveDNS resolves the names of specs' DNS clusters before they are
// installed, at start (and by validate: a name that does not resolve stops
// ferry, naming it) and on reload (where a cluster whose names and DNS
// settings are unchanged keeps its hosts without a lookup). Blocking, off
// the loops.
func resolveDNS(m *upstream.Manager, specs []upstream.ClusterSpec) error {
	if err := m.ResolveSpecs(context.Background(), nil, specs); err != nil {
		return fmt.Errorf("cluster_manager.clusters: %w", err)
	}
	return nil
}

// startDNS starts refreshing the DNS clusters' hosts: every cluster's
// names again every dns_refresh_rate, from timers (no goroutine between
// resolutions).
func (a *App) startDNS() {
	a.dns = upstream.NewDNSRefresher(a.clusters, nil, a.log)
	a.dns.Start()
}

// stopDNS stops the refreshes and waits for one in progress.
func (a *App) stopDNS() {
	if a.dns != nil {
		a.dns.Stop()
	}
}
