package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-proxy/ferry/config"
)

// startWithAdmin starts cfg with the admin API on 127.0.0.1:0.
func startWithAdmin(t *testing.T, cfg *config.Config) *App {
	t.Helper()
	return startWith(t, cfg, Options{AdminAddress: "127.0.0.1:0", Version: "v9.9.9"})
}

// adminGet fetches an admin path.
func adminGet(t *testing.T, a *App, path string) string {
	t.Helper()
	code, body := fetch(t, "http://"+a.AdminAddr().String()+path)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

// TestAdminCountsKnownTraffic: after 3 proxied requests and 2 direct
// responses, /api/v1/stats and /metrics both say so, /clusters shows the
// host's 3 requests, and config_dump hides the private key.
func TestAdminCountsKnownTraffic(t *testing.T) {
	up := echoUpstream(t)
	cfg := buildCfg(t, `{"match":{"path":"/direct"},"direct_response":{"status":200,"body":"ok"}},{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`,
		"", up, false)
	cfg.ClusterManager.Clusters[0].TLSContext = &config.UpstreamTLSConfig{PrivateKey: "-----BEGIN EC PRIVATE KEY-----secret"}
	a := startWithAdmin(t, cfg)
	for range 3 {
		if code, _ := get(t, a, "/x"); code != 200 {
			t.Fatalf("proxied GET = %d", code)
		}
	}
	for range 2 {
		if code, _ := get(t, a, "/direct"); code != 200 {
			t.Fatalf("direct GET = %d", code)
		}
	}
	var st map[string]int64
	if err := json.Unmarshal([]byte(adminGet(t, a, "/api/v1/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if st["downstream_rq_total"] != 5 || st["downstream_rq_direct_response"] != 2 || st["downstream_rq_routed"] != 3 {
		t.Fatalf("stats %v, want 5 requests, 2 direct, 3 routed", st)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(adminGet(t, a, "/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["ferry_downstream_rq_total"]; f == nil || f.GetMetric()[0].GetCounter().GetValue() != 5 {
		t.Fatalf("ferry_downstream_rq_total = %v, want 5", f)
	}
	if f := fams["ferry_event_loops"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Fatalf("ferry_event_loops = %v", f)
	}
	var cs []struct {
		Name  string
		Hosts []struct {
			Address  string
			Requests uint64
			Healthy  bool
		}
	}
	if err := json.Unmarshal([]byte(adminGet(t, a, "/clusters")), &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Name != "c" || len(cs[0].Hosts) != 1 || cs[0].Hosts[0].Address != up ||
		cs[0].Hosts[0].Requests != 3 || !cs[0].Hosts[0].Healthy {
		t.Fatalf("clusters %+v, want c with %s: 3 requests, healthy", cs, up)
	}
	dump := adminGet(t, a, "/api/v1/config_dump")
	if strings.Contains(dump, "secret") || !strings.Contains(dump, `"private_key": "[redacted]"`) {
		t.Fatalf("config_dump leaks or lacks the redacted key:\n%s", dump)
	}
	if v := adminGet(t, a, "/api/v1/version"); !strings.Contains(v, `"version": "v9.9.9"`) {
		t.Fatalf("version %s", v)
	}
	if l := adminGet(t, a, "/listeners"); !strings.Contains(l, a.Addrs()[0].String()) {
		t.Fatalf("listeners %s lacks %s", l, a.Addrs()[0])
	}
}

// TestAdminDrainRequest: POST /drain_listeners asks the process to drain
// (as SIGTERM does); /ready turns 503 once Shutdown runs.
func TestAdminDrainRequest(t *testing.T) {
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}`, "", "127.0.0.1:9", false)
	a, err := New(cfg, Options{Logger: quietLogger(), AdminAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.AdminAddr().String()
	resp, err := http.Post(base+"/drain_listeners", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-a.DrainRequested():
	case <-time.After(10 * time.Second):
		t.Fatal("drain_listeners did not request a drain")
	}
	if !a.draining.CompareAndSwap(false, true) { // what Shutdown's first step does
		t.Fatal("draining before Shutdown")
	}
	r, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready while draining = %d, want 503", r.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAdminAddressInUseFailsStart: a configured admin address that cannot
// be bound stops ferry rather than running without its admin API.
func TestAdminAddressInUseFailsStart(t *testing.T) {
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}`, "", "127.0.0.1:9", false)
	first := startWithAdmin(t, cfg)
	a, err := New(cfg, Options{Logger: quietLogger(), AdminAddress: first.AdminAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err == nil || !strings.Contains(err.Error(), "admin.address") {
		t.Fatalf("Start with a taken admin address: %v", err)
	}
}
