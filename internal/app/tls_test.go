package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// tlsApp runs ferry with one TLS listener (downstream_protocol Auto)
// proxying to an upstream that answers with the request's protocol.
type tlsApp struct {
	a        *App
	addr     string
	cert     *testutil.Cert
	certFile string
	caFile   string
	srv      *conn.TLSServer
}

// startTLSApp starts it; tlsExtra is added to the tls_context (%CA% names
// the CA file) and listenerExtra to the listener.
func startTLSApp(t *testing.T, tlsExtra, listenerExtra string) *tlsApp {
	t.Helper()
	return startTLSAppTuned(t, tlsExtra, listenerExtra, nil)
}

// startTLSAppTuned is startTLSApp with tune applied to the config first.
func startTLSAppTuned(t *testing.T, tlsExtra, listenerExtra string, tune func(*config.Config)) *tlsApp {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "hello over %s", r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(up.Close)
	ta := &tlsApp{cert: testutil.NewCert(t, "127.0.0.1", "localhost")}
	dir := t.TempDir()
	ta.certFile = filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "key.pem")
	ta.caFile = filepath.Join(dir, "ca.pem")
	for f, data := range map[string][]byte{ta.certFile: ta.cert.CertPEM, keyFile: ta.cert.KeyPEM, ta.caFile: ta.cert.CAPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"tls","address":"127.0.0.1:0"%s,"filter_chains":[{
		"tls_context":{"status":true,"cert_chain":%q,"private_key":%q%s},
		"filters":[{"type":"proxy","config":{"downstream_protocol":"Auto","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]}]}}`,
		listenerExtra, ta.certFile, keyFile, strings.ReplaceAll(tlsExtra, "%CA%", ta.caFile), up.Listener.Addr().String())
	cfg := mustConfig(t, js)
	if tune != nil {
		tune(cfg)
	}
	cfg.ApplyDefaults()
	ta.a = startApp(t, cfg)
	ta.addr = ta.a.Addrs()[0].String()
	ta.srv = ta.a.listeners[0].TLS
	return ta
}

func (ta *tlsApp) get(t *testing.T, h2 bool) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ta.cert.Pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+ta.addr+"/x", strings.NewReader(strings.Repeat("b", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestTLSProxiesHTTP1AndH2: Go's net/http over TLS gets the upstream's
// answer over HTTP/1.1 and over h2 (chosen by ALPN, served by the HTTP/2
// server), with a 100 KiB request body each way in; the upstream hears
// X-Forwarded-Proto: https.
func TestTLSProxiesHTTP1AndH2(t *testing.T) {
	ta := startTLSApp(t, "", "")
	for _, h2 := range []bool{false, true} {
		resp, body := ta.get(t, h2)
		wantProto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if resp.StatusCode != http.StatusOK || body != "hello over https" || resp.Proto != wantProto {
			t.Fatalf("h2 %v: %s %d %q", h2, resp.Proto, resp.StatusCode, body)
		}
		wantALPN := map[bool]string{false: "", true: "h2"}[h2]
		if resp.TLS == nil || resp.TLS.NegotiatedProtocol != wantALPN && !(wantALPN == "" && resp.TLS.NegotiatedProtocol == "http/1.1") {
			t.Fatalf("h2 %v: ALPN %q", h2, resp.TLS.NegotiatedProtocol)
		}
	}
	if n := ta.srv.Stats.Handshakes.Load(); n != 2 {
		t.Fatalf("%d handshakes, want 2", n)
	}
}

// TestTLSWithCurlAndOpenSSL: curl over TLS with HTTP/1.1 and --http2, and
// openssl s_client for a TLS 1.2 handshake whose renegotiation attempt is
// refused and counted.
func TestTLSWithCurlAndOpenSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs curl and openssl")
	}
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", tool, err)
		}
	}
	ta := startTLSApp(t, "", "")
	for _, v := range []string{"--http1.1", "--http2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "curl", "-sS", v, "--cacert", ta.caFile, "-w", "\n%{http_version}",
			"https://"+ta.addr+"/").CombinedOutput()
		cancel()
		want := map[string]string{"--http1.1": "1.1", "--http2": "2"}[v]
		if err != nil || !strings.HasPrefix(string(out), "hello over https\n") || !strings.HasSuffix(string(out), "\n"+want) {
			t.Fatalf("curl %s: %v\n%s", v, err, out)
		}
	}
	// openssl s_client reads "R" from stdin as "renegotiate" (TLS 1.2); its
	// handshake is the third, after curl's two.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", ta.addr, "-tls1_2", "-CAfile", ta.caFile,
		"-servername", "localhost", "-verify_return_error")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "openssl's handshake", func() bool { return ta.srv.Stats.Handshakes.Load() == 3 })
	if _, err := io.WriteString(stdin, "R\n"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the renegotiation to be refused", func() bool {
		return ta.srv.Stats.Renegotiations.Load() == 1
	})
	_ = stdin.Close()
	_ = cmd.Wait() // s_client exits when ferry closes the connection
	if !strings.Contains(out.String(), "Verify return code: 0 (ok)") || !strings.Contains(out.String(), "TLSv1.2") {
		t.Fatalf("openssl s_client:\n%s", out.String())
	}
}

// TestTLSCertificateFollowsTheFiles: new certificate files are served once
// the watcher (or a config reload) sees them, and an HTTPS connection
// made before keeps working.
func TestTLSCertificateFollowsTheFiles(t *testing.T) {
	ta := startTLSApp(t, "", "")
	first := ta.a.TLSCertificates()[0]
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ta.cert.Pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() *http.Response {
		t.Helper()
		resp, err := c.Get("https://" + ta.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	before := get()
	ta.cert.Reissue(t, "127.0.0.1")
	tmp := ta.certFile + ".new"
	if err := os.WriteFile(tmp, ta.cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(filepath.Dir(ta.certFile), "key.pem")
	if err := os.WriteFile(keyFile+".new", ta.cert.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// The key first: until the certificate follows, the pair does not
	// match and the watcher keeps the old one.
	if err := os.Rename(keyFile+".new", keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, ta.certFile); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the watcher to load the new certificate", func() bool {
		return ta.a.TLSCertificates()[0] != first
	})
	// The keep-alive connection from before still answers.
	again := get()
	if again.TLS.PeerCertificates[0].SerialNumber.Cmp(before.TLS.PeerCertificates[0].SerialNumber) != 0 {
		t.Fatal("the keep-alive connection was replaced: it was dropped by the reload")
	}
	tr.CloseIdleConnections()
	fresh := get()
	if fresh.TLS.PeerCertificates[0].SerialNumber.Cmp(before.TLS.PeerCertificates[0].SerialNumber) == 0 {
		t.Fatal("a new connection still got the old certificate")
	}
}

// TestTLSPlainHTTPIsRefused: plain HTTP to the TLS port gets a 400 that
// says so, never the upstream's answer, and is counted in
// ferry_tls_events_total.
func TestTLSPlainHTTPIsRefused(t *testing.T) {
	ta := startTLSApp(t, "", "")
	c := testutil.DialTCP(t, ta.addr, 10*time.Second)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 400 ") || !strings.Contains(string(b), "plain HTTP was sent to a TLS port") {
		t.Fatalf("got %q, %v", b, err)
	}
	if ta.srv.Stats.PlainHTTP.Load() != 1 {
		t.Fatalf("plain HTTP counted %d times", ta.srv.Stats.PlainHTTP.Load())
	}
	// The counter reaches /metrics.
	if v, ok := gathered(t, ta.a, "ferry_tls_events_total", map[string]string{"listener": "tls", "event": "plain_http"}); !ok || v != 1 {
		t.Fatal(`ferry_tls_events_total{listener="tls",event="plain_http"} is not 1`)
	}
}

// TestTLSClientCertificates: with verify_client and require_client_cert, a
// client without a certificate is refused in the handshake (counted), and
// one with a certificate from ca_cert is served.
func TestTLSClientCertificates(t *testing.T) {
	ta := startTLSApp(t, `,"ca_cert":"%CA%","verify_client":true,"require_client_cert":true`, "")
	client := ta.cert.Client(t, "client")
	try := func(certs []tls.Certificate) error {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ta.cert.Pool, Certificates: certs}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + ta.addr + "/")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "hello over https" {
			t.Fatalf("with a certificate: %d %q", resp.StatusCode, b)
		}
		return err
	}
	if err := try(nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	testutil.WaitFor(t, 10*time.Second, "the refused handshake to be counted", func() bool {
		return ta.srv.Stats.HandshakeErrors.Load() == 1
	})
	if err := try([]tls.Certificate{client.TLS}); err != nil {
		t.Fatalf("a client with a certificate from ca_cert: %v", err)
	}
}

// TestTLSInspectorServesPlainTextToo: a listener with the inspector serves
// HTTPS and plain HTTP on one port, each told so in X-Forwarded-Proto.
func TestTLSInspectorServesPlainTextToo(t *testing.T) {
	ta := startTLSApp(t, "", `,"inspector":true`)
	resp, body := ta.get(t, false)
	if resp.StatusCode != http.StatusOK || body != "hello over https" {
		t.Fatalf("over TLS: %d %q", resp.StatusCode, body)
	}
	plain, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ta.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(plain.Body)
	_ = plain.Body.Close()
	if err != nil || plain.StatusCode != http.StatusOK || string(b) != "hello over http" {
		t.Fatalf("plain text: %d %q %v", plain.StatusCode, b, err)
	}
	if ta.srv.Stats.PlainText.Load() != 1 || ta.srv.Stats.PlainHTTP.Load() != 0 {
		t.Fatalf("plain text %d, refused plain HTTP %d; want 1 and 0", ta.srv.Stats.PlainText.Load(), ta.srv.Stats.PlainHTTP.Load())
	}
}

// TestTLSConfigReloadReadsCertificates: a config reload re-reads the
// certificate files at once (the watcher is stopped here, so it is the
// reload that sees them).
func TestTLSConfigReloadReadsCertificates(t *testing.T) {
	ta := startTLSApp(t, "", "")
	ta.a.stopCertWatch()
	first := ta.a.TLSCertificates()[0]
	ta.cert.Reissue(t, "127.0.0.1")
	keyFile := filepath.Join(filepath.Dir(ta.certFile), "key.pem")
	for f, data := range map[string][]byte{ta.certFile: ta.cert.CertPEM, keyFile: ta.cert.KeyPEM} {
		if err := os.WriteFile(f+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	if ta.a.TLSCertificates()[0] != first {
		t.Fatal("the certificate changed with the watcher stopped")
	}
	if err := ta.a.Reload(ta.a.Config()); err != nil {
		t.Fatal(err)
	}
	if ta.a.TLSCertificates()[0] == first {
		t.Fatal("a config reload did not re-read the changed certificate files")
	}
	resp, body := ta.get(t, false)
	if resp.StatusCode != http.StatusOK || body != "hello over https" ||
		string(resp.TLS.PeerCertificates[0].Raw) != string(ta.cert.TLS.Certificate[0]) {
		t.Fatalf("after the reload: %d %q, new certificate %v", resp.StatusCode, body,
			string(resp.TLS.PeerCertificates[0].Raw) == string(ta.cert.TLS.Certificate[0]))
	}
}

// TestTLSALPNChoosesTheProtocol: on an Auto listener the protocol TLS
// chose decides, not the first bytes: after ALPN h2, an HTTP/1.1 request
// is a broken preface (HTTP/2's answer, never an HTTP/1.1 one); after
// http/1.1, the HTTP/2 preface is not taken for HTTP/2.
func TestTLSALPNChoosesTheProtocol(t *testing.T) {
	ta := startTLSApp(t, "", "")
	talk := func(alpn, send string) []byte {
		t.Helper()
		d := &net.Dialer{Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", ta.addr, &tls.Config{RootCAs: ta.cert.Pool, NextProtos: []string{alpn}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		if got := c.ConnectionState().NegotiatedProtocol; got != alpn {
			t.Fatalf("ALPN %q, want %q", got, alpn)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 9)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("ALPN %s: %v", alpn, err)
		}
		return b
	}
	// An HTTP/2 frame header: 3 bytes of length, then the type (SETTINGS 4
	// or GOAWAY 7 here).
	if b := talk("h2", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); strings.HasPrefix(string(b), "HTTP/") || (b[3] != 4 && b[3] != 7) {
		t.Fatalf("h2 with an HTTP/1.1 request got %q; want HTTP/2 frames", b)
	}
	if b := talk("http/1.1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); !strings.HasPrefix(string(b), "HTTP/1.1 ") {
		t.Fatalf("http/1.1 with the HTTP/2 preface got %q; want an HTTP/1.1 answer", b)
	}
}

// TestTLSContextSetBySNI: a tls_context_set with inline PEM serves each
// context's certificate to the server name it answers (server_name, or the
// certificate's own names), and the first one to any other name.
func TestTLSContextSetBySNI(t *testing.T) {
	a := testutil.NewCert(t, "a.example.test")
	b := testutil.NewCert(t, "*.b.example.test")
	q := func(p []byte) string { return strconv.Quote(string(p)) }
	js := `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}]}]}],
		"listeners":[{"name":"tls","address":"127.0.0.1:0","filter_chains":[{"tls_context_set":[
		{"status":true,"cert_chain":` + q(a.CertPEM) + `,"private_key":` + q(a.KeyPEM) + `},
		{"status":true,"cert_chain":` + q(b.CertPEM) + `,"private_key":` + q(b.KeyPEM) + `,"server_name":"alias.example.test"}],
		"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]}]}}`
	cfg := mustConfig(t, js)
	cfg.ApplyDefaults()
	app := startApp(t, cfg)
	addr := app.Addrs()[0].String()
	for sni, want := range map[string]*testutil.Cert{
		"a.example.test": a, "x.b.example.test": b, "alias.example.test": b, "other.test": a,
	} {
		pool := want.Pool
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: pool, InsecureSkipVerify: sni == "other.test" || sni == "alias.example.test"})
		if err != nil {
			t.Fatalf("SNI %s: %v", sni, err)
		}
		got := c.ConnectionState().PeerCertificates[0].Raw
		_ = c.Close()
		if string(got) != string(want.TLS.Certificate[0]) {
			t.Errorf("SNI %s got the other context's certificate", sni)
		}
	}
}
