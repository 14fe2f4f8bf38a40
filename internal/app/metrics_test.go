package app

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// withSinks gives cfg a metrics block and validates it again.
func withSinks(t *testing.T, cfg *config.Config, sinks ...string) *config.Config {
	t.Helper()
	cfg.Metrics = &config.Metrics{}
	for _, s := range sinks {
		cfg.Metrics.Sinks = append(cfg.Metrics.Sinks, config.Filter{Type: config.SinkPrometheus, Config: []byte(s)})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return cfg
}

// startWithSinks starts cfg with the admin API and every sink on
// 127.0.0.1:0.
func startWithSinks(t *testing.T, cfg *config.Config) *App {
	t.Helper()
	return startWith(t, cfg, Options{AdminAddress: "127.0.0.1:0", MetricsSinkAddress: "127.0.0.1:0"})
}

// fetch GETs url and returns the status and body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	return testutil.Fetch(t, http.MethodGet, url)
}

// parseExposition parses Prometheus text and checks that every family
// has its # TYPE line.
func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for name, f := range fams {
		if !strings.Contains(text, "# TYPE "+name+" "+strings.ToLower(f.GetType().String())+"\n") {
			t.Errorf("no # TYPE line for %s", name)
		}
	}
	return fams
}

// sample returns the value (counter or gauge) of f's first sample whose
// labels include want (an absent label counts as ""), and whether there is
// one.
func sample(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// gathered is sample of the family name in a's registry.
func gathered(t *testing.T, a *App, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := a.metrics.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return sample(f, want)
		}
	}
	return 0, false
}

func familyNames(fams map[string]*dto.MetricFamily) []string {
	out := make([]string, 0, len(fams))
	for n := range fams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestPrometheusSinkServesTheAdminFamilies: a prometheus sink serves, at
// its endpoint, the same families as the admin API's /metrics (the flat
// counters, the per-label families with their labels, the worker pool,
// the Go runtime, the process), and 404 elsewhere; a sink with
// disable_collect_go and disable_collect_process leaves those out.
func TestPrometheusSinkServesTheAdminFamilies(t *testing.T) {
	up := echoUpstream(t)
	cfg := withSinks(t, buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`, "", up, false),
		`{"port":9464,"endpoint":"/stats/prometheus"}`,
		`{"port":9465,"disable_collect_go":true,"disable_collect_process":true}`)
	a := startWithSinks(t, cfg)
	for range 2 {
		if code, _ := get(t, a, "/x"); code != 200 {
			t.Fatalf("proxied GET = %d", code)
		}
	}
	sinks := a.MetricsSinkAddrs()
	if len(sinks) != 2 || sinks[0] == nil || sinks[1] == nil {
		t.Fatalf("sink addresses %v", sinks)
	}
	// The counts land when each stream ends, just after its response.
	var fromSink map[string]*dto.MetricFamily
	testutil.WaitFor(t, 5*time.Second, "both requests ended", func() bool {
		code, text := fetch(t, "http://"+sinks[0].String()+"/stats/prometheus")
		if code != 200 {
			t.Fatalf("sink GET = %d", code)
		}
		fromSink = parseExposition(t, text)
		f := fromSink["ferry_listener_requests_active"]
		return f != nil && f.GetMetric()[0].GetGauge().GetValue() == 0
	})
	fromAdmin := parseExposition(t, adminGet(t, a, "/metrics"))
	if s, ad := strings.Join(familyNames(fromSink), " "), strings.Join(familyNames(fromAdmin), " "); s != ad {
		t.Errorf("sink and admin families differ:\nsink:  %s\nadmin: %s", s, ad)
	}
	if v := fromSink["ferry_downstream_rq_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("ferry_downstream_rq_total = %v, want 2", v)
	}
	for name, labels := range map[string]string{
		"ferry_listener_requests_total":         "listener=l",
		"ferry_route_requests_total":            "router=r,virtual_host=v",
		"ferry_cluster_upstream_requests_total": "cluster=c",
		"ferry_host_upstream_requests_total":    "cluster=c,host=" + up,
		"ferry_loop_connections_total":          "loop=0",
		"ferry_worker_pool_size":                "",
		"ferry_worker_pool_rejected_total":      "",
	} {
		f, ok := fromSink[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		var got []string
		for _, lp := range f.GetMetric()[0].GetLabel() {
			got = append(got, lp.GetName()+"="+lp.GetValue())
		}
		if g := strings.Join(got, ","); g != labels {
			t.Errorf("%s labels %q, want %q", name, g, labels)
		}
	}
	// The proxy counted the two requests under the configuration's labels.
	for name, want := range map[string]float64{
		"ferry_listener_requests_total":                2,
		"ferry_listener_request_duration_seconds":      2,
		"ferry_route_requests_total":                   2,
		"ferry_cluster_upstream_requests_total":        2,
		"ferry_host_upstream_requests_total":           2,
		"ferry_cluster_upstream_response_time_seconds": 2,
	} {
		m := fromSink[name].GetMetric()[0]
		got := m.GetCounter().GetValue()
		if h := m.GetHistogram(); h != nil {
			got = float64(h.GetSampleCount())
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if fromSink["ferry_worker_pool_size"].GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Error("ferry_worker_pool_size < 1")
	}
	// The loops counted the client's and the upstream's connections and
	// bytes (conn.Options.LoopMetrics).
	var opened, read, written float64
	for _, m := range fromSink["ferry_loop_connections_total"].GetMetric() {
		opened += m.GetCounter().GetValue()
	}
	for _, m := range fromSink["ferry_loop_read_bytes_total"].GetMetric() {
		read += m.GetCounter().GetValue()
	}
	for _, m := range fromSink["ferry_loop_written_bytes_total"].GetMetric() {
		written += m.GetCounter().GetValue()
	}
	if opened < 2 || read == 0 || written == 0 {
		t.Errorf("loops counted %v connections, %v bytes read, %v written; want at least 2 and some bytes each way", opened, read, written)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := fromSink[name]; !ok {
			t.Errorf("no family %s", name)
		}
	}
	if code, _ := fetch(t, "http://"+sinks[0].String()+"/metrics"); code != 404 {
		t.Errorf("GET /metrics on a sink at /stats/prometheus = %d, want 404", code)
	}
	code, text := fetch(t, "http://"+sinks[1].String()+"/metrics")
	if code != 200 {
		t.Fatalf("second sink GET /metrics = %d", code)
	}
	lean := parseExposition(t, text)
	for name := range lean {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("disabled family %s served", name)
		}
	}
	if _, ok := lean["ferry_listener_requests_total"]; !ok {
		t.Error("the lean sink lost ferry's own families")
	}
}

// TestReloadSwapsMetricLabels: a reload that moves the route to a new
// cluster exports the new cluster and no longer the old, and the proxy
// counts under the new one; the listener's series carries on. A reload
// that changes the metrics block is refused.
func TestReloadSwapsMetricLabels(t *testing.T) {
	up := fixedUpstream(t, "x")
	a := startWithAdmin(t, routeTo(t, "old", up))
	_, ids := a.Metrics()
	if code, _ := get(t, a, "/x"); code != 200 {
		t.Fatalf("GET before the reload = %d", code)
	}
	next := routeTo(t, "new", up)
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, a, "/x"); code != 200 {
		t.Fatalf("GET after the reload = %d", code)
	}
	var fams map[string]*dto.MetricFamily
	testutil.WaitFor(t, 5*time.Second, "the request counted on cluster new", func() bool {
		fams = parseExposition(t, adminGet(t, a, "/metrics"))
		f := fams["ferry_cluster_upstream_requests_total"]
		return f != nil && f.GetMetric()[0].GetCounter().GetValue() == 1
	})
	var clusters []string
	for _, m := range fams["ferry_cluster_upstream_requests_total"].GetMetric() {
		clusters = append(clusters, m.GetLabel()[0].GetValue())
	}
	if strings.Join(clusters, ",") != "new" {
		t.Errorf("clusters exported after the reload: %v, want [new]", clusters)
	}
	if v := fams["ferry_listener_requests_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("listener requests after the reload = %v, want 2 (kept across it)", v)
	}
	if _, ids2 := a.Metrics(); ids2.Listeners[0] != ids.Listeners[0] || ids2.Clusters[0] == ids.Clusters[0] {
		t.Errorf("IDs %+v then %+v: the listener's should stay, the cluster's change", ids, ids2)
	}
	withMetrics := withSinks(t, routeTo(t, "new", up), `{"port":9466}`)
	err := a.Reload(withMetrics)
	if err == nil || !strings.Contains(err.Error(), "metrics: changed") {
		t.Fatalf("reload adding a sink: %v, want refused naming metrics", err)
	}
}

// TestSinkPortInUseStopsStart: a sink that cannot bind is an error naming
// it, and ferry stops again.
func TestSinkPortInUseStopsStart(t *testing.T) {
	up := echoUpstream(t)
	first := startWithSinks(t, withSinks(t, buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`, "", up, false), `{"port":9467}`))
	cfg := withSinks(t, buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`, "", up, false), `{"port":9467}`)
	a, err := New(cfg, Options{Logger: quietLogger(), MetricsSinkAddress: first.MetricsSinkAddrs()[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start()
	if err == nil || !strings.Contains(err.Error(), "metrics.sinks[0].config.port") {
		t.Fatalf("Start = %v, want an error naming metrics.sinks[0].config.port", err)
	}
}

// TestLocalReplyCauses: the cause label names every kind answered with a
// local reply, by its number, and none answered by a reset.
func TestLocalReplyCauses(t *testing.T) {
	causes := localReplyCauses()
	if got := causes[proxy.KindNoRoute]; got != "no_route" {
		t.Errorf("cause %d = %q, want no_route", proxy.KindNoRoute, got)
	}
	if got := causes[proxy.KindConnectFailed]; got != "upstream_connect_failed" {
		t.Errorf("cause %d = %q, want upstream_connect_failed", proxy.KindConnectFailed, got)
	}
	if got := causes[proxy.KindUpstreamResetMidBody]; got != "" {
		t.Errorf("cause %d (a reset) = %q, want none", proxy.KindUpstreamResetMidBody, got)
	}
	if causes[0] != "" {
		t.Errorf("cause 0 = %q, want none", causes[0])
	}
}
