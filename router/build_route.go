package router

import (
	"regexp"
	"strings"
)

// buildRoute validates route ri of vhost vi and compiles it.
func (b *builder) buildRoute(vi, ri int) (Route, bool) {
	vs := &b.spec.VirtualHosts[vi]
	rs := &vs.Routes[ri]
	n := len(b.errs)
	rt := Route{name: rs.Name, vhost: vs.Name, metricsID: vs.MetricsID, fold: rs.Match.CaseInsensitive}
	b.buildPath(vi, ri, &rt)
	b.buildMatchers(vi, ri, &rt)
	b.buildAction(vi, ri, &rt)
	return rt, len(b.errs) == n
}

func (b *builder) buildPath(vi, ri int, rt *Route) {
	m := &b.spec.VirtualHosts[vi].Routes[ri].Match
	set := 0
	for _, s := range []string{m.Prefix, m.Path, m.Regex} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		b.fail(vi, ri, nil, "match needs at most one of prefix, path, regex (%d set)", set)
		return
	}
	switch {
	case m.Connect:
		rt.kind = pathConnect
		if set > 0 {
			b.fail(vi, ri, nil, "a connect match takes no prefix, path or regex (CONNECT has no path)")
		}
	case set == 0:
		rt.kind = pathAny
	case m.Prefix != "":
		rt.kind, rt.pattern = pathPrefix, m.Prefix
		b.checkPathPattern(vi, ri, "prefix", m.Prefix)
	case m.Path != "":
		rt.kind, rt.pattern = pathExact, m.Path
		b.checkPathPattern(vi, ri, "path", m.Path)
	default:
		re, err := compileFull(m.Regex, m.CaseInsensitive)
		if err != nil {
			b.fail(vi, ri, err, "bad path regex %q", m.Regex)
		}
		rt.kind, rt.re = pathRegex, re
	}
}

// checkPathPattern rejects prefixes and paths that can never match an
// origin-form path with its query removed.
func (b *builder) checkPathPattern(vi, ri int, what, p string) {
	switch {
	case p[0] != '/':
		b.fail(vi, ri, nil, "%s %q must start with '/'", what, p)
	case strings.ContainsAny(p, "?#"):
		b.fail(vi, ri, nil, "%s %q contains '?' or '#' (the query is not matched)", what, p)
	}
}

// buildMatchers validates and compiles the route's header and query
// parameter matchers.
func (b *builder) buildMatchers(vi, ri int, rt *Route) {
	m := &b.spec.VirtualHosts[vi].Routes[ri].Match
	for hi, h := range m.Headers {
		valid := h.Name == ":method" || h.Name != "" && isToken(h.Name)
		if re, ok := b.matcher(vi, ri, "header", hi, h.Name, valid, h.Value, h.Regex); ok {
			rt.headers = append(rt.headers, headerMatcher{name: h.Name, value: h.Value, invert: h.Invert, re: re})
		}
	}
	for qi, q := range m.QueryParameters {
		valid := q.Name != "" && !strings.ContainsAny(q.Name, "&=#")
		if re, ok := b.matcher(vi, ri, "query_parameter", qi, q.Name, valid, q.Value, q.Regex); ok {
			rt.query = append(rt.query, queryMatcher{name: q.Name, value: q.Value, re: re})
		}
	}
}

// matcher checks a header or query matcher (kind[i], name): an invalid
// name, or a regex value that does not compile, fails the route and ok is
// false; re is the compiled regex (nil when the value is not one).
func (b *builder) matcher(vi, ri int, kind string, i int, name string, validName bool, value string, regex bool) (re *regexp.Regexp, ok bool) {
	if !validName {
		b.fail(vi, ri, nil, "%s[%d]: invalid name %q", kind, i, name)
		return nil, false
	}
	if !regex {
		return nil, true
	}
	re, err := compileFull(value, false)
	if err != nil {
		b.fail(vi, ri, err, "%s[%d] %q: bad regex %q", kind, i, name, value)
		return nil, false
	}
	return re, true
}

// isToken reports whether s is an RFC 9110 token (a valid field name).
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func (b *builder) buildAction(vi, ri int, rt *Route) {
	rs := &b.spec.VirtualHosts[vi].Routes[ri]
	set := 0
	for _, ok := range []bool{rs.Cluster != nil, rs.Direct != nil, rs.Redirect != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		b.fail(vi, ri, nil, "needs exactly one action of cluster, direct, redirect (%d set)", set)
		return
	}
	noPrefix := rs.Match.Prefix == "" && rs.Match.Path == "" // a regex match, or none
	switch {
	case rs.Cluster != nil:
		b.buildCluster(vi, ri, *rs.Cluster, noPrefix, rt)
	case rs.Direct != nil:
		d := *rs.Direct
		if d.Status < 200 || d.Status > 599 {
			b.fail(vi, ri, nil, "direct response status %d outside 200-599", d.Status)
		}
		rt.direct = &d
	default:
		b.buildRedirect(vi, ri, *rs.Redirect, noPrefix, rt)
	}
}

func (b *builder) buildCluster(vi, ri int, c ClusterAction, noPrefix bool, rt *Route) {
	if c.Cluster == "" && len(c.WeightedClusters) == 0 && c.ClusterHeader == "" {
		b.fail(vi, ri, nil, "cluster action without a cluster name")
	}
	if c.Timeout < 0 {
		b.fail(vi, ri, nil, "negative timeout %v", c.Timeout)
	}
	if c.PrefixRewrite != "" && noPrefix {
		b.fail(vi, ri, nil, "prefix rewrite needs a prefix or path match (the part it replaces)")
	}
	if c.HostRewrite != "" && !isHostValue(c.HostRewrite) {
		b.fail(vi, ri, nil, "invalid host rewrite %q", c.HostRewrite)
	}
	if c.HostRewrite != "" && c.AutoHostRewrite {
		b.fail(vi, ri, nil, "host rewrite and auto host rewrite are mutually exclusive")
	}
	if c.PrefixRewrite != "" && c.RegexRewrite != nil {
		b.fail(vi, ri, nil, "prefix rewrite and regex rewrite are mutually exclusive")
	}
	c.WeightedClusters = append([]WeightedCluster(nil), c.WeightedClusters...)
	c.HashPolicy = append([]HashPolicy(nil), c.HashPolicy...)
	if c.Retry != nil {
		p, err := c.Retry.withDefaults()
		if err != nil {
			b.fail(vi, ri, err, "retry policy")
		}
		c.Retry = p
	}
	if c.RegexRewrite != nil {
		r := *c.RegexRewrite
		c.RegexRewrite = &r
	}
	for i, m := range c.Mirrors {
		if m.Cluster == "" {
			b.fail(vi, ri, nil, "mirror[%d] without a cluster name", i)
		}
		if m.Percent > 100 {
			b.fail(vi, ri, nil, "mirror[%d] percent %d above 100", i, m.Percent)
		}
	}
	c.Mirrors = append([]Mirror(nil), c.Mirrors...)
	b.buildExtra(vi, ri, &c, rt)
	rt.cluster = &c
}

func (b *builder) buildRedirect(vi, ri int, r Redirect, noPrefix bool, rt *Route) {
	switch r.Code {
	case 0:
		r.Code = 301
	case 301, 302, 303, 307, 308:
	default:
		b.fail(vi, ri, nil, "redirect code %d not one of 301, 302, 303, 307, 308", r.Code)
	}
	if r.Path != "" && r.PrefixRewrite != "" {
		b.fail(vi, ri, nil, "redirect sets both path and prefix rewrite")
	}
	if r.PrefixRewrite != "" && noPrefix {
		b.fail(vi, ri, nil, "redirect prefix rewrite needs a prefix or path match (the part it replaces)")
	}
	if r.Path != "" && r.Path[0] != '/' {
		b.fail(vi, ri, nil, "redirect path %q must start with '/'", r.Path)
	}
	if r.Scheme != "" && !isScheme(r.Scheme) {
		b.fail(vi, ri, nil, "invalid redirect scheme %q", r.Scheme)
	}
	if r.Host != "" && !isHostValue(r.Host) {
		b.fail(vi, ri, nil, "invalid redirect host %q", r.Host)
	}
	r.Scheme = strings.ToLower(r.Scheme)
	rt.redirect = &r
}

// isScheme reports whether s is an RFC 3986 scheme.
func isScheme(s string) bool {
	for i := range len(s) {
		c := lowerASCII(s[i])
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// isHostValue reports whether s is usable as a Host value: a domain
// pattern without wildcards.
func isHostValue(s string) bool {
	return checkDomain(s) == "" && strings.IndexByte(s, '*') < 0
}
