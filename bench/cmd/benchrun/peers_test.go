package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPeerConfigs(t *testing.T) {
	ng, err := nginxConfig("127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5003")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server 127.0.0.1:5000;", "listen 127.0.0.1:5001 backlog=4096;",
		"listen 127.0.0.1:5003 http2 backlog=4096;", "worker_processes 2;", "keepalive 1024;"} {
		if !strings.Contains(ng, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
	ha, err := haproxyConfig("127.0.0.1:5000", "127.0.0.1:5002")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server origin 127.0.0.1:5000", "bind 127.0.0.1:5002 backlog 4096", "nbthread 2", "http-reuse always"} {
		if !strings.Contains(ha, want) {
			t.Errorf("haproxy config lacks %q", want)
		}
	}
	if strings.Contains(ng+ha, ":2700") {
		t.Error("a reference port survived the rewrite")
	}
	if _, err := substitute("listen 1;", "127.0.0.1:27001", "x"); err == nil {
		t.Error("substitute accepted text without the reference address")
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
			b, err := ferryConfig("127.0.0.1:6000", "127.0.0.1:6001", tc.h2, "pool")
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Servers []struct {
					Listeners []struct {
						Address      string `json:"address"`
						BindPort     bool   `json:"bind_port"`
						FilterChains []struct {
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
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
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
