package config

import (
	"strings"
	"testing"
)

// upstreamH2Config has a listener speaking Http2 upstream and two clusters,
// the second with TLS.
const upstreamH2Config = `{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"],
      "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}]}]}],
    "listeners": [
      {"name": "h2", "address": "127.0.0.1:8080",
       "filter_chains": [{"filters": [{"type": "proxy",
         "config": {"downstream_protocol": "Auto", "upstream_protocol": "Http2", "router_config_name": "r"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "c", "hosts": [{"address": "127.0.0.1:9000"}]},
    {"name": "tls", "hosts": [{"address": "127.0.0.1:9443"}], "tls_context": {"status": true}}
  ]}
}`

// TestUpstreamHTTP2 checks that upstream_protocol Http2 is accepted on a
// proxy filter, with plain clusters (h2c) and with clusters with TLS (h2
// by ALPN, which ClusterTLS offers unless alpn leaves it out).
func TestUpstreamHTTP2(t *testing.T) {
	plain := strings.Replace(upstreamH2Config, `"tls_context": {"status": true}`, `"tls_context": {"status": false}`, 1)
	for _, js := range []string{plain, upstreamH2Config} {
		c, err := Parse([]byte(js), FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Http2 upstreams refused: %v", err)
		}
		if down, up := c.Servers[0].Listeners[0].FilterChains[0].Filters[0].Proxy.Protocols(); down != "Auto" || up != "Http2" {
			t.Fatalf("Protocols() = %s, %s; want Auto, Http2", down, up)
		}
	}
}

// TestUpstreamHTTP2RefusesWhatItDoesNotHonour: with a listener speaking
// Http2 upstream, an enabled upgrade is an error naming its path; the
// circuit breakers and the whole retry policy (status conditions,
// retry_timeout) are accepted.
func TestUpstreamHTTP2RefusesWhatItDoesNotHonour(t *testing.T) {
	js := strings.Replace(upstreamH2Config, `"route": {"cluster_name": "c"}`,
		`"route": {"cluster_name": "c", "retry_policy": {"retry_on": "5xx,gateway-error,retriable-status-codes,reset", "retriable_status_codes": [429], "retry_timeout": "1s", "num_retries": 2},
		  "upgrade_configs": [{"upgrade_type": "websocket"}]}`, 1)
	js = strings.Replace(js, `{"name": "c", "hosts"`,
		`{"name": "c", "circuit_breakers": [{"max_connections": 10, "max_pending_requests": 5, "max_requests": 100}], "hosts"`, 1)
	c, err := Parse([]byte(js), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{
		"servers[0].routers[0].virtual_hosts[0].routers[0].route.upgrade_configs[0]: not honoured over HTTP/2 upstreams yet (a listener has upstream_protocol Http2): the websocket upgrade",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "circuit_breakers") || strings.Contains(err.Error(), "retry_policy")) {
		t.Errorf("a circuit breaker or the retry policy refused: %v", err)
	}
	// The same config with an Http1 listener is accepted.
	h1, err := Parse([]byte(strings.Replace(js, `"upstream_protocol": "Http2"`, `"upstream_protocol": "Http1"`, 1)), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.Validate(); err != nil {
		t.Fatalf("with Http1 upstreams: %v", err)
	}
}

// TestUpstreamHTTP2RefusesConnect: a CONNECT entry on a listener speaking
// Http2 upstream is refused with what the listener would do instead (501),
// not the upgrade's 101 message.
func TestUpstreamHTTP2RefusesConnect(t *testing.T) {
	js := strings.Replace(upstreamH2Config, `"router_config_name": "r"}`,
		`"router_config_name": "r", "upgrade_configs": [{"upgrade_type": "CONNECT"}]}`, 1)
	c, err := Parse([]byte(js), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	want := "servers[0].listeners[0].filter_chains[0].filters[0].config.upgrade_configs[0]: not honoured over HTTP/2 upstreams yet (a listener has upstream_protocol Http2): CONNECT is terminated only over an HTTP/1.1 upstream connection; this listener would answer CONNECT 501"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate: %v\nwant %q", err, want)
	}
	if strings.Contains(err.Error(), "101") {
		t.Errorf("a CONNECT entry refused with the upgrade's message: %v", err)
	}
}
