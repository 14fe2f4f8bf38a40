package eventloop

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TLS to upstreams through a real engine: conn.TLSDialer's handshake on a
// worker, the record layer on the loop, and every way a handshake fails.

// pingPong answers "ping\n" with "pong\n", then waits for the close.
func pingPong(c *tls.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line == "ping\n" {
			if _, err := io.WriteString(c, "pong\n"); err != nil {
				return
			}
		}
	}
}

// handshakeErrors records what a TLS dialer reports to its
// OnHandshakeError.
type handshakeErrors struct {
	mu   sync.Mutex
	errs []error
}

func (h *handshakeErrors) add(_ string, err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *handshakeErrors) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.errs)
}

// newTLSDialer returns a TLS dialer with cfg, reporting to errs if set.
func newTLSDialer(t *testing.T, cfg *tls.Config, errs *handshakeErrors) *conn.TLSDialer {
	t.Helper()
	tcp, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		t.Fatal(err)
	}
	o := conn.TLSDialerOptions{Config: cfg, TCP: tcp, Submit: goSubmit}
	if errs != nil {
		o.OnHandshakeError = errs.add
	}
	d, err := conn.NewTLSDialer(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dialTLS dials addr with d on l and waits for the outcome.
func dialTLS(t *testing.T, d conn.Dialer, l *conn.Loop, addr string, timeout time.Duration) *dialProbe {
	t.Helper()
	p := newDialProbe(l, "ping\n")
	if err := d.Dial(l, addr, timeout, p); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	return p
}

func expectPong(t *testing.T, p *dialProbe) {
	t.Helper()
	if p.err != nil {
		t.Fatal(p.err)
	}
	select {
	case got := <-p.got:
		if got != "pong\n" {
			t.Fatalf("upstream answered %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer through the dialled connection")
	}
}

func closeOnLoop(t *testing.T, l *conn.Loop, c *conn.Conn) {
	t.Helper()
	if err := l.Execute(func() { c.Close(filterchain.CloseNow) }); err != nil {
		t.Fatal(err)
	}
}

// TestTLSDialerHandshakesAndResumes: the upstream sees TLS with the SNI and
// ALPN ferry sent, the connection carries bytes both ways, ALPN is on the
// Conn, and a second connection resumes the first one's session.
func TestTLSDialerHandshakesAndResumes(t *testing.T) {
	e, l := engineLoop(t)
	cert := testutil.NewCert(t, "upstream.test", "127.0.0.1")
	for _, max := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(max), func(t *testing.T) {
			srv := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MaxVersion: max,
				NextProtos: []string{"h2", "http/1.1"}}, pingPong)
			d := newTLSDialer(t, &tls.Config{RootCAs: cert.Pool, NextProtos: []string{"http/1.1"}}, nil)
			base := e.Tracker().Open()
			for i := range 2 {
				p := dialTLS(t, d, l, srv.Addr(), 5*time.Second)
				expectPong(t, p) // the ticket (TLS 1.3) came before the pong
				var alpn string
				var vers uint16
				held := -2
				onLoop(t, p.c, func() { alpn, vers, held = p.c.TLS().ALPN(), p.c.TLS().Version(), p.c.TLS().RecordBufferBytes() })
				if alpn != "http/1.1" || vers != max {
					t.Fatalf("the Conn says ALPN %q version %x", alpn, vers)
				}
				if held != 0 { // docs/tls.md, "Memory of an idle connection": the client side too
					t.Fatalf("the idle upstream connection holds %d bytes of crypto/tls buffers", held)
				}
				closeOnLoop(t, l, p.c)
				testutil.WaitFor(t, 10*time.Second, "the socket to be released", func() bool { return e.Tracker().Open() == base })
				st := srv.States()
				if len(st) != i+1 {
					t.Fatalf("upstream saw %d handshakes, want %d", len(st), i+1)
				}
				s := st[i]
				if s.ServerName != "" || s.NegotiatedProtocol != "http/1.1" || s.Version != max || s.DidResume != (i == 1) {
					t.Fatalf("connection %d: SNI %q ALPN %q version %x resumed %v", i, s.ServerName, s.NegotiatedProtocol, s.Version, s.DidResume)
				}
			}
			if s := d.Stats(); s.Handshakes.Load() != 2 || s.Resumed.Load() != 1 || s.HandshakeErrors.Load() != 0 {
				t.Fatalf("stats: %d handshakes, %d resumed, %d errors", s.Handshakes.Load(), s.Resumed.Load(), s.HandshakeErrors.Load())
			}
		})
	}
}

// dialFails dials addr and expects the dial to fail with a reason
// containing want, the socket given back and no connection handed over.
func dialFails(t *testing.T, e *Engine, d conn.Dialer, l *conn.Loop, addr string, timeout time.Duration, want string) *dialProbe {
	t.Helper()
	base := e.Tracker().Open()
	p := dialTLS(t, d, l, addr, timeout)
	if p.err == nil || p.c != nil {
		t.Fatalf("dial succeeded (conn %v), want a failure with %q", p.c, want)
	}
	if !strings.Contains(p.err.Error(), want) {
		t.Fatalf("dial failed with %q, want %q", p.err, want)
	}
	t.Logf("dial failed: %v", p.err)
	testutil.WaitFor(t, 10*time.Second, "the socket to be released", func() bool { return e.Tracker().Open() == base })
	return p
}

// TestTLSDialerVerifies: an upstream whose certificate does not verify is
// a failed dial with the reason, counted and reported to the hook; the
// name checked is the host's (an IP checks IP SANs) unless ServerName
// overrides it, and InsecureSkipVerify alone skips the check.
func TestTLSDialerVerifies(t *testing.T) {
	e, l := engineLoop(t)
	cert := testutil.NewCert(t, "upstream.test") // no IP SAN
	other := testutil.NewCert(t, "upstream.test")
	srv := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, pingPong)

	var errs handshakeErrors
	d := newTLSDialer(t, &tls.Config{RootCAs: other.Pool, ServerName: "upstream.test"}, &errs)
	dialFails(t, e, d, l, srv.Addr(), 5*time.Second, "certificate signed by unknown authority")
	if d.Stats().HandshakeErrors.Load() != 1 || errs.len() != 1 {
		t.Fatalf("%d handshake errors counted, %d reported; want 1 and 1", d.Stats().HandshakeErrors.Load(), errs.len())
	}

	d = newTLSDialer(t, &tls.Config{RootCAs: cert.Pool}, nil)
	dialFails(t, e, d, l, srv.Addr(), 5*time.Second, "doesn't contain any IP SANs")
	d = newTLSDialer(t, &tls.Config{RootCAs: cert.Pool, ServerName: "wrong.test"}, nil)
	dialFails(t, e, d, l, srv.Addr(), 5*time.Second, "certificate is valid for upstream.test, not wrong.test")

	d = newTLSDialer(t, &tls.Config{RootCAs: cert.Pool, ServerName: "upstream.test"}, nil)
	p := dialTLS(t, d, l, srv.Addr(), 5*time.Second)
	expectPong(t, p)
	closeOnLoop(t, l, p.c)
	if st := srv.States(); len(st) != 1 || st[0].ServerName != "upstream.test" {
		t.Fatalf("upstream states %+v, want one handshake with SNI upstream.test", st)
	}

	d = newTLSDialer(t, &tls.Config{InsecureSkipVerify: true}, nil) // insecure: the point of the test
	p = dialTLS(t, d, l, srv.Addr(), 5*time.Second)
	expectPong(t, p)
	closeOnLoop(t, l, p.c)
}

// TestTLSDialerClientCertificate: an upstream that requires a client
// certificate refuses the handshake without one (TLS 1.2: the refusal
// comes during the handshake, and its alert is the reason given even
// though the upstream closes right after) and accepts it with one.
func TestTLSDialerClientCertificate(t *testing.T) {
	e, l := engineLoop(t)
	cert := testutil.NewCert(t, "127.0.0.1")
	client := cert.Client(t, "ferry")
	srv := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MaxVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cert.Pool}, pingPong)

	d := newTLSDialer(t, &tls.Config{RootCAs: cert.Pool}, nil)
	dialFails(t, e, d, l, srv.Addr(), 5*time.Second, "TLS handshake: remote error: tls: ")

	d = newTLSDialer(t, &tls.Config{RootCAs: cert.Pool, Certificates: []tls.Certificate{client.TLS}}, nil)
	p := dialTLS(t, d, l, srv.Addr(), 5*time.Second)
	expectPong(t, p)
	closeOnLoop(t, l, p.c)
	if st := srv.States(); len(st) != 1 || len(st[0].PeerCertificates) != 1 || st[0].PeerCertificates[0].Subject.CommonName != "ferry" {
		t.Fatalf("upstream states %+v, want one handshake with ferry's certificate", st)
	}
}

// TestTLSDialerHandshakeTimeout: an upstream that accepts and never
// answers fails the dial at its timeout (connect and handshake together),
// and the handshake's worker returns (goleak in TestMain checks it). An
// upstream that closes during the handshake fails the dial too, and no
// worker free for the handshake fails it as busy.
func TestTLSDialerHandshakeTimeout(t *testing.T) {
	e, l := engineLoop(t)
	silent := testutil.NewRawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	d := newTLSDialer(t, &tls.Config{InsecureSkipVerify: true}, nil) // insecure: never reached
	err := dialFails(t, e, d, l, silent.Addr(), 300*time.Millisecond, "TLS handshake timed out").err
	if !errors.Is(err, conn.ErrTLSHandshakeTimeout) || d.Stats().HandshakeTimeouts.Load() != 1 {
		t.Fatalf("err %v, %d timeouts counted", err, d.Stats().HandshakeTimeouts.Load())
	}
	if err := d.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}

	closing := testutil.NewRawServer(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) })
	dialFails(t, e, d, l, closing.Addr(), 5*time.Second, "")

	tcp, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: goSubmit})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := conn.NewTLSDialer(conn.TLSDialerOptions{Config: &tls.Config{}, TCP: tcp,
		Submit: func(func()) error { return errors.New("pool full") }})
	if err != nil {
		t.Fatal(err)
	}
	err = dialFails(t, e, busy, l, silent.Addr(), 5*time.Second, "pool full").err
	if !errors.Is(err, conn.ErrDialerBusy) || busy.Stats().Shed.Load() != 1 {
		t.Fatalf("err %v, %d shed", err, busy.Stats().Shed.Load())
	}
}
