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
