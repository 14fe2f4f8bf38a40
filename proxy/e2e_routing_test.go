package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// idUpstream answers every request with its name, and echoes the
// request's path, Host and the headers named in X-Echo.
func idUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Drop", "yes")
		w.Header().Set("X-Keep", "yes")
		fmt.Fprintf(w, "%s %s host=%s", name, r.URL.RequestURI(), r.Host)
		for _, h := range strings.Split(r.Header.Get("X-Echo"), ",") {
			if h != "" {
				fmt.Fprintf(w, " %s=%s", h, strings.Join(r.Header.Values(h), "|"))
			}
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// routeTo replaces the harness's catch-all route with one whose cluster
// action is ca, and adds clusters named after the upstreams.
func routeTo(ca *router.ClusterAction, ups map[string]*httptest.Server) func(*setup) {
	return func(st *setup) {
		names := make([]string, 0, len(ups))
		for n := range ups {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			st.clusters = append(st.clusters, upstream.ClusterSpec{Name: n, ConnectTimeout: 2 * time.Second,
				Hosts: []upstream.HostSpec{{Address: ups[n].Listener.Addr().String()}}})
		}
		st.routes.VirtualHosts[0].Routes[0].Cluster = ca
	}
}

// do sends one request with the given headers and returns the status,
// the response and the body.
func doGet(t *testing.T, c *http.Client, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://ferry.test"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, readAll(t, resp)
}

func TestRouteWeightedClusters(t *testing.T) {
	a, b := idUpstream(t, "a"), idUpstream(t, "b")
	h := startProxy(t, []string{a.Listener.Addr().String()}, routeTo(&router.ClusterAction{
		WeightedClusters: []router.WeightedCluster{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}},
	}, map[string]*httptest.Server{"a": a, "b": b}))
	c := h.client()
	const n = 400
	counts := map[string]int{}
	for range n {
		_, body := doGet(t, c, "/")
		counts[strings.Fields(body)[0]]++
	}
	// b's share is 3/4; over 400 requests its standard deviation is 2.2
	// points, so ±10 points (4.6 sd) fails about once in 250k runs.
	if share := float64(counts["b"]) / n; share < 0.65 || share > 0.85 || counts["a"]+counts["b"] != n {
		t.Fatalf("split %v, want b at 75%% ±10", counts)
	}
}

func TestRouteClusterHeader(t *testing.T) {
	a, b := idUpstream(t, "a"), idUpstream(t, "b")
	h := startProxy(t, []string{a.Listener.Addr().String()}, routeTo(&router.ClusterAction{ClusterHeader: "x-cluster"},
		map[string]*httptest.Server{"a": a, "b": b}))
	c := h.client()
	for _, name := range []string{"a", "b", "a"} {
		resp, body := doGet(t, c, "/x", "X-Cluster", name)
		if resp.StatusCode != 200 || !strings.HasPrefix(body, name+" /x") {
			t.Fatalf("x-cluster %s: %d %q", name, resp.StatusCode, body)
		}
	}
	for _, hdr := range [][]string{nil, {"X-Cluster", "nope"}} {
		resp, body := doGet(t, c, "/x", hdr...)
		if resp.StatusCode != 503 || !strings.Contains(body, "no_cluster") {
			t.Fatalf("header %v: %d %q, want the no-cluster reply", hdr, resp.StatusCode, body)
		}
	}
}

func TestRouteRegexRewriteAndAutoHost(t *testing.T) {
	a := idUpstream(t, "a")
	h := startProxy(t, []string{a.Listener.Addr().String()}, routeTo(&router.ClusterAction{Cluster: "a", AutoHostRewrite: true,
		RegexRewrite: &router.RegexRewrite{Pattern: `^/service/([^/]+)(/.*)$`, Substitution: `\2/instance/\1`}},
		map[string]*httptest.Server{"a": a}))
	_, body := doGet(t, h.client(), "/service/foo/v1/api?x=1")
	want := "a /v1/api/instance/foo?x=1 host=" + a.Listener.Addr().String()
	if body != want {
		t.Fatalf("upstream saw %q, want %q", body, want)
	}
}

func TestRouteHeaderMutations(t *testing.T) {
	a := idUpstream(t, "a")
	add := func(name, value string, app bool) router.HeaderValue {
		return router.HeaderValue{Name: name, Value: value, Append: app}
	}
	h := startProxy(t, []string{a.Listener.Addr().String()}, func(st *setup) {
		routeTo(&router.ClusterAction{Cluster: "a"}, map[string]*httptest.Server{"a": a})(st)
		st.routes.Headers = router.HeaderMutations{
			RequestAdd:  []router.HeaderValue{add("X-Set", "table", false), add("X-App", "table", true)},
			ResponseAdd: []router.HeaderValue{add("X-Resp", "table", true)},
		}
		vh := &st.routes.VirtualHosts[0]
		vh.Headers = router.HeaderMutations{
			RequestAdd:     []router.HeaderValue{add("X-App", "vhost", true)},
			RequestRemove:  []string{"X-Client-Secret"},
			ResponseRemove: []string{"X-Drop"},
		}
		vh.Routes[0].Headers = router.HeaderMutations{
			RequestAdd: []router.HeaderValue{add("X-Set", "route", false), add("X-App", "route", true),
				add("X-Peer", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% via %UPSTREAM_CLUSTER%", true)},
			ResponseAdd: []router.HeaderValue{add("X-Resp", "route", true), add("X-Upstream", "replaced", false)},
		}
	})
	resp, body := doGet(t, h.client(), "/m", "X-Echo", "X-Set,X-App,X-Client-Secret,X-Peer",
		"X-Set", "client", "X-App", "client", "X-Client-Secret", "s3cret")
	// Request: route, then vhost, then table. The table's set replaces
	// the client's and the route's X-Set; appends accumulate after the
	// client's; the vhost removes the client's secret.
	want := "a /m host=ferry.test X-Set=table X-App=client|route|vhost|table X-Client-Secret= X-Peer=127.0.0.1 via a"
	if body != want {
		t.Errorf("upstream saw\n%q, want\n%q", body, want)
	}
	if got := resp.Header.Values("X-Resp"); strings.Join(got, ",") != "route,table" {
		t.Errorf("X-Resp = %v, want route then table", got)
	}
	if got := resp.Header.Values("X-Upstream"); len(got) != 1 || got[0] != "replaced" {
		t.Errorf("X-Upstream = %v, want [replaced]", got)
	}
	if resp.Header.Get("X-Drop") != "" || resp.Header.Get("X-Keep") != "yes" {
		t.Errorf("X-Drop %q (want removed), X-Keep %q", resp.Header.Get("X-Drop"), resp.Header.Get("X-Keep"))
	}
}

// TestRouteHashPolicyMaglev: a header key sticks to one host across
// requests, and removing a host moves only the keys that were on it.
func TestRouteHashPolicyMaglev(t *testing.T) {
	// A ring keeps every key of a host that stays where it was; Maglev
	// moves a few (its table is refilled: ~1-5 % of keys with a handful of
	// hosts, at most 1 % of 10 hosts in upstream's TestHashConsistency), so it is
	// allowed 10 % of the users whose host stayed.
	for _, tc := range []struct {
		lb       upstream.LBPolicy
		maxMoved float64
	}{{upstream.RingHash, 0}, {upstream.Maglev, 0.10}} {
		t.Run(tc.lb.String(), func(t *testing.T) { testHashPolicyKeepsKeys(t, tc.lb, tc.maxMoved) })
	}
}

// testHashPolicyKeepsKeys: a header-keyed balancer sends each user to one
// host every time; when one of four hosts leaves, its users move and the
// others' stay, but for a fraction maxMoved of them.
func testHashPolicyKeepsKeys(t *testing.T, lb upstream.LBPolicy, maxMoved float64) {
	ups := map[string]*httptest.Server{}
	addrs := map[string]string{} // address → name
	var hosts []upstream.HostSpec
	for _, n := range []string{"u0", "u1", "u2", "u3"} {
		ups[n] = idUpstream(t, n)
		addrs[ups[n].Listener.Addr().String()] = n
		hosts = append(hosts, upstream.HostSpec{Address: ups[n].Listener.Addr().String()})
	}
	spec := upstream.ClusterSpec{Name: "hashed", LB: lb, ConnectTimeout: 2 * time.Second, Hosts: hosts}
	h := startProxy(t, []string{hosts[0].Address}, func(st *setup) {
		st.clusters = []upstream.ClusterSpec{spec}
		st.routes.VirtualHosts[0].Routes[0].Cluster = &router.ClusterAction{Cluster: "hashed",
			HashPolicy: []router.HashPolicy{{Header: "x-user"}}}
	})
	c := h.client()
	const users = 40
	where := func() map[string]string {
		m := map[string]string{}
		for u := range users {
			user := fmt.Sprintf("user-%d", u)
			for range 3 { // the same user lands on the same host every time
				_, body := doGet(t, c, "/", "X-User", user)
				got := strings.Fields(body)[0]
				if prev, ok := m[user]; ok && prev != got {
					t.Fatalf("%s went to %s, then %s", user, prev, got)
				}
				m[user] = got
			}
		}
		return m
	}
	before := where()
	used := map[string]bool{}
	for _, n := range before {
		used[n] = true
	}
	if len(used) < 3 {
		t.Fatalf("40 users on %d hosts only: %v", len(used), before)
	}
	spec.Hosts = append([]upstream.HostSpec(nil), hosts[:1]...)
	spec.Hosts = append(spec.Hosts, hosts[2:]...) // drop u1
	if err := h.clusters.Update([]upstream.ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	after := where()
	stayed, moved := 0, 0
	for user, n := range before {
		switch {
		case after[user] == "u1":
			t.Fatalf("%s still on the removed host", user)
		case n == "u1":
		default:
			stayed++
			if after[user] != n {
				moved++
				t.Logf("%s moved from %s to %s though its host stayed", user, n, after[user])
			}
		}
	}
	if float64(moved) > maxMoved*float64(stayed) {
		t.Fatalf("%d of the %d users whose host stayed moved, more than %.0f %%", moved, stayed, maxMoved*100)
	}
}

// BenchmarkProxyGETRouteActions is BenchmarkProxyGET through a route that
// uses the route actions with literal values: a Maglev cluster keyed by a
// header, request and response headers added and removed. Compare its
// allocs/op with BenchmarkProxyGET's: literal mutations add none.
//
//	go test -run x -bench 'BenchmarkProxyGET(RouteActions)?$' -benchmem ./proxy/
func BenchmarkProxyGETRouteActions(b *testing.B) {
	up := testutil.NewRawServer(b, benchUpstream)
	h := startProxy(b, []string{up.Addr()}, func(st *setup) {
		st.clusters[0].LB = upstream.Maglev
		st.routes.VirtualHosts[0].Routes[0] = router.RouteSpec{Match: router.MatchSpec{Prefix: "/"},
			Cluster: &router.ClusterAction{Cluster: "origin", HashPolicy: []router.HashPolicy{{Header: "x-user"}}},
			Headers: router.HeaderMutations{
				RequestAdd:     []router.HeaderValue{{Name: "x-route", Value: "bench"}},
				RequestRemove:  []string{"x-secret"},
				ResponseAdd:    []router.HeaderValue{{Name: "x-served-by", Value: "ferry"}},
				ResponseRemove: []string{"x-internal"},
			}}
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nX-Secret: s\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
}
