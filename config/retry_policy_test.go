package config

import (
	"strings"
	"testing"
)

// retryConfig is a valid config whose only route has retry_policy rp (a
// JSON object).
func retryConfig(rp string) string {
	return `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
	  "routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c","retry_policy":` + rp + `}}]}]}],
	  "listeners":[{"name":"l","address":"127.0.0.1:0","bind_port":true,"filter_chains":[{"filters":[{"type":"proxy",
	  "config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
	 "cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:1"}]}]}}`
}

// TestRetryPolicy: retry_on is MOSN's boolean or Envoy's conditions, and
// every mistake is named at its path.
func TestRetryPolicy(t *testing.T) {
	const at = "servers[0].routers[0].virtual_hosts[0].routers[0].route.retry_policy"
	for _, tc := range []struct {
		rp, want string // want "" means valid
	}{
		{rp: `{"retry_on":true,"num_retries":2,"retry_timeout":"1s"}`},
		{rp: `{"retry_on":false}`},
		{rp: `{"retry_on":"connect-failure, reset,5xx,gateway-error"}`},
		{rp: `{"retry_on":"retriable-status-codes","retriable_status_codes":[503,429],"retry_back_off":{"base_interval":"10ms","max_interval":"1s"},"retry_buffer_limit_bytes":1024,"retry_non_idempotent":true}`},
		{rp: `{"retry_on":"5xx,refused-stream"}`, want: at + `.retry_on: unknown condition "refused-stream"`},
		{rp: `{"retry_on":1}`, want: at + `.retry_on: must be`},
		{rp: `{"retry_on":"5xx","retriable_status_codes":[503]}`, want: at + `.retriable_status_codes: set, but retry_on does not name retriable-status-codes`},
		{rp: `{"retry_on":"retriable-status-codes","retriable_status_codes":[99]}`, want: at + `.retriable_status_codes[0]: status 99 is not in 100..599`},
		{rp: `{"retry_on":true,"retry_back_off":{"max_interval":"1s"}}`, want: at + `.retry_back_off.base_interval: required`},
		{rp: `{"retry_on":true,"retry_back_off":{"base_interval":"1s","max_interval":"10ms"}}`, want: at + `.retry_back_off.max_interval: below base_interval`},
		{rp: `{"retry_on":true,"retry_timeout":"-1s"}`, want: at + `.retry_timeout: must not be negative`},
	} {
		c, err := Parse([]byte(retryConfig(tc.rp)), FormatJSON)
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.rp, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.rp, err, tc.want)
		}
	}
	c := mustParseJSON(t, retryConfig(`{"retry_on":true}`))
	rp := c.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Route.RetryPolicy
	if got := strings.Join(rp.RetryOn.Conditions(), ","); got != "connect-failure,reset,5xx" {
		t.Fatalf("retry_on true means %q", got)
	}
	if b, err := rp.RetryOn.MarshalJSON(); err != nil || string(b) != "true" {
		t.Fatalf("retry_on true marshals as %s, %v", b, err)
	}
}
