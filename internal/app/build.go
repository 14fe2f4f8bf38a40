package app

import (
	"fmt"
	"strings"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// clusterSpecs translates cluster_manager.clusters.
func clusterSpecs(cm *config.ClusterManager) ([]upstream.ClusterSpec, error) {
	specs := make([]upstream.ClusterSpec, 0, len(cm.Clusters))
	for i, c := range cm.Clusters {
		lb := upstream.RoundRobin
		if c.LBType != "" {
			p, err := upstream.ParseLBPolicy(string(c.LBType))
			if err != nil {
				return nil, fmt.Errorf("cluster_manager.clusters[%d].lb_type: %w", i, err)
			}
			lb = p
		}
		s := upstream.ClusterSpec{Name: c.Name, LB: lb, MaxRequestsPerConn: int(c.MaxRequestPerConn)}
		if c.ConnectTimeout != nil {
			s.ConnectTimeout = c.ConnectTimeout.Std()
		}
		if c.IdleTimeout != nil {
			s.IdleTimeout = c.IdleTimeout.Std()
		}
		if len(c.CircuitBreakers) > 0 {
			t := c.CircuitBreakers[0]
			s.MaxConnsPerHost = int(t.MaxConnections)
			s.MaxPending = int(t.MaxPendingRequests)
		}
		for _, h := range c.Hosts {
			s.Hosts = append(s.Hosts, upstream.HostSpec{Address: h.Address, Weight: h.EffectiveWeight()})
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// routeTables translates servers[].routers into route tables by name.
func routeTables(servers []config.Server) (map[string]*router.Table, error) {
	out := map[string]*router.Table{}
	for si, srv := range servers {
		for ri, rc := range srv.Routers {
			spec := router.TableSpec{Name: rc.RouterConfigName}
			for _, vh := range rc.VirtualHosts {
				v := router.VirtualHostSpec{Name: vh.Name, Domains: vh.Domains}
				for _, r := range vh.Routers {
					v.Routes = append(v.Routes, routeSpec(r))
				}
				spec.VirtualHosts = append(spec.VirtualHosts, v)
			}
			t, err := router.NewTable(spec)
			if err != nil {
				return nil, fmt.Errorf("servers[%d].routers[%d] (%s): %w", si, ri, rc.RouterConfigName, err)
			}
			out[rc.RouterConfigName] = t
		}
	}
	return out, nil
}

func routeSpec(r config.Route) router.RouteSpec {
	m := r.Match
	rs := router.RouteSpec{Match: router.MatchSpec{Prefix: m.Prefix, Path: m.Path, Regex: m.Regex}}
	for _, h := range m.Headers {
		rs.Match.Headers = append(rs.Match.Headers, router.HeaderMatchSpec{Name: h.Name, Value: h.Value, Regex: h.Regex})
	}
	switch {
	case r.Route != nil:
		rs.Cluster = &router.ClusterAction{Cluster: r.Route.ClusterName, Timeout: r.Route.Timeout.Std(),
			PrefixRewrite: r.Route.PrefixRewrite, HostRewrite: r.Route.HostRewrite}
	case r.DirectResponse != nil:
		rs.Direct = &router.DirectResponse{Status: r.DirectResponse.StatusCode, Body: r.DirectResponse.Body}
	case r.Redirect != nil:
		rd := r.Redirect
		rs.Redirect = &router.Redirect{Scheme: rd.SchemeRedirect, Host: rd.HostRedirect, Path: rd.PathRedirect,
			PrefixRewrite: rd.PrefixRewrite, Code: rd.ResponseCode}
	}
	return rs
}

// describe is the start-up line: listeners and clusters.
func describe(a *App) string {
	var b strings.Builder
	b.WriteString("ferry: listening")
	for i, l := range a.listeners {
		fmt.Fprintf(&b, " %s=%s", l.Name, a.eng.Addrs()[i])
	}
	b.WriteString("; clusters")
	for _, c := range a.clusters.Clusters() {
		hosts := make([]string, 0, len(c.Hosts()))
		for _, h := range c.Hosts() {
			hosts = append(hosts, h.Address())
		}
		fmt.Fprintf(&b, " %s=[%s](%s)", c.Name(), strings.Join(hosts, ","), c.Spec.LB)
	}
	fmt.Fprintf(&b, "; loops=%d reuse_port=%v scheduler=%s max_connections=%d", a.eng.NumLoops(), a.reusePort, a.policy, a.maxDown)
	return b.String()
}
