package router

import (
	"strings"
	"testing"
)

func TestVirtualHostSelection(t *testing.T) {
	long := strings.Repeat("a", 300)
	tbl := mustTable(t, TableSpec{Name: "t", VirtualHosts: []VirtualHostSpec{
		vhost("exact", "example.com", "Mixed.Example.ORG"),
		vhost("exact-port", "example.com:8080"),
		vhost("ipv6", "[::1]"),
		vhost("ipv6-port", "[::1]:9090"),
		vhost("suffix-short", "*.com"),
		vhost("suffix-long", "*.api.example.com"),
		vhost("suffix-dash", "*-bar.foo.com"),
		vhost("suffix-port", "*.ported.net:81"),
		vhost("prefix-short", "www.*"),
		vhost("prefix-long", "www.example.*"),
		vhost("prefix-port", "localhost:*"),
		vhost("all", "*"),
	}})
	tests := []struct {
		name string
		host string
		want string
	}{
		{name: "exact", host: "example.com", want: "exact"},
		{name: "exact any case", host: "EXAMPLE.Com", want: "exact"},
		{name: "exact configured mixed case", host: "mixed.example.org", want: "exact"},
		{name: "exact with port falls back to bare", host: "example.com:9999", want: "exact"},
		{name: "exact with its port", host: "example.com:8080", want: "exact-port"},
		{name: "exact port case", host: "Example.COM:8080", want: "exact-port"},
		{name: "exact empty port", host: "example.com:", want: "exact"},
		{name: "ipv6 literal", host: "[::1]", want: "ipv6"},
		{name: "ipv6 other port", host: "[::1]:8080", want: "ipv6"},
		{name: "ipv6 its port", host: "[::1]:9090", want: "ipv6-port"},
		{name: "suffix longest wins", host: "v1.api.example.com", want: "suffix-long"},
		{name: "suffix shorter", host: "other.example.com", want: "suffix-short"},
		{name: "suffix needs non-empty wildcard", host: ".api.example.com", want: "suffix-short"},
		{name: "suffix with port bare", host: "v1.api.example.com:443", want: "suffix-long"},
		{name: "suffix dash", host: "baz-bar.foo.com", want: "suffix-dash"},
		{name: "suffix dash not empty", host: "-bar.foo.com", want: "suffix-short"},
		{name: "suffix with configured port", host: "a.ported.net:81", want: "suffix-port"},
		{name: "suffix configured port mismatch", host: "a.ported.net:82", want: "all"},
		{name: "suffix any case", host: "V1.API.Example.COM", want: "suffix-long"},
		{name: "suffix beats prefix", host: "www.foo.com", want: "suffix-short"},
		{name: "prefix", host: "www.foo.org", want: "prefix-short"},
		{name: "prefix longest wins", host: "www.example.org", want: "prefix-long"},
		{name: "prefix needs non-empty wildcard", host: "www.", want: "all"},
		{name: "prefix any case", host: "WWW.foo.org", want: "prefix-short"},
		{name: "prefix with port", host: "localhost:3000", want: "prefix-port"},
		{name: "prefix port bare host", host: "localhost", want: "all"},
		{name: "catch-all", host: "unknown.test", want: "all"},
		{name: "empty host catch-all", host: "", want: "all"},
		{name: "long host suffix", host: long + ".api.example.com", want: "suffix-long"},
		{name: "long host suffix with port", host: long + ".api.example.com:1", want: "suffix-long"},
		{name: "long host prefix", host: "www.example." + long, want: "prefix-long"},
		{name: "long host catch-all", host: long, want: "all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := routeName(tbl.Match([]byte(tc.host), []byte("/"), nil))
			if got != tc.want {
				t.Errorf("Match(host %q) = %s, want %s", tc.host, got, tc.want)
			}
		})
	}
}

func TestNoCatchAll(t *testing.T) {
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{vhost("only", "only.test")}})
	for _, host := range []string{"", "other.test", "only.test.evil", strings.Repeat("x", 400)} {
		if rt := tbl.Match([]byte(host), []byte("/"), nil); rt != nil {
			t.Errorf("Match(host %q) = %s, want nil", host, rt.Name())
		}
	}
	empty := mustTable(t, TableSpec{Name: "empty"})
	if rt := empty.Match([]byte("a"), []byte("/"), nil); rt != nil {
		t.Errorf("empty table matched %s", rt.Name())
	}
}

func TestRouteMatching(t *testing.T) {
	routes := []RouteSpec{
		{Name: "exact", Match: MatchSpec{Path: "/exact"}, Cluster: to("c")},
		{Name: "exact-ci", Match: MatchSpec{Path: "/Exact-CI", CaseInsensitive: true}, Cluster: to("c")},
		{Name: "regex", Match: MatchSpec{Regex: `/users/[0-9]+`}, Cluster: to("c")},
		{Name: "regex-ci", Match: MatchSpec{Regex: `/items/[a-z]+`, CaseInsensitive: true}, Cluster: to("c")},
		{Name: "hdr-exact", Match: MatchSpec{Prefix: "/h/exact", Headers: []HeaderMatchSpec{{Name: "X-Env", Value: "prod"}}}, Cluster: to("c")},
		{Name: "hdr-regex", Match: MatchSpec{Prefix: "/h/regex", Headers: []HeaderMatchSpec{{Name: "x-version", Value: `v[12]`, Regex: true}}}, Cluster: to("c")},
		{Name: "hdr-present", Match: MatchSpec{Prefix: "/h/present", Headers: []HeaderMatchSpec{{Name: "X-Debug"}}}, Cluster: to("c")},
		{Name: "hdr-invert", Match: MatchSpec{Prefix: "/h/invert", Headers: []HeaderMatchSpec{{Name: "X-Env", Value: "prod", Invert: true}}}, Cluster: to("c")},
		{Name: "hdr-all", Match: MatchSpec{Prefix: "/h/all", Headers: []HeaderMatchSpec{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}}, Cluster: to("c")},
		{Name: "prefix-ci", Match: MatchSpec{Prefix: "/API/", CaseInsensitive: true}, Cluster: to("c")},
		{Name: "prefix", Match: MatchSpec{Prefix: "/static/"}, Cluster: to("c")},
		{Name: "shadowed", Match: MatchSpec{Prefix: "/static/img"}, Cluster: to("c")},
		{Name: "first-wins", Match: MatchSpec{Prefix: "/first"}, Cluster: to("c")},
		{Name: "first-loses", Match: MatchSpec{Prefix: "/first"}, Direct: &DirectResponse{Status: 200}},
	}
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{{Name: "v", Domains: []string{"*"}, Routes: routes}}})
	tests := []struct {
		name string
		path string
		h    HeaderGetter
		want string
	}{
		{name: "exact path", path: "/exact", want: "exact"},
		{name: "exact ignores query", path: "/exact?a=b", want: "exact"},
		{name: "exact ignores fragment", path: "/exact#top", want: "exact"},
		{name: "exact is case-sensitive", path: "/EXACT", want: "<nil>"},
		{name: "exact is not prefix", path: "/exact/more", want: "<nil>"},
		{name: "exact ci", path: "/exact-ci", want: "exact-ci"},
		{name: "regex full match", path: "/users/42", want: "regex"},
		{name: "regex not partial", path: "/users/42/x", want: "<nil>"},
		{name: "regex not partial prefix", path: "/x/users/42", want: "<nil>"},
		{name: "regex ignores query", path: "/users/42?x=/users/a", want: "regex"},
		{name: "regex ci", path: "/ITEMS/Abc", want: "regex-ci"},
		{name: "header exact", path: "/h/exact", h: headers{{name: "x-env", value: "prod"}}, want: "hdr-exact"},
		{name: "header exact value case-sensitive", path: "/h/exact", h: headers{{name: "x-env", value: "Prod"}}, want: "<nil>"},
		{name: "header absent", path: "/h/exact", h: headers{}, want: "<nil>"},
		{name: "header nil getter", path: "/h/exact", want: "<nil>"},
		{name: "header regex", path: "/h/regex", h: headers{{name: "X-Version", value: "v2"}}, want: "hdr-regex"},
		{name: "header regex full", path: "/h/regex", h: headers{{name: "X-Version", value: "v22"}}, want: "<nil>"},
		{name: "header present", path: "/h/present", h: headers{{name: "x-debug", value: ""}}, want: "hdr-present"},
		{name: "header present absent", path: "/h/present", h: headers{{name: "x-other", value: "1"}}, want: "<nil>"},
		{name: "header invert other value", path: "/h/invert", h: headers{{name: "X-Env", value: "dev"}}, want: "hdr-invert"},
		{name: "header invert absent", path: "/h/invert", h: headers{}, want: "hdr-invert"},
		{name: "header invert nil getter", path: "/h/invert", want: "hdr-invert"},
		{name: "header invert same value", path: "/h/invert", h: headers{{name: "X-Env", value: "prod"}}, want: "<nil>"},
		{name: "headers all hold", path: "/h/all", h: headers{{name: "a", value: "1"}, {name: "b", value: "2"}}, want: "hdr-all"},
		{name: "headers one fails", path: "/h/all", h: headers{{name: "a", value: "1"}, {name: "b", value: "3"}}, want: "<nil>"},
		{name: "prefix ci", path: "/api/v1", want: "prefix-ci"},
		{name: "prefix ci upper", path: "/Api/v1", want: "prefix-ci"},
		{name: "prefix", path: "/static/img/a.png", want: "prefix"},
		{name: "prefix case-sensitive", path: "/STATIC/x", want: "<nil>"},
		{name: "prefix is byte prefix", path: "/static/", want: "prefix"},
		{name: "prefix too short", path: "/static", want: "<nil>"},
		{name: "first route wins", path: "/first/x", want: "first-wins"},
		{name: "nothing matches", path: "/nope", want: "<nil>"},
		{name: "empty path", path: "", want: "<nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := routeName(tbl.Match([]byte("any"), []byte(tc.path), tc.h))
			if got != tc.want {
				t.Errorf("Match(path %q) = %s, want %s", tc.path, got, tc.want)
			}
		})
	}
}

func TestPrefixSlashMatchesAll(t *testing.T) {
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{vhost("v", "*")}})
	for _, p := range []string{"/", "/a", "/a/b?c", "/?"} {
		if got := routeName(tbl.Match(nil, []byte(p), nil)); got != "v" {
			t.Errorf("Match(%q) = %s, want v", p, got)
		}
	}
}

func TestSpecIsCopied(t *testing.T) {
	c := &ClusterAction{Cluster: "orig"}
	spec := TableSpec{VirtualHosts: []VirtualHostSpec{{
		Domains: []string{"*"},
		Routes:  []RouteSpec{{Match: MatchSpec{Prefix: "/"}, Cluster: c}},
	}}}
	tbl := mustTable(t, spec)
	c.Cluster = "changed"
	spec.VirtualHosts[0].Domains[0] = "x"
	spec.VirtualHosts[0].Routes[0].Match.Prefix = "/zzz"
	rt := tbl.Match([]byte("h"), []byte("/a"), nil)
	if rt == nil || rt.Cluster().Cluster != "orig" {
		t.Fatalf("table changed with its spec: %+v", rt)
	}
}

// TestMatchConnect: a connect route is found by MatchConnect only, in
// order, under its header conditions and by the authority's virtual
// host; Match never returns it, and a path matcher never takes a
// CONNECT. A connect match with a path condition is refused.
func TestMatchConnect(t *testing.T) {
	connect := func(name string, hs ...HeaderMatchSpec) RouteSpec {
		return RouteSpec{Name: name, Match: MatchSpec{Connect: true, Headers: hs}, Cluster: to(name)}
	}
	tunnel := VirtualHostSpec{Name: "tunnel", Domains: []string{"tunnel.test:443"}, Routes: []RouteSpec{
		connect("tagged", HeaderMatchSpec{Name: "x-tag", Value: "a"}),
		connect("any"),
		{Name: "plain", Match: MatchSpec{Prefix: "/"}, Cluster: to("plain")},
	}}
	tbl := mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{tunnel, vhost("all", "*")}})
	if !tbl.HasConnect() || mustTable(t, TableSpec{VirtualHosts: []VirtualHostSpec{vhost("all", "*")}}).HasConnect() {
		t.Fatal("HasConnect: want true with a connect route only")
	}
	for _, tc := range []struct {
		host string
		h    HeaderGetter
		want string
	}{
		{"tunnel.test:443", headers{{"x-tag", "a"}}, "tagged"},
		{"tunnel.test:443", headers{{"x-tag", "b"}}, "any"},
		{"TUNNEL.test:443", nil, "any"},
		{"other.test:443", nil, "<nil>"}, // the catch-all has no connect route
	} {
		if got := routeName(tbl.MatchConnect([]byte(tc.host), tc.h)); got != tc.want {
			t.Errorf("MatchConnect(%q, %v) = %s, want %s", tc.host, tc.h, got, tc.want)
		}
	}
	if got := routeName(tbl.Match([]byte("tunnel.test:443"), []byte("/x"), nil)); got != "plain" {
		t.Errorf("Match = %s, want plain: connect routes are not path routes", got)
	}
	if n := testing.AllocsPerRun(100, func() { tbl.MatchConnect([]byte("tunnel.test:443"), nil) }); n != 0 {
		t.Errorf("MatchConnect allocates %v times", n)
	}
	_, err := NewTable(TableSpec{VirtualHosts: []VirtualHostSpec{{Domains: []string{"*"}, Routes: []RouteSpec{
		{Match: MatchSpec{Connect: true, Prefix: "/"}, Cluster: to("c")}}}}})
	if err == nil || !strings.Contains(err.Error(), "connect match takes no prefix") {
		t.Fatalf("connect with a prefix: %v", err)
	}
}
