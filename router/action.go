package router

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// clusterExtra is the compiled part of a ClusterAction beyond its static
// fields: the weighted split, the regex rewrite, the hash policy and the
// header mutations. nil on routes that use none of them, so the proxy's
// checks cost one nil test.
type clusterExtra struct {
	weights []uint64 // running sums of the weighted clusters' weights
	names   []string
	rewrite *regexp.Regexp
	subst   []byte // the substitution in Go's Expand syntax
	hash    []hashSource
	hashIP  bool // some hash source is the client IP
	reqOps  *HeaderOps
	respOps *HeaderOps
}

// hashSource is one compiled HashPolicy.
type hashSource struct {
	header string // header name, or "cookie" for a cookie
	cookie string // cookie name, or ""
	ip     bool
}

// WeightedCluster picks the cluster of a weighted split: r is a uniformly
// random number (the proxy passes its fast random source, tests a fixed
// sequence). It returns "" when the route has no weighted clusters.
// No allocation. Any goroutine.
func (rt *Route) WeightedCluster(r uint64) string {
	x := rt.extra
	if x == nil || len(x.weights) == 0 {
		return ""
	}
	t := r % x.weights[len(x.weights)-1]
	for i, w := range x.weights {
		if t < w {
			return x.names[i]
		}
	}
	return x.names[len(x.names)-1]
}

// ClusterHeader returns the name of the request header that names the
// cluster, or "". Any goroutine.
func (rt *Route) ClusterHeader() string {
	if rt.cluster == nil {
		return ""
	}
	return rt.cluster.ClusterHeader
}

// AutoHostRewrite reports whether the Host sent upstream is the chosen
// host's address. Any goroutine.
func (rt *Route) AutoHostRewrite() bool { return rt.cluster != nil && rt.cluster.AutoHostRewrite }

// Rewrites reports whether RewritePath may change the path (a prefix or
// regex rewrite is configured). Any goroutine.
func (rt *Route) Rewrites() bool {
	return rt.cluster != nil && rt.cluster.PrefixRewrite != "" || rt.extra != nil && rt.extra.rewrite != nil
}

// RequestHeaders returns the mutations of the request sent upstream, or
// nil. Any goroutine.
func (rt *Route) RequestHeaders() *HeaderOps {
	if rt.extra == nil {
		return nil
	}
	return rt.extra.reqOps
}

// ResponseHeaders returns the mutations of the response sent to the
// client, or nil. Any goroutine.
func (rt *Route) ResponseHeaders() *HeaderOps {
	if rt.extra == nil {
		return nil
	}
	return rt.extra.respOps
}

// Hashes reports whether the route has a hash policy, and whether one of
// its sources is the client IP (which the caller then passes to HashKey).
// Any goroutine.
func (rt *Route) Hashes() (hashes, needsIP bool) {
	if rt.extra == nil {
		return false, false
	}
	return len(rt.extra.hash) > 0, rt.extra.hashIP
}

// HashKey computes the request's hash key from the route's hash policy:
// each source that is present (header, cookie, the client IP ip) is hashed
// and folded in as Envoy does (rotate left by one, xor). It reports false
// when no source is present (the balancer then picks at random). No
// allocation. Any goroutine.
func (rt *Route) HashKey(h HeaderGetter, ip []byte) (uint64, bool) {
	if rt.extra == nil {
		return 0, false
	}
	var key uint64
	found := false
	for i := range rt.extra.hash {
		src := &rt.extra.hash[i]
		var v []byte
		ok := false
		switch {
		case src.ip:
			v, ok = ip, len(ip) > 0
		case h == nil:
		case src.cookie != "":
			if c, has := h.Get("cookie"); has {
				v, ok = cookieValue(c, src.cookie)
			}
		default:
			v, ok = h.Get(src.header)
		}
		if !ok {
			continue
		}
		key = (key<<1 | key>>63) ^ fnv64(v)
		found = true
	}
	return key, found
}

// fnv64 is FNV-1a over b.
func fnv64(b []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, c := range b {
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	return h
}

// cookieValue finds name in a Cookie header value ("a=1; b=2").
func cookieValue(c []byte, name string) ([]byte, bool) {
	for len(c) > 0 {
		var pair []byte
		if i := indexByte(c, ';'); i >= 0 {
			pair, c = c[:i], c[i+1:]
		} else {
			pair, c = c, nil
		}
		for len(pair) > 0 && (pair[0] == ' ' || pair[0] == '\t') {
			pair = pair[1:]
		}
		if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
			return pair[len(name)+1:], true
		}
	}
	return nil, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// appendRegexRewrite applies the regex rewrite to the path part of path
// and keeps the query. It allocates (Go's regexp replaces into a new
// slice); only routes with a regex rewrite pay it.
func (rt *Route) appendRegexRewrite(dst, path []byte) []byte {
	n := splitPath(path)
	dst = append(dst, rt.extra.rewrite.ReplaceAll(path[:n], rt.extra.subst)...)
	return append(dst, path[n:]...)
}

// buildExtra compiles the cluster action's weighted clusters, regex
// rewrite and hash policy, and the header mutations of the route, its
// virtual host and the table.
func (b *builder) buildExtra(vi, ri int, c *ClusterAction, rt *Route) {
	rs := &b.spec.VirtualHosts[vi].Routes[ri]
	x := &clusterExtra{}
	fail := func(msg string) { b.fail(vi, ri, nil, "%s", msg) }
	if len(c.WeightedClusters) > 0 {
		var total uint64
		for i, wc := range c.WeightedClusters {
			if wc.Name == "" {
				fail(fmt.Sprintf("route.weighted_clusters[%d].cluster.name: required", i))
			}
			total += uint64(wc.Weight)
			x.weights = append(x.weights, total)
			x.names = append(x.names, wc.Name)
		}
		if total == 0 {
			fail("route.weighted_clusters: weights sum to zero")
		}
	}
	if c.ClusterHeader != "" && !isToken(c.ClusterHeader) {
		fail(fmt.Sprintf("route.cluster_header: invalid header name %q", c.ClusterHeader))
	}
	if r := c.RegexRewrite; r != nil {
		x.rewrite, x.subst = b.buildRegexRewrite(r, fail)
	}
	for i, hp := range c.HashPolicy {
		p := fmt.Sprintf("route.hash_policy[%d]", i)
		set := 0
		for _, ok := range []bool{hp.Header != "", hp.Cookie != "", hp.SourceIP} {
			if ok {
				set++
			}
		}
		switch {
		case set != 1:
			fail(fmt.Sprintf("%s: needs exactly one of header, cookie, source_ip (%d set)", p, set))
		case hp.Header != "" && !isToken(hp.Header):
			fail(fmt.Sprintf("%s.header.key: invalid header name %q", p, hp.Header))
		case hp.Cookie != "" && (!isToken(hp.Cookie) || strings.ContainsAny(hp.Cookie, "=")):
			fail(fmt.Sprintf("%s.cookie.name: invalid cookie name %q", p, hp.Cookie))
		default:
			x.hash = append(x.hash, hashSource{header: hp.Header, cookie: hp.Cookie, ip: hp.SourceIP})
			x.hashIP = x.hashIP || hp.SourceIP
		}
	}
	vs := &b.spec.VirtualHosts[vi]
	levels := []mutationLevel{{m: &rs.Headers, path: "route.", fail: fail}, {m: &vs.Headers}, {m: &b.spec.Headers}}
	x.reqOps = buildOps(levels, false)
	x.respOps = buildOps(levels, true)
	if len(x.weights) > 0 || x.rewrite != nil || len(x.hash) > 0 || x.reqOps != nil || x.respOps != nil {
		rt.extra = x
	}
}

// buildRegexRewrite compiles a regex rewrite, translating \N references to
// ${N} and checking that every reference names a group of the pattern.
func (b *builder) buildRegexRewrite(r *RegexRewrite, fail func(string)) (*regexp.Regexp, []byte) {
	const at = "route.regex_rewrite"
	if r.Pattern == "" {
		fail(at + ".pattern.regex: required")
		return nil, nil
	}
	re, err := regexp.Compile(r.Pattern)
	if err != nil {
		fail(at + ".pattern.regex: invalid regex: " + err.Error())
		return nil, nil
	}
	var out strings.Builder
	s := r.Substitution
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && '0' <= s[j] && s[j] <= '9' {
				j++
			}
			out.WriteString("${" + s[i+1:j] + "}")
			if !groupExists(re, s[i+1:j]) {
				fail(fmt.Sprintf("%s.substitution: \\%s refers to a group the pattern lacks", at, s[i+1:j]))
			}
			i = j - 1
		case c == '$' && i+1 < len(s) && s[i+1] == '$':
			out.WriteString("$$")
			i++
		case c == '$':
			name, end := refName(s, i+1)
			if name == "" {
				fail(at + ".substitution: '$' neither starts a group reference nor is escaped as $$")
				return nil, nil
			}
			if !groupExists(re, name) {
				fail(fmt.Sprintf("%s.substitution: $%s refers to a group the pattern lacks", at, name))
			}
			out.WriteString("${" + name + "}")
			i = end - 1
		default:
			out.WriteByte(c)
		}
	}
	return re, []byte(out.String())
}

// refName reads a group reference after '$' at s[i:]: {name} or a run of
// word characters. It returns the name and the index past it.
func refName(s string, i int) (string, int) {
	if i < len(s) && s[i] == '{' {
		if j := strings.IndexByte(s[i:], '}'); j > 1 {
			return s[i+1 : i+j], i + j + 1
		}
		return "", i
	}
	j := i
	for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9') {
		j++
	}
	return s[i:j], j
}

// groupExists reports whether re has the group named or numbered name.
func groupExists(re *regexp.Regexp, name string) bool {
	if n, err := strconv.Atoi(name); err == nil {
		return n >= 0 && n <= re.NumSubexp()
	}
	return re.SubexpIndex(name) >= 0
}
