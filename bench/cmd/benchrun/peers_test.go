package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ferrycfg "github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestPeerConfigs(t *testing.T) {
	ng, err := nginxConfig("127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5003", peerExtras{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "nginx config", ng, "server 127.0.0.1:5000;", "listen 127.0.0.1:5001 backlog=4096;",
		"listen 127.0.0.1:5003 http2 backlog=4096;", "worker_processes 2;", "keepalive 1024;")
	ha, err := haproxyConfig("127.0.0.1:5000", "127.0.0.1:5002", peerExtras{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "haproxy config", ha, "server origin 127.0.0.1:5000", "bind 127.0.0.1:5002 backlog 4096", "nbthread 2", "http-reuse always")
	if strings.Contains(ng+ha, ":2700") {
		t.Error("a reference port survived the rewrite")
	}
	if _, err := substitute("listen 1;", "127.0.0.1:27001", "x"); err == nil {
		t.Error("substitute accepted text without the reference address")
	}
	if strings.Contains(ng, "ssl") || strings.Contains(ha, "frontend fe_tls") || strings.Contains(ha, "proto h2") {
		t.Error("extras were added without being asked for")
	}
}

// TestPeerConfigExtras: the TLS listeners serve the given certificate with
// the reference proxying settings, HAProxy gets an h2c frontend, and
// nginx's access log goes to the file.
func TestPeerConfigExtras(t *testing.T) {
	x := peerExtras{TLSAddr: "127.0.0.1:5004", CertFile: "/t/cert.pem", KeyFile: "/t/key.pem", CombinedFile: "/t/combined.pem",
		H2CAddr: "127.0.0.1:5005", AccessLog: "/t/access.log"}
	ng, err := nginxConfig("127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5003", x)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "nginx config", ng, "listen 127.0.0.1:5004 ssl http2 backlog=4096;", "ssl_certificate     /t/cert.pem;",
		"ssl_certificate_key /t/key.pem;", "access_log /t/access.log;")
	if strings.Contains(ng, "access_log off;") || strings.Count(ng, "proxy_pass http://origin;") != 3 {
		t.Errorf("nginx config:\n%s", ng)
	}
	// The TLS server block sits inside the http block: the file still ends with its brace.
	if i, j := strings.Index(ng, "listen 127.0.0.1:5004"), strings.LastIndexByte(ng, '}'); i < 0 || i > j {
		t.Errorf("TLS block outside the http block:\n%s", ng)
	}
	ha, err := haproxyConfig("127.0.0.1:5000", "127.0.0.1:5002", x)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "haproxy config", ha, "bind 127.0.0.1:5005 proto h2 backlog 4096",
		"bind 127.0.0.1:5004 ssl crt /t/combined.pem alpn h2,http/1.1 backlog 4096")
	if strings.Count(ha, "default_backend be") != 3 {
		t.Errorf("every frontend must use the reference backend:\n%s", ha)
	}
}

// benchFerryConfig is the part of ferryConfig's output the tests read.
type benchFerryConfig struct {
	Servers []struct {
		Listeners []struct {
			Address    string `json:"address"`
			BindPort   bool   `json:"bind_port"`
			AccessLogs []struct {
				LogPath string `json:"log_path"`
			} `json:"access_logs"`
			FilterChains []struct {
				TLS *struct {
					Status     bool   `json:"status"`
					CertChain  string `json:"cert_chain"`
					PrivateKey string `json:"private_key"`
				} `json:"tls_context"`
				Filters []struct {
					Type   string            `json:"type"`
					Config map[string]string `json:"config"`
				} `json:"filters"`
			} `json:"filter_chains"`
		} `json:"listeners"`
	} `json:"servers"`
	ClusterManager struct {
		Clusters []struct {
			Hosts []struct{ Address string } `json:"hosts"`
		} `json:"clusters"`
	} `json:"cluster_manager"`
	Ferry struct {
		Scheduler      struct{ Policy string } `json:"scheduler"`
		MaxConnections int                     `json:"max_connections"`
	} `json:"ferry"`
	Metrics struct {
		Sinks []struct {
			Type   string             `json:"type"`
			Config struct{ Port int } `json:"config"`
		} `json:"sinks"`
	} `json:"metrics"`
}

// parseFerryConfig writes ferry's config for o and parses it back,
// returning the text too for failure messages.
func parseFerryConfig(t *testing.T, o ferryOpts) (benchFerryConfig, []byte) {
	t.Helper()
	b, err := ferryConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	var cfg benchFerryConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, b
}

// TestFerryConfigVariants: the TLS listener, the prometheus sink and the
// access log land where ferry's config reads them.
func TestFerryConfigVariants(t *testing.T) {
	cfg, b := parseFerryConfig(t, ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", policy: "auto",
		tlsAddr: "127.0.0.1:6004", certFile: "/t/c.pem", keyFile: "/t/k.pem", metricsPort: 9999, accessLog: "/t/a.log"})
	ls := cfg.Servers[0].Listeners
	if len(ls) != 2 || len(ls[0].AccessLogs) != 1 || ls[0].AccessLogs[0].LogPath != "/t/a.log" || ls[0].FilterChains[0].TLS != nil {
		t.Fatalf("listeners: %s", b)
	}
	tl := ls[1].FilterChains[0]
	if ls[1].Address != "127.0.0.1:6004" || tl.TLS == nil || !tl.TLS.Status || tl.TLS.CertChain != "/t/c.pem" ||
		tl.TLS.PrivateKey != "/t/k.pem" || tl.Filters[0].Config["downstream_protocol"] != "Auto" || len(ls[1].AccessLogs) != 0 {
		t.Fatalf("TLS listener: %s", b)
	}
	if len(cfg.Metrics.Sinks) != 1 || cfg.Metrics.Sinks[0].Type != "prometheus" || cfg.Metrics.Sinks[0].Config.Port != 9999 {
		t.Fatalf("metrics: %s", b)
	}
	plain, err := ferryConfig(ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", policy: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"metrics", "access_logs", "tls_context"} {
		if strings.Contains(string(plain), no) {
			t.Errorf("plain config has %q: %s", no, plain)
		}
	}
}

// TestFerryConfigsValidate: every config the harness writes for a ferry
// target passes ferry's own validation (what "ferry start" runs), and
// ferry-hc's health check lands on the cluster with the probe the
// upstream answers (GET /0) and the interval the report states.
func TestFerryConfigsValidate(t *testing.T) {
	base := ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", policy: "auto"}
	all := base
	all.h2, all.tlsAddr, all.certFile, all.keyFile = "127.0.0.1:6003", "127.0.0.1:6004", "c.pem", "k.pem"
	health := base
	health.healthCheck = true
	h2up := base
	h2up.upstreamProto = "Http2"
	logged := base
	logged.accessLog, logged.metricsPort = filepath.Join(t.TempDir(), "a.log"), 9999
	for name, o := range map[string]ferryOpts{"base": base, "health": health, "h2up": h2up, "logged": logged, "tls": all} {
		t.Run(name, func(t *testing.T) {
			b, err := ferryConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ferrycfg.Parse(b, ferrycfg.FormatJSON)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, b)
			}
			if o.tlsAddr != "" {
				return // the certificate files do not exist: Validate would (rightly) refuse them
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("validate: %v\n%s", err, b)
			}
			hc := cfg.ClusterManager.Clusters[0].HealthCheck
			if o.healthCheck != (hc != nil) {
				t.Fatalf("health_check present %v, want %v:\n%s", hc != nil, o.healthCheck, b)
			}
			if hc != nil && (hc.Protocol != "Http1" || hc.Interval.Std() != 100*time.Millisecond ||
				!strings.Contains(string(b), `"path": "/0"`) || healthInterval != "100ms") {
				t.Fatalf("health_check %+v:\n%s", hc, b)
			}
		})
	}
}

func TestFerryConfig(t *testing.T) {
	tests := []struct {
		name, h2  string
		listeners int
	}{
		{name: "h1 only", listeners: 1},
		{name: "with h2c", h2: "127.0.0.1:6003", listeners: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, b := parseFerryConfig(t, ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", h2: tc.h2, policy: "pool"})
			ls := cfg.Servers[0].Listeners
			if len(ls) != tc.listeners || ls[0].Address != "127.0.0.1:6001" || !ls[0].BindPort {
				t.Fatalf("listeners %+v", ls)
			}
			f := ls[len(ls)-1].FilterChains[0].Filters[0]
			wantProto := map[bool]string{true: "Http2", false: "Http1"}[tc.h2 != ""]
			if f.Type != "proxy" || f.Config["downstream_protocol"] != wantProto || f.Config["router_config_name"] != "r" {
				t.Fatalf("filter %+v", f)
			}
			if cfg.ClusterManager.Clusters[0].Hosts[0].Address != "127.0.0.1:6000" ||
				cfg.Ferry.Scheduler.Policy != "pool" || cfg.Ferry.MaxConnections != 19000 {
				t.Fatalf("config %s", b)
			}
		})
	}
}

// TestH2UpstreamConfigs: for h2up-1k-c50, ferry's listener proxies with
// upstream_protocol Http2 (the default stays Http1) and HAProxy's backend
// server gets "proto h2", nothing else added.
func TestH2UpstreamConfigs(t *testing.T) {
	cfg, b := parseFerryConfig(t, ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", policy: "auto", upstreamProto: "Http2"})
	ls := cfg.Servers[0].Listeners
	if len(ls) != 1 {
		t.Fatalf("listeners: %s", b)
	}
	f := ls[0].FilterChains[0].Filters[0].Config
	if f["downstream_protocol"] != "Http1" || f["upstream_protocol"] != "Http2" ||
		cfg.ClusterManager.Clusters[0].Hosts[0].Address != "127.0.0.1:6000" {
		t.Fatalf("config: %s", b)
	}
	plain, err := ferryConfig(ferryOpts{upstream: "127.0.0.1:6000", h1: "127.0.0.1:6001", policy: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `"upstream_protocol": "Http1"`) || strings.Contains(string(plain), "Http2") {
		t.Errorf("default config: %s", plain)
	}

	ha, err := haproxyConfig("127.0.0.1:5000", "127.0.0.1:5002", peerExtras{H2Backend: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ha, "server origin 127.0.0.1:5000 proto h2\n") || strings.Count(ha, "proto h2") != 1 ||
		strings.Contains(ha, "frontend fe_h2c") || strings.Contains(ha, "frontend fe_tls") {
		t.Errorf("haproxy config:\n%s", ha)
	}
}
