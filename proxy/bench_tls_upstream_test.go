package proxy_test

import (
	"crypto/tls"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// BenchmarkProxyGETTLSUpstream is BenchmarkProxyGET to a crypto/tls
// upstream (TLS 1.3, ECDSA P-256, AES-128-GCM): the cluster's
// conn.TLSDialer, whose record layer seals the request and opens the
// response on the loop. The handshakes (one per loop used) happen before
// the timer.
// Reproduce: go test -run=NONE -bench='ProxyGET$|TLSUpstream' -benchmem -count=5 ./proxy/
func BenchmarkProxyGETTLSUpstream(b *testing.B) {
	cert := testutil.NewCert(b, "127.0.0.1")
	up := testutil.NewTLSServer(b, &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		func(c *tls.Conn) { benchUpstream(c) })
	goSubmit := func(fn func()) error { go fn(); return nil }
	tcp, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		b.Fatal(err)
	}
	d, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{RootCAs: cert.Pool, NextProtos: []string{"http/1.1"}},
		TCP: tcp, Submit: goSubmit})
	if err != nil {
		b.Fatal(err)
	}
	h := startProxy(b, []string{up.Addr()}, func(s *setup) {
		s.clusters[0].Dialer, s.clusters[0].Transport = d, "tls"
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
	if n := d.Stats().Handshakes.Load(); n == 0 || n > 2 {
		b.Fatalf("%d handshakes, want one pooled connection per loop the clients used (2 loops)", n)
	}
}
