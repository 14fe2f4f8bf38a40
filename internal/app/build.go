package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// problems collects what the build refuses, each at its config path, so
// that start and validate report them as config.Validate does.
type problems struct {
	list []config.FieldError
}

// add records a problem at path.
func (p *problems) add(path, msg string) {
	p.list = append(p.list, config.FieldError{Path: path, Msg: msg})
}

// err returns the problems as a *config.ValidationError, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &config.ValidationError{Errors: p.list}
}

// clusterSpecs translates cluster_manager.clusters. A balancer ferry does
// not implement reaches here only with allow_unimplemented (config.Validate
// refuses it otherwise) and runs round robin.
func clusterSpecs(cm *config.ClusterManager, ids *metricIDs) ([]upstream.ClusterSpec, error) {
	specs := make([]upstream.ClusterSpec, 0, len(cm.Clusters))
	var p problems
	for i := range cm.Clusters {
		c := &cm.Clusters[i]
		lb := upstream.RoundRobin
		if t := c.LBTypeOrFallback(); t != "" {
			l, err := upstream.ParseLBPolicy(string(t))
			if err != nil {
				p.add(fmt.Sprintf("cluster_manager.clusters[%d].lb_type", i), err.Error())
				continue
			}
			lb = l
		}
		s := upstream.ClusterSpec{Name: c.Name, LB: lb, MaxRequestsPerConn: int(c.MaxRequestPerConn),
			ConnBufferLimit: int(c.ConnBufferLimitBytes), MetricsID: ids.cluster(c.Name)}
		s.HealthCheck, s.Outlier = healthSpecs(c) // health.go
		s.DNS = dnsSpec(c)
		if lb := c.CommonLBConfig; lb != nil && lb.HealthyPanicThreshold != nil {
			t := lb.HealthyPanicThreshold.Value
			s.PanicThreshold = &t
		}
		if c.ConnectTimeout != nil {
			s.ConnectTimeout = c.ConnectTimeout.Std()
		}
		if c.IdleTimeout != nil {
			s.IdleTimeout = c.IdleTimeout.Std()
		}
		if len(c.CircuitBreakers) > 0 {
			t := c.CircuitBreakers[0]
			s.Breakers = upstream.Thresholds{MaxConnections: int(t.MaxConnections),
				MaxPendingRequests: int(t.MaxPendingRequests), MaxRequests: int(t.MaxRequests), MaxRetries: int(t.MaxRetries)}
		}
		for _, h := range c.Hosts {
			s.Hosts = append(s.Hosts, upstream.HostSpec{Address: h.Address, Weight: h.EffectiveWeight(),
				MetricsID: ids.host(c.Name, h.Address)})
		}
		specs = append(specs, s)
	}
	return specs, p.err()
}

// routeTables translates servers[].routers into route tables by name. The
// router's complaints come back at the config path of the route or virtual
// host they concern.
func routeTables(servers []config.Server, ids *metricIDs) (map[string]*router.Table, error) {
	out := map[string]*router.Table{}
	var p problems
	for si, srv := range servers {
		for ri, rc := range srv.Routers {
			spec := router.TableSpec{Name: rc.RouterConfigName, Headers: mutations(rc.RequestHeadersToAdd,
				rc.RequestHeadersToRemove, rc.ResponseHeadersToAdd, rc.ResponseHeadersToRemove)}
			for vi, vh := range rc.VirtualHosts {
				v := router.VirtualHostSpec{Name: vh.Name, Domains: vh.Domains,
					MetricsID: ids.vhost(rc.RouterConfigName, vhostLabel(vi, vh.Name)),
					Headers: mutations(vh.RequestHeadersToAdd, vh.RequestHeadersToRemove,
						vh.ResponseHeadersToAdd, vh.ResponseHeadersToRemove)}
				for _, r := range vh.Routers {
					v.Routes = append(v.Routes, routeSpec(r))
				}
				spec.VirtualHosts = append(spec.VirtualHosts, v)
			}
			t, err := router.NewTable(spec)
			if err != nil {
				routerProblems(&p, fmt.Sprintf("servers[%d].routers[%d]", si, ri), err)
				continue
			}
			out[rc.RouterConfigName] = t
		}
	}
	return out, p.err()
}

// routerProblems records each of the router's errors at the config path
// below table (the path of the router config).
func routerProblems(p *problems, table string, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var se *router.SpecError
		if !errors.As(e, &se) {
			p.add(table, e.Error())
			continue
		}
		path := table
		if se.VHost >= 0 {
			path += ".virtual_hosts[" + strconv.Itoa(se.VHost) + "]"
			if se.Route >= 0 {
				path += ".routers[" + strconv.Itoa(se.Route) + "]"
			}
		}
		msg := se.Msg
		if se.Err != nil {
			msg += ": " + se.Err.Error()
		}
		p.add(path, msg)
	}
}

// routeSpec translates one route. Its path condition is MOSN's: path wins
// over prefix, prefix over regex (config.Warnings says so when several are
// set); none matches every path.
func routeSpec(r config.Route) router.RouteSpec {
	m := r.Match
	var ms router.MatchSpec
	switch {
	case m.Path != "":
		ms.Path = m.Path
	case m.Prefix != "":
		ms.Prefix = m.Prefix
	default:
		ms.Regex = m.Regex
	}
	ms.Connect = m.ConnectMatcher != nil // CONNECT requests only (config.Validate refuses a path with it)
	rs := router.RouteSpec{Match: ms}
	for _, h := range m.Headers {
		rs.Match.Headers = append(rs.Match.Headers, router.HeaderMatchSpec{Name: h.Name, Value: h.Value, Regex: h.Regex})
	}
	for _, q := range m.QueryParameters {
		rs.Match.QueryParameters = append(rs.Match.QueryParameters, router.QueryParamMatchSpec{Name: q.Name, Value: q.Value, Regex: q.Regex})
	}
	switch {
	case r.Route != nil:
		rs.Cluster = clusterAction(r.Route)
		for _, m := range r.RequestMirrorPolicies {
			rs.Cluster.Mirrors = append(rs.Cluster.Mirrors, router.Mirror{Cluster: m.Cluster, Percent: m.Percent})
		}
		a := r.Route
		rs.Headers = mutations(a.RequestHeadersToAdd, a.RequestHeadersToRemove, a.ResponseHeadersToAdd, a.ResponseHeadersToRemove)
	case r.DirectResponse != nil:
		rs.Direct = &router.DirectResponse{Status: r.DirectResponse.StatusCode, Body: r.DirectResponse.Body}
	case r.Redirect != nil:
		rd := r.Redirect
		rs.Redirect = &router.Redirect{Scheme: rd.SchemeRedirect, Host: rd.HostRedirect, Path: rd.PathRedirect,
			PrefixRewrite: rd.PrefixRewrite, Code: rd.ResponseCode}
	}
	return rs
}

// clusterAction translates a route action. MOSN's precedence: weighted
// clusters, then cluster_header, then cluster_name.
func clusterAction(a *config.RouteAction) *router.ClusterAction {
	ca := &router.ClusterAction{Timeout: a.Timeout.Std(), PrefixRewrite: a.PrefixRewrite,
		HostRewrite: a.HostRewrite, AutoHostRewrite: a.AutoHostRewrite}
	switch {
	case len(a.WeightedClusters) > 0:
		for _, wc := range a.WeightedClusters {
			ca.WeightedClusters = append(ca.WeightedClusters, router.WeightedCluster{Name: wc.Cluster.Name, Weight: wc.Cluster.Weight})
		}
	case a.ClusterHeader != "":
		ca.ClusterHeader = a.ClusterHeader
	default:
		ca.Cluster = a.ClusterName
	}
	for i := range a.UpgradeConfigs {
		u := &a.UpgradeConfigs[i]
		ca.Upgrades = append(ca.Upgrades, router.Upgrade{Type: u.UpgradeType, Enabled: u.On()})
	}
	ca.Retry = retryPolicy(a.RetryPolicy)
	if rr := a.RegexRewrite; rr != nil {
		ca.RegexRewrite = &router.RegexRewrite{Pattern: rr.Pattern.Regex, Substitution: rr.Substitution}
	}
	for _, hp := range a.HashPolicy {
		var p router.HashPolicy
		switch {
		case hp.Header != nil:
			p.Header = hp.Header.Key
		case hp.Cookie != nil:
			p.Cookie = hp.Cookie.Name
		}
		p.SourceIP = hp.SourceIP != nil
		ca.HashPolicy = append(ca.HashPolicy, p)
	}
	return ca
}

// mutations translates one level's header mutations. A header option
// without append appends (Envoy's and MOSN's default).
func mutations(reqAdd []config.HeaderValueOption, reqRm []string, respAdd []config.HeaderValueOption, respRm []string) router.HeaderMutations {
	conv := func(hs []config.HeaderValueOption) []router.HeaderValue {
		var out []router.HeaderValue
		for _, h := range hs {
			if h.Header == nil {
				continue // config.Validate refuses it
			}
			out = append(out, router.HeaderValue{Name: h.Header.Key, Value: h.Header.Value, Append: h.Append == nil || *h.Append})
		}
		return out
	}
	return router.HeaderMutations{RequestAdd: conv(reqAdd), RequestRemove: reqRm, ResponseAdd: conv(respAdd), ResponseRemove: respRm}
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

// LogSummary logs the running configuration as one structured record:
// listeners, clusters, loops, scheduler, limits and timeouts, so that a
// JSON log (--log-format json) carries it as fields. Control goroutine,
// after Start.
func (a *App) LogSummary() {
	f := a.Config().Ferry.WithDefaults()
	addrs := a.eng.Addrs()
	ls := make([]any, 0, len(a.listeners))
	for i, l := range a.listeners {
		g := []any{slog.String("name", l.Name), slog.String("config_address", l.Address)}
		if i < len(addrs) && addrs[i] != nil {
			g = append(g, slog.String("address", addrs[i].String()))
		}
		if i < len(a.protocols) {
			g = append(g, slog.String("protocol", a.protocols[i]))
		}
		ls = append(ls, slog.Group(strconv.Itoa(i), g...))
	}
	cs := make([]any, 0)
	for _, c := range a.clusters.Clusters() {
		cs = append(cs, slog.Group(c.Name(), slog.String("lb", c.Spec.LB.String()), slog.Int("hosts", len(c.Hosts()))))
	}
	attrs := []any{
		slog.Group("listeners", ls...),
		slog.Group("clusters", cs...),
		slog.Int("loops", a.eng.NumLoops()),
		slog.Bool("reuse_port", a.reusePort),
		slog.Group("scheduler", slog.String("policy", a.policy.String()), slog.Int("queue", f.Scheduler.Queue)),
		slog.Int64("max_connections", a.maxDown),
		slog.Group("limits", slog.Int("max_header_bytes", f.HTTP1.MaxHeaderBytes),
			slog.Int64("max_request_body_bytes", f.HTTP1.MaxRequestBodyBytes),
			slog.Int("write_high_watermark", f.Buffers.WriteHighWatermark),
			slog.Int64("spill_memory_bytes", f.Buffers.SpillMemoryBytes)),
		slog.Group("timeouts", slog.Duration("request_header", f.Timeouts.RequestHeader.Std()),
			slog.Duration("idle", f.Timeouts.Idle.Std()), slog.Duration("drain", a.drain)),
	}
	if addr := a.AdminAddr(); addr != nil {
		attrs = append(attrs, slog.String("admin", addr.String()))
	}
	a.log.Info("ferry started", attrs...)
}

// retryPolicy translates a route's retry_policy, nil when it retries
// nothing (unset, or retry_on false). config.Validate refused unknown
// conditions.
func retryPolicy(r *config.RetryPolicy) *router.RetryPolicy {
	if r == nil {
		return nil
	}
	on, err := router.ParseRetryOn(r.RetryOn.Conditions())
	if err != nil || on == 0 {
		return nil
	}
	p := &router.RetryPolicy{On: on, NumRetries: int(r.NumRetries), PerTryTimeout: r.RetryTimeout.Std(),
		BufferLimit: int(r.RetryBufferLimitBytes), NonIdempotent: r.RetryNonIdempotent}
	for _, c := range r.RetriableStatusCodes {
		p.RetriableStatusCodes = append(p.RetriableStatusCodes, int(c))
	}
	if b := r.RetryBackOff; b != nil {
		p.BackOffBase, p.BackOffMax = b.BaseInterval.Std(), b.MaxInterval.Std()
	}
	return p
}
