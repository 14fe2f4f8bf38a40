package eventloop

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestTLSDialerH2: TLSDialer.H2Dialer offers ALPN h2 alone and hands over
// a connection only when the host chose it; a host that ignores ALPN
// fails the dial with ErrH2NotNegotiated (socket given back), and a dialer
// whose configuration does not offer h2 starts no dial.
func TestTLSDialerH2(t *testing.T) {
	e, l := engineLoop(t)
	base := e.Tracker().Open()
	released := func() {
		t.Helper()
		testutil.WaitFor(t, 10*time.Second, "the socket to be released", func() bool { return e.Tracker().Open() == base })
	}
	cert := testutil.NewCert(t, "127.0.0.1")
	h2 := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, NextProtos: []string{"h2", "http/1.1"}}, pingPong)
	none := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, pingPong)
	tcp, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		t.Fatal(err)
	}
	d, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{RootCAs: cert.Pool, NextProtos: []string{"http/1.1"}},
		TCP: tcp, Submit: goSubmit, H2: true})
	if err != nil {
		t.Fatal(err)
	}

	p := dialTLS(t, d.H2Dialer(), l, h2.Addr(), 5*time.Second)
	expectPong(t, p)
	var alpn string
	onLoop(t, p.c, func() { alpn = p.c.TLS().ALPN() })
	if st := h2.States(); alpn != "h2" || len(st) != 1 || st[0].NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN %q on the Conn, the host saw %+v", alpn, st)
	}
	closeOnLoop(t, l, p.c)
	released()
	// The HTTP/1.1 dials of the same dialer still offer http/1.1 alone.
	p = dialTLS(t, d, l, h2.Addr(), 5*time.Second)
	expectPong(t, p)
	if st := h2.States(); len(st) != 2 || st[1].NegotiatedProtocol != "http/1.1" {
		t.Fatalf("the HTTP/1.1 dial negotiated %q", st[1].NegotiatedProtocol)
	}
	closeOnLoop(t, l, p.c)
	released()

	dialFails(t, e, d.H2Dialer(), l, none.Addr(), 5*time.Second, "the upstream did not agree to h2 by ALPN")

	plain, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{RootCAs: cert.Pool}, TCP: tcp, Submit: goSubmit})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.H2Dialer().Dial(l, h2.Addr(), 5*time.Second, newDialProbe(l, "")); !errors.Is(err, conn.ErrH2NotOffered) {
		t.Fatalf("a dialer without H2: %v, want ErrH2NotOffered", err)
	}
}
