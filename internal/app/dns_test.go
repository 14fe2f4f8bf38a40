package app

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/config"
)

// dnsCfg is a config whose cluster "c" is of type typ with its one host
// "localhost:PORT" (resolved from /etc/hosts: no DNS server is needed) and
// extra cluster fields.
func dnsCfg(t *testing.T, typ, port, extra string) string {
	t.Helper()
	return fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","type":%q,"dns_lookup_family":"V4_ONLY"%s,
		"hosts":[{"address":"localhost:%s"}]}]}}`, typ, extra, port)
}

// TestDNSClusterResolvesItsNames: a STRICT_DNS (and a LOGICAL_DNS)
// cluster's host name is resolved at start into the addresses that serve,
// and a reload that keeps the name keeps the hosts (their *Host, so their
// pools and counters).
func TestDNSClusterResolvesItsNames(t *testing.T) {
	up := echoUpstream(t)
	_, port, _ := net.SplitHostPort(up)
	for _, typ := range []string{"STRICT_DNS", "LOGICAL_DNS"} {
		t.Run(typ, func(t *testing.T) {
			a := startApp(t, mustConfig(t, dnsCfg(t, typ, port, `,"dns_refresh_rate":"1h"`)))
			if code, body := get(t, a, "/x"); code != 200 || body != "upstream /x" {
				t.Fatalf("through the DNS cluster: %d %q", code, body)
			}
			c := a.clusters.Get("c")
			if n := len(c.Hosts()); n != 1 || c.Hosts()[0].Address() != "127.0.0.1:"+port {
				t.Fatalf("hosts %v, want localhost's IPv4 address", c.Hosts())
			}
			host := c.Hosts()[0]
			if err := a.Reload(mustConfig(t, dnsCfg(t, typ, port, `,"dns_refresh_rate":"1h","connect_timeout":"2s"`))); err != nil {
				t.Fatal(err)
			}
			if got := a.clusters.Get("c").Hosts(); len(got) != 1 || got[0] != host {
				t.Fatalf("after a reload keeping the name: hosts %v, want the same *Host", got)
			}
			if code, _ := get(t, a, "/y"); code != 200 {
				t.Fatalf("after reload: %d", code)
			}
		})
	}
}

// TestDNSSettingsFailClosed: what ferry cannot honour for a DNS cluster
// is refused, naming the field.
func TestDNSSettingsFailClosed(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{`,"respect_dns_ttl":true`, "cluster_manager.clusters[0].respect_dns_ttl: not implemented"},
		{`,"dns_lookup_family":"V4_PREFERRED"`, `cluster_manager.clusters[0].dns_lookup_family: "V4_PREFERRED" is not supported`},
		{`,"dns_resolvers":{"servers":["10.0.0.53"]}`, "cluster_manager.clusters[0].dns_resolvers: not implemented"},
		{`,"dns_refresh_rate":"0s"`, "cluster_manager.clusters[0].dns_refresh_rate: must be positive"},
	} {
		js := dnsCfg(t, "STRICT_DNS", "80", tc.extra)
		js = strings.Replace(js, `"dns_lookup_family":"V4_ONLY",`, "", 1)
		cfg, err := config.Parse([]byte(js), config.FormatJSON)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.extra, err, tc.want)
		}
	}
}

// TestDNSClusterTLSNeedsServerName: a DNS cluster's hosts are dialled at
// resolved addresses, so TLS to them must be told the name to verify.
func TestDNSClusterTLSNeedsServerName(t *testing.T) {
	js := dnsCfg(t, "STRICT_DNS", "443", `,"tls_context":{"status":true}`)
	cfg, err := config.Parse([]byte(js), config.FormatJSON)
	if err == nil {
		err = cfg.Validate()
	}
	if want := "cluster_manager.clusters[0].tls_context.server_name: required by the DNS cluster"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%v; want %q", err, want)
	}
	mustConfig(t, dnsCfg(t, "STRICT_DNS", "443", `,"tls_context":{"status":true,"server_name":"localhost"}`))
}
