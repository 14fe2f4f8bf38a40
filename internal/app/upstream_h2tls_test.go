package app

import (
	"crypto/tls"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// HTTP/2 to upstreams over TLS (docs/tls.md, "Upstream TLS"): a proxy with
// upstream_protocol Http2 reaches a cluster with TLS in h2 chosen by ALPN,
// never h2c in plain text.

// h2TLSConfig routes / of a plain HTTP/1.1 listener speaking Http2 upstream
// to cluster c of host addr, whose tls_context ends with ctx.
func h2TLSConfig(t *testing.T, addr, ctx string) *config.Config {
	t.Helper()
	cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","upstream_protocol":"Http2","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}],"tls_context":{"status":true%s}}]}}`, addr, ctx))
	cfg.ApplyDefaults()
	return cfg
}

// newH2TLSUpstream is net/http over TLS with HTTP/2 enabled (h2 offered
// by ALPN when h2 is set, HTTP/1.1 only otherwise), answering with the
// protocol, scheme and ALPN it saw.
func newH2TLSUpstream(t *testing.T, cert *testutil.Cert, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s alpn=%s body=%d", r.Proto, r.Header.Get("X-Forwarded-Proto"), r.TLS.NegotiatedProtocol, len(body))
	}))
	srv.EnableHTTP2 = h2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestUpstreamH2OverTLS: requests reach a TLS upstream in HTTP/2 chosen by
// ALPN, several on one connection, with bodies; the handshake is counted
// on the cluster.
func TestUpstreamH2OverTLS(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM})
	up := newH2TLSUpstream(t, cert, true)
	a := startApp(t, h2TLSConfig(t, up.Listener.Addr().String(), `,"ca_cert":`+quote(files["ca.pem"])))
	url := "http://" + a.Addrs()[0].String() + "/"
	for i := range 3 {
		code, body := testutil.Fetch(t, http.MethodGet, url)
		if code != http.StatusOK || !strings.HasPrefix(body, "HTTP/2.0 ") || !strings.Contains(body, "alpn=h2") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	resp, err := http.Post(url, "text/plain", strings.NewReader(strings.Repeat("b", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "body=102400") {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if s := a.UpstreamTLSStats("c"); s == nil || s.Handshakes.Load() != 1 || s.HandshakeErrors.Load() != 0 {
		t.Fatalf("stats %+v: want one handshake (one multiplexed connection)", s)
	}
}

// TestUpstreamH2OverTLSRefusedWithoutALPN: a TLS upstream that does not
// choose h2 is never sent HTTP/2, and the request is answered 503: one
// that speaks HTTP/1.1 only refuses the handshake (no_application_protocol),
// one that ignores ALPN fails the dial after its handshake
// (conn.ErrH2NotNegotiated), both logged with the reason; a cluster whose
// alpn leaves h2 out does not dial.
func TestUpstreamH2OverTLSRefusedWithoutALPN(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM})
	noALPN := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, func(c *tls.Conn) {
		_, _ = io.Copy(io.Discard, c)
	})
	for _, tc := range []struct {
		name, addr, ctx, want string
	}{
		{"upstream speaking HTTP/1.1 only", newH2TLSUpstream(t, cert, false).Listener.Addr().String(), "", "tls: no application protocol"},
		{"upstream ignoring ALPN", noALPN.Addr(), "", `the upstream did not agree to h2 by ALPN (it chose \"\")`},
		{"alpn without h2", newH2TLSUpstream(t, cert, true).Listener.Addr().String(), `,"alpn":"http/1.1"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, log := startLogged(t, h2TLSConfig(t, tc.addr, `,"ca_cert":`+quote(files["ca.pem"])+tc.ctx))
			if code, body := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusServiceUnavailable {
				t.Fatalf("got %d %q, want 503", code, body)
			}
			if tc.want != "" {
				testutil.WaitFor(t, 5e9, "the failure logged", func() bool {
					return strings.Contains(log.String(), "upstream TLS handshake failed") && strings.Contains(log.String(), tc.want)
				})
			}
		})
	}
}
