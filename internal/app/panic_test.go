package app

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// slowHealth is httpHealth with a timeout a loaded machine meets, so that
// a healthy host never flaps (which would change the healthy share).
const slowHealth = `,"health_check":{"protocol":"Http1","interval":"500ms","timeout":"400ms","healthy_threshold":1,
	"unhealthy_threshold":2,"check_config":{"http_check_config":{"path":"/healthz"}}}`

// TestHealthyPanicThreshold: three health-checked hosts with
// common_lb_config.healthy_panic_threshold 50. One failing (67 % healthy)
// is routed around; two failing (33 %) put the cluster in panic mode,
// where requests reach all three and are counted; one recovering ends it.
func TestHealthyPanicThreshold(t *testing.T) {
	us := []*switchUpstream{newSwitchUpstream(t, "a"), newSwitchUpstream(t, "b"), newSwitchUpstream(t, "c")}
	a := startWithAdmin(t, mustConfig(t, healthCfg(t, slowHealth+`,"common_lb_config":{"healthy_panic_threshold":{"value":50}}`,
		us[0].addr, us[1].addr, us[2].addr)))
	hosts := a.clusters.Get("c").Hosts()
	fail := func(i int) {
		us[i].health.Store(503)
		testutil.WaitFor(t, 10*time.Second, "host "+us[i].name+" to leave rotation", func() bool { return !hosts[i].Healthy() })
	}
	answers := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			code, body := getRoot(t, a)
			if code != 200 {
				t.Fatalf("got %d %q", code, body)
			}
			seen[body]++
		}
		return seen
	}
	fail(0)
	if seen := answers(12); seen["a"] != 0 || seen["b"] == 0 || seen["c"] == 0 {
		t.Fatalf("2 of 3 healthy, threshold 50: answered by %v", seen)
	}
	if v := metric(t, a, "ferry_cluster_lb_panic_total"); v > 0 {
		t.Fatalf("no panic expected, lb_panic %v", v)
	}
	fail(1)
	if seen := answers(12); seen["a"] == 0 || seen["b"] == 0 || seen["c"] == 0 {
		t.Fatalf("1 of 3 healthy, threshold 50: answered by %v, want all three (panic mode)", seen)
	}
	if v := metric(t, a, "ferry_cluster_lb_panic_total"); v < 12 {
		t.Fatalf("lb_panic %v, want at least 12", v)
	}
	us[1].health.Store(200)
	testutil.WaitFor(t, 10*time.Second, "host b to return", hosts[1].Healthy)
	if seen := answers(12); seen["a"] != 0 {
		t.Fatalf("back to 2 of 3 healthy: answered by %v", seen)
	}
}

// TestHealthyPanicThresholdZero: a threshold of 0 turns panic mode off:
// with every host failing its checks, requests get the no-healthy-host
// reply instead of reaching a failed host.
func TestHealthyPanicThresholdZero(t *testing.T) {
	u := newSwitchUpstream(t, "a")
	a := startWithAdmin(t, mustConfig(t, healthCfg(t, httpHealth+`,"common_lb_config":{"healthy_panic_threshold":{"value":0}}`, u.addr)))
	u.health.Store(503)
	testutil.WaitFor(t, 10*time.Second, "the host to leave rotation", func() bool { return !a.clusters.Get("c").Hosts()[0].Healthy() })
	if code, body := getRoot(t, a); code != 503 {
		t.Fatalf("threshold 0, no healthy host: got %d %q, want 503", code, body)
	}
	if n := u.requests.Load(); n != 0 {
		t.Fatalf("the failed host got %d requests", n)
	}
	if v := metric(t, a, "ferry_cluster_lb_panic_total"); v > 0 {
		t.Fatalf("lb_panic %v with panic mode off", v)
	}
}
