package config

import "slices"

// h2UpstreamGaps refuses what the HTTP/2 upstream path (upstream_protocol
// Http2) does not honour yet, where a listener uses it:
//   - a cluster's circuit_breakers max_connections and max_pending_requests
//     (the multiplexed pool does not count them; max_requests and
//     max_retries are counted before the pool and work);
//   - a route's retry_policy conditions read from a response (5xx,
//     gateway-error, retriable-status-codes) and its per-try retry_timeout
//     (only connect failures and resets are retried over HTTP/2).
//
// Which clusters an Http2 listener reaches is not knowable when a route
// takes its cluster from a header, so every cluster is checked once any
// listener speaks Http2 upstream. Each finding names its path.
func (v *validator) h2UpstreamGaps() {
	routers := map[string]bool{}
	for _, s := range v.c.Servers {
		for _, l := range s.Listeners {
			for _, fc := range l.FilterChains {
				for _, f := range fc.Filters {
					if f.Proxy != nil && f.Proxy.UpstreamProtocol == protocolHTTP2 {
						routers[f.Proxy.RouterConfigName] = true
					}
				}
			}
		}
	}
	if len(routers) == 0 {
		return
	}
	const why = "not honoured over HTTP/2 upstreams yet (a listener has upstream_protocol Http2): "
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
					if r.Route == nil || r.Route.RetryPolicy == nil {
						continue
					}
					rp := r.Route.RetryPolicy
					p := index(index(index(index("servers", si)+".routers", ri)+".virtual_hosts", vi)+".routers", ti) + ".route.retry_policy"
					for _, c := range rp.RetryOn.Conditions() {
						if slices.Contains([]string{"5xx", "gateway-error", "retriable-status-codes"}, c) {
							v.p.add(p+".retry_on", why+"the condition "+c+" would never retry (connect-failure and reset do)")
						}
					}
					if rp.RetryTimeout > 0 {
						v.p.add(p+".retry_timeout", why+"the per-try timeout would not apply (the route timeout does)")
					}
				}
			}
		}
	}
}
