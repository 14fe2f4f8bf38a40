package config

import (
	"strings"
	"testing"
	"time"
)

// tcpProxyDoc is a config whose only listener runs a tcp_proxy with the
// given config.
func tcpProxyDoc(tc string) string {
	return `{"servers":[{"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
		{"type":"tcp_proxy","config":` + tc + `}]}]}]}],
	"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:1"}]}` + tlsCluster(tc) + `]}}`
}

// tlsCluster adds a cluster "t" with TLS to its hosts for a config that
// names it.
func tlsCluster(tc string) string {
	if !strings.Contains(tc, `"t"`) {
		return ""
	}
	return `,{"name":"t","tls_context":{"status":true},"hosts":[{"address":"127.0.0.1:2"}]}`
}

func TestTCPProxyConfigParses(t *testing.T) {
	for _, idle := range []string{`"90s"`, `90000000000`} {
		cfg, err := Parse([]byte(tcpProxyDoc(`{"stat_prefix":"s","idle_timeout":`+idle+`,"max_connect_attempts":2,
			"routes":[{"cluster":"c","source_addrs":[{"address":"10.0.0.0","length":8}],"destination_port":"80,8000-9000"}]}`)), FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		tc := cfg.Servers[0].Listeners[0].FilterChains[0].Filters[0].TCPProxy
		if tc == nil || tc.IdleTimeout.Std() != 90*time.Second || tc.MaxConnectAttempts != 2 || len(tc.Routes) != 1 {
			t.Fatalf("decoded %+v", tc)
		}
		p, err := tc.Routes[0].SourceAddrs[0].Prefix()
		if err != nil || p.String() != "10.0.0.0/8" {
			t.Fatalf("prefix %v, %v", p, err)
		}
		ports, err := ParsePorts(tc.Routes[0].DestinationPort)
		if err != nil || len(ports) != 2 || ports[1] != [2]uint16{8000, 9000} {
			t.Fatalf("ports %v, %v", ports, err)
		}
	}
}

func TestTCPProxyConfigErrorsNameThePath(t *testing.T) {
	const fp = "servers[0].listeners[0].filter_chains[0].filters[0].config"
	for _, tc := range []struct{ name, cfg, want string }{
		{"bad CIDR", `{"routes":[{"cluster":"c","source_addrs":[{"address":"10.0.0","length":8}]}]}`,
			fp + `.routes[0].source_addrs[0]: invalid address "10.0.0"`},
		{"long prefix", `{"routes":[{"cluster":"c","destination_addrs":[{"address":"10.0.0.1","length":33}]}]}`,
			fp + `.routes[0].destination_addrs[0]: length 33`},
		{"unknown cluster", `{"cluster":"nope"}`, fp + `.cluster: "nope" names no cluster`},
		{"unknown route cluster", `{"routes":[{"cluster":"nope"}]}`, fp + `.routes[0].cluster: "nope" names no cluster`},
		{"bad idle_timeout", `{"cluster":"c","idle_timeout":"soon"}`, fp + `.idle_timeout: want a duration`},
		{"negative idle_timeout", `{"cluster":"c","idle_timeout":-5}`, fp + `.idle_timeout: want a duration`},
		{"bad port", `{"routes":[{"cluster":"c","source_port":"80-70"}]}`, fp + `.routes[0].source_port: invalid port range`},
		{"nothing to go to", `{}`, fp + `: a cluster or routes are required`},
		{"unknown field", `{"cluster":"c","clusters":"c"}`, fp + `.clusters: unknown field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tcpProxyDoc(tc.cfg)), FormatJSON)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want %q", err, tc.want)
			}
		})
	}
}

// TestTCPProxyToATLSCluster: a tcp_proxy may name a cluster with TLS to
// its hosts (the app dials it with the cluster's TLS dialer); nothing about
// the filter is refused.
func TestTCPProxyToATLSCluster(t *testing.T) {
	cfg := mustParseJSON(t, tcpProxyDoc(`{"cluster":"t"}`))
	if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "filters[0]") {
		t.Fatalf("a tcp_proxy to a TLS cluster is refused: %v", err)
	}
}
