package proxy_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
)

// causes names the local-reply causes as internal/app does: by Kind.
func causes() []string {
	var out []string
	for k := 0; k < metrics.MaxCauses; k++ {
		out = append(out, fmt.Sprint(k))
	}
	return out
}

// withMetrics gives the harness a registry with the harness's label sets:
// listener "test", virtual host r/all, cluster origin and its hosts.
func withMetrics(t testing.TB, ups []string) (*metrics.Registry, metrics.IDs, func(*setup)) {
	t.Helper()
	reg, err := metrics.New(metrics.Options{Loops: 2, Causes: causes()})
	if err != nil {
		t.Fatal(err)
	}
	l := metrics.Labels{Listeners: []string{"test"}, VirtualHosts: []metrics.VirtualHost{{Router: "r", Name: "all"}},
		Clusters: []string{"origin"}}
	for _, u := range ups {
		l.Hosts = append(l.Hosts, metrics.HostLabel{Cluster: "origin", Address: u})
	}
	ids, err := reg.Update(l)
	if err != nil {
		t.Fatal(err)
	}
	return reg, ids, func(s *setup) {
		s.opts.Metrics = reg
		s.factory.MetricsID = ids.Listeners[0]
		s.routes.VirtualHosts[0].MetricsID = uint32(ids.VirtualHosts[0])
		s.clusters[0].MetricsID = uint32(ids.Clusters[0])
		for i := range s.clusters[0].Hosts {
			s.clusters[0].Hosts[i].MetricsID = uint32(ids.Hosts[i])
		}
	}
}

// sum adds a cell's value over every shard.
func sum[T any](reg *metrics.Registry, cell func(*metrics.Shard) T, get func(T) int64) int64 {
	var n int64
	for i := range reg.Loops() {
		n += get(cell(reg.Shard(i)))
	}
	return n
}

// TestMetricsCountTraffic: proxied requests, a local reply and a failed
// connection are counted on the listener, the virtual host, the cluster
// and the host, each once, and every gauge is back at zero after.
func TestMetricsCountTraffic(t *testing.T) {
	up := testutil.NewRawServer(t, benchUpstream)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close() // connections to it are refused
	ups := []string{up.Addr(), deadAddr}
	reg, ids, mod := withMetrics(t, ups)
	h := startProxy(t, ups, func(s *setup) {
		mod(s)
		s.routes.VirtualHosts[0].Routes = []router.RouteSpec{
			{Match: router.MatchSpec{Prefix: "/live"}, Cluster: &router.ClusterAction{Cluster: "origin"}},
		}
	})
	c := h.client()
	live, failed := 0, 0
	for range 6 { // round robin: half to the live host, half to the dead one
		switch code, _ := h.get(c, "/live"); code {
		case 200:
			live++
		case 503:
			failed++
		default:
			t.Fatalf("GET /live = %d", code)
		}
	}
	if code, _ := h.get(c, "/nowhere"); code != 404 {
		t.Fatalf("GET /nowhere = %d, want 404", code)
	}
	L, V, C := ids.Listeners[0], ids.VirtualHosts[0], ids.Clusters[0]
	hostLive, hostDead := ids.Hosts[0], ids.Hosts[1]
	counter := func(c *metrics.Counter) int64 { return int64(c.Load()) } // test counts are small
	gauge := func(g *metrics.Gauge) int64 { return g.Load() }
	lst := func(s *metrics.Shard) *metrics.Listener { return s.Listener(L) }
	// The counts land when each stream ends, just after its response.
	testutil.WaitFor(t, 5*time.Second, "7 requests ended", func() bool {
		return sum(reg, lst, func(l *metrics.Listener) int64 { return gauge(&l.ActiveRequests) }) == 0 &&
			sum(reg, lst, func(l *metrics.Listener) int64 { return counter(&l.Requests) }) == 7
	})
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"listener requests", sum(reg, lst, func(l *metrics.Listener) int64 { return counter(&l.Requests) }), 7},
		{"listener connections", sum(reg, lst, func(l *metrics.Listener) int64 { return counter(&l.Connections) }), 1},
		{"listener bytes received > 0", min(sum(reg, lst, func(l *metrics.Listener) int64 { return counter(&l.BytesReceived) }), 1), 1},
		{"listener bytes sent > 0", min(sum(reg, lst, func(l *metrics.Listener) int64 { return counter(&l.BytesSent) }), 1), 1},
		{"vhost requests", sum(reg, func(s *metrics.Shard) *metrics.Route { return s.Route(V) },
			func(r *metrics.Route) int64 { return counter(&r.Requests) }), int64(live + failed)},
		{"cluster upstream requests", sum(reg, func(s *metrics.Shard) *metrics.Cluster { return s.Cluster(C) },
			func(c *metrics.Cluster) int64 { return counter(&c.Requests) }), int64(live)},
		{"cluster connect failures", sum(reg, func(s *metrics.Shard) *metrics.Cluster { return s.Cluster(C) },
			func(c *metrics.Cluster) int64 { return counter(&c.ConnectFailures) }), int64(failed)},
		{"cluster active", sum(reg, func(s *metrics.Shard) *metrics.Cluster { return s.Cluster(C) },
			func(c *metrics.Cluster) int64 { return gauge(&c.ActiveRequests) }), 0},
		{"cluster pending", sum(reg, func(s *metrics.Shard) *metrics.Cluster { return s.Cluster(C) },
			func(c *metrics.Cluster) int64 { return gauge(&c.Pending) }), 0},
		{"cluster bytes received > 0", min(sum(reg, func(s *metrics.Shard) *metrics.Cluster { return s.Cluster(C) },
			func(c *metrics.Cluster) int64 { return counter(&c.BytesReceived) }), 1), 1},
		{"live host requests", sum(reg, func(s *metrics.Shard) *metrics.Host { return s.Host(hostLive) },
			func(h *metrics.Host) int64 { return counter(&h.Requests) }), int64(live)},
		{"live host connections open", sum(reg, func(s *metrics.Shard) *metrics.Host { return s.Host(hostLive) },
			func(h *metrics.Host) int64 { return gauge(&h.ActiveConnections) }), 1},
		{"dead host connect failures", sum(reg, func(s *metrics.Shard) *metrics.Host { return s.Host(hostDead) },
			func(h *metrics.Host) int64 { return counter(&h.ConnectFailures) }), int64(failed)},
		{"dead host requests", sum(reg, func(s *metrics.Shard) *metrics.Host { return s.Host(hostDead) },
			func(h *metrics.Host) int64 { return counter(&h.Requests) }), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if live == 0 || failed == 0 {
		t.Fatalf("%d live and %d failed requests: round robin should give both", live, failed)
	}
	// By status, local-reply cause and histogram, through the exposition.
	got := scrapeValues(t, reg.NewCollector())
	for key, want := range map[string]float64{
		`ferry_listener_responses_total{code="200",listener="test"}`:                                                   float64(live),
		`ferry_listener_responses_total{code="503",listener="test"}`:                                                   float64(failed),
		`ferry_listener_responses_total{code="404",listener="test"}`:                                                   1,
		`ferry_listener_request_duration_seconds_count{listener="test"}`:                                               7,
		`ferry_route_responses_total{code_class="2xx",router="r",virtual_host="all"}`:                                  float64(live),
		`ferry_route_responses_total{code_class="5xx",router="r",virtual_host="all"}`:                                  float64(failed),
		`ferry_cluster_upstream_responses_total{cluster="origin",code_class="2xx"}`:                                    float64(live),
		`ferry_cluster_upstream_response_time_seconds_count{cluster="origin"}`:                                         float64(live),
		`ferry_listener_local_replies_total{cause="` + fmt.Sprint(int(proxy.KindNoRoute)) + `",listener="test"}`:       1,
		`ferry_listener_local_replies_total{cause="` + fmt.Sprint(int(proxy.KindConnectFailed)) + `",listener="test"}`: float64(failed),
		`ferry_host_upstream_responses_total{cluster="origin",code_class="2xx",host="` + up.Addr() + `"}`:              float64(live),
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}

// BenchmarkProxyGETMetrics is BenchmarkProxyGET with the per-label
// metrics on: the difference is what counting costs a forwarded request.
func BenchmarkProxyGETMetrics(b *testing.B) {
	up := testutil.NewRawServer(b, benchUpstream)
	_, _, mod := withMetrics(b, []string{up.Addr()})
	h := startProxy(b, []string{up.Addr()}, mod)
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
}

// scrapeValues gathers c and returns every sample by name{labels} (the
// labels sorted, as Gather sorts them); a histogram gives its _count.
func scrapeValues(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := ""
			for i, lp := range m.GetLabel() {
				if i > 0 {
					labels += ","
				}
				labels += lp.GetName() + `="` + lp.GetValue() + `"`
			}
			switch {
			case m.GetCounter() != nil:
				out[f.GetName()+"{"+labels+"}"] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[f.GetName()+"{"+labels+"}"] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[f.GetName()+"_count{"+labels+"}"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
