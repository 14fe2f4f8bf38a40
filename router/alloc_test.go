//go:build !race

package router

import (
	"testing"
)

// allocTable covers the paths whose allocation budget is zero.
func allocTable(tb testing.TB) *Table {
	tb.Helper()
	return mustTable(tb, TableSpec{Name: "alloc", VirtualHosts: []VirtualHostSpec{
		{Name: "exact", Domains: []string{"api.example.com"}, Routes: []RouteSpec{
			{Name: "users", Match: MatchSpec{Prefix: "/users/"}, Cluster: &ClusterAction{Cluster: "users", PrefixRewrite: "/v2/"}},
			{Name: "hdr", Match: MatchSpec{Prefix: "/h", Headers: []HeaderMatchSpec{
				{Name: "X-Env", Value: "prod"}, {Name: "X-Ver", Value: "v[0-9]+", Regex: true}, {Name: "X-No", Invert: true},
			}}, Cluster: to("hdr")},
			{Name: "re", Match: MatchSpec{Regex: "/items/[0-9]+", CaseInsensitive: true}, Cluster: to("re")},
			{Name: "q", Match: MatchSpec{Prefix: "/q", QueryParameters: []QueryParamMatchSpec{
				{Name: "v", Value: "2"}, {Name: "id", Value: "[0-9]+", Regex: true}, {Name: "debug"},
			}}, Cluster: to("q")},
		}},
		{Name: "wild", Domains: []string{"*.example.org", "www.*"}, Routes: []RouteSpec{
			{Name: "wild", Match: MatchSpec{Prefix: "/", CaseInsensitive: true}, Redirect: &Redirect{Scheme: "https", PrefixRewrite: "/new/"}},
		}},
	}})
}

func TestMatchAllocs(t *testing.T) {
	tbl := allocTable(t)
	long := make([]byte, 400)
	for i := range long {
		long[i] = 'A'
	}
	long = append(long, ".Example.ORG:8443"...)
	h := byteHeaders{{name: "x-env", value: []byte("prod")}, {name: "x-ver", value: []byte("v12")}}
	tests := []struct {
		name string
		host []byte
		path []byte
		h    HeaderGetter
		want string
	}{
		{name: "exact host prefix route", host: []byte("API.example.com:443"), path: []byte("/users/42?x=1"), want: "users"},
		{name: "wildcard suffix host", host: []byte("Shop.Example.Org"), path: []byte("/a"), want: "wild"},
		{name: "wildcard prefix host", host: []byte("www.other.net:8080"), path: []byte("/a"), want: "wild"},
		{name: "long host", host: long, path: []byte("/a"), want: "wild"},
		{name: "header match", host: []byte("api.example.com"), path: []byte("/h"), h: h, want: "hdr"},
		{name: "regex route", host: []byte("api.example.com"), path: []byte("/Items/9"), want: "re"},
		{name: "query match", host: []byte("api.example.com"), path: []byte("/q?debug&id=42&v=2"), want: "q"},
		{name: "no match", host: []byte("api.example.com"), path: []byte("/none"), h: h, want: "<nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeName(tbl.Match(tc.host, tc.path, tc.h)); got != tc.want {
				t.Fatalf("Match = %s, want %s", got, tc.want)
			}
			if n := testing.AllocsPerRun(200, func() { tbl.Match(tc.host, tc.path, tc.h) }); n != 0 {
				t.Errorf("Match allocates %v times per run, want 0", n)
			}
		})
	}
}

func TestHelperAllocs(t *testing.T) {
	tbl := allocTable(t)
	dst := make([]byte, 0, 256)
	usersPath := []byte("/users/1?q")
	users := tbl.Match([]byte("api.example.com"), usersPath, nil)
	if n := testing.AllocsPerRun(200, func() { dst = users.RewritePath(dst[:0], usersPath) }); n != 0 {
		t.Errorf("RewritePath allocates %v times per run, want 0", n)
	}
	scheme, host, path := []byte("http"), []byte("a.example.org:80"), []byte("/x?y")
	wild := tbl.Match(host, path, nil)
	if n := testing.AllocsPerRun(200, func() { dst = wild.RedirectLocation(dst[:0], scheme, host, path) }); n != 0 {
		t.Errorf("RedirectLocation allocates %v times per run, want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { dst = wild.RedirectLocation(dst[:0], nil, host, path) }); n != 0 {
		t.Errorf("RedirectLocation without scheme allocates %v times per run, want 0", n)
	}
	if got := string(dst); got != "https://a.example.org/new/x?y" {
		t.Errorf("RedirectLocation = %q", got)
	}
}

func TestActionAllocs(t *testing.T) {
	rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{
		WeightedClusters: []WeightedCluster{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}},
		HashPolicy:       []HashPolicy{{Header: "x-user"}, {Cookie: "sid"}, {SourceIP: true}},
	}})
	var h HeaderGetter = byteHeaders{{name: "x-user", value: []byte("alice")}, {name: "cookie", value: []byte("a=1; sid=2")}}
	ip := []byte("10.1.2.3")
	var r uint64
	if n := testing.AllocsPerRun(200, func() {
		r++
		_ = rt.WeightedCluster(r)
		_, _ = rt.HashKey(h, ip)
	}); n != 0 {
		t.Errorf("WeightedCluster and HashKey allocate %v times per run, want 0", n)
	}
}
