package app

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// TestBuildCircuitBreakersAndRetryPolicy: circuit_breakers[0] becomes the
// cluster's cluster-wide Thresholds, and a route's retry_policy its
// router.RetryPolicy (retry_on true: connect failure, reset and 5xx).
func TestBuildCircuitBreakersAndRetryPolicy(t *testing.T) {
	cfg := mustConfig(t, `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
	  "routers":[{"match":{"prefix":"/a"},"route":{"cluster_name":"c","retry_policy":{"retry_on":true,"num_retries":3,"retry_timeout":"250ms"}}},
	             {"match":{"prefix":"/b"},"route":{"cluster_name":"c","retry_policy":{"retry_on":"retriable-status-codes,reset","retriable_status_codes":[503],
	               "retry_back_off":{"base_interval":"10ms"},"retry_buffer_limit_bytes":100,"retry_non_idempotent":true}}},
	             {"match":{"prefix":"/"},"route":{"cluster_name":"c","retry_policy":{"retry_on":false}}}]}]}],
	  "listeners":[{"name":"l","address":"127.0.0.1:0","bind_port":true,"filter_chains":[{"filters":[{"type":"proxy",
	  "config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
	 "cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:1"}],
	  "circuit_breakers":[{"max_connections":10,"max_pending_requests":20,"max_requests":30,"max_retries":4}]}]}}`)
	specs, err := clusterSpecs(&cfg.ClusterManager, &metricIDs{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (upstream.Thresholds{MaxConnections: 10, MaxPendingRequests: 20, MaxRequests: 30, MaxRetries: 4}); specs[0].Breakers != want {
		t.Fatalf("breakers %+v, want %+v", specs[0].Breakers, want)
	}
	tables, err := routeTables(cfg.Servers, &metricIDs{})
	if err != nil {
		t.Fatal(err)
	}
	var h router.HeaderGetter
	route := func(path string) *router.RetryPolicy {
		rt := tables["r"].Match([]byte("x"), []byte(path), h)
		if rt == nil {
			t.Fatalf("%s: no route", path)
		}
		return rt.Cluster().Retry
	}
	a := route("/a")
	if a == nil || a.On != router.RetryConnectFailure|router.RetryReset|router.Retry5xx || a.NumRetries != 3 ||
		a.PerTryTimeout != 250*time.Millisecond || a.BackOffBase != router.DefaultRetryBackOffBase || a.BufferLimit != router.DefaultRetryBufferLimit {
		t.Fatalf("retry_on true: %+v", a)
	}
	b := route("/b")
	if b == nil || b.On != router.RetryStatusCodes|router.RetryReset || !b.RetriableStatus(503) || b.NumRetries != 1 ||
		b.BackOffBase != 10*time.Millisecond || b.BackOffMax != 100*time.Millisecond || b.BufferLimit != 100 || !b.NonIdempotent {
		t.Fatalf("conditions: %+v", b)
	}
	if p := route("/"); p != nil {
		t.Fatalf("retry_on false: %+v, want no policy", p)
	}
}
