package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Closing a TLS connection gracefully sends close_notify (docs/tls.md,
// "Closing"): clients read a clean end of the stream, and OpenSSL keeps
// the session for resumption.

// dialStrictTLS opens an HTTP/1.1 TLS connection to ta over
// testutil.StrictEOF, whose Read returns io.EOF only after close_notify.
func (ta *tlsApp) dialStrictTLS(t *testing.T) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	raw := testutil.DialTCP(t, ta.addr, 20*time.Second)
	c := tls.Client(testutil.StrictEOF(raw), &tls.Config{RootCAs: ta.cert.Pool, ServerName: "localhost",
		NextProtos: []string{"http/1.1"}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// readResponse reads one response off r and its body.
func readResponse(t *testing.T, r *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "hello over https" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, err)
	}
	return resp
}

// closeNotifyAfter sends req on a strict TLS connection to ta, reads the
// response, and checks that the connection then ends with close_notify
// (what says when, in a failure).
func (ta *tlsApp) closeNotifyAfter(t *testing.T, req, what string) {
	t.Helper()
	c, r := ta.dialStrictTLS(t)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	readResponse(t, r)
	if n, err := io.Copy(io.Discard, r); n != 0 || err != nil {
		t.Fatalf("%s: %d bytes, then %v; want a clean end (close_notify)", what, n, err)
	}
}

// TestTLSConnectionCloseSendsCloseNotify: a request with Connection: close
// is answered, and the connection then ends with close_notify.
func TestTLSConnectionCloseSendsCloseNotify(t *testing.T) {
	ta := startTLSApp(t, "", "")
	ta.closeNotifyAfter(t, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "after the response")
}

// TestTLSIdleTimeoutSendsCloseNotify: a keep-alive connection closed by
// the listener's idle timeout ends with close_notify.
func TestTLSIdleTimeoutSendsCloseNotify(t *testing.T) {
	ta := startTLSApp(t, "", `,"connection_idle_timeout":"200ms"`)
	ta.closeNotifyAfter(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "idle")
}

// TestTLSOpenSSLResumes: openssl s_time -reuse (for one second, each
// connection fetching / with the first one's session) resumes every
// connection against ferry, in TLS 1.2 and 1.3. OpenSSL drops the session
// of a connection that ended without close_notify: before ferry sent one,
// none resumed (134 and 187 connections, all full handshakes, on the
// machine of the commit that added it; now 919 and 547, all resumed).
func TestTLSOpenSSLResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs openssl")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed (make deps installs it): %v", err)
	}
	ta := startTLSApp(t, "", "")
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "openssl", "s_time", "-connect", ta.addr, v, "-CAfile", ta.caFile,
			"-reuse", "-time", "1", "-www", "/").CombinedOutput()
		cancel()
		// s_time prints a character per connection: r when it resumed,
		// * (or t) for a full handshake.
		var reused, full int
		if i := strings.Index(string(out), "starting\n"); i >= 0 {
			line, _, _ := strings.Cut(string(out[i+len("starting\n"):]), "\n")
			reused = strings.Count(line, "r")
			full = len(line) - reused
		}
		t.Logf("%s: %d connections resumed, %d did not", v, reused, full)
		if err != nil || reused == 0 || full != 0 {
			t.Fatalf("openssl s_time %s -reuse: %v; %d resumed, %d full handshakes\n%s", v, err, reused, full, out)
		}
	}
	if ta.srv.Stats.Resumed.Load() == 0 {
		t.Fatal("ferry counted no resumed handshake")
	}
}

// TestUpstreamTLSIdleCloseSendsCloseNotify: a pooled TLS connection to a
// host, closed by the cluster's idle_timeout, ends with close_notify.
func TestUpstreamTLSIdleCloseSendsCloseNotify(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM})
	scfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	ends := make(chan error, 1)
	up := testutil.NewRawServer(t, func(raw net.Conn) {
		c := tls.Server(testutil.StrictEOF(raw), scfg)
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		if _, err := testutil.ReadHead(r); err != nil {
			ends <- err
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			ends <- err
			return
		}
		_, err := io.Copy(io.Discard, r) // until the idle timeout closes it
		ends <- err
	})
	a := startApp(t, tlsClusterConfig(t, host(up.Addr()),
		`,"idle_timeout":"200ms","tls_context":{"status":true,"ca_cert":`+quote(files["ca.pem"])+`}`))
	if code, body := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
	select {
	case err := <-ends:
		if err != nil {
			t.Fatalf("the idle connection ended with %v, want a clean end (close_notify)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
}

// TestTLSH2IdleGoAwaySendsCloseNotify: an h2 connection closed by the
// idle timeout gets GOAWAY, then close_notify before the socket ends.
func TestTLSH2IdleGoAwaySendsCloseNotify(t *testing.T) {
	ta := startTLSApp(t, "", `,"connection_idle_timeout":"200ms"`)
	raw, err := net.DialTimeout("tcp", ta.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	c := tls.Client(testutil.StrictEOF(raw), &tls.Config{RootCAs: ta.cert.Pool, ServerName: "localhost", NextProtos: []string{"h2"}})
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil || c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("handshake: %v, ALPN %q", err, c.ConnectionState().NegotiatedProtocol)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	goAway := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !goAway || !errors.Is(err, io.EOF) {
				t.Fatalf("GOAWAY seen %v, then %v; want GOAWAY and a clean end (close_notify)", goAway, err)
			}
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			goAway = true
		}
	}
}
