package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestRequestMirrorPolicies: a route's request_mirror_policies reaches the
// proxy: every request answered by cluster c is copied to cluster shadow,
// and the copies are counted in /api/v1/stats.
func TestRequestMirrorPolicies(t *testing.T) {
	main, shadow := newSwitchUpstream(t, "main"), newSwitchUpstream(t, "shadow")
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"},"request_mirror_policies":{"cluster":"s","percent":100}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]},{"name":"s","hosts":[{"address":%q}]}]}}`,
		main.addr, shadow.addr)
	a := startWithAdmin(t, mustConfig(t, js))
	for range 3 {
		if code, body := getRoot(t, a); code != 200 || body != "main" {
			t.Fatalf("got %d %q, want the main cluster's answer", code, body)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the shadow to get 3 copies", func() bool { return shadow.requests.Load() == 3 })
	testutil.WaitFor(t, 10*time.Second, "3 mirrors to end", func() bool {
		v, _ := a.srv.Stats().Set().Get("upstream_rq_mirror_success")
		return v == 3
	})
	if n := main.requests.Load(); n != 3 {
		t.Fatalf("main cluster got %d requests", n)
	}
	f, ok := parseExposition(t, adminGet(t, a, "/metrics"))["ferry_upstream_rq_mirror_success_total"]
	if !ok || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Fatalf("/metrics ferry_upstream_rq_mirror_success_total: %v", f)
	}
}
