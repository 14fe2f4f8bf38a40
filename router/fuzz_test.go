package router

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// fuzzSpec exercises every domain kind and match rule. Route names are
// "v<i>-r<j>" so results map back to spec indexes.
func fuzzSpec() TableSpec {
	vhosts := []VirtualHostSpec{
		{Domains: []string{"example.com", "[::1]"}, Routes: []RouteSpec{
			{Match: MatchSpec{Path: "/exact"}},
			{Match: MatchSpec{Prefix: "/API/", CaseInsensitive: true}},
			{Match: MatchSpec{Regex: `/u/[0-9]+`}},
			{Match: MatchSpec{Regex: `/i/[a-z]*`, CaseInsensitive: true}},
			{Match: MatchSpec{Prefix: "/h", Headers: []HeaderMatchSpec{{Name: "x-a", Value: "1"}, {Name: "X-B", Value: "b+", Regex: true}}}},
			{Match: MatchSpec{Prefix: "/p", Headers: []HeaderMatchSpec{{Name: "x-p"}}}},
			{Match: MatchSpec{Prefix: "/n", Headers: []HeaderMatchSpec{{Name: "x-a", Value: "1", Invert: true}}}},
			{Match: MatchSpec{Path: "/Case", CaseInsensitive: true}},
		}},
		{Domains: []string{"example.com:8080", "[::1]:9"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/"}}}},
		{Domains: []string{"*.example.com", "*-x.a.b"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/a"}}, {Match: MatchSpec{Prefix: "/"}}}},
		{Domains: []string{"*.com", "*b"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/"}}}},
		{Domains: []string{"*.port.test:81"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/"}}}},
		{Domains: []string{"www.*", "w*", "localhost:*"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/w"}}}},
		{Domains: []string{"*"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/z", CaseInsensitive: true}}, {Match: MatchSpec{Regex: `.*`}}}},
	}
	for v := range vhosts {
		vhosts[v].Name = fmt.Sprintf("v%d", v)
		for r := range vhosts[v].Routes {
			vhosts[v].Routes[r].Name = fmt.Sprintf("v%d-r%d", v, r)
			vhosts[v].Routes[r].Cluster = &ClusterAction{Cluster: "c", PrefixRewrite: "/rw"}
			if vhosts[v].Routes[r].Match.Regex != "" {
				vhosts[v].Routes[r].Cluster.PrefixRewrite = ""
			}
		}
	}
	return TableSpec{Name: "fuzz", VirtualHosts: vhosts}
}

// asciiLower is the reference lower-casing (ASCII only, like HTTP hosts).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func allDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// refBare strips a numeric port, written independently of hostWithoutPort.
func refBare(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.LastIndex(h, "]:"); i >= 0 && allDigits(h[i+2:]) {
			return h[:i+1]
		}
		return h
	}
	if strings.Count(h, ":") == 1 {
		if i := strings.IndexByte(h, ':'); allDigits(h[i+1:]) {
			return h[:i]
		}
	}
	return h
}

// refVirtualHost selects a vhost index the slow way, or -1.
func refVirtualHost(spec TableSpec, host string) int {
	if host == "" {
		return refFind(spec, func(d string) int { return boolScore(d == "*") })
	}
	full := asciiLower(host)
	bare := refBare(full)
	tiers := []func(d string) int{
		func(d string) int { return boolScore(!strings.Contains(d, "*") && d == full) },
		func(d string) int { return boolScore(!strings.Contains(d, "*") && d == bare) },
		func(d string) int { return suffixScore(d, full) },
		func(d string) int { return suffixScore(d, bare) },
		func(d string) int {
			s := strings.TrimSuffix(d, "*")
			return boolScore(d != "*" && s != d && len(full) > len(s) && strings.HasPrefix(full, s)) * (len(s) + 1)
		},
		func(d string) int { return boolScore(d == "*") },
	}
	for _, score := range tiers {
		if v := refFind(spec, score); v >= 0 {
			return v
		}
	}
	return -1
}

func suffixScore(d, h string) int {
	s := strings.TrimPrefix(d, "*")
	return boolScore(d != "*" && s != d && len(h) > len(s) && strings.HasSuffix(h, s)) * (len(s) + 1)
}

func boolScore(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refFind returns the vhost holding the domain with the highest positive
// score, or -1.
func refFind(spec TableSpec, score func(d string) int) int {
	best, bestV := 0, -1
	for v, vh := range spec.VirtualHosts {
		for _, d := range vh.Domains {
			if s := score(asciiLower(d)); s > best {
				best, bestV = s, v
			}
		}
	}
	return bestV
}

// refRouteMatches checks a route spec against a request the slow way.
func refRouteMatches(rs RouteSpec, target string, h headers) bool {
	p, _, _ := strings.Cut(target, "?")
	p, _, _ = strings.Cut(p, "#")
	m := rs.Match
	eq := func(a, b string) bool {
		if m.CaseInsensitive {
			return asciiLower(a) == asciiLower(b)
		}
		return a == b
	}
	switch {
	case m.Prefix != "":
		if len(p) < len(m.Prefix) || !eq(p[:len(m.Prefix)], m.Prefix) {
			return false
		}
	case m.Path != "":
		if !eq(p, m.Path) {
			return false
		}
	default:
		flags := ""
		if m.CaseInsensitive {
			flags = "(?i)"
		}
		if !regexp.MustCompile(flags + "^(?:" + m.Regex + ")$").MatchString(p) {
			return false
		}
	}
	for _, hm := range m.Headers {
		v, ok := h.Get(hm.Name)
		if ok && hm.Regex {
			ok = regexp.MustCompile("^(?:" + hm.Value + ")$").Match(v)
		} else if ok && hm.Value != "" {
			ok = string(v) == hm.Value
		}
		if ok == hm.Invert {
			return false
		}
	}
	return true
}

// parseHeaders turns "name:value\n…" into headers.
func parseHeaders(blob string) headers {
	var h headers
	for line := range strings.SplitSeq(blob, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok {
			h = append(h, hdr{name: name, value: value})
		}
	}
	return h
}

func FuzzRouteMatch(f *testing.F) {
	seeds := []struct{ host, path, hdrs string }{
		{host: "example.com", path: "/exact?x", hdrs: ""},
		{host: "EXAMPLE.com:8080", path: "/", hdrs: ""},
		{host: "[::1]:9", path: "/", hdrs: ""},
		{host: "[::1]:10", path: "/u/12", hdrs: ""},
		{host: "a.b.example.com:1", path: "/a/b", hdrs: ""},
		{host: "y-x.a.b", path: "/", hdrs: ""},
		{host: "q.port.test:81", path: "/", hdrs: ""},
		{host: "www.x", path: "/w", hdrs: ""},
		{host: "localhost:3", path: "/w", hdrs: ""},
		{host: "example.com", path: "/h", hdrs: "X-A:1\nx-b:bbb"},
		{host: "example.com", path: "/n", hdrs: "x-a:2"},
		{host: "example.com", path: "/p", hdrs: "X-P:"},
		{host: "example.com", path: "/api/X", hdrs: ""},
		{host: "", path: "/Z", hdrs: ""},
		{host: strings.Repeat("k", 300) + ".com", path: "/", hdrs: ""},
		{host: "www." + strings.Repeat("K", 300), path: "/w", hdrs: ""},
		{host: "\x00\xff:", path: "?#", hdrs: ":\n:"},
	}
	for _, s := range seeds {
		f.Add(s.host, s.path, s.hdrs)
	}
	spec := fuzzSpec()
	tbl := mustTable(f, spec)
	f.Fuzz(func(t *testing.T, host, path, blob string) {
		h := parseHeaders(blob)
		rt := tbl.Match([]byte(host), []byte(path), h)
		want := "<nil>"
		if v := refVirtualHost(spec, host); v >= 0 {
			for _, rs := range spec.VirtualHosts[v].Routes {
				if refRouteMatches(rs, path, h) {
					want = rs.Name
					break
				}
			}
		}
		if got := routeName(rt); got != want {
			t.Fatalf("Match(%q, %q, %q) = %s, reference says %s", host, path, blob, got, want)
		}
		if rt != nil {
			_ = rt.RewritePath(nil, []byte(path)) // must not panic; result unchecked
			_ = rt.RedirectLocation(nil, []byte("http"), []byte(host), []byte(path))
		}
	})
}
