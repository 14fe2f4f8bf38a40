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

// peerExtras are what benchrun adds to a reference config for the cases
// the baselines did not have. Empty fields add nothing.
type peerExtras struct {
	// TLSAddr is an HTTPS listener (HTTP/1.1 and h2 by ALPN) with the
	// certificate in CertFile and KeyFile (nginx) or CombinedFile
	// (HAProxy: certificate and key in one PEM).
	TLSAddr                         string
	CertFile, KeyFile, CombinedFile string
	// H2CAddr is an h2c (prior knowledge) listener (HAProxy; nginx's
	// reference config has its own).
	H2CAddr string
	// AccessLog turns nginx's access_log on, to this file, in its default
	// (combined) format.
	AccessLog string
	// H2Backend makes HAProxy's backend server speak HTTP/2 cleartext
	// with prior knowledge ("proto h2") to an h2c upstream.
	H2Backend bool
}

// nginxConfig returns the nginx config for the given addresses: the
// reference file, plus an HTTPS server block proxying exactly as the
// others do, and the access log when asked.
func nginxConfig(upstream, h1, h2 string, x peerExtras) (string, error) {
	conf, err := substitute(nginxReference, refUpstream, upstream, refNginx, h1, refNginxH2, h2)
	if err != nil {
		return "", err
	}
	if x.AccessLog != "" {
		if conf, err = substitute(conf, "access_log off;", "access_log "+x.AccessLog+";"); err != nil {
			return "", err
		}
	}
	if x.TLSAddr != "" {
		end := strings.LastIndexByte(conf, '}') // closes the http block
		if end < 0 {
			return "", fmt.Errorf("reference nginx config has no closing brace")
		}
		block := fmt.Sprintf(`
    # HTTPS listener added by benchrun (the TLS cases): HTTP/1.1, or h2 by
    # ALPN, same upstream and proxy settings as the listeners above.
    server {
        listen %s ssl http2 backlog=4096;
        ssl_certificate     %s;
        ssl_certificate_key %s;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
        }
    }
`, x.TLSAddr, x.CertFile, x.KeyFile)
		conf = conf[:end] + strings.TrimLeft(block, "\n") + conf[end:]
	}
	return conf, nil
}

// haproxyConfig returns the HAProxy config for the given addresses: the
// reference file, plus an h2c frontend and an HTTPS frontend (ALPN h2 and
// http/1.1) to the same backend when asked, and "proto h2" on the backend
// server for an h2c upstream.
func haproxyConfig(upstream, h1 string, x peerExtras) (string, error) {
	conf, err := substitute(haproxyReference, refUpstream, upstream, refHAProxy, h1)
	if err != nil {
		return "", err
	}
	if x.H2Backend {
		server := "server origin " + upstream
		if conf, err = substitute(conf, server, server+" proto h2"); err != nil {
			return "", err
		}
	}
	if x.H2CAddr != "" {
		conf += fmt.Sprintf(`
# h2c (prior knowledge) frontend added by benchrun (the HTTP/2 cases)
frontend fe_h2c
    bind %s proto h2 backlog 4096
    maxconn 10100
    default_backend be
`, x.H2CAddr)
	}
	if x.TLSAddr != "" {
		conf += fmt.Sprintf(`
# HTTPS frontend added by benchrun (the TLS cases): ALPN h2 or http/1.1
frontend fe_tls
    bind %s ssl crt %s alpn h2,http/1.1 backlog 4096
    maxconn 10100
    default_backend be
`, x.TLSAddr, x.CombinedFile)
	}
	return conf, nil
}

// ferryOpts describes one ferry target's config.
type ferryOpts struct {
	upstream, h1, h2 string // h2 "" = no h2c listener
	policy           string // scheduler policy
	// tlsAddr, when set, is an Auto listener (ALPN h2 or http/1.1; no
	// ALPN: sniffed) terminating TLS with certFile and keyFile.
	tlsAddr, certFile, keyFile string
	// metricsPort > 0 turns the prometheus sink on at that port.
	metricsPort int
	// accessLog, when set, gives the HTTP/1.1 listener an access log to
	// that file in MOSN's default format.
	accessLog string
	// healthCheck turns on an HTTP/1.1 health check of the upstream host
	// every healthInterval (GET /0).
	healthCheck bool
	// upstreamProto is every listener's upstream_protocol: "" means
	// Http1; "Http2" is h2c with prior knowledge to a plain cluster.
	upstreamProto string
}

// healthInterval is ferry-hc's health-check interval: ten probes a
// second, harsher than the usual seconds, so that a cost would show.
const healthInterval = "100ms"

// ferryMaxConnections is the downstream connection cap in every ferry
// config the harness writes (ferry.max_connections): above the 5,000 of
// 1k-c5000 and the 10,000 idle clients, below the 20,000 descriptors.
const ferryMaxConnections = 19000

// ferryConfig returns ferry's MOSN-v2-style JSON config with one HTTP/1.1
// listener on o.h1 (and an h2c listener on o.h2, a TLS one on o.tlsAddr,
// when set) proxying to o.upstream in o.upstreamProto, with the given
// scheduler policy.
func ferryConfig(o ferryOpts) ([]byte, error) {
	type obj = map[string]any
	upstreamProto := o.upstreamProto
	if upstreamProto == "" {
		upstreamProto = "Http1"
	}
	listener := func(name, addr, downstream string) obj {
		return obj{
			"name": name, "address": addr, "bind_port": true,
			"filter_chains": []obj{{"filters": []obj{{
				"type": "proxy",
				"config": obj{
					"downstream_protocol": downstream, "upstream_protocol": upstreamProto,
					"router_config_name": "r",
				},
			}}}},
		}
	}
	h1 := listener("http", o.h1, "Http1")
	if o.accessLog != "" {
		h1["access_logs"] = []obj{{"log_path": o.accessLog}}
	}
	listeners := []obj{h1}
	if o.h2 != "" {
		listeners = append(listeners, listener("h2c", o.h2, "Http2"))
	}
	if o.tlsAddr != "" {
		l := listener("https", o.tlsAddr, "Auto")
		l["filter_chains"].([]obj)[0]["tls_context"] = obj{
			"status": true, "cert_chain": o.certFile, "private_key": o.keyFile,
		}
		listeners = append(listeners, l)
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
			"hosts": []obj{{"address": o.upstream}},
		}}},
		"ferry": obj{"scheduler": obj{"policy": o.policy}, "max_connections": ferryMaxConnections},
		// Every ferry target's config sits in one directory: without this
		// they would share reconfig.sock (uds_dir's default), and the
		// second to start would be refused as a ferry of another config.
		"disable_upgrade": true,
	}
	if o.healthCheck {
		cfg["cluster_manager"].(obj)["clusters"].([]obj)[0]["health_check"] = obj{
			"protocol": "Http1", "interval": healthInterval, "timeout": "50ms", "healthy_threshold": 1, "unhealthy_threshold": 3,
			"check_config": obj{"http_check_config": obj{"path": "/0"}},
		}
	}
	if o.metricsPort > 0 {
		cfg["metrics"] = obj{"sinks": []obj{{"type": "prometheus", "config": obj{"port": o.metricsPort}}}}
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
