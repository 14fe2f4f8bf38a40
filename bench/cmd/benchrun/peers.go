package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The peer configurations are verbatim copies of
// /work/shared/bench-reference/{nginx-proxy.conf,haproxy.cfg}, the files
// the baselines were measured with. Only their example ports are
// rewritten, so the peers run exactly as tuned there.
var (
	//go:embed peers/nginx-proxy.conf
	nginxReference string
	//go:embed peers/haproxy.cfg
	haproxyReference string
)

// Example addresses used in the reference files.
const (
	refUpstream = "127.0.0.1:27000"
	refNginx    = "127.0.0.1:27001"
	refHAProxy  = "127.0.0.1:27002"
	refNginxH2  = "127.0.0.1:27003"
)

// substitute replaces each old address with its new one and fails if an
// old address does not occur (the reference file changed shape).
func substitute(text string, pairs ...string) (string, error) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			return "", fmt.Errorf("reference config has no %q to rewrite", pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text, nil
}

// nginxConfig returns the nginx config for the given addresses.
func nginxConfig(upstream, h1, h2 string) (string, error) {
	return substitute(nginxReference, refUpstream, upstream, refNginx, h1, refNginxH2, h2)
}

// haproxyConfig returns the HAProxy config for the given addresses.
func haproxyConfig(upstream, h1 string) (string, error) {
	return substitute(haproxyReference, refUpstream, upstream, refHAProxy, h1)
}

// ferryConfig returns ferry's MOSN-v2-style JSON config with one HTTP/1.1
// listener on h1 (and an h2c listener on h2 when h2 != "") proxying to
// upstream, with the given scheduler policy.
func ferryConfig(upstream, h1, h2, policy string) ([]byte, error) {
	type obj = map[string]any
	listener := func(name, addr, downstream string) obj {
		return obj{
			"name": name, "address": addr, "bind_port": true,
			"filter_chains": []obj{{"filters": []obj{{
				"type": "proxy",
				"config": obj{
					"downstream_protocol": downstream, "upstream_protocol": "Http1",
					"router_config_name": "r",
				},
			}}}},
		}
	}
	listeners := []obj{listener("http", h1, "Http1")}
	if h2 != "" {
		listeners = append(listeners, listener("h2c", h2, "Http2"))
	}
	cfg := obj{
		"servers": []obj{{
			"default_log_path": "stderr",
			"routers": []obj{{
				"router_config_name": "r",
				"virtual_hosts": []obj{{
					"name": "all", "domains": []string{"*"},
					"routers": []obj{{"match": obj{"prefix": "/"}, "route": obj{"cluster_name": "origin"}}},
				}},
			}},
			"listeners": listeners,
		}},
		"cluster_manager": obj{"clusters": []obj{{
			"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
			"hosts": []obj{{"address": upstream}},
		}}},
		"ferry": obj{"scheduler": obj{"policy": policy}, "max_connections": 19000},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// writeFile writes data to dir/name, creating dir, and returns the path.
func writeFile(dir, name string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	return path, nil
}
