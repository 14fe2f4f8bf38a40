package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestMOSNExamples proves that MOSN's published HTTP/1 example configs (kept
// in testdata/mosn, see its README) load and validate unchanged; only
// warnings are allowed, and they are pinned here.
func TestMOSNExamples(t *testing.T) {
	tests := []struct {
		name     string
		warnings []string
	}{
		{
			name:     "http_server_config.json",
			warnings: []string{"cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not implemented", "admin: accepted but not implemented"},
		},
		{
			name:     "http_client_config.json",
			warnings: []string{"cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not implemented", "admin: accepted but not implemented"},
		},
		{
			name: "mosn_config.json",
			warnings: []string{
				"cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not implemented",
				"cluster_manager.clusters[1].conn_buffer_limit_bytes: accepted but not implemented",
				"admin: accepted but not implemented",
			},
		},
		{
			name: "slow_start_config.json",
			warnings: []string{
				"cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not implemented",
				"cluster_manager.clusters[0].health_check: accepted but not implemented",
				"cluster_manager.clusters[0].slow_start: accepted but not implemented",
				"admin: accepted but not implemented",
			},
		},
		{
			name: "zipkin_http_config.json",
			warnings: []string{
				"cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not implemented",
				"admin: accepted but not implemented",
				"tracing: accepted but not implemented",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "mosn", tc.name))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			if got := c.Warnings(); !slices.Equal(got, tc.warnings) {
				t.Errorf("Warnings:\n got %q\nwant %q", got, tc.warnings)
			}
		})
	}
}

// TestMOSNExampleFields spot-checks that MOSN's values land in the typed
// fields.
func TestMOSNExampleFields(t *testing.T) {
	c, err := Load("testdata/mosn/slow_start_config.json")
	if err != nil {
		t.Fatal(err)
	}
	cl := c.ClusterManager.Clusters[0]
	if cl.LBType != LBWeightedRoundRobin || cl.MaxRequestPerConn != 1024 || len(cl.Hosts) != 3 {
		t.Errorf("cluster = %+v", cl)
	}
	if w := cl.Hosts[2].EffectiveWeight(); w != 3 {
		t.Errorf("hosts[2] weight = %d, want 3", w)
	}
	if d := cl.HealthCheck.Interval.Std().String(); d != "1s" {
		t.Errorf("health_check.interval = %s, want 1s", d)
	}
	if !c.DisableUpgrade {
		t.Error("disable_upgrade not decoded")
	}
	if a := c.Admin.Address.SocketAddress; a.Address != "0.0.0.0" || a.PortValue != 34902 {
		t.Errorf("admin address = %+v", a)
	}
	p := c.Servers[0].Listeners[0].FilterChains[0].Filters[0].Proxy
	if p == nil || p.DownstreamProtocol != "Http1" || p.RouterConfigName != "server_router" {
		t.Errorf("proxy config = %+v", p)
	}
}
