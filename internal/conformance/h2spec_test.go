package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/apptest"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// h2specConfig is ferry with an HTTP/2-only (h2c) listener in front of a
// plain upstream.
const h2specConfig = `{
  "servers": [{
    "routers": [{"router_config_name": "h2", "virtual_hosts": [{"name": "all", "domains": ["*"],
      "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "up", "timeout": "2s"}}]}]}],
    "listeners": [{"name": "h2", "address": "127.0.0.1:0", "bind_port": true,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {
        "downstream_protocol": "Http2", "upstream_protocol": "Http1", "router_config_name": "h2"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "up", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
    "connect_timeout": "1s", "hosts": [{"address": "%UPSTREAM%"}]}]},
  "ferry": {"event_loops": 2, "timeouts": {"lingering_close": "1s"}}
}`

// h2specSummary is h2spec's last line.
var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestH2Spec runs h2spec (github.com/summerwind/h2spec, every test of RFC
// 7540 and RFC 7541 it has) against an Http2 listener. make test installs
// it and names it in FERRY_H2SPEC; a plain go test without it skips.
func TestH2Spec(t *testing.T) {
	runH2Spec(t, h2specConfig)
}

// TestH2SpecOverTLS runs the same suite over TLS (h2spec -t -k): h2
// negotiated by ALPN on a listener that terminates TLS, with the same
// ECDSA P-256 test certificate the TLS tests use.
func TestH2SpecOverTLS(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	chain, _ := json.Marshal(string(cert.CertPEM))
	key, _ := json.Marshal(string(cert.KeyPEM))
	tlsCtx := `"tls_context": {"status": true, "cert_chain": ` + string(chain) + `, "private_key": ` + string(key) + `},`
	runH2Spec(t, strings.Replace(h2specConfig, `"filter_chains": [{`, `"filter_chains": [{`+tlsCtx, 1), "-t", "-k")
}

// runH2Spec starts ferry on cfg (with %UPSTREAM% replaced by a plain
// upstream) and runs h2spec against its listener with extra arguments,
// failing unless every test of the suite passes.
func runH2Spec(t *testing.T, cfg string, extra ...string) {
	t.Helper()
	bin := os.Getenv("FERRY_H2SPEC")
	if bin == "" {
		t.Skip("FERRY_H2SPEC is not set (make test installs h2spec and sets it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("FERRY_H2SPEC=%s: %v", bin, err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("h2spec"))
	}))
	t.Cleanup(up.Close)
	a := apptest.Start(t, []byte(strings.Replace(cfg, "%UPSTREAM%", up.Listener.Addr().String(), 1)))
	host, port, _ := strings.Cut(a.Addrs()[0].String(), ":")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-h", host, "-p", port, "-P", "/h2spec", "-o", "3"}, extra...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	m := h2specSummary.FindSubmatch(out)
	if m == nil {
		t.Fatalf("h2spec gave no summary (err %v):\n%s", err, out)
	}
	total, _ := strconv.Atoi(string(m[1]))
	passed, _ := strconv.Atoi(string(m[2]))
	failed, _ := strconv.Atoi(string(m[4]))
	t.Logf("h2spec %v: %s", extra, m[0])
	if failed > 0 || err != nil {
		t.Fatalf("h2spec: %s (exit %v):\n%s", m[0], err, out)
	}
	if total < 145 || passed != total {
		t.Fatalf("h2spec ran %d tests, %d passed; the suite has 145", total, passed)
	}
}
