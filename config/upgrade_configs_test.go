package config

import (
	"strings"
	"testing"
)

// upgradeDoc is a one-listener config whose proxy filter has the given
// upgrade_configs and whose only route has routeUCs.
func upgradeDoc(proxyUCs, routeUCs string) string {
	return `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c","upgrade_configs":` + routeUCs + `}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
		{"type":"proxy","config":{"router_config_name":"r","upgrade_configs":` + proxyUCs + `}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:1"}]}]}}`
}

func TestUpgradeConfigsParse(t *testing.T) {
	cfg, err := Parse([]byte(upgradeDoc(`[{"upgrade_type":"websocket","enabled":false},{"upgrade_type":"h2c"}]`,
		`[{"upgrade_type":"WebSocket","enabled":true}]`)), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ucs := cfg.Servers[0].Listeners[0].FilterChains[0].Filters[0].Proxy.UpgradeConfigs
	if len(ucs) != 2 || ucs[0].On() || !ucs[1].On() {
		t.Fatalf("decoded %+v", ucs)
	}
	if r := cfg.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Route.UpgradeConfigs; len(r) != 1 || !r[0].On() {
		t.Fatalf("route's %+v", r)
	}
}

func TestUpgradeConfigsErrorsNameThePath(t *testing.T) {
	const pp = "servers[0].listeners[0].filter_chains[0].filters[0].config.upgrade_configs"
	const rp = "servers[0].routers[0].virtual_hosts[0].routers[0].route.upgrade_configs"
	for _, tc := range []struct{ name, proxy, route, want string }{
		{"missing type", `[{"enabled":true}]`, `[]`, pp + "[0].upgrade_type: required"},
		{"not a token", `[]`, `[{"upgrade_type":"web socket"}]`, rp + `[0].upgrade_type: invalid protocol token "web socket"`},
		{"twice", `[{"upgrade_type":"websocket"},{"upgrade_type":"WebSocket"}]`, `[]`, pp + `[1].upgrade_type: "WebSocket" is listed twice`},
		{"unknown field", `[{"upgrade_type":"websocket","connect":{}}]`, `[]`, pp + "[0].connect: unknown field"},
		{"connect_config off CONNECT", `[{"upgrade_type":"websocket","connect_config":{}}]`, `[]`, pp + `[0].connect_config: only for upgrade_type CONNECT, not "websocket"`},
		{"allow_post", `[{"upgrade_type":"CONNECT","connect_config":{"allow_post":true}}]`, `[]`, pp + "[0].connect_config.allow_post: "},
		{"proxy_protocol_config", `[{"upgrade_type":"CONNECT","connect_config":{"proxy_protocol_config":{"version":"V1"}}}]`, `[]`, pp + "[0].connect_config.proxy_protocol_config: "},
		{"CONNECT on a path route", `[]`, `[{"upgrade_type":"CONNECT"}]`, rp + "[0]: CONNECT requests reach only routes whose match has connect_matcher"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantConfigError(t, upgradeDoc(tc.proxy, tc.route), tc.want) })
	}
}

// connectDoc is a config whose proxy filter enables CONNECT and whose
// first route matches CONNECT requests, with route (the rest of the
// route object after its match) and match (more keys of the match).
func connectDoc(match, route string) string {
	return `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"connect_matcher":{}` + match + `},` + route + `},{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
		{"type":"proxy","config":{"router_config_name":"r","upgrade_configs":[{"upgrade_type":"CONNECT","connect_config":{}}]}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:1"}]}]}}`
}

// TestConnectConfig: CONNECT enabled on the proxy filter with a
// connect_matcher route validates; what a CONNECT route cannot honour
// (a path, a query, request rewrites and header mutations, retries,
// mirrors, a redirect) is refused naming its path.
func TestConnectConfig(t *testing.T) {
	cfg, err := Parse([]byte(connectDoc("", `"route":{"cluster_name":"c","timeout":"5s","upgrade_configs":[{"upgrade_type":"connect","enabled":false}]}`)), FormatJSON)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Match; m.ConnectMatcher == nil {
		t.Fatalf("connect_matcher not decoded: %+v", m)
	}
	const rp = "servers[0].routers[0].virtual_hosts[0].routers[0]"
	for _, tc := range []struct{ name, match, route, want string }{
		{"prefix", `,"prefix":"/"`, `"route":{"cluster_name":"c"}`, rp + ".match.prefix: a CONNECT request has no path or query"},
		{"regex", `,"regex":".*"`, `"route":{"cluster_name":"c"}`, rp + ".match.regex: a CONNECT request has no path or query"},
		{"query", `,"query_parameters":[{"name":"a"}]`, `"route":{"cluster_name":"c"}`, rp + ".match.query_parameters: "},
		{"retry", ``, `"route":{"cluster_name":"c","retry_policy":{"retry_on":true}}`, rp + ".route.retry_policy: not honoured for CONNECT"},
		{"host rewrite", ``, `"route":{"cluster_name":"c","host_rewrite":"h"}`, rp + ".route.host_rewrite: not honoured for CONNECT"},
		{"request headers", ``, `"route":{"cluster_name":"c","request_headers_to_add":[{"header":{"key":"a","value":"b"}}]}`, rp + ".route.request_headers_to_add: not honoured for CONNECT"},
		{"mirror", ``, `"route":{"cluster_name":"c"},"request_mirror_policies":{"cluster":"c","percent":100}`, rp + ".request_mirror_policies: a tunnel is not mirrored"},
		{"redirect", ``, `"redirect":{"host_redirect":"h"}`, rp + ".redirect: a CONNECT request has no path to redirect"},
		{"unknown field", `,"x":1`, `"route":{"cluster_name":"c"}`, rp + ".match.x: unknown field"},
		{"connect_matcher field", ``, `"route":{"cluster_name":"c"}},{"match":{"connect_matcher":{"a":1}},"route":{"cluster_name":"c"}`, "routers[1].match.connect_matcher.a: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantConfigError(t, connectDoc(tc.match, tc.route), tc.want) })
	}
}

// wantConfigError parses and validates the JSON doc, which must fail
// with an error containing want.
func wantConfigError(t *testing.T, doc, want string) {
	t.Helper()
	cfg, err := Parse([]byte(doc), FormatJSON)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v; want %q", err, want)
	}
}
