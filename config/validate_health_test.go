package config

import (
	"strings"
	"testing"
	"time"
)

// healthConfig is a minimal valid config whose one cluster carries
// extra (health_check / outlier_detection members, with a leading comma).
func healthConfig(extra string) string {
	return `{"servers":[{"listeners":[{"address":"127.0.0.1:0","filter_chains":[{"filters":[{"type":"proxy",
		"config":{"router_config_name":"r"}}]}]}],"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v",
		"domains":["*"],"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:8080"}]` + extra + `}]}}`
}

func TestHealthCheckValidation(t *testing.T) {
	const p = "cluster_manager.clusters[0].health_check"
	const o = "cluster_manager.clusters[0].outlier_detection"
	hc := func(fields string) string {
		return `,"health_check":{"interval":"2s","timeout":"1s","healthy_threshold":1,"unhealthy_threshold":2` + fields + `}`
	}
	tests := []struct{ name, extra, want string }{
		{"tcp", hc(`,"protocol":"Tcp"`), ""},
		{"tcp_dial", hc(`,"protocol":"tcp_dial"`), ""},
		{"http1 with every key", hc(`,"protocol":"Http1","method":"HEAD","host":"h.example","expected_statuses":[{"start":200,"end":400}],
			"check_config":{"http_check_config":{"path":"/healthz","port":9000,"timeout":"500ms"}}`), ""},
		{"http2 refused", hc(`,"protocol":"Http2"`), p + ".protocol: Http2 health checks are not implemented"},
		{"unknown protocol", hc(`,"protocol":"bolt"`), p + `.protocol: unknown health check protocol "bolt"`},
		{"no protocol", hc(``), p + ".protocol: required"},
		{"zero interval", `,"health_check":{"protocol":"Tcp","timeout":"1s","healthy_threshold":1,"unhealthy_threshold":1}`, p + ".interval: required, positive"},
		{"timeout not below interval", `,"health_check":{"protocol":"Tcp","interval":"1s","timeout":"1s","healthy_threshold":1,"unhealthy_threshold":1}`,
			p + ".timeout: 1s is not below interval 1s"},
		{"zero healthy threshold", `,"health_check":{"protocol":"Tcp","interval":"2s","timeout":"1s","unhealthy_threshold":1}`, p + ".healthy_threshold: required, at least 1"},
		{"zero unhealthy threshold", `,"health_check":{"protocol":"Tcp","interval":"2s","timeout":"1s","healthy_threshold":1}`, p + ".unhealthy_threshold: required, at least 1"},
		{"bad path", hc(`,"protocol":"Http1","check_config":{"http_check_config":{"path":"health z"}}`), p + `.check_config.http_check_config.path: "health z" is not an origin-form path`},
		{"relative path", hc(`,"protocol":"Http1","check_config":{"http_check_config":{"path":"healthz"}}`), p + ".check_config.http_check_config.path"},
		{"bad port", hc(`,"protocol":"Http1","check_config":{"http_check_config":{"port":70000}}`), p + ".check_config.http_check_config.port: 70000 is not a port"},
		{"http timeout not below interval", hc(`,"protocol":"Http1","check_config":{"http_check_config":{"timeout":"3s"}}`),
			p + ".check_config.http_check_config.timeout: 3s is not below interval 2s"},
		{"status out of range", hc(`,"protocol":"Http1","expected_statuses":[{"start":200,"end":300},{"start":500,"end":700}]`),
			p + ".expected_statuses[1]: [500, 700) is not a non-empty range within [100, 600)"},
		{"empty status range", hc(`,"protocol":"Http1","expected_statuses":[{"start":300,"end":300}]`), p + ".expected_statuses[0]"},
		{"bad method", hc(`,"protocol":"Http1","method":"GE T"`), p + `.method: "GE T" is not an HTTP method`},
		{"method with a delimiter", hc(`,"protocol":"Http1","method":"GET/1"`), p + `.method: "GET/1" is not an HTTP method`},
		{"method of tchar", hc(`,"protocol":"Http1","method":"M-SEARCH_!#$%&'*+.^|~9"`), ""},
		{"http keys on tcp", hc(`,"protocol":"Tcp","expected_statuses":[{"start":200,"end":300}]`), p + ".expected_statuses: set on a \"Tcp\" health check"},
		{"callbacks refused", hc(`,"protocol":"Tcp","common_callbacks":["x"]`), p + ".common_callbacks: not implemented"},
		{"outlier defaults", `,"outlier_detection":{}`, ""},
		{"outlier all set", `,"outlier_detection":{"consecutive_5xx":3,"consecutive_gateway_failure":2,"consecutive_connect_failure":1,
			"interval":"1s","base_ejection_time":"2s","max_ejection_time":"10s","max_ejection_percent":50}`, ""},
		{"outlier all off", `,"outlier_detection":{"consecutive_5xx":0,"consecutive_connect_failure":0}`, o + ": every detector is off"},
		{"outlier zero interval", `,"outlier_detection":{"interval":"0s"}`, o + ".interval: not positive"},
		{"outlier max below base", `,"outlier_detection":{"base_ejection_time":"10s","max_ejection_time":"1s"}`, o + ".max_ejection_time: 1s is below base_ejection_time 10s"},
		{"outlier percent", `,"outlier_detection":{"max_ejection_percent":101}`, o + ".max_ejection_percent: 101 is above 100"},
		{"panic threshold", `,"common_lb_config":{"healthy_panic_threshold":{"value":50}}`, ""},
		{"panic threshold off", `,"common_lb_config":{"healthy_panic_threshold":{"value":0}}`, ""},
		{"panic threshold fraction", `,"common_lb_config":{"healthy_panic_threshold":{"value":33.5}}`, ""},
		{"panic threshold above 100", `,"common_lb_config":{"healthy_panic_threshold":{"value":100.5}}`,
			"cluster_manager.clusters[0].common_lb_config.healthy_panic_threshold.value: 100.5 is not a percentage in 0..100"},
		{"panic threshold negative", `,"common_lb_config":{"healthy_panic_threshold":{"value":-1}}`,
			"cluster_manager.clusters[0].common_lb_config.healthy_panic_threshold.value: -1 is not a percentage in 0..100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParseJSON(t, healthConfig(tc.extra))
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestCommonLBConfigUnknownMember: common_lb_config's members other than
// healthy_panic_threshold are refused when the config is read.
func TestCommonLBConfigUnknownMember(t *testing.T) {
	_, err := Parse([]byte(healthConfig(`,"common_lb_config":{"locality_weighted_lb_config":{}}`)), FormatJSON)
	if err == nil || !strings.Contains(err.Error(), "cluster_manager.clusters[0].common_lb_config.locality_weighted_lb_config: unknown field") {
		t.Fatalf("got %v", err)
	}
}

func TestHealthCheckAccessors(t *testing.T) {
	c, err := Parse([]byte(healthConfig(`,"health_check":{"protocol":"Http1","interval":"2s","timeout":"1s","healthy_threshold":1,
		"unhealthy_threshold":1,"check_config":{"http_check_config":{"path":"/h","timeout":"300ms"}}},"outlier_detection":{"base_ejection_time":"400s"}`)), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	cl := &c.ClusterManager.Clusters[0]
	if k, to, path := cl.HealthCheck.Kind(), cl.HealthCheck.ProbeTimeout(), cl.HealthCheck.HTTP().Path; k != HealthKindHTTP1 || to != 300*time.Millisecond || path != "/h" {
		t.Fatalf("kind %q timeout %v path %q", k, to, path)
	}
	v := cl.OutlierDetection.Values()
	want := OutlierValues{Consecutive5xx: 5, ConsecutiveConnectFailure: 5, Interval: 10 * time.Second,
		BaseEjectionTime: 400 * time.Second, MaxEjectionTime: 400 * time.Second, MaxEjectionPercent: 10}
	if v != want {
		t.Fatalf("values %+v, want %+v", v, want)
	}
}
