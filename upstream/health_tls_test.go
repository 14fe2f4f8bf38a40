package upstream

import (
	"bufio"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestHealthCheckDialsTLSClusters: the probes of a cluster with its own
// Dialer (TLS to its hosts) go through it, so a TLS host is probed in TLS
// and passes, never sent a plain-text request.
func TestHealthCheckDialsTLSClusters(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	srv := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, func(c *tls.Conn) {
		if head, err := testutil.ReadHead(bufio.NewReader(c)); err == nil && strings.HasPrefix(head, "GET /healthz ") {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	spec := ClusterSpec{Name: "c", HealthCheck: httpCheck(), Hosts: []HostSpec{{Address: srv.Addr()}}, Transport: "tls"}
	e := newCheckEnv(t, 1, 4, nil)
	d, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{RootCAs: cert.Pool}, TCP: e.dialer, Submit: e.workers.Submit})
	if err != nil {
		t.Fatal(err)
	}
	spec.Dialer = d
	if err := e.m.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	e.start()
	h := e.m.Get("c").Hosts()[0]
	testutil.WaitFor(t, 10*time.Second, "a probe to pass", func() bool { passed, _ := h.HealthChecks(); return passed > 0 })
	if !h.Healthy() || len(srv.States()) == 0 || len(srv.Errors()) != 0 || d.Stats().Handshakes.Load() == 0 {
		t.Fatalf("healthy %v; the host saw %d TLS handshakes and %d failed ones", h.Healthy(), len(srv.States()), len(srv.Errors()))
	}
}
