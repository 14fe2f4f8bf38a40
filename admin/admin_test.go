package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a Backend with fixed answers.
type fake struct {
	reloads  atomic.Int32
	drains   atomic.Int32
	draining atomic.Bool
}

func (*fake) Version() Version { return Version{Version: "v1.2.3", Revision: "abc", Go: "go1.26"} }
func (*fake) ConfigDump() ([]byte, error) {
	return []byte(`{"servers":[],"private_key":"[redacted]"}`), nil
}
func (*fake) Stats() []Sample {
	return []Sample{{Name: "downstream_rq_total", Value: 7}, {Name: "downstream_rq_active", Value: 2, Gauge: true},
		{Name: "upstream_cx_total", Value: 3}}
}
func (*fake) Listeners() []Listener {
	return []Listener{{Name: "http", Address: "127.0.0.1:8080", Protocol: "Auto"}}
}
func (*fake) Clusters() []Cluster {
	return []Cluster{{Name: "web", LB: "LB_ROUNDROBIN", Hosts: []Host{{Address: "10.0.0.1:80", Healthy: true, Weight: 1, Requests: 5}}}}
}
func (f *fake) Draining() bool          { return f.draining.Load() }
func (f *fake) Drain()                  { f.drains.Add(1); f.draining.Store(true) }
func (*fake) Features() map[string]bool { return map[string]bool{"admin_api": true} }
func (f *fake) Reload() error {
	if f.reloads.Add(1) > 1 {
		return errors.New("servers[0].listeners: changed")
	}
	return nil
}
func (f *fake) ReloadState() any { return map[string]int32{"ok": min(f.reloads.Load(), 1)} }

// start runs an admin server over a fake backend on 127.0.0.1:0.
func start(t *testing.T) (*Server, *fake, *slog.LevelVar) {
	t.Helper()
	f := &fake{}
	lv := new(slog.LevelVar)
	s, err := Start(Options{Address: "127.0.0.1:0", Backend: f, Level: lv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, f, lv
}

// call does one request and returns status and body.
func call(t *testing.T, s *Server, method, path string) (int, string) {
	t.Helper()
	return testutil.Fetch(t, method, "http://"+s.Addr().String()+path)
}

// TestEndpoints checks every endpoint's status and content.
func TestEndpoints(t *testing.T) {
	s, _, _ := start(t)
	tests := []struct {
		path string
		code int
		want []string
	}{
		{"/api/v1/version", 200, []string{`"version": "v1.2.3"`, `"revision": "abc"`}},
		{"/api/v1/config_dump", 200, []string{`"private_key":"[redacted]"`}},
		{"/api/v1/stats", 200, []string{`"downstream_rq_total": 7`, `"downstream_rq_active": 2`, `"upstream_cx_total": 3`}},
		{"/api/v1/stats_glob?key=downstream_*", 200, []string{`"downstream_rq_total": 7`}},
		{"/api/v1/stats_glob", 400, []string{"missing ?key=GLOB"}},
		{"/api/v1/stats_glob?key=[", 400, []string{"bad pattern"}},
		{"/api/v1/get_loglevel", 200, []string{`"level": "info"`}},
		{"/api/v1/states", 200, []string{`"state": "running"`}},
		{"/api/v1/features", 200, []string{`"admin_api": true`}},
		{"/ready", 200, []string{"ready"}},
		{"/live", 200, []string{"live"}},
		{"/listeners", 200, []string{`"name": "http"`, `"protocol": "Auto"`}},
		{"/clusters", 200, []string{`"name": "web"`, `"address": "10.0.0.1:80"`, `"healthy": true`, `"requests": 5`}},
		{"/nope", 404, nil},
	}
	for _, tc := range tests {
		code, body := call(t, s, http.MethodGet, tc.path)
		if code != tc.code {
			t.Errorf("GET %s = %d %q, want %d", tc.path, code, body, tc.code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s body %q lacks %q", tc.path, body, w)
			}
		}
	}
	code, body := call(t, s, http.MethodGet, "/api/v1/stats_glob?key=upstream_*")
	if code != 200 || strings.Contains(body, "downstream") {
		t.Errorf("stats_glob upstream_* = %d %q, want only upstream counters", code, body)
	}
}

// TestMutatingEndpointsArePostOnly: drain and update_loglevel refuse GET,
// and act on POST.
func TestMutatingEndpointsArePostOnly(t *testing.T) {
	s, f, lv := start(t)
	for _, p := range []string{"/drain_listeners", "/api/v1/update_loglevel?level=debug"} {
		if code, _ := call(t, s, http.MethodGet, p); code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405", p, code)
		}
	}
	if f.drains.Load() != 0 || lv.Level() != slog.LevelInfo {
		t.Fatal("a GET changed state")
	}
	if code, body := call(t, s, http.MethodPost, "/api/v1/update_loglevel?level=verbose"); code != 400 || !strings.Contains(body, `unknown level "verbose"`) {
		t.Errorf("bad level = %d %q", code, body)
	}
	if code, _ := call(t, s, http.MethodPost, "/api/v1/update_loglevel?level=debug"); code != 200 || lv.Level() != slog.LevelDebug {
		t.Errorf("update_loglevel = %d, level %v", code, lv.Level())
	}
	if code, body := call(t, s, http.MethodGet, "/api/v1/get_loglevel"); code != 200 || !strings.Contains(body, `"debug"`) {
		t.Errorf("get_loglevel after update = %d %q", code, body)
	}
	if code, _ := call(t, s, http.MethodGet, "/api/v1/reload"); code != http.StatusMethodNotAllowed || f.reloads.Load() != 0 {
		t.Errorf("GET reload = %d, reloads %d", code, f.reloads.Load())
	}
	if code, body := call(t, s, http.MethodPost, "/api/v1/reload"); code != 200 || body != "reloaded\n" {
		t.Errorf("reload = %d %q", code, body)
	}
	if code, body := call(t, s, http.MethodPost, "/api/v1/reload"); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "reload refused: servers[0].listeners: changed") {
		t.Errorf("refused reload = %d %q", code, body)
	}
	if code, body := call(t, s, http.MethodGet, "/api/v1/states"); code != 200 || !strings.Contains(body, `"reload"`) {
		t.Errorf("states = %d %q", code, body)
	}
	if code, _ := call(t, s, http.MethodPost, "/drain_listeners"); code != 200 || f.drains.Load() != 1 {
		t.Errorf("drain = %d, drains %d", code, f.drains.Load())
	}
	if code, _ := call(t, s, http.MethodGet, "/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready while draining = %d, want 503", code)
	}
	if code, body := call(t, s, http.MethodGet, "/api/v1/states"); code != 200 || !strings.Contains(body, "draining") {
		t.Errorf("states while draining = %d %q", code, body)
	}
}

// TestMetricsParse: /metrics is Prometheus text that expfmt parses, every
// family with its type, counters named ferry_*_total with their values.
func TestMetricsParse(t *testing.T) {
	s, _, _ := start(t)
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation) // names must be classic Prometheus names
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := map[string]float64{"ferry_downstream_rq_total": 7, "ferry_upstream_cx_total": 3, "ferry_downstream_rq_active": 2}
	for name, v := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no family %s in %v", name, keys(fams))
			continue
		}
		m := f.GetMetric()[0]
		got := m.GetCounter().GetValue()
		if strings.HasSuffix(name, "_active") {
			got = m.GetGauge().GetValue()
		}
		if got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if f := fams["ferry_downstream_rq_active"]; f.GetType().String() != "GAUGE" {
		t.Errorf("downstream_rq_active type %v, want GAUGE", f.GetType())
	}
	if f := fams["ferry_downstream_rq_total"]; f.GetType().String() != "COUNTER" {
		t.Errorf("downstream_rq_total type %v, want COUNTER", f.GetType())
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestVersionJSON: the version endpoint is valid JSON with the three fields.
func TestVersionJSON(t *testing.T) {
	s, _, _ := start(t)
	_, body := call(t, s, http.MethodGet, "/api/v1/version")
	var v Version
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Version != "v1.2.3" || v.Go == "" {
		t.Fatalf("version %q: %+v %v", body, v, err)
	}
}
