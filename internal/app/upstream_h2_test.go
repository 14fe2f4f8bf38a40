package app

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestUpstreamProtocolHttp2: a proxy filter with upstream_protocol Http2
// speaks h2c to its cluster's hosts.
func TestUpstreamProtocolHttp2(t *testing.T) {
	ln := testutil.Listen(t)
	testutil.ServeH2C(t, ln, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto+" "+r.URL.Path)
	})})

	a := startApp(t, mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","upstream_protocol":"Http2","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]}]}}`, ln.Addr().String())))
	if code, body := get(t, a, "/x"); code != 200 || body != "HTTP/2.0 /x" {
		t.Fatalf("%d %q, want the upstream to see HTTP/2.0", code, body)
	}
}
