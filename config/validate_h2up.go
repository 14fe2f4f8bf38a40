package config

// h2UpstreamGaps refuses what the HTTP/2 upstream path (upstream_protocol
// Http2) does not honour yet, where a listener uses it:
//   - a cluster's circuit_breakers max_connections and max_pending_requests
//     (the multiplexed pool does not count them; max_requests and
//     max_retries are counted before the pool and work);
//   - an enabled upgrade_configs entry, on the proxy filter or a route.
//
// A route's retry_policy applies whole over HTTP/2 as over HTTP/1.1
// (proxy/retry.go, hooked into proxy/upstream_h2.go).
//
// Which clusters an Http2 listener reaches is not knowable when a route
// takes its cluster from a header, so every cluster is checked once any
// listener speaks Http2 upstream. Each finding names its path.
func (v *validator) h2UpstreamGaps() {
	const why = "not honoured over HTTP/2 upstreams yet (a listener has upstream_protocol Http2): "
	routers := map[string]bool{}
	for si, s := range v.c.Servers {
		for li, l := range s.Listeners {
			for ci, fc := range l.FilterChains {
				for fi, f := range fc.Filters {
					if f.Proxy == nil || f.Proxy.UpstreamProtocol != protocolHTTP2 {
						continue
					}
					routers[f.Proxy.RouterConfigName] = true
					p := index(index(index(index("servers", si)+".listeners", li)+".filter_chains", ci)+".filters", fi) + ".config.upgrade_configs"
					v.upgradesOverH2(f.Proxy.UpgradeConfigs, p, why)
				}
			}
		}
	}
	if len(routers) == 0 {
		return
	}
	for ci, cl := range v.c.ClusterManager.Clusters {
		if len(cl.CircuitBreakers) == 0 {
			continue
		}
		tp := index(index("cluster_manager.clusters", ci)+".circuit_breakers", 0)
		if t := cl.CircuitBreakers[0]; t.MaxConnections > 0 {
			v.p.add(tp+".max_connections", why+"the multiplexed pool would open connections past it; max_requests bounds what is in flight")
		}
		if t := cl.CircuitBreakers[0]; t.MaxPendingRequests > 0 {
			v.p.add(tp+".max_pending_requests", why+"requests would queue past it; max_requests bounds what is in flight")
		}
	}
	for si, s := range v.c.Servers {
		for ri, rc := range s.Routers {
			if !routers[rc.RouterConfigName] {
				continue
			}
			for vi, vh := range rc.VirtualHosts {
				for ti, r := range vh.Routers {
					if r.Route == nil {
						continue
					}
					rtp := index(index(index(index("servers", si)+".routers", ri)+".virtual_hosts", vi)+".routers", ti) + ".route"
					v.upgradesOverH2(r.Route.UpgradeConfigs, rtp+".upgrade_configs", why)
				}
			}
		}
	}
}

// upgradesOverH2 refuses an enabled upgrade token where the upstream speaks
// HTTP/2: the request would go upstream as plain HTTP (RFC 8441's extended
// CONNECT to upstreams is not built), and the client would never get its
// 101. Websocket without an entry is forwarded the same way (documented in
// docs/operations.md); an explicit entry is an error.
func (v *validator) upgradesOverH2(ucs []UpgradeConfig, path, why string) {
	for i := range ucs {
		if ucs[i].On() {
			v.p.add(index(path, i), why+"the "+ucs[i].UpgradeType+" upgrade would go upstream as plain HTTP, without its 101")
		}
	}
}
