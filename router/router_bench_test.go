package router

import (
	"fmt"
	"testing"
)

func benchMatch(b *testing.B, tbl *Table, host, path string, h HeaderGetter, want string) {
	b.Helper()
	hb, pb := []byte(host), []byte(path)
	if got := routeName(tbl.Match(hb, pb, h)); got != want {
		b.Fatalf("Match = %s, want %s", got, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		tbl.Match(hb, pb, h)
	}
}

func BenchmarkMatchSingle(b *testing.B) {
	tbl := mustTable(b, TableSpec{VirtualHosts: []VirtualHostSpec{vhost("only", "example.com")}})
	benchMatch(b, tbl, "Example.com:8080", "/index.html?x=1", nil, "only")
}

// bigTable has 100 virtual hosts (exact domains) of 10 prefix routes each.
func bigTable(b *testing.B) *Table {
	b.Helper()
	spec := TableSpec{Name: "big"}
	for v := range 100 {
		vh := VirtualHostSpec{Name: fmt.Sprintf("vh%d", v), Domains: []string{fmt.Sprintf("svc%d.example.com", v), fmt.Sprintf("*.svc%d.example.net", v)}}
		for r := range 10 {
			vh.Routes = append(vh.Routes, RouteSpec{
				Name:    fmt.Sprintf("vh%d-r%d", v, r),
				Match:   MatchSpec{Prefix: fmt.Sprintf("/api/v1/resource%d/", r)},
				Cluster: to(fmt.Sprintf("c%d", r)),
			})
		}
		spec.VirtualHosts = append(spec.VirtualHosts, vh)
	}
	return mustTable(b, spec)
}

func BenchmarkMatch100x10Last(b *testing.B) {
	benchMatch(b, bigTable(b), "svc99.example.com", "/api/v1/resource9/items/42?page=2", nil, "vh99-r9")
}

func BenchmarkMatch100x10LastWildcard(b *testing.B) {
	benchMatch(b, bigTable(b), "a.b.svc99.example.net:8443", "/api/v1/resource9/items/42", nil, "vh99-r9")
}

func BenchmarkMatchRegex(b *testing.B) {
	tbl := mustTable(b, TableSpec{VirtualHosts: []VirtualHostSpec{{
		Domains: []string{"*"},
		Routes:  []RouteSpec{{Name: "re", Match: MatchSpec{Regex: `/users/[0-9]+/orders/[a-z0-9-]+`}, Cluster: to("c")}},
	}}})
	benchMatch(b, tbl, "example.com", "/users/12345/orders/ab-12-cd?x=1", nil, "re")
}

func BenchmarkMatchHeaders(b *testing.B) {
	tbl := mustTable(b, TableSpec{VirtualHosts: []VirtualHostSpec{{
		Domains: []string{"example.com"},
		Routes: []RouteSpec{{Name: "h", Match: MatchSpec{Prefix: "/", Headers: []HeaderMatchSpec{
			{Name: "X-Env", Value: "prod"}, {Name: "X-Debug", Invert: true},
		}}, Cluster: to("c")}},
	}}})
	benchMatch(b, tbl, "example.com", "/", byteHeaders{{name: "x-env", value: []byte("prod")}}, "h")
}
