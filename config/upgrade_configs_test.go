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
		{"CONNECT", `[{"upgrade_type":"CONNECT"}]`, `[]`, pp + "[0].upgrade_type: CONNECT tunnelling is not supported"},
		{"not a token", `[]`, `[{"upgrade_type":"web socket"}]`, rp + `[0].upgrade_type: invalid protocol token "web socket"`},
		{"twice", `[{"upgrade_type":"websocket"},{"upgrade_type":"WebSocket"}]`, `[]`, pp + `[1].upgrade_type: "WebSocket" is listed twice`},
		{"unknown field", `[{"upgrade_type":"websocket","connect_config":{}}]`, `[]`, pp + "[0].connect_config: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(upgradeDoc(tc.proxy, tc.route)), FormatJSON)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want %q", err, tc.want)
			}
		})
	}
}
