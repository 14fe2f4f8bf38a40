package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestMOSNExamples proves that MOSN's published HTTP/1 example configs (kept
// in testdata/mosn, see its README) load and validate unchanged, with no
// warnings but for tracing; the one that asks for health checks and slow
// start is refused: its health check values are errors naming their paths,
// and slow start is not implemented.
func TestMOSNExamples(t *testing.T) {
	tests := []struct {
		name     string
		allow    bool
		errs     []string
		warnings []string
	}{
		{name: "http_server_config.json"},
		{name: "http_client_config.json"},
		{name: "mosn_config.json"},
		{
			// The example's health check probes as often as its timeout
			// and has no unhealthy_threshold: both are errors, which
			// allow_unimplemented does not lift (health checks are
			// implemented, these values are wrong).
			name: "slow_start_config.json",
			errs: []string{
				"cluster_manager.clusters[0].health_check.timeout: 1s is not below interval 1s: probes would overlap",
				"cluster_manager.clusters[0].health_check.unhealthy_threshold: required, at least 1",
				"cluster_manager.clusters[0].slow_start: not implemented: new hosts would take their full share at once instead of ramping up; ferry has no slow start yet (--allow-unimplemented or ferry.compat.allow_unimplemented runs without it)",
			},
		},
		{
			name: "slow_start_config.json", allow: true,
			errs: []string{
				"cluster_manager.clusters[0].health_check.timeout: 1s is not below interval 1s: probes would overlap",
				"cluster_manager.clusters[0].health_check.unhealthy_threshold: required, at least 1",
			},
		},
		{
			name:     "zipkin_http_config.json",
			warnings: []string{"tracing: not implemented yet: no spans are recorded or exported (ferry has no tracing yet)"},
		},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/allow=%v", tc.name, tc.allow), func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "mosn", tc.name))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			c.Ferry.Compat.AllowUnimplemented = tc.allow
			var got []string
			var ve *ValidationError
			if err := c.Validate(); errors.As(err, &ve) {
				for _, fe := range ve.Errors {
					got = append(got, fe.String())
				}
			} else if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.errs)
			}
			if tc.errs != nil {
				return
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
