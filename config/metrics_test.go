package config

import (
	"strings"
	"testing"
)

// metricsConfig is a valid config (listener on 8080, admin on 34901) with
// the given metrics block and compat setting.
func metricsConfig(t *testing.T, metrics string, allow bool) *Config {
	t.Helper()
	compat := ""
	if allow {
		compat = `,"ferry":{"compat":{"allow_unimplemented":true}}`
	}
	in := `{"servers":[{"listeners":[{"name":"l","address":"0.0.0.0:8080","filter_chains":[{"filters":[
		{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}],
		"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]}]},
		"admin":{"address":{"socket_address":{"address":"127.0.0.1","port_value":34901}}},
		"metrics":` + metrics + compat + `}`
	c := mustParseJSON(t, in)
	return c
}

// TestMetricsSinks: a prometheus sink validates and decodes with its
// defaults; every mistake is an error at its path; another sink type is
// refused, or with allow_unimplemented warned about.
func TestMetricsSinks(t *testing.T) {
	tests := []struct {
		name    string
		metrics string
		allow   bool
		// errs are "path: message fragment" expected, in order; none
		// means valid.
		errs  []string
		warns []string
		sinks []PrometheusSink
	}{
		{name: "prometheus", metrics: `{"sinks":[{"type":"prometheus","config":{"port":34903,"endpoint":"/stats"}}]}`,
			sinks: []PrometheusSink{{Port: 34903, Endpoint: "/stats"}}},
		{name: "default endpoint and options",
			metrics: `{"sinks":[{"type":"prometheus","config":{"port":9100,"disable_collect_go":true,"disable_collect_process":true}}]}`,
			sinks:   []PrometheusSink{{Port: 9100, Endpoint: "/metrics", DisableCollectGo: true, DisableCollectProcess: true}}},
		{name: "no metrics block", metrics: `null`},
		{name: "missing port", metrics: `{"sinks":[{"type":"prometheus","config":{"endpoint":"/m"}}]}`,
			errs: []string{"metrics.sinks[0].config.port: port 0 out of range"}},
		{name: "no config", metrics: `{"sinks":[{"type":"prometheus"}]}`,
			errs: []string{`metrics.sinks[0].config: required: a prometheus sink needs {"port": N}`}},
		{name: "port too high", metrics: `{"sinks":[{"type":"prometheus","config":{"port":70000}}]}`,
			errs: []string{"metrics.sinks[0].config.port: port 70000 out of range: want 1 to 65535"}},
		{name: "port as string", metrics: `{"sinks":[{"type":"prometheus","config":{"port":"9100"}}]}`,
			errs: []string{"metrics.sinks[0].config.port: want int, got JSON string"}},
		{name: "unknown field", metrics: `{"sinks":[{"type":"prometheus","config":{"port":9100,"export_url":"x"}}]}`,
			errs: []string{"metrics.sinks[0].config.export_url: unknown field: a prometheus sink takes port, endpoint"}},
		{name: "listener's port", metrics: `{"sinks":[{"type":"prometheus","config":{"port":8080}}]}`,
			errs: []string{"metrics.sinks[0].config.port: port 8080 is already used by servers[0].listeners[0].address"}},
		{name: "admin's port", metrics: `{"sinks":[{"type":"prometheus","config":{"port":34901}}]}`,
			errs: []string{"metrics.sinks[0].config.port: port 34901 is already used by admin.address.socket_address.port_value"}},
		{name: "two sinks one port",
			metrics: `{"sinks":[{"type":"prometheus","config":{"port":9100}},{"type":"prometheus","config":{"port":9100,"endpoint":"/b"}}]}`,
			errs:    []string{"metrics.sinks[1].config.port: port 9100 is already used by metrics.sinks[0].config.port"}},
		{name: "relative endpoint", metrics: `{"sinks":[{"type":"prometheus","config":{"port":9100,"endpoint":"metrics"}}]}`,
			errs: []string{`metrics.sinks[0].config.endpoint: invalid endpoint "metrics": want an absolute path`}},
		{name: "go plugin", metrics: `{"sinks":[{"type":"prometheus","go_plugin_config":{"so_path":"x.so"},"config":{"port":9100}}]}`,
			errs: []string{"metrics.sinks[0].go_plugin_config: a metrics sink is not loaded from a Go plugin"}},
		{name: "other type refused", metrics: `{"sinks":[{"type":"console","config":{}}]}`,
			errs: []string{`metrics.sinks[0].type: not implemented: metrics would not reach the "console" sink`}},
		{name: "other type allowed", metrics: `{"sinks":[{"type":"console"},{"type":"prometheus","config":{"port":9100}}]}`, allow: true,
			warns: []string{`metrics.sinks[0].type: not implemented: metrics would not reach the "console" sink; running without it`},
			sinks: []PrometheusSink{{Port: 9100, Endpoint: "/metrics"}}},
		{name: "percentiles warned", metrics: `{"sinks":[{"type":"prometheus","config":{"port":9100,"percentiles":[50,99]}}]}`,
			warns: []string{"metrics.sinks[0].config.percentiles: ignored: ferry exports histogram buckets"},
			sinks: []PrometheusSink{{Port: 9100, Endpoint: "/metrics", Percentiles: []int{50, 99}}}},
		{name: "stats matcher warned", metrics: `{"stats_matcher":{"reject_all":true},"shm_zone":"z","lazy_flush":true}`,
			warns: []string{"metrics.stats_matcher: not implemented yet: every metric is exported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := metricsConfig(t, tc.metrics, tc.allow)
			err := c.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
			} else {
				ve, ok := err.(*ValidationError)
				if !ok {
					t.Fatalf("Validate = %v, want %d problems", err, len(tc.errs))
				}
				if len(ve.Errors) != len(tc.errs) {
					t.Fatalf("problems:\n%v\nwant:\n%s", err, strings.Join(tc.errs, "\n"))
				}
				for i, want := range tc.errs {
					if got := ve.Errors[i].String(); !strings.HasPrefix(got, want) {
						t.Errorf("problem %d = %q, want it to start %q", i, got, want)
					}
				}
				return
			}
			warns := c.Warnings()
			if len(warns) != len(tc.warns) {
				t.Fatalf("warnings %q, want %q", warns, tc.warns)
			}
			for i, want := range tc.warns {
				if !strings.HasPrefix(warns[i], want) {
					t.Errorf("warning %d = %q, want it to start %q", i, warns[i], want)
				}
			}
			got := c.PrometheusSinks()
			if len(got) != len(tc.sinks) {
				t.Fatalf("sinks %+v, want %+v", got, tc.sinks)
			}
			for i := range got {
				g, w := got[i], tc.sinks[i]
				if g.Port != w.Port || g.Endpoint != w.Endpoint || g.DisableCollectGo != w.DisableCollectGo ||
					g.DisableCollectProcess != w.DisableCollectProcess || len(g.Percentiles) != len(w.Percentiles) {
					t.Errorf("sink %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
