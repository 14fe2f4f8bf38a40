package router

import (
	"strings"
	"testing"
	"time"
)

// oneRoute builds a table with a single catch-all vhost holding r.
func oneRoute(tb testing.TB, r RouteSpec) *Route {
	tb.Helper()
	tbl := mustTable(tb, TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{r}}}})
	return &tbl.catchAll.routes[0]
}

func TestAccessors(t *testing.T) {
	c := oneRoute(t, RouteSpec{Name: "c", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "up", Timeout: time.Second, HostRewrite: "h.test"}})
	if c.Name() != "c" || c.VirtualHost() != "vh" || c.Cluster().Cluster != "up" || c.Timeout() != time.Second ||
		c.Cluster().HostRewrite != "h.test" || c.Direct() != nil || c.Redirect() != nil {
		t.Errorf("cluster route accessors wrong: %+v", c)
	}
	d := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Direct: &DirectResponse{Status: 503, Body: "down"}})
	if d.Direct().Status != 503 || d.Direct().Body != "down" || d.Timeout() != 0 || d.Cluster() != nil {
		t.Errorf("direct route accessors wrong: %+v", d)
	}
	r := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Scheme: "HTTPS"}})
	if r.Redirect().Code != 301 || r.Redirect().Scheme != "https" {
		t.Errorf("redirect defaults wrong: %+v", r.Redirect())
	}
}

func TestRewritePath(t *testing.T) {
	tests := []struct {
		name  string
		match MatchSpec
		rw    string
		path  string
		want  string
	}{
		{name: "no rewrite", match: MatchSpec{Prefix: "/api/"}, path: "/api/x?q=1", want: "/api/x?q=1"},
		{name: "prefix", match: MatchSpec{Prefix: "/api/"}, rw: "/v2/", path: "/api/users?id=1", want: "/v2/users?id=1"},
		{name: "prefix to root", match: MatchSpec{Prefix: "/api/"}, rw: "/", path: "/api/users", want: "/users"},
		{name: "prefix ci keeps rest", match: MatchSpec{Prefix: "/api", CaseInsensitive: true}, rw: "/x", path: "/API/Users", want: "/x/Users"},
		{name: "path", match: MatchSpec{Path: "/old"}, rw: "/new", path: "/old?a#b", want: "/new?a#b"},
		{name: "fragment kept", match: MatchSpec{Prefix: "/a"}, rw: "/b", path: "/a/c#f", want: "/b/c#f"},
		{name: "non-matching path unchanged", match: MatchSpec{Prefix: "/api/"}, rw: "/v2/", path: "/other", want: "/other"},
		{name: "regex unchanged", match: MatchSpec{Regex: "/.*"}, path: "/r?x", want: "/r?x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := oneRoute(t, RouteSpec{Match: tc.match, Cluster: &ClusterAction{Cluster: "c", PrefixRewrite: tc.rw}})
			dst := []byte("GET ")
			got := string(rt.RewritePath(dst, []byte(tc.path)))
			if got != "GET "+tc.want {
				t.Errorf("RewritePath(%q) = %q, want %q", tc.path, got, "GET "+tc.want)
			}
		})
	}
}

func TestRedirectLocation(t *testing.T) {
	tests := []struct {
		name   string
		match  MatchSpec
		rd     Redirect
		scheme string
		host   string
		path   string
		want   string
	}{
		{name: "https upgrade", rd: Redirect{Scheme: "https"}, scheme: "http", host: "a.test", path: "/x?y", want: "https://a.test/x?y"},
		{name: "https drops port 80", rd: Redirect{Scheme: "https"}, scheme: "http", host: "a.test:80", path: "/", want: "https://a.test/"},
		{name: "https keeps other port", rd: Redirect{Scheme: "https"}, scheme: "http", host: "a.test:8080", path: "/", want: "https://a.test:8080/"},
		{name: "http downgrade drops 443", rd: Redirect{Scheme: "http"}, scheme: "https", host: "[::1]:443", path: "/", want: "http://[::1]/"},
		{name: "same scheme keeps port", rd: Redirect{Scheme: "http"}, scheme: "http", host: "a.test:80", path: "/", want: "http://a.test:80/"},
		{name: "empty scheme is http", rd: Redirect{Host: "b.test"}, host: "a.test", path: "/p", want: "http://b.test/p"},
		{name: "host replaces authority", rd: Redirect{Host: "b.test:9000"}, scheme: "https", host: "a.test:8443", path: "/p?q", want: "https://b.test:9000/p?q"},
		{name: "path keeps query", rd: Redirect{Path: "/new"}, scheme: "http", host: "a", path: "/old?q=1", want: "http://a/new?q=1"},
		{name: "path with own query", rd: Redirect{Path: "/new?x=2"}, scheme: "http", host: "a", path: "/old?q=1", want: "http://a/new?x=2"},
		{name: "prefix rewrite", match: MatchSpec{Prefix: "/old/"}, rd: Redirect{PrefixRewrite: "/new/"}, scheme: "http", host: "a", path: "/old/p?q", want: "http://a/new/p?q"},
		{name: "no host is relative", rd: Redirect{Path: "/n"}, path: "/o", want: "/n"},
		{name: "empty path becomes slash", rd: Redirect{Host: "b"}, scheme: "http", want: "http://b/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.match
			if m.Prefix == "" && m.Path == "" && m.Regex == "" {
				m.Prefix = "/"
			}
			rd := tc.rd
			rt := oneRoute(t, RouteSpec{Match: m, Redirect: &rd})
			got := string(rt.RedirectLocation(nil, []byte(tc.scheme), []byte(tc.host), []byte(tc.path)))
			if got != tc.want {
				t.Errorf("RedirectLocation = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedirectLocationWithoutRedirect(t *testing.T) {
	rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: to("c")})
	if got := string(rt.RedirectLocation(nil, nil, []byte("h"), []byte("/p"))); got != "/p" {
		t.Errorf("RedirectLocation on cluster route = %q", got)
	}
}

// TestEmptyMatchMatchesEveryPath: a route without prefix, path or regex
// (MOSN's header-only route) matches every path, its headers still apply,
// and its path is forwarded unchanged.
func TestEmptyMatchMatchesEveryPath(t *testing.T) {
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{
		{Name: "canary", Match: MatchSpec{Headers: []HeaderMatchSpec{{Name: "x-canary", Value: "1"}}}, Cluster: to("canary")},
		{Name: "all", Cluster: to("web")},
	}}}})
	for _, tc := range []struct {
		path string
		h    headers
		want string
	}{
		{path: "/", want: "all"},
		{path: "/a/b?c", want: "all"},
		{path: "*", want: "all"},
		{path: "/x", h: headers{{"x-canary", "1"}}, want: "canary"},
		{path: "/x", h: headers{{"x-canary", "2"}}, want: "all"},
	} {
		rt := tbl.Match([]byte("h.test"), []byte(tc.path), tc.h)
		if rt == nil || rt.Name() != tc.want {
			t.Errorf("Match(%q, %v) = %v, want route %q", tc.path, tc.h, rt, tc.want)
			continue
		}
		if got := string(rt.RewritePath(nil, []byte(tc.path))); got != tc.path {
			t.Errorf("RewritePath(%q) = %q, want it unchanged", tc.path, got)
		}
	}
}

// TestQueryParameterMatch: query_parameters conditions on the raw query
// string: exact value (the first occurrence decides), full regex, presence
// (with or without "="), all required; the fragment is not query.
func TestQueryParameterMatch(t *testing.T) {
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{
		{Name: "exact", Match: MatchSpec{Prefix: "/", QueryParameters: []QueryParamMatchSpec{{Name: "v", Value: "2"}}}, Cluster: to("a")},
		{Name: "regex", Match: MatchSpec{Prefix: "/", QueryParameters: []QueryParamMatchSpec{{Name: "id", Value: "[0-9]+", Regex: true}}}, Cluster: to("b")},
		{Name: "both", Match: MatchSpec{Prefix: "/", QueryParameters: []QueryParamMatchSpec{{Name: "debug"}, {Name: "u", Value: "x%20y"}}}, Cluster: to("c")},
		{Name: "all", Cluster: to("d")},
	}}}})
	for _, tc := range []struct{ path, want string }{
		{"/p?v=2", "exact"},
		{"/p?a=1&v=2&b", "exact"},
		{"/p?v=2&v=3", "exact"},
		{"/p?v=3&v=2", "all"}, // the first occurrence decides
		{"/p?v=22", "all"},
		{"/p?vv=2", "all"},
		{"/p?id=123", "regex"},
		{"/p?id=12a", "all"},
		{"/p?debug&u=x%20y", "both"},
		{"/p?debug=&u=x%20y", "both"},
		{"/p?debug&u=x y", "all"}, // raw, not decoded
		{"/p?u=x%20y", "all"},
		{"/p#v=2", "all"},
		{"/p?x=1#v=2", "all"},
		{"/p", "all"},
	} {
		if rt := tbl.Match([]byte("h"), []byte(tc.path), nil); rt == nil || rt.Name() != tc.want {
			t.Errorf("Match(%q) = %v, want route %q", tc.path, rt, tc.want)
		}
	}
}

// TestMethodMatch: a header matcher on ":method" matches the request
// method (Envoy's way), exactly or by regex; other pseudo-headers are
// refused when the table is built.
func TestMethodMatch(t *testing.T) {
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{
		{Name: "post", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Name: ":method", Value: "POST"}}}, Cluster: to("a")},
		{Name: "read", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Name: ":method", Value: "GET|HEAD", Regex: true}}}, Cluster: to("b")},
		{Name: "other", Cluster: to("c")},
	}}}})
	for _, tc := range []struct{ method, want string }{{"POST", "post"}, {"GET", "read"}, {"HEAD", "read"}, {"PUT", "other"}} {
		h := headers{{":method", tc.method}}
		if rt := tbl.Match([]byte("h"), []byte("/"), h); rt == nil || rt.Name() != tc.want {
			t.Errorf("%s: route %v, want %q", tc.method, rt, tc.want)
		}
	}
	_, err := NewTable(TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{
		{Name: "p", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Name: ":path", Value: "/"}}}, Cluster: to("a")},
	}}}})
	if err == nil || !strings.Contains(err.Error(), `invalid name ":path"`) {
		t.Fatalf("a :path matcher: %v, want refused", err)
	}
}
