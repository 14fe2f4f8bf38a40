package config

// h2UpstreamGaps refuses what the HTTP/2 upstream path (upstream_protocol
// Http2) does not honour yet, where a listener uses it: an enabled
// upgrade_configs entry, on the proxy filter or a route.
//
// A cluster's circuit_breakers (upstream/mux.go counts max_connections
// and max_pending_requests as upstream/pool.go does) and a route's
// retry_policy (proxy/retry.go, hooked into proxy/upstream_h2.go) apply
// whole over HTTP/2 as over HTTP/1.1.
//
// Which routes an Http2 listener reaches is its router's. Each finding
// names its path.
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
					rp := index(index(index(index("servers", si)+".routers", ri)+".virtual_hosts", vi)+".routers", ti)
					if len(r.RequestMirrorPolicies) > 0 { // proxy/mirror.go speaks HTTP/1.1 only
						v.p.add(rp+".request_mirror_policies", why+"the copies would go to the shadow cluster over HTTP/1.1")
					}
					rtp := rp + ".route"
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
// docs/operations.md); an explicit entry is an error. A CONNECT entry is
// refused too: ferry terminates CONNECT only over an HTTP/1.1 pool's
// connection, and such a listener answers CONNECT 501.
func (v *validator) upgradesOverH2(ucs []UpgradeConfig, path, why string) {
	for i := range ucs {
		switch {
		case !ucs[i].On():
		case ucs[i].isConnect():
			v.p.add(index(path, i), why+"CONNECT is terminated only over an HTTP/1.1 upstream connection; this listener would answer CONNECT 501")
		default:
			v.p.add(index(path, i), why+"the "+ucs[i].UpgradeType+" upgrade would go upstream as plain HTTP, without its 101")
		}
	}
}
