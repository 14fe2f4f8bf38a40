package proxy_test

import (
	"crypto/tls"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// benchTLSDialer is a cluster's TLS dialer trusting cert's CA, offering
// http/1.1 (and, with h2, dialing h2 when the upstream's ALPN picks it).
func benchTLSDialer(b *testing.B, cert *testutil.Cert, h2 bool) *conn.TLSDialer {
	b.Helper()
	goSubmit := func(fn func()) error { go fn(); return nil }
	tcp, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		b.Fatal(err)
	}
	d, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{RootCAs: cert.Pool, NextProtos: []string{"http/1.1"}},
		TCP: tcp, Submit: goSubmit, H2: h2})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

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
	d := benchTLSDialer(b, cert, false)
	h := startProxy(b, []string{up.Addr()}, func(s *setup) {
		s.clusters[0].Dialer, s.clusters[0].Transport = d, "tls"
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
	if n := d.Stats().Handshakes.Load(); n == 0 || n > 2 {
		b.Fatalf("%d handshakes, want one pooled connection per loop the clients used (2 loops)", n)
	}
}

// BenchmarkProxyGETH2TLSUpstream is BenchmarkProxyGETH2Upstream over TLS:
// h2 chosen by ALPN through the cluster dialer's H2Dialer, one stream per
// request on a pooled multiplexed connection whose records are sealed and
// opened on the loop.
// Reproduce: go test -run=NONE -bench='ProxyGETH2(TLS)?Upstream$' -benchmem -count=5 ./proxy/
func BenchmarkProxyGETH2TLSUpstream(b *testing.B) {
	cert := testutil.NewCert(b, "127.0.0.1")
	up := testutil.NewTLSServer(b, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, NextProtos: []string{"h2"}},
		func(c *tls.Conn) { benchH2Upstream(c) })
	d := benchTLSDialer(b, cert, true)
	h := startProxy(b, []string{up.Addr()}, func(s *setup) {
		s.factory.UpstreamHTTP2 = true
		s.clusters[0].Dialer, s.clusters[0].Transport = d, "tls"
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
	if st := up.States(); len(st) == 0 || st[0].NegotiatedProtocol != "h2" {
		b.Fatalf("the upstream saw %d handshakes, ALPN %q; want h2", len(st), st[0].NegotiatedProtocol)
	}
}
