package config

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// router checks one route table.
func (v *validator) router(rc *RouterConfig, rp string) {
	v.indexed(v.routerNames, rc.RouterConfigName, rp+".router_config_name", "router_config_name")
	domains := make(map[string]string)
	v.headersToAdd(rc.RequestHeadersToAdd, rp+".request_headers_to_add")
	v.headersToAdd(rc.ResponseHeadersToAdd, rp+".response_headers_to_add")
	v.headersToRemove(rc.RequestHeadersToRemove, rp+".request_headers_to_remove")
	v.headersToRemove(rc.ResponseHeadersToRemove, rp+".response_headers_to_remove")
	for vi := range rc.VirtualHosts {
		vh := &rc.VirtualHosts[vi]
		vp := index(rp+".virtual_hosts", vi)
		for di, d := range vh.Domains {
			dp := index(vp+".domains", di)
			if strings.TrimSpace(d) == "" {
				v.p.add(dp, "empty domain")
				continue
			}
			v.unique(domains, strings.ToLower(d), dp, "domain")
		}
		v.headersToAdd(vh.RequestHeadersToAdd, vp+".request_headers_to_add")
		v.headersToAdd(vh.ResponseHeadersToAdd, vp+".response_headers_to_add")
		v.headersToRemove(vh.RequestHeadersToRemove, vp+".request_headers_to_remove")
		v.headersToRemove(vh.ResponseHeadersToRemove, vp+".response_headers_to_remove")
		for i := range vh.Routers {
			v.route(&vh.Routers[i], index(vp+".routers", i))
		}
	}
}

// route checks one routing rule.
func (v *validator) route(r *Route, rp string) {
	v.match(&r.Match, rp+".match")
	v.connectRoute(r, rp) // upgrade_configs.go
	var actions []string
	if r.Route != nil {
		actions = append(actions, "route")
		v.routeAction(r.Route, rp+".route")
		v.prefixRewrite(r.Route.PrefixRewrite, &r.Match, rp+".route.prefix_rewrite")
	}
	if r.DirectResponse != nil {
		actions = append(actions, "direct_response")
		if s := r.DirectResponse.StatusCode; s < 200 || s > 599 {
			v.p.add(rp+".direct_response.status", "status "+strconv.Itoa(s)+
				" is out of range 200..599 (a 1xx is not a final response)")
		}
	}
	if r.Redirect != nil {
		actions = append(actions, "redirect")
		v.redirect(r.Redirect, rp+".redirect")
		v.prefixRewrite(r.Redirect.PrefixRewrite, &r.Match, rp+".redirect.prefix_rewrite")
	}
	for i := range r.RequestMirrorPolicies {
		v.mirrorPolicy(&r.RequestMirrorPolicies[i], r.Route != nil, index(rp+".request_mirror_policies", i))
	}
	switch len(actions) {
	case 0:
		v.p.add(rp, "needs exactly one of route, direct_response and redirect (has none)")
	case 1:
	default:
		v.p.add(rp, "needs exactly one of route, direct_response and redirect (has "+strings.Join(actions, ", ")+")")
	}
}

// match checks a route's regular expressions and header matchers.
func (v *validator) match(m *RouteMatch, mp string) {
	if m.Regex != "" {
		v.regex(m.Regex, mp+".regex")
	}
	for i, h := range m.Headers {
		hp := index(mp+".headers", i)
		if h.Name == "" {
			v.p.add(hp+".name", "required")
		}
		if h.Regex {
			v.regex(h.Value, hp+".value")
		}
	}
	for i, vm := range m.Variables {
		if vm.Regex != "" {
			v.regex(vm.Regex, index(mp+".variables", i)+".regex")
		}
	}
}

// prefixRewrite reports a prefix rewrite on a route whose path condition
// has no prefix to replace: a regex match, or no path condition at all.
// The winning matcher is MOSN's: path, then prefix, then regex.
func (v *validator) prefixRewrite(rewrite string, m *RouteMatch, path string) {
	if rewrite == "" || m.Path != "" || m.Prefix != "" {
		return
	}
	what := "the route matches every path"
	if m.Regex != "" {
		what = "the route matches by regex"
	}
	v.p.add(path, "needs a path or prefix match, the part it replaces; "+what)
}

// regex reports an expression that Go's RE2 engine does not compile.
func (v *validator) regex(expr, path string) {
	if _, err := regexp.Compile(expr); err != nil {
		v.p.add(path, "invalid regex: "+err.Error())
	}
}

// routeAction checks the clusters a route forwards to and its rewrites.
func (v *validator) routeAction(a *RouteAction, ap string) {
	v.upstreamProtocol(a.UpstreamProtocol, ap+".upstream_protocol", false)
	if len(a.WeightedClusters) > 0 {
		v.weightedClusters(a.WeightedClusters, ap+".weighted_clusters")
	}
	switch {
	case a.ClusterName != "":
		v.clusterRef(a.ClusterName, ap+".cluster_name")
	case a.ClusterHeader == "" && len(a.WeightedClusters) == 0:
		v.p.add(ap+".cluster_name", "required")
	}
	if a.ClusterHeader != "" && !validToken(a.ClusterHeader) {
		v.p.add(ap+".cluster_header", "invalid header name "+strconv.Quote(a.ClusterHeader))
	}
	if a.AutoHostRewrite && a.HostRewrite != "" {
		v.p.add(ap, "host_rewrite and auto_host_rewrite are mutually exclusive")
	}
	v.hashPolicies(a.HashPolicy, ap+".hash_policy")
	v.upgradeConfigs(a.UpgradeConfigs, ap+".upgrade_configs") // upgrade_configs.go
	if a.RegexRewrite != nil {
		rp := ap + ".regex_rewrite.pattern.regex"
		if a.RegexRewrite.Pattern.Regex == "" {
			v.p.add(rp, "required")
		} else {
			v.regex(a.RegexRewrite.Pattern.Regex, rp)
		}
	}
	if a.PrefixRewrite != "" && a.RegexRewrite != nil {
		v.p.add(ap, "prefix_rewrite and regex_rewrite are mutually exclusive")
	}
	v.headersToAdd(a.RequestHeadersToAdd, ap+".request_headers_to_add")
	v.headersToAdd(a.ResponseHeadersToAdd, ap+".response_headers_to_add")
	v.headersToRemove(a.RequestHeadersToRemove, ap+".request_headers_to_remove")
	v.headersToRemove(a.ResponseHeadersToRemove, ap+".response_headers_to_remove")
	if a.RetryPolicy != nil {
		v.retryPolicy(a.RetryPolicy, ap+".retry_policy")
	}
}

// retryPolicy checks retry_on's conditions, the status codes and the
// back-off (negative durations are reported by durations).
func (v *validator) retryPolicy(r *RetryPolicy, rp string) {
	codes := false
	for _, c := range r.RetryOn.Conditions() {
		if !slices.Contains(RetryConditions, c) {
			v.p.add(rp+".retry_on", "unknown condition "+strconv.Quote(c)+"; want true, false or a comma-separated list of "+strings.Join(RetryConditions, ", "))
		}
		codes = codes || c == "retriable-status-codes"
	}
	for i, c := range r.RetriableStatusCodes {
		if c < 100 || c > 599 {
			v.p.add(rp+".retriable_status_codes["+strconv.Itoa(i)+"]", "status "+strconv.FormatUint(uint64(c), 10)+" is not in 100..599")
		}
	}
	if len(r.RetriableStatusCodes) > 0 && !codes {
		v.p.add(rp+".retriable_status_codes", "set, but retry_on does not name retriable-status-codes")
	}
	if b := r.RetryBackOff; b != nil {
		if b.BaseInterval <= 0 {
			v.p.add(rp+".retry_back_off.base_interval", "required, above zero")
		} else if b.MaxInterval != 0 && b.MaxInterval < b.BaseInterval {
			v.p.add(rp+".retry_back_off.max_interval", "below base_interval ("+b.BaseInterval.String()+")")
		}
	}
}

// hashPolicies checks that each entry sets exactly one source and names a
// valid header or cookie.
func (v *validator) hashPolicies(hs []HashPolicy, hp string) {
	for i, h := range hs {
		p := index(hp, i)
		var set []string
		if h.Header != nil {
			set = append(set, "header")
			if !validToken(h.Header.Key) {
				v.p.add(p+".header.key", "invalid header name "+strconv.Quote(h.Header.Key))
			}
		}
		if h.Cookie != nil {
			set = append(set, "cookie")
			if !validToken(h.Cookie.Name) || strings.Contains(h.Cookie.Name, "=") {
				v.p.add(p+".cookie.name", "invalid cookie name "+strconv.Quote(h.Cookie.Name))
			}
		}
		if h.SourceIP != nil {
			set = append(set, "source_ip")
		}
		if len(set) != 1 {
			v.p.add(p, "needs exactly one of header, cookie and source_ip (has "+strconv.Itoa(len(set))+")")
		}
	}
}

// headersToRemove checks the names of removed headers.
func (v *validator) headersToRemove(names []string, hp string) {
	for i, n := range names {
		if !validToken(n) {
			v.p.add(index(hp, i), "invalid header name "+strconv.Quote(n))
		}
	}
}

// weightedClusters checks names and that some weight is positive.
func (v *validator) weightedClusters(wcs []WeightedCluster, wp string) {
	var total uint64
	for i, wc := range wcs {
		np := index(wp, i) + ".cluster.name"
		if wc.Cluster.Name == "" {
			v.p.add(np, "required")
		} else {
			v.clusterRef(wc.Cluster.Name, np)
		}
		total += uint64(wc.Cluster.Weight)
	}
	if total == 0 {
		v.p.add(wp, "weights sum to zero")
	}
}

// clusterRef reports a cluster name that names no cluster.
func (v *validator) clusterRef(name, path string) {
	if _, ok := v.clusterNames[name]; !ok {
		v.p.add(path, strconv.Quote(name)+" names no cluster")
	}
}

// redirect checks the response code and exclusive path rewrites.
func (v *validator) redirect(r *Redirect, rp string) {
	switch r.ResponseCode {
	case 0, 301, 302, 303, 307, 308: // 0 is MOSN's 301
	default:
		v.p.add(rp+".response_code", "response code "+strconv.Itoa(r.ResponseCode)+
			" is not one of 301, 302, 303, 307, 308")
	}
	if r.PathRedirect != "" && r.PrefixRewrite != "" {
		v.p.add(rp, "path_redirect and prefix_rewrite are mutually exclusive")
	}
}

// headersToAdd checks that each added header has a valid name.
func (v *validator) headersToAdd(hs []HeaderValueOption, hp string) {
	for i, h := range hs {
		p := index(hp, i) + ".header"
		switch {
		case h.Header == nil:
			v.p.add(p, "required")
		case !validToken(h.Header.Key):
			v.p.add(p+".key", "invalid header name "+strconv.Quote(h.Header.Key))
		case strings.ContainsAny(h.Header.Value, "\r\n\x00"):
			v.p.add(p+".value", "header value contains CR, LF or NUL")
		}
	}
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// mirrorPolicy checks a route's request_mirror_policies: a known cluster,
// a percentage, and a route action to mirror (a direct response or a
// redirect sends nothing upstream).
func (v *validator) mirrorPolicy(m *MirrorPolicy, forwards bool, mp string) {
	if !forwards {
		v.p.add(mp, "needs a route action: a direct_response or redirect sends nothing upstream to copy")
	}
	v.clusterRef(m.Cluster, mp+".cluster")
	if m.Percent > 100 {
		v.p.add(mp+".percent", strconv.FormatUint(uint64(m.Percent), 10)+" is above 100")
	}
}
