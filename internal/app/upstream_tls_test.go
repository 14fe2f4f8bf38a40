package app

import (
	"crypto/tls"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TLS to upstreams through the whole of ferry: a plain HTTP listener, a
// cluster whose tls_context dials crypto/tls upstreams on 127.0.0.1:0.

// tlsUpstream is an HTTPS upstream that records what each request's
// connection negotiated.
type tlsUpstream struct {
	srv    *httptest.Server
	mu     sync.Mutex
	states []tls.ConnectionState
}

// newTLSUpstream starts it with cfg (its certificate included); close
// makes every response close its connection, so each request is a new
// handshake.
func newTLSUpstream(t *testing.T, cfg *tls.Config, closeConns bool) *tlsUpstream {
	t.Helper()
	u := &tlsUpstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if r.TLS != nil {
			u.states = append(u.states, *r.TLS)
		}
		u.mu.Unlock()
		if closeConns {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, "hello over TLS")
	}))
	u.srv.TLS = cfg
	u.srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // handshakes refused on purpose
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *tlsUpstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *tlsUpstream) seen() []tls.ConnectionState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]tls.ConnectionState(nil), u.states...)
}

// writeFiles writes each name's data in a new directory and returns the
// paths by name.
func writeFiles(t *testing.T, files map[string][]byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// tlsClusterConfig routes / of a plain listener to cluster c, whose hosts
// are hosts (JSON objects) and whose cluster object ends with extra.
func tlsClusterConfig(t *testing.T, hosts, extra string) *config.Config {
	t.Helper()
	cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[%s]%s}]}}`, hosts, extra))
	cfg.ApplyDefaults()
	return cfg
}

// startLogged starts cfg with its log in the returned buffer.
func startLogged(t *testing.T, cfg *config.Config) (*App, *testutil.Buffer) {
	t.Helper()
	var log testutil.Buffer
	a := startWith(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	return a, &log
}

func host(addr string) string { return fmt.Sprintf(`{"address":%q}`, addr) }

func quote(s string) string { return fmt.Sprintf("%q", s) }

// TestUpstreamTLS: a cluster's tls_context dials its hosts in TLS,
// verified against ca_cert with the host's name (an IP against IP SANs)
// or server_name; every failure to verify is a 503 whose reason is logged
// and counted; a second connection resumes the first one's session.
func TestUpstreamTLS(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	named := testutil.NewCert(t, "upstream.test") // no IP SAN
	stranger := testutil.NewCert(t, "127.0.0.1")  // another CA
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM, "named-ca.pem": named.CAPEM, "stranger-ca.pem": stranger.CAPEM})

	t.Run("verified, resumed", func(t *testing.T) {
		up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, true)
		a, _ := startLogged(t, tlsClusterConfig(t, host(up.addr()), `,"tls_context":{"status":true,"ca_cert":`+quote(files["ca.pem"])+`}`))
		url := "http://" + a.Addrs()[0].String() + "/"
		for i := range 2 {
			if code, body := testutil.Fetch(t, http.MethodGet, url); code != http.StatusOK || body != "hello over TLS" {
				t.Fatalf("request %d: %d %q", i, code, body)
			}
		}
		st := up.seen()
		if len(st) != 2 || st[0].DidResume || !st[1].DidResume || st[0].NegotiatedProtocol != "http/1.1" || st[0].ServerName != "" {
			t.Fatalf("upstream saw %d TLS requests; first resumed %v, second resumed %v, ALPN %q, SNI %q",
				len(st), len(st) > 0 && st[0].DidResume, len(st) > 1 && st[1].DidResume, st[0].NegotiatedProtocol, st[0].ServerName)
		}
		if s := a.UpstreamTLSStats("c"); s == nil || s.Handshakes.Load() != 2 || s.Resumed.Load() != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	fails := []struct {
		name, ca, extra, want string
		cert                  *testutil.Cert
	}{
		{"unknown authority", "stranger-ca.pem", "", "certificate signed by unknown authority", cert},
		{"name mismatch (an IP host)", "named-ca.pem", "", "doesn't contain any IP SANs", named},
		{"server_name mismatch", "named-ca.pem", `,"server_name":"other.test"`, "certificate is valid for upstream.test, not other.test", named},
		{"system roots", "", "", "certificate signed by unknown authority", cert},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{tc.cert.TLS}}, false)
			ctx := `,"tls_context":{"status":true` + tc.extra
			if tc.ca != "" {
				ctx += `,"ca_cert":` + quote(files[tc.ca])
			}
			a, log := startLogged(t, tlsClusterConfig(t, host(up.addr()), ctx+`}`))
			code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/")
			if code != http.StatusServiceUnavailable {
				t.Fatalf("got %d, want 503", code)
			}
			if s := a.UpstreamTLSStats("c"); s.HandshakeErrors.Load() != 1 || len(up.seen()) != 0 {
				t.Fatalf("%d handshake errors counted, %d requests reached the upstream", s.HandshakeErrors.Load(), len(up.seen()))
			}
			testutil.WaitFor(t, 5e9, "the failure logged", func() bool {
				return strings.Contains(log.String(), "upstream TLS handshake failed") && strings.Contains(log.String(), tc.want)
			})
		})
	}

	t.Run("server_name", func(t *testing.T) {
		up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{named.TLS}}, false)
		a, _ := startLogged(t, tlsClusterConfig(t, host(up.addr()),
			`,"tls_context":{"status":true,"server_name":"upstream.test","ca_cert":`+quote(files["named-ca.pem"])+`}`))
		if code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusOK {
			t.Fatalf("got %d", code)
		}
		if st := up.seen(); len(st) != 1 || st[0].ServerName != "upstream.test" {
			t.Fatalf("upstream saw %+v", st)
		}
	})

	t.Run("insecure_skip", func(t *testing.T) {
		up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{stranger.TLS}}, false)
		a, log := startLogged(t, tlsClusterConfig(t, host(up.addr()), `,"tls_context":{"status":true,"insecure_skip":true}`))
		if !strings.Contains(log.String(), "insecure_skip") || !strings.Contains(log.String(), "cluster=c") {
			t.Fatalf("no warning naming the cluster at start: %s", log.String())
		}
		if code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusOK {
			t.Fatalf("got %d", code)
		}
		if len(up.seen()) != 1 {
			t.Fatal("the upstream saw no TLS request")
		}
	})
}

// TestUpstreamTLSClientCertificate: an upstream that requires a client
// certificate gets cert_chain and private_key; without them no request
// reaches it. With TLS 1.2 the refusal fails the handshake (503); with
// TLS 1.3 the client's handshake ends before the upstream checks the
// certificate, so its refusal arrives as an alert on the first read.
func TestUpstreamTLSClientCertificate(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	client := cert.Client(t, "ferry")
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM, "client.pem": client.CertPEM, "client.key": client.KeyPEM})
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(max), func(t *testing.T) {
			up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MaxVersion: max,
				ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cert.Pool}, false)
			base := `,"tls_context":{"status":true,"ca_cert":` + quote(files["ca.pem"])
			a := startApp(t, tlsClusterConfig(t, host(up.addr()), base+`}`))
			code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/")
			t.Logf("without a client certificate: %d", code)
			if code == http.StatusOK || len(up.seen()) != 0 || (max == tls.VersionTLS12 && code != http.StatusServiceUnavailable) {
				t.Fatalf("without a client certificate: %d, %d requests reached the upstream", code, len(up.seen()))
			}
			a = startApp(t, tlsClusterConfig(t, host(up.addr()),
				base+`,"cert_chain":`+quote(files["client.pem"])+`,"private_key":`+quote(files["client.key"])+`}`))
			if code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusOK {
				t.Fatalf("with a client certificate: %d", code)
			}
			if st := up.seen(); len(st) != 1 || st[0].PeerCertificates[0].Subject.CommonName != "ferry" {
				t.Fatalf("upstream saw %+v", st)
			}
		})
	}
}

// TestUpstreamTLSHandshakeTimeout: an upstream that accepts and never
// answers is a 503 once connect_timeout (connect and handshake) passes,
// counted as a timeout; the handshake's worker returns (goleak in
// TestMain). A host with tls_disable is dialled in plain text.
func TestUpstreamTLSHandshakeTimeout(t *testing.T) {
	silent := testutil.NewRawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	plain := fixedUpstream(t, "plain")
	a := startApp(t, tlsClusterConfig(t, host(silent.Addr()),
		`,"connect_timeout":"300ms","tls_context":{"status":true,"insecure_skip":true}`))
	if code, _ := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("got %d, want 503", code)
	}
	if s := a.UpstreamTLSStats("c"); s.HandshakeTimeouts.Load() != 1 {
		t.Fatalf("%d timeouts counted", s.HandshakeTimeouts.Load())
	}

	a = startApp(t, tlsClusterConfig(t, fmt.Sprintf(`{"address":%q,"tls_disable":true}`, plain),
		`,"tls_context":{"status":true}`))
	if code, body := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusOK || body != "plain" {
		t.Fatalf("tls_disable host: %d %q", code, body)
	}
}

// TestUpstreamTLSReloadReadsFiles: a config file whose cluster trusts the
// wrong CA answers 503; once the CA file holds the right one, a reload of
// the same file reads it again, and new requests succeed. The metrics
// carry the cluster's TLS events.
func TestUpstreamTLSReloadReadsFiles(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	stranger := testutil.NewCert(t, "127.0.0.1")
	up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, false)
	files := writeFiles(t, map[string][]byte{"ca.pem": stranger.CAPEM})
	cfgFile := filepath.Join(t.TempDir(), "ferry.json")
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"tls_context":{"status":true,"ca_cert":%q},
		"clusters":[{"name":"c","cluster_manager_tls":true,"hosts":[{"address":%q}]}]}}`, files["ca.pem"], up.addr())
	if err := os.WriteFile(cfgFile, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg)
	url := "http://" + a.Addrs()[0].String() + "/"
	if code, _ := testutil.Fetch(t, http.MethodGet, url); code != http.StatusServiceUnavailable {
		t.Fatalf("got %d with the wrong CA, want 503", code)
	}
	if err := os.WriteFile(files["ca.pem"], cert.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, _ := testutil.Fetch(t, http.MethodGet, url); code != http.StatusOK {
		t.Fatalf("got %d after the reload, want 200", code)
	}
	if v, ok := gathered(t, a, "ferry_upstream_tls_events_total", map[string]string{"event": "handshake"}); !ok || v != 1 {
		t.Fatal("ferry_upstream_tls_events_total has no handshake of the reloaded cluster")
	}
}
