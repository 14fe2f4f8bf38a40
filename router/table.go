package router

import (
	"bytes"
	"strings"
)

// virtualHost is a compiled VirtualHostSpec.
type virtualHost struct {
	name   string
	routes []Route
	// connect are the routes of CONNECT requests (MatchSpec.Connect), in
	// order: apart, so that Match never looks at them.
	connect []Route
}

// wildcardGroup indexes wildcard domains whose fixed part has length n.
type wildcardGroup struct {
	n int
	m map[string]*virtualHost
}

// Table is an immutable, compiled route table built by NewTable. All methods
// are safe from any goroutine.
type Table struct {
	name     string
	exact    map[string]*virtualHost // lower-cased domain (with port, if any)
	suffixes []wildcardGroup         // "*.foo.com" keyed ".foo.com"; longest first
	prefixes []wildcardGroup         // "www.*" keyed "www."; longest first
	catchAll *virtualHost            // "*", or nil
	connect  bool                    // some route matches CONNECT requests
	upgrades []string                // the upgrades some route's Upgrades entry enables
}

// Name returns the table's name from its spec. Any goroutine.
func (t *Table) Name() string { return t.name }

// Match selects the virtual host for host, then returns the first of its
// routes whose path and header conditions hold, or nil when there is none
// (the proxy answers 404). host is the Host header value as received (any
// case, optional port, IPv6 literals in brackets); path is the origin-form
// request-target, whose query string and fragment are ignored. A nil h
// behaves as a request without headers. Match does not allocate.
// Any goroutine.
func (t *Table) Match(host, path []byte, h HeaderGetter) *Route {
	vh := t.selectVirtualHost(host)
	if vh == nil {
		return nil
	}
	n := splitPath(path)
	p, q := path[:n], []byte(nil)
	if n < len(path) && path[n] == '?' {
		q = path[n+1:]
		if i := bytes.IndexByte(q, '#'); i >= 0 {
			q = q[:i]
		}
	}
	for i := range vh.routes {
		if vh.routes[i].matches(p, q, h) {
			return &vh.routes[i]
		}
	}
	return nil
}

// MatchConnect is Match for a CONNECT request, whose request-target is
// an authority (host:port), given as host: the first route of its
// virtual host with a connect match (MatchSpec.Connect) whose header
// conditions hold, or nil. It does not allocate. Any goroutine.
func (t *Table) MatchConnect(host []byte, h HeaderGetter) *Route {
	vh := t.selectVirtualHost(host)
	if vh == nil {
		return nil
	}
	for i := range vh.connect {
		if vh.connect[i].matches(nil, nil, h) {
			return &vh.connect[i]
		}
	}
	return nil
}

// HasConnect reports whether some route of the table matches CONNECT
// requests. Any goroutine.
func (t *Table) HasConnect() bool { return t.connect }

// RouteEnables reports whether some route's Upgrades entry enables the
// upgrade tok (case-insensitive): the proxy offers HTTP/2 extended
// CONNECT where one may. Any goroutine.
func (t *Table) RouteEnables(tok string) bool {
	for _, u := range t.upgrades {
		if strings.EqualFold(u, tok) {
			return true
		}
	}
	return false
}

// selectVirtualHost applies Envoy's domain order: exact (with, then without
// port), suffix wildcards (with, then without port), prefix wildcards, "*".
func (t *Table) selectVirtualHost(host []byte) *virtualHost {
	if len(host) == 0 {
		return t.catchAll
	}
	bare := hostWithoutPort(host)
	var buf [maxDomainLen]byte
	if len(host) > maxDomainLen {
		return t.selectLong(&buf, host, bare)
	}
	l := lowerInto(buf[:], host)
	if vh := t.exact[string(l)]; vh != nil {
		return vh
	}
	if bare < len(l) {
		if vh := t.exact[string(l[:bare])]; vh != nil {
			return vh
		}
	}
	if vh := matchSuffix(t.suffixes, l, len(l)); vh != nil {
		return vh
	}
	if bare < len(l) {
		if vh := matchSuffix(t.suffixes, l[:bare], bare); vh != nil {
			return vh
		}
	}
	if vh := matchPrefix(t.prefixes, l, len(l)); vh != nil {
		return vh
	}
	return t.catchAll
}

// selectLong handles hosts longer than any domain: no exact match is
// possible, so only the lower-cased ends needed by wildcards are computed,
// reusing buf for each.
func (t *Table) selectLong(buf *[maxDomainLen]byte, host []byte, bare int) *virtualHost {
	if vh := matchSuffix(t.suffixes, lowerInto(buf[:], host[len(host)-maxDomainLen:]), len(host)); vh != nil {
		return vh
	}
	if bare < len(host) {
		b := host[:bare]
		tail := b[len(b)-min(len(b), maxDomainLen):]
		if vh := matchSuffix(t.suffixes, lowerInto(buf[:], tail), bare); vh != nil {
			return vh
		}
	}
	if vh := matchPrefix(t.prefixes, lowerInto(buf[:], host[:maxDomainLen]), len(host)); vh != nil {
		return vh
	}
	return t.catchAll
}

// matchSuffix looks up the longest suffix wildcard matching a host of
// length hostLen whose lower-cased last bytes are tail. The wildcard must
// cover at least one byte, hence n < hostLen.
func matchSuffix(groups []wildcardGroup, tail []byte, hostLen int) *virtualHost {
	for i := range groups {
		g := &groups[i]
		if g.n >= hostLen || g.n > len(tail) {
			continue
		}
		if vh := g.m[string(tail[len(tail)-g.n:])]; vh != nil {
			return vh
		}
	}
	return nil
}

// matchPrefix looks up the longest prefix wildcard matching a host of
// length hostLen whose lower-cased first bytes are head.
func matchPrefix(groups []wildcardGroup, head []byte, hostLen int) *virtualHost {
	for i := range groups {
		g := &groups[i]
		if g.n >= hostLen || g.n > len(head) {
			continue
		}
		if vh := g.m[string(head[:g.n])]; vh != nil {
			return vh
		}
	}
	return nil
}
