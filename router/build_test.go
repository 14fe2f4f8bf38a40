package router

import (
	"errors"
	"regexp/syntax"
	"strings"
	"testing"
)

func TestNewTableErrors(t *testing.T) {
	okRoute := RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: to("c")}
	one := func(r RouteSpec) TableSpec {
		return TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{
			vhost("first", "first.test"),
			{Name: "second", Domains: []string{"second.test"}, Routes: []RouteSpec{okRoute, r}},
		}}
	}
	withDomains := func(domains ...string) TableSpec {
		return TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{
			vhost("first", "first.test"),
			{Name: "second", Domains: domains, Routes: []RouteSpec{okRoute}},
		}}
	}
	const at = `router: table "tbl": vhost[1] "second": `
	const atRoute = at + `route[1] "r": `
	tests := []struct {
		name string
		spec TableSpec
		want string // substring of the error
	}{
		{name: "rewrite on empty match", spec: one(RouteSpec{Name: "r", Cluster: &ClusterAction{Cluster: "c", PrefixRewrite: "/b"}}), want: atRoute + "prefix rewrite needs a prefix or path match (the part it replaces)"},
		{name: "two matches", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", Path: "/a"}, Cluster: to("c")}), want: atRoute + "match needs at most one of prefix, path, regex (2 set)"},
		{name: "prefix without slash", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "api"}, Cluster: to("c")}), want: atRoute + `prefix "api" must start with '/'`},
		{name: "path with query", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Path: "/a?b"}, Cluster: to("c")}), want: atRoute + `path "/a?b" contains '?' or '#'`},
		{name: "bad path regex", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Regex: "/a("}, Cluster: to("c")}), want: atRoute + `bad path regex "/a(": error parsing regexp`},
		{name: "bad header regex", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Name: "x", Value: "[", Regex: true}}}, Cluster: to("c")}), want: atRoute + `header[0] "x": bad regex "["`},
		{name: "bad header name", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Name: "x y"}}}, Cluster: to("c")}), want: atRoute + `header[0]: invalid name "x y"`},
		{name: "empty header name", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{{Value: "v"}}}, Cluster: to("c")}), want: atRoute + `header[0]: invalid name ""`},
		{name: "empty query name", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", QueryParameters: []QueryParamMatchSpec{{Value: "v"}}}, Cluster: to("c")}), want: atRoute + `query_parameter[0]: invalid name ""`},
		{name: "bad query regex", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/", QueryParameters: []QueryParamMatchSpec{{Name: "q", Value: "(", Regex: true}}}, Cluster: to("c")}), want: atRoute + `query_parameter[0] "q": bad regex "("`},
		{name: "no action", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}}), want: atRoute + "needs exactly one action of cluster, direct, redirect (0 set)"},
		{name: "two actions", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: to("c"), Direct: &DirectResponse{Status: 200}}), want: atRoute + "needs exactly one action of cluster, direct, redirect (2 set)"},
		{name: "no cluster name", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{}}), want: atRoute + "cluster action without a cluster name"},
		{name: "negative timeout", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", Timeout: -1}}), want: atRoute + "negative timeout -1ns"},
		{name: "rewrite on regex", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Regex: "/a"}, Cluster: &ClusterAction{Cluster: "c", PrefixRewrite: "/b"}}), want: atRoute + "prefix rewrite needs a prefix or path match (the part it replaces)"},
		{name: "bad host rewrite", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", HostRewrite: "a b"}}), want: atRoute + `invalid host rewrite "a b"`},
		{name: "wildcard host rewrite", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", HostRewrite: "*.a"}}), want: atRoute + `invalid host rewrite "*.a"`},
		{name: "direct status low", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Direct: &DirectResponse{Status: 101}}), want: atRoute + "direct response status 101 outside 200-599"},
		{name: "direct status high", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Direct: &DirectResponse{Status: 600}}), want: atRoute + "direct response status 600 outside 200-599"},
		{name: "redirect code", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Code: 200}}), want: atRoute + "redirect code 200 not one of"},
		{name: "redirect path and rewrite", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Path: "/a", PrefixRewrite: "/b"}}), want: atRoute + "redirect sets both path and prefix rewrite"},
		{name: "redirect rewrite on regex", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Regex: "/.*"}, Redirect: &Redirect{PrefixRewrite: "/b"}}), want: atRoute + "redirect prefix rewrite needs a prefix or path match"},
		{name: "redirect relative path", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Path: "a"}}), want: atRoute + `redirect path "a" must start with '/'`},
		{name: "redirect scheme", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Scheme: "1http"}}), want: atRoute + `invalid redirect scheme "1http"`},
		{name: "redirect host", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Redirect: &Redirect{Host: "a/b"}}), want: atRoute + `invalid redirect host "a/b"`},
		{name: "mirror without cluster", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", Mirrors: []Mirror{{Percent: 5}}}}), want: atRoute + "mirror[0] without a cluster name"},
		{name: "mirror percent", spec: one(RouteSpec{Name: "r", Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", Mirrors: []Mirror{{Cluster: "s"}, {Cluster: "s", Percent: 101}}}}), want: atRoute + "mirror[1] percent 101 above 100"},
		{name: "unnamed route", spec: one(RouteSpec{Match: MatchSpec{Prefix: "/"}}), want: at + "route[1]: needs exactly one action"},
		{name: "no domains", spec: withDomains(), want: at + "no domains"},
		{name: "empty domain", spec: withDomains(""), want: at + `invalid domain "": empty`},
		{name: "wildcard in middle", spec: withDomains("a.*.com"), want: at + `invalid domain "a.*.com": wildcard '*' only allowed first or last`},
		{name: "wildcard both ends", spec: withDomains("*.a.*"), want: at + `invalid domain "*.a.*": wildcard '*' at both ends`},
		{name: "wildcard both ends short", spec: withDomains("*a*"), want: at + `invalid domain "*a*": wildcard '*' at both ends`},
		{name: "double star", spec: withDomains("**"), want: at + `invalid domain "**": wildcard '*' at both ends`},
		{name: "bad character", spec: withDomains("a/b.com"), want: at + `invalid domain "a/b.com": invalid character '/'`},
		{name: "too long", spec: withDomains(strings.Repeat("a", 256)), want: at + `invalid domain "` + strings.Repeat("a", 256) + `": longer than 255 bytes`},
		{name: "duplicate across vhosts", spec: withDomains("FIRST.test"), want: at + `duplicate domain "FIRST.test" (also in vhost[0])`},
		{name: "duplicate within vhost", spec: withDomains("a.test", "A.TEST"), want: at + `duplicate domain "A.TEST" (also in vhost[1])`},
		{name: "duplicate wildcard", spec: TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{vhost("first", "*"), vhost("second", "*")}}, want: at + `duplicate domain "*" (also in vhost[0])`},
		{name: "duplicate vhost name", spec: TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{vhost("first", "a"), vhost("second", "b"), vhost("second", "c")}}, want: `router: table "tbl": vhost[2] "second": duplicate virtual host name (also vhost[1])`},
		{name: "no routes", spec: TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{vhost("first", "a"), {Name: "second", Domains: []string{"b"}}}}, want: at + "no routes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := NewTable(tc.spec)
			if err == nil {
				t.Fatalf("NewTable succeeded, want error containing %q", tc.want)
			}
			if tbl != nil {
				t.Errorf("NewTable returned a table with an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			var se *SpecError
			if !errors.As(err, &se) || se.VHost < 0 {
				t.Errorf("error %v is not a *SpecError naming a vhost", err)
			}
		})
	}
}

func TestNewTableReportsAllErrors(t *testing.T) {
	_, err := NewTable(TableSpec{VirtualHosts: []VirtualHostSpec{
		{Domains: []string{"a*b"}, Routes: []RouteSpec{{Match: MatchSpec{Regex: "("}, Cluster: to("c")}}},
		{Domains: []string{"ok"}, Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/"}}}},
	}})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{
		`router: vhost[0]: invalid domain "a*b"`,
		`router: vhost[0]: route[0]: bad path regex "("`,
		`router: vhost[1]: route[0]: needs exactly one action`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nmissing %q", err, want)
		}
	}
	var se *syntax.Error
	if !errors.As(err, &se) {
		t.Errorf("regexp cause not unwrappable from %v", err)
	}
}

func TestValidDomains(t *testing.T) {
	for _, d := range []string{"*", "a", "*.a.com", "*-bar.a.com", "*a", "www.*", "a.b:8080", "localhost:*", "[::1]", "[::1]:80", "under_score.test", "A.TEST"} {
		t.Run(d, func(t *testing.T) {
			if _, err := NewTable(TableSpec{VirtualHosts: []VirtualHostSpec{vhost("v", d)}}); err != nil {
				t.Errorf("domain %q rejected: %v", d, err)
			}
		})
	}
}
