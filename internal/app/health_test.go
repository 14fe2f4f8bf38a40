package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// switchUpstream answers / with its name and status, and /healthz with
// its health status; both are driven by the test.
type switchUpstream struct {
	name           string
	addr           string
	status, health atomic.Int64
	requests       atomic.Int64
}

func newSwitchUpstream(t *testing.T, name string) *switchUpstream {
	t.Helper()
	u := &switchUpstream{name: name}
	u.status.Store(200)
	u.health.Store(200)
	u.addr = testutil.ServeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(u.health.Load()))
			return
		}
		u.requests.Add(1)
		w.WriteHeader(int(u.status.Load()))
		_, _ = io.WriteString(w, u.name)
	})
	return u
}

// healthCfg routes / to cluster c of hosts, with the cluster's extra JSON
// members (health_check, outlier_detection).
func healthCfg(t *testing.T, extra string, hosts ...string) string {
	t.Helper()
	hs := make([]string, len(hosts))
	for i, h := range hosts {
		hs[i] = fmt.Sprintf(`{"address":%q}`, h)
	}
	return fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","lb_type":"LB_ROUNDROBIN","hosts":[%s]%s}]}}`, strings.Join(hs, ","), extra)
}

// getRoot sends one request through ferry and returns its status and body.
func getRoot(t *testing.T, a *App) (int, string) {
	t.Helper()
	return fetch(t, "http://"+a.Addrs()[0].String()+"/")
}

// adminClusters reads /clusters.
func adminClusters(t *testing.T, a *App) []admin.Cluster {
	t.Helper()
	var cs []admin.Cluster
	if err := json.Unmarshal([]byte(adminGet(t, a, "/clusters")), &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// metric returns the value of a ferry_cluster_* sample for cluster c, or
// -1.
func metric(t *testing.T, a *App, name string) float64 {
	t.Helper()
	fams := parseExposition(t, adminGet(t, a, "/metrics"))
	if f, ok := fams[name]; ok {
		if v, ok := sample(f, map[string]string{"cluster": "c"}); ok {
			return v
		}
	}
	return -1
}

const httpHealth = `,"health_check":{"protocol":"Http1","interval":"200ms","timeout":"150ms","healthy_threshold":1,
	"unhealthy_threshold":2,"check_config":{"http_check_config":{"path":"/healthz"}}}`

// TestHealthCheckRoutesAroundAFailingHost: with no request sent at all
// (the loops come up by ferry's own warm-up), a host whose health check
// fails leaves rotation, every request goes to the other, /clusters and
// the metrics say so, and the host returns once it recovers. When both
// fail, panic mode still answers and counts.
func TestHealthCheckRoutesAroundAFailingHost(t *testing.T) {
	a1, b := newSwitchUpstream(t, "a"), newSwitchUpstream(t, "b")
	a := startWithAdmin(t, mustConfig(t, healthCfg(t, httpHealth, a1.addr, b.addr)))
	a1.health.Store(503)
	testutil.WaitFor(t, 10*time.Second, "host a to leave rotation", func() bool {
		return !a.clusters.Get("c").Hosts()[0].Healthy()
	})
	for range 10 {
		if code, body := getRoot(t, a); code != 200 || body != "b" {
			t.Fatalf("got %d %q, want b's answer", code, body)
		}
	}
	cs := adminClusters(t, a)
	if h := cs[0].Hosts[0]; h.Healthy || !h.HealthCheckFailed || h.HealthCheck != "failed" || h.ChecksFailed < 2 {
		t.Fatalf("/clusters host a: %+v", h)
	}
	if v := metric(t, a, "ferry_cluster_hosts_unhealthy"); v != 1 {
		t.Fatalf("ferry_cluster_hosts_unhealthy = %v", v)
	}
	if v := metric(t, a, "ferry_cluster_health_check_failure_total"); v < 2 {
		t.Fatalf("ferry_cluster_health_check_failure_total = %v", v)
	}
	// Both fail: panic mode routes across all hosts and counts it.
	b.health.Store(500)
	testutil.WaitFor(t, 10*time.Second, "host b to leave rotation", func() bool {
		return !a.clusters.Get("c").Hosts()[1].Healthy()
	})
	seen := map[string]bool{}
	for range 10 {
		code, body := getRoot(t, a)
		if code != 200 {
			t.Fatalf("panic mode: got %d %q", code, body)
		}
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] || metric(t, a, "ferry_cluster_lb_panic_total") < 10 || adminClusters(t, a)[0].LBPanics < 10 {
		t.Fatalf("panic mode: answered by %v, lb_panic %v", seen, metric(t, a, "ferry_cluster_lb_panic_total"))
	}
	a1.health.Store(200)
	b.health.Store(200)
	testutil.WaitFor(t, 10*time.Second, "both hosts to return", func() bool {
		return a.clusters.Get("c").Stats().Healthy == 2
	})
}

// TestOutlierEjectsAFailingHost: a host answering 500 is ejected on its
// third 5xx in a row: the next requests all go to the other host; it
// returns after base_ejection_time. A host refusing connections is
// ejected after its connect failures.
func TestOutlierEjectsAFailingHost(t *testing.T) {
	bad, good := newSwitchUpstream(t, "bad"), newSwitchUpstream(t, "good")
	bad.status.Store(500)
	closed := testutil.ClosedAddr(t)
	a := startWithAdmin(t, mustConfig(t, healthCfg(t, `,"outlier_detection":{"consecutive_5xx":3,"consecutive_connect_failure":2,
		"base_ejection_time":"300ms","max_ejection_percent":100}`, bad.addr, good.addr, closed)))
	c := a.clusters.Get("c")
	hb, hc := c.Hosts()[0], c.Hosts()[2]
	testutil.WaitFor(t, 10*time.Second, "the 500s and refused connects to eject their hosts", func() bool {
		getRoot(t, a)
		return hb.Ejected() && hc.Ejected()
	})
	if bad.requests.Load() != 3 {
		t.Fatalf("the bad host took %d requests, want exactly 3 before its ejection", bad.requests.Load())
	}
	before := bad.requests.Load()
	for range 10 {
		if code, body := getRoot(t, a); code != 200 || body != "good" {
			t.Fatalf("got %d %q while bad is ejected", code, body)
		}
	}
	if bad.requests.Load() != before && hb.Ejected() {
		t.Fatal("an ejected host took requests")
	}
	h := adminClusters(t, a)[0].Hosts[0]
	if !h.Ejected || h.Ejections != 1 || h.EjectedUntil == "" {
		t.Fatalf("/clusters: %+v", h)
	}
	if v := metric(t, a, "ferry_cluster_outlier_ejections_total"); v < 2 {
		t.Fatalf("ferry_cluster_outlier_ejections_total = %v", v)
	}
	testutil.WaitFor(t, 10*time.Second, "the ejected host to return", func() bool { return !hb.Ejected() })
}
