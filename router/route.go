package router

import (
	"bytes"
	"regexp"
	"strings"
	"time"
)

// HeaderGetter looks up a request header case-insensitively. The codec's
// request implements it. Get must not retain or modify name.
type HeaderGetter interface {
	Get(name string) ([]byte, bool)
}

// pathKind says how a route compares the path.
type pathKind uint8

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathAny     // no path condition: every path matches
	pathConnect // CONNECT requests only: kept apart (virtualHost.connect)
)

// headerMatcher is a compiled HeaderMatchSpec.
type headerMatcher struct {
	name   string
	value  string
	re     *regexp.Regexp // nil unless the spec is a regex
	invert bool
}

// matches reports whether the condition holds for h (nil h: no headers).
func (hm *headerMatcher) matches(h HeaderGetter) bool {
	var ok bool
	if h != nil {
		var v []byte
		v, ok = h.Get(hm.name)
		switch {
		case !ok:
		case hm.re != nil:
			ok = hm.re.Match(v)
		case hm.value != "":
			ok = string(v) == hm.value
		}
	}
	return ok != hm.invert
}

// Route is a compiled, immutable route. The pointers returned by its
// accessors point into the table and must not be modified.
type Route struct {
	name      string
	vhost     string
	metricsID uint32
	kind      pathKind
	pattern   string         // prefix or exact path
	re        *regexp.Regexp // pathRegex only
	fold      bool           // case-insensitive prefix/path
	headers   []headerMatcher
	query     []queryMatcher

	cluster  *ClusterAction
	direct   *DirectResponse
	redirect *Redirect
	extra    *clusterExtra // action.go; nil unless the route needs it
}

// Name returns the route's configured name, possibly empty. Any goroutine.
func (rt *Route) Name() string { return rt.name }

// VirtualHost returns the name of the virtual host that owns the route.
// Any goroutine.
func (rt *Route) VirtualHost() string { return rt.vhost }

// MetricsID is its virtual host's VirtualHostSpec.MetricsID. Any
// goroutine.
func (rt *Route) MetricsID() uint32 { return rt.metricsID }

// Cluster returns the route's cluster action, or nil. Read-only.
// Any goroutine.
func (rt *Route) Cluster() *ClusterAction { return rt.cluster }

// Direct returns the route's direct response, or nil. Read-only.
// Any goroutine.
func (rt *Route) Direct() *DirectResponse { return rt.direct }

// Redirect returns the route's redirect (Code already defaulted), or nil.
// Read-only. Any goroutine.
func (rt *Route) Redirect() *Redirect { return rt.redirect }

// Timeout returns the cluster action's timeout, or 0 when the route has no
// cluster action or no timeout. Any goroutine.
func (rt *Route) Timeout() time.Duration {
	if rt.cluster == nil {
		return 0
	}
	return rt.cluster.Timeout
}

// matches reports whether the route holds for path (query stripped), the
// raw query string and h.
func (rt *Route) matches(path, query []byte, h HeaderGetter) bool {
	if !rt.matchPath(path) {
		return false
	}
	for i := range rt.headers {
		if !rt.headers[i].matches(h) {
			return false
		}
	}
	for i := range rt.query {
		if !rt.query[i].matches(query) {
			return false
		}
	}
	return true
}

// queryMatcher is a compiled QueryParamMatchSpec.
type queryMatcher struct {
	name  string
	value string
	re    *regexp.Regexp // nil unless the spec is a regex
}

// matches reports whether the condition holds for the raw query string q
// ("a=1&b=2"; a parameter without "=" has the empty value). No allocation.
func (qm *queryMatcher) matches(q []byte) bool {
	for len(q) > 0 {
		var pair []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, nil
		}
		name, value := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			name, value = pair[:i], pair[i+1:]
		}
		if string(name) != qm.name {
			continue
		}
		switch {
		case qm.re != nil:
			return qm.re.Match(value)
		case qm.value != "":
			return string(value) == qm.value
		}
		return true
	}
	return false
}

// matchPath applies the path condition to path (query already stripped).
func (rt *Route) matchPath(path []byte) bool {
	switch rt.kind {
	case pathPrefix:
		if len(path) < len(rt.pattern) {
			return false
		}
		return rt.equal(path[:len(rt.pattern)])
	case pathExact:
		return rt.equal(path)
	case pathAny, pathConnect: // a CONNECT has no path (Table.MatchConnect)
		return true
	default:
		return rt.re.Match(path)
	}
}

// equal compares b with the route's pattern, folding case if configured.
func (rt *Route) equal(b []byte) bool {
	if rt.fold {
		return equalFoldASCII(b, rt.pattern)
	}
	return string(b) == rt.pattern
}

// RewritePath appends to dst the request-target path with the cluster
// action's PrefixRewrite applied: the matched Prefix (or the whole Path) is
// replaced and the query string is kept. With a RegexRewrite instead,
// every match of its pattern in the path (the query excluded) is replaced
// by its substitution and the query kept (Envoy's regex_rewrite); that
// allocates. Without a rewrite, or when path does not satisfy the route's
// path condition, path is appended unchanged. Any goroutine.
func (rt *Route) RewritePath(dst, path []byte) []byte {
	if rt.extra != nil && rt.extra.rewrite != nil {
		return rt.appendRegexRewrite(dst, path)
	}
	if rt.cluster == nil || rt.cluster.PrefixRewrite == "" {
		return append(dst, path...)
	}
	return rt.appendRewritten(dst, path, rt.cluster.PrefixRewrite)
}

// appendRewritten replaces the matched pattern of path with rewrite
// (never empty).
func (rt *Route) appendRewritten(dst, path []byte, rewrite string) []byte {
	n := splitPath(path)
	if rt.kind == pathRegex || rt.kind == pathAny || !rt.matchPath(path[:n]) {
		return append(dst, path...)
	}
	dst = append(dst, rewrite...)
	dst = append(dst, path[len(rt.pattern):n]...)
	return append(dst, path[n:]...)
}

// RedirectLocation appends to dst the Location value of a redirect route.
// scheme, host and path describe the request: its scheme ("http" when
// empty), its Host header as received, and its request-target. The
// redirect's Scheme and Host replace the request's; when only the scheme
// changes, a default port of the old scheme (":80" for http, ":443" for
// https) is dropped from the host. Path replaces the path (keeping the
// query unless Path has its own), PrefixRewrite rewrites the matched
// prefix. With no host at all the value is a relative reference (the path
// alone). On a route without a redirect, path is appended unchanged.
// Any goroutine.
func (rt *Route) RedirectLocation(dst, scheme, host, path []byte) []byte {
	rd := rt.redirect
	if rd == nil {
		return append(dst, path...)
	}
	if len(scheme) == 0 {
		scheme = []byte("http")
	}
	newScheme := rd.Scheme
	if newScheme == "" {
		newScheme = string(scheme)
	}
	if rd.Host != "" {
		host = nil
	} else if newScheme != string(scheme) {
		host, _ = hasDefaultPort(host, string(scheme))
	}
	if rd.Host != "" || len(host) > 0 {
		dst = append(dst, newScheme...)
		dst = append(dst, "://"...)
		dst = append(dst, rd.Host...)
		dst = append(dst, host...)
	}
	return rt.appendRedirectPath(dst, path)
}

// appendRedirectPath appends the redirect's path part for request path.
func (rt *Route) appendRedirectPath(dst, path []byte) []byte {
	rd := rt.redirect
	switch {
	case rd.Path != "" && strings.IndexByte(rd.Path, '?') >= 0:
		return append(dst, rd.Path...)
	case rd.Path != "":
		dst = append(dst, rd.Path...)
		return append(dst, path[splitPath(path):]...)
	case rd.PrefixRewrite != "":
		return rt.appendRewritten(dst, path, rd.PrefixRewrite)
	case len(path) == 0:
		return append(dst, '/')
	}
	return append(dst, path...)
}
