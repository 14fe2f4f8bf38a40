package router

import (
	"strings"
	"testing"
)

func TestWeightedCluster(t *testing.T) {
	rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{WeightedClusters: []WeightedCluster{
		{Name: "a", Weight: 1}, {Name: "zero", Weight: 0}, {Name: "b", Weight: 3},
	}}})
	counts := map[string]int{}
	for r := range uint64(400) {
		counts[rt.WeightedCluster(r)]++
	}
	// r mod 4: 0 → a, 1..3 → b; the zero weight takes nothing.
	if counts["a"] != 100 || counts["b"] != 300 || counts["zero"] != 0 {
		t.Fatalf("counts = %v", counts)
	}
	plain := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: to("c")})
	if plain.WeightedCluster(7) != "" || plain.extra != nil {
		t.Fatal("a plain route has a weighted split or extra state")
	}
}

func TestClusterHeaderAndAutoHost(t *testing.T) {
	rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{ClusterHeader: "x-cluster", AutoHostRewrite: true}})
	if rt.ClusterHeader() != "x-cluster" || !rt.AutoHostRewrite() {
		t.Fatalf("accessors: %q %v", rt.ClusterHeader(), rt.AutoHostRewrite())
	}
}

func TestRegexRewrite(t *testing.T) {
	tests := []struct {
		pattern, subst, path, want string
	}{
		{pattern: "^/service/([^/]+)(/.*)$", subst: `\2/instance/\1`, path: "/service/foo/v1/api?x=1", want: "/v1/api/instance/foo?x=1"},
		{pattern: "one", subst: "two", path: "/xxx/one/yyy/one/zzz", want: "/xxx/two/yyy/two/zzz"},
		{pattern: "^/(?P<v>v[0-9])/", subst: "/api/${v}/", path: "/v2/users", want: "/api/v2/users"},
		{pattern: "/a", subst: "$$", path: "/a/b", want: "$/b"},
		{pattern: "q", subst: "Q", path: "/q?q=q", want: "/Q?q=q"},
	}
	for _, tc := range tests {
		rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", RegexRewrite: &RegexRewrite{Pattern: tc.pattern, Substitution: tc.subst}}})
		if !rt.Rewrites() {
			t.Fatal("Rewrites false")
		}
		if got := string(rt.RewritePath(nil, []byte(tc.path))); got != tc.want {
			t.Errorf("%q → %q on %q: got %q, want %q", tc.pattern, tc.subst, tc.path, got, tc.want)
		}
	}
}

func TestHashKey(t *testing.T) {
	rt := oneRoute(t, RouteSpec{Match: MatchSpec{Prefix: "/"}, Cluster: &ClusterAction{Cluster: "c", HashPolicy: []HashPolicy{
		{Header: "x-user"}, {Cookie: "sid"}, {SourceIP: true},
	}}})
	hashes, ip := rt.Hashes()
	if !hashes || !ip {
		t.Fatalf("Hashes = %v, %v", hashes, ip)
	}
	if _, ok := rt.HashKey(headers{}, nil); ok {
		t.Fatal("key without any source")
	}
	k1, ok1 := rt.HashKey(headers{{"X-User", "alice"}}, nil)
	k2, ok2 := rt.HashKey(headers{{"x-user", "alice"}, {"other", "z"}}, nil)
	k3, _ := rt.HashKey(headers{{"x-user", "bob"}}, nil)
	if !ok1 || !ok2 || k1 != k2 || k1 == k3 {
		t.Fatalf("header keys: %x %x %x", k1, k2, k3)
	}
	c1, ok := rt.HashKey(headers{{"cookie", "a=1; sid=s1; b=2"}}, nil)
	c2, _ := rt.HashKey(headers{{"cookie", "sid=s1"}}, nil)
	c3, _ := rt.HashKey(headers{{"cookie", "xsid=s1"}}, nil)
	if !ok || c1 != c2 || c3 == c1 {
		t.Fatalf("cookie keys: %x %x %x", c1, c2, c3)
	}
	i1, ok := rt.HashKey(nil, []byte("10.0.0.1"))
	i2, _ := rt.HashKey(nil, []byte("10.0.0.2"))
	if !ok || i1 == i2 {
		t.Fatalf("ip keys: %x %x", i1, i2)
	}
	both, _ := rt.HashKey(headers{{"x-user", "alice"}}, []byte("10.0.0.1"))
	if both == k1 || both == i1 {
		t.Fatal("combined key equals a single source's")
	}
}

func TestHeaderOpsOrder(t *testing.T) {
	add := func(name, value string, app bool) HeaderValue {
		return HeaderValue{Name: name, Value: value, Append: app}
	}
	tbl := mustTable(t, TableSpec{
		Headers: HeaderMutations{
			RequestAdd:     []HeaderValue{add("x-set", "table", false), add("x-app", "table", true)},
			ResponseRemove: []string{"x-drop"},
		},
		VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"},
			Headers: HeaderMutations{
				RequestAdd:    []HeaderValue{add("x-set", "vhost", false), add("x-app", "vhost", true)},
				RequestRemove: []string{"x-route-only"},
			},
			Routes: []RouteSpec{{Match: MatchSpec{Prefix: "/"}, Cluster: to("c"), Headers: HeaderMutations{
				RequestAdd:  []HeaderValue{add("x-set", "route", false), add("x-app", "route", true), add("x-route-only", "r", true)},
				ResponseAdd: []HeaderValue{add("x-via", "%UPSTREAM_CLUSTER%@%DOWNSTREAM_REMOTE_ADDRESS%, 100%%", true)},
			}}},
		}},
	})
	rt := &tbl.catchAll.routes[0]
	req := rt.RequestHeaders()
	var got []string
	for _, a := range req.Add {
		v, _ := a.Literal()
		got = append(got, a.Name+"="+v)
	}
	// Route first, then vhost, then table: the table's x-set replaces the
	// others; appends accumulate; the vhost removes the route's x-route-only.
	want := "x-app=route x-app=vhost x-set=table x-app=table"
	if strings.Join(got, " ") != want {
		t.Errorf("request adds = %v, want %s", got, want)
	}
	if strings.Join(req.Remove, " ") != "x-set x-route-only" {
		t.Errorf("request removes = %v", req.Remove)
	}
	resp := rt.ResponseHeaders()
	if len(resp.Remove) != 1 || resp.Remove[0] != "x-drop" || len(resp.Add) != 1 {
		t.Fatalf("response ops = %+v", resp)
	}
	if _, lit := resp.Add[0].Literal(); lit {
		t.Fatal("a value with variables claims to be literal")
	}
	if v := string(resp.Add[0].AppendValue(nil, fakeVars{})); v != "[5]@[1], 100%" {
		t.Errorf("expanded value = %q", v)
	}
}

// fakeVars expands a variable to its number in brackets.
type fakeVars struct{}

func (fakeVars) AppendVar(dst []byte, v Var) []byte {
	return append(append(append(dst, '['), byte('0'+v)), ']')
}

func TestActionErrors(t *testing.T) {
	one := func(r RouteSpec) TableSpec {
		r.Name = "r"
		r.Match = MatchSpec{Prefix: "/"}
		return TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"}, Routes: []RouteSpec{r}}}}
	}
	ca := func(c ClusterAction) RouteSpec { return RouteSpec{Cluster: &c} }
	hv := func(name, value string) []HeaderValue { return []HeaderValue{{Name: name, Value: value}} }
	const at = `router: table "tbl": vhost[0] "vh": route[0] "r": `
	tests := []struct {
		name string
		spec TableSpec
		want string
	}{
		{"weights zero", one(ca(ClusterAction{WeightedClusters: []WeightedCluster{{Name: "a"}}})), at + "route.weighted_clusters: weights sum to zero"},
		{"weighted no name", one(ca(ClusterAction{WeightedClusters: []WeightedCluster{{Weight: 1}}})), at + "route.weighted_clusters[0].cluster.name: required"},
		{"cluster header name", one(ca(ClusterAction{ClusterHeader: "a b"})), at + `route.cluster_header: invalid header name "a b"`},
		{"regex bad", one(ca(ClusterAction{Cluster: "c", RegexRewrite: &RegexRewrite{Pattern: "("}})), at + "route.regex_rewrite.pattern.regex: invalid regex"},
		{"regex empty", one(ca(ClusterAction{Cluster: "c", RegexRewrite: &RegexRewrite{}})), at + "route.regex_rewrite.pattern.regex: required"},
		{"regex group", one(ca(ClusterAction{Cluster: "c", RegexRewrite: &RegexRewrite{Pattern: "(a)", Substitution: `\2`}})), at + `route.regex_rewrite.substitution: \2 refers to a group the pattern lacks`},
		{"regex named group", one(ca(ClusterAction{Cluster: "c", RegexRewrite: &RegexRewrite{Pattern: "(a)", Substitution: "${x}"}})), at + `route.regex_rewrite.substitution: $x refers to a group`},
		{"regex and prefix", one(ca(ClusterAction{Cluster: "c", PrefixRewrite: "/x", RegexRewrite: &RegexRewrite{Pattern: "a"}})), at + "prefix rewrite and regex rewrite are mutually exclusive"},
		{"auto and host", one(ca(ClusterAction{Cluster: "c", HostRewrite: "h", AutoHostRewrite: true})), at + "host rewrite and auto host rewrite are mutually exclusive"},
		{"hash two", one(ca(ClusterAction{Cluster: "c", HashPolicy: []HashPolicy{{Header: "x", SourceIP: true}}})), at + "route.hash_policy[0]: needs exactly one of header, cookie, source_ip (2 set)"},
		{"hash header", one(ca(ClusterAction{Cluster: "c", HashPolicy: []HashPolicy{{Header: "a:b"}}})), at + `route.hash_policy[0].header.key: invalid header name "a:b"`},
		{"unknown var", one(RouteSpec{Cluster: to("c"), Headers: HeaderMutations{RequestAdd: hv("x-a", "%FOO%")}}), at + "route.request_headers_to_add[0].header.value: unknown variable %FOO% (supported: %DOWNSTREAM_REMOTE_ADDRESS%"},
		{"open var", one(RouteSpec{Cluster: to("c"), Headers: HeaderMutations{ResponseAdd: hv("x-a", "50%")}}), at + `route.response_headers_to_add[0].header.value: unterminated variable in "50%"`},
		{"reserved add", one(RouteSpec{Cluster: to("c"), Headers: HeaderMutations{RequestAdd: hv("Host", "h")}}), at + `route.request_headers_to_add[0].header.key: "Host" is framed or routed by ferry`},
		{"reserved remove", one(RouteSpec{Cluster: to("c"), Headers: HeaderMutations{ResponseRemove: []string{"content-length"}}}), at + `route.response_headers_to_remove[0]: "content-length" is framed`},
		{"bad name", one(RouteSpec{Cluster: to("c"), Headers: HeaderMutations{RequestRemove: []string{"a b"}}}), at + `route.request_headers_to_remove[0]: invalid header name "a b"`},
		{"vhost level", TableSpec{Name: "tbl", VirtualHosts: []VirtualHostSpec{{Name: "vh", Domains: []string{"*"},
			Headers: HeaderMutations{RequestAdd: hv("x", "%BAD%")},
			Routes:  []RouteSpec{{Match: MatchSpec{Prefix: "/"}, Cluster: to("c")}, {Match: MatchSpec{Prefix: "/b"}, Cluster: to("c")}}}}},
			`router: table "tbl": vhost[0] "vh": request_headers_to_add[0].header.value: unknown variable %BAD%`},
		{"table level", TableSpec{Name: "tbl", Headers: HeaderMutations{ResponseAdd: hv("x", "\r")},
			VirtualHosts: []VirtualHostSpec{vhost("vh", "*")}},
			`router: table "tbl": response_headers_to_add[0].header.value: contains CR, LF or NUL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTable(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "\n"); n != 0 {
				t.Errorf("%d extra errors (reported more than once?): %v", n, err)
			}
		})
	}
}
