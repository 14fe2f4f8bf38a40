package eventloop

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/internal/worker"
)

// tlsEnv is an engine whose one listener terminates TLS in front of the
// command filter of engine_test.go.
type tlsEnv struct {
	e    *Engine
	addr string
	srv  *conn.TLSServer
	pool *worker.Pool
	cert *testutil.Cert
	// peak is the most plain text a read filter was shown at once.
	peak atomic.Int64
	// filters, when set, replace peakFilter and the command filter.
	filters []conn.FilterFactory
}

func startTLS(t testing.TB, workers int, tune func(*conn.TLSServer)) *tlsEnv {
	t.Helper()
	return startTLSWith(t, workers, tune, nil)
}

// startTLSWith is startTLS with filters in place of the command filter.
func startTLSWith(t testing.TB, workers int, tune func(*conn.TLSServer), filters []conn.FilterFactory) *tlsEnv {
	t.Helper()
	env := &tlsEnv{cert: testutil.NewCert(t, "127.0.0.1", "ferry.test"), filters: filters}
	pool, err := worker.New(worker.Options{Size: workers, Queue: -1})
	if err != nil {
		t.Fatal(err)
	}
	env.pool = pool
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pool.Close(ctx); err != nil {
			t.Errorf("pool close: %v", err)
		}
	})
	env.srv = &conn.TLSServer{
		Config: &tls.Config{Certificates: []tls.Certificate{env.cert.TLS}, NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12},
		Submit: pool.Submit,
	}
	if tune != nil {
		tune(env.srv)
	}
	fs := env.filters
	if fs == nil {
		fs = []conn.FilterFactory{peakFactory{&env.peak}, cmdFactory{marks: &marks{}}}
	}
	env.e, env.addr = startListener(t, env.srv, fs)
	return env
}

// startListener starts an engine with one listener running filters; srv
// nil means plain text.
func startListener(t testing.TB, srv *conn.TLSServer, filters []conn.FilterFactory) (*Engine, string) {
	t.Helper()
	l := &Listener{Name: "tls", Address: "127.0.0.1:0", TLS: srv, Filters: filters}
	e := runEngine(t, l, Options{Loops: 2})
	return e, e.Addrs()[0].String()
}

// peakFilter records the largest input a read event showed the filters.
type peakFilter struct{ peak *atomic.Int64 }

func (f peakFilter) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (f peakFilter) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (f peakFilter) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	if n := int64(buf.Len()); n > f.peak.Load() {
		f.peak.Store(n)
	}
	return filterchain.Continue
}

type peakFactory struct{ peak *atomic.Int64 }

func (f peakFactory) CreateFilters(c *conn.Conn) { c.Filters().AddReadFilter(peakFilter(f)) }

func (env *tlsEnv) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: env.cert.Pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}}
}

func (env *tlsEnv) dialTLS(t testing.TB, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", env.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func echo(t *testing.T, c net.Conn, r *bufio.Reader, w string) {
	t.Helper()
	if _, err := io.WriteString(c, "echo "+w+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != w+"\n" {
		t.Fatalf("echo %q = %q, %v", w, got, err)
	}
}

// TestTLSServesBothVersions: TLS 1.2 and 1.3 handshakes finish, ALPN picks
// what the listener offers, records go both ways, and a second connection
// resumes the first one's session with a ticket.
func TestTLSServesBothVersions(t *testing.T) {
	env := startTLS(t, 4, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := env.clientConfig()
		cfg.MinVersion, cfg.MaxVersion = v, v
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		for i := range 2 {
			c := env.dialTLS(t, cfg)
			st := c.ConnectionState()
			if st.Version != v || st.NegotiatedProtocol != "http/1.1" {
				t.Fatalf("version %x alpn %q, want %x http/1.1", st.Version, st.NegotiatedProtocol, v)
			}
			if i == 1 && !st.DidResume {
				t.Fatalf("TLS %x: the second connection did not resume the session", v)
			}
			r := bufio.NewReader(c)
			for _, w := range []string{"a", strings.Repeat("b", 40<<10), "c"} {
				echo(t, c, r, w)
			}
			_ = c.Close()
		}
	}
	s := &env.srv.Stats
	if s.Handshakes.Load() != 4 || s.Resumed.Load() != 2 || s.HandshakeErrors.Load() != 0 {
		t.Fatalf("handshakes %d resumed %d errors %d; want 4, 2, 0",
			s.Handshakes.Load(), s.Resumed.Load(), s.HandshakeErrors.Load())
	}
}

// TestTLSBulkAndCloseFlush: 8 MiB written at once leave in records, all of
// them before the close.
func TestTLSBulkAndCloseFlush(t *testing.T) {
	env := startTLS(t, 4, nil)
	c := env.dialTLS(t, env.clientConfig())
	const n = 8 << 20
	if _, err := io.WriteString(c, "blast "+strconv.Itoa(n)+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, c)
	if got != n || (err != nil && !errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Fatalf("received %d bytes (%v), want %d", got, err, n)
	}
}

// TestTLSPlaintextIsBounded: a client sends 1 MiB that the filters do not
// drain (no newline): the plain text shown to them stops near
// MaxPlaintext, and the rest waits as ciphertext.
func TestTLSPlaintextIsBounded(t *testing.T) {
	const limit = 32 << 10
	env := startTLS(t, 4, func(s *conn.TLSServer) { s.MaxPlaintext = limit })
	c := env.dialTLS(t, env.clientConfig())
	if _, err := c.Write([]byte("echo " + strings.Repeat("x", 1<<20))); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the filters to see the bound", func() bool { return env.peak.Load() >= limit })
	// One more read event decrypts nothing past the bound.
	if _, err := c.Write([]byte("yyyy")); err != nil {
		t.Fatal(err)
	}
	if p := env.peak.Load(); p > limit+16<<10 {
		t.Fatalf("filters were shown %d bytes of plain text, bound %d plus one record", p, limit)
	}
}

// clientHello returns the ClientHello record Go's client sends.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(a, &tls.Config{ServerName: "127.0.0.1"}).Handshake() // the hello is all that is used
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	_ = a.Close()
	<-done
	return append(hdr, body...)
}

// TestTLSHalfHelloStallersHoldNoWorker: 1,000 clients send half a
// ClientHello and stall. They hold no worker (a pool of one serves a real
// client meanwhile), and the handshake timer closes every one of them.
func TestTLSHalfHelloStallersHoldNoWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets")
	}
	env := startTLS(t, 1, func(s *conn.TLSServer) { s.HandshakeTimeout = 3 * time.Second })
	hello := clientHello(t)
	half := hello[:len(hello)/2]
	const stallers = 1000
	conns := make([]net.Conn, 0, stallers)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range stallers {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(half); err != nil {
			t.Fatal(err)
		}
	}
	// A real client is served while all of them stall, by the only worker.
	c := env.dialTLS(t, env.clientConfig())
	echo(t, c, bufio.NewReader(c), "served")
	if st := env.pool.Stats(); st.Submitted != 1 {
		t.Fatalf("%d handshakes reached the worker pool, want 1 (the real client's)", st.Submitted)
	}
	// Each staller is closed by its handshake timer.
	var wg sync.WaitGroup
	var closed atomic.Int64
	for _, s := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, s); err == nil {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	if closed.Load() != stallers || env.srv.Stats.HandshakeTimeouts.Load() != stallers {
		t.Fatalf("%d stallers closed, %d handshake timeouts; want %d", closed.Load(),
			env.srv.Stats.HandshakeTimeouts.Load(), stallers)
	}
}

// TestTLSStalledHandshakeFreesItsWorker: a client that sends a whole
// ClientHello and then stalls holds a worker only until the handshake
// timeout; the worker then serves the next client.
func TestTLSStalledHandshakeFreesItsWorker(t *testing.T) {
	env := startTLS(t, 1, func(s *conn.TLSServer) { s.HandshakeTimeout = 300 * time.Millisecond })
	s := dial(t, env.addr)
	if _, err := s.Write(clientHello(t)); err != nil {
		t.Fatal(err)
	}
	// The server's flight comes back: a worker runs the handshake.
	if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the stalled handshake to time out and free its worker", func() bool {
		st := env.pool.Stats()
		return env.srv.Stats.HandshakeTimeouts.Load() == 1 && st.Submitted == 1 && st.Finished == 1
	})
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatalf("the stalled client was not closed: %v", err)
	}
	c := env.dialTLS(t, env.clientConfig())
	echo(t, c, bufio.NewReader(c), "next")
}

// TestTLSRefusesWhatIsNotTLS: plain HTTP gets a 400 that says why, other
// garbage a TLS alert, and an oversized ClientHello an alert too; each is
// counted and closed.
func TestTLSRefusesWhatIsNotTLS(t *testing.T) {
	env := startTLS(t, 2, nil)
	c := dial(t, env.addr)
	// A request body follows the head: the lingering close discards it.
	send(t, c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("z", 100000))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusBadRequest || string(b) != "400 Bad Request: plain HTTP was sent to a TLS port\r\n" || !resp.Close {
		t.Fatalf("plain HTTP got %d %q (close %v), %v", resp.StatusCode, b, resp.Close, err)
	}
	for _, in := range []string{
		"\x00\x01garbage\r\n",
		"\x16\x03\x01\x40\x01" + strings.Repeat("\x01", 20), // a record past 16 KiB
		"\x16\x03\x01\x00\x04\x02\x00\x00\x00",              // a ServerHello
		"\x16\x03\x01\x00\x04\x01\x02\x00\x00",              // a 128 KiB ClientHello
	} {
		c := dial(t, env.addr)
		send(t, c, in)
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "\x15\x03\x01\x00\x02\x02\x32" {
			t.Fatalf("%q got %q, %v; want a decode_error alert, then EOF", in, b, err)
		}
	}
	s := &env.srv.Stats
	if s.PlainHTTP.Load() != 1 || s.NotTLS.Load() != 4 {
		t.Fatalf("plain HTTP %d, not TLS %d; want 1 and 4", s.PlainHTTP.Load(), s.NotTLS.Load())
	}
}

// TestTLSBadRecordAfterHandshake: a forged record after the handshake is
// answered with an alert and closes the connection.
func TestTLSBadRecordAfterHandshake(t *testing.T) {
	env := startTLS(t, 2, nil)
	raw, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, env.clientConfig())
	echo(t, c, bufio.NewReader(c), "ok")
	forged := append([]byte{23, 3, 3, 0, 40}, make([]byte, 40)...)
	if _, err := raw.Write(forged); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err == nil {
		t.Fatal("the connection ended cleanly after a forged record; want an alert")
	}
	testutil.WaitFor(t, 10*time.Second, "the record error to be counted", func() bool {
		return env.srv.Stats.RecordErrors.Load() == 1
	})
}

// TestTLSInspectorServesBoth: with the inspector, one port serves TLS and
// plain text.
func TestTLSInspectorServesBoth(t *testing.T) {
	env := startTLS(t, 2, func(s *conn.TLSServer) { s.Inspector = true })
	p := dial(t, env.addr)
	echo(t, p, bufio.NewReader(p), "plain")
	c := env.dialTLS(t, env.clientConfig())
	echo(t, c, bufio.NewReader(c), "tls")
	if s := &env.srv.Stats; s.PlainText.Load() != 1 || s.Handshakes.Load() != 1 {
		t.Fatalf("plain %d, handshakes %d; want 1 and 1", s.PlainText.Load(), s.Handshakes.Load())
	}
}

// TestTLSCertReloadKeepsConnections: new certificate files are picked up
// by the next handshake once Check sees them change, while a connection
// made with the old certificate goes on working; a broken file keeps the
// last good certificate.
func TestTLSCertReloadKeepsConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := testutil.NewCert(t, "127.0.0.1")
	writeFiles := func() {
		t.Helper()
		for f, data := range map[string][]byte{certFile: cert.CertPEM, keyFile: cert.KeyPEM} {
			tmp := f + ".tmp"
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeFiles()
	load := func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		return &c, err
	}
	r, err := conn.NewCertReloader(load, []string{certFile, keyFile})
	if err != nil {
		t.Fatal(err)
	}
	env := startTLS(t, 2, func(s *conn.TLSServer) {
		s.Config = &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
	})
	env.cert = cert
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	old := env.dialTLS(t, env.clientConfig())
	oldR := bufio.NewReader(old)
	echo(t, old, oldR, "before")
	first := serial(old)
	if changed, err := r.Check(); changed || err != nil {
		t.Fatalf("Check with unchanged files: %v, %v", changed, err)
	}

	cert.Reissue(t, "127.0.0.1")
	writeFiles()
	if changed, err := r.Check(); !changed || err != nil {
		t.Fatalf("Check after new files: %v, %v", changed, err)
	}
	c := env.dialTLS(t, env.clientConfig())
	if serial(c) == first {
		t.Fatal("a new connection still got the old certificate")
	}
	echo(t, c, bufio.NewReader(c), "new")
	echo(t, old, oldR, "after") // the old connection is untouched

	second := serial(c)
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Check(); changed || err == nil {
		t.Fatalf("Check with a broken file: %v, %v; want an error and no swap", changed, err)
	}
	c = env.dialTLS(t, env.clientConfig())
	if serial(c) != second || r.Reloads.Load() != 1 {
		t.Fatalf("after a failed reload: serial changed %v, reloads %d", serial(c) != second, r.Reloads.Load())
	}
}

// TestTLSPicksContextBySNI: with several contexts, the client's server
// name picks the certificate (exact, then wildcard), the first answers
// the rest.
func TestTLSPicksContextBySNI(t *testing.T) {
	a := testutil.NewCert(t, "a.example.com")
	b := testutil.NewCert(t, "*.b.example.com")
	ctx := func(c *testutil.Cert, names ...string) conn.SNIContext {
		return conn.SNIContext{Config: &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}, Names: names}
	}
	cfg, err := conn.SNIConfig([]conn.SNIContext{ctx(a, "a.example.com"), ctx(b, "*.b.example.com", "exact.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	env := startTLS(t, 2, func(s *conn.TLSServer) { s.Config = cfg })
	for _, tc := range []struct {
		sni  string
		want *testutil.Cert
	}{{"a.example.com", a}, {"x.b.example.com", b}, {"EXACT.example.com", b}, {"other.example.com", a}} {
		c, err := tls.Dial("tcp", env.addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true}) // the test compares the certificate itself
		if err != nil {
			t.Fatal(err)
		}
		got := c.ConnectionState().PeerCertificates[0].Raw
		_ = c.Close()
		if string(got) != string(tc.want.TLS.Certificate[0]) {
			t.Errorf("SNI %q got the other context's certificate", tc.sni)
		}
	}
}

// gateFilter holds back input until its gate opens, then drains and
// counts everything it is shown.
type gateFilter struct {
	open *atomic.Bool
	got  *atomic.Int64
	held *atomic.Int64 // the most input shown while closed
	conn *atomic.Pointer[conn.Conn]
}

func (f gateFilter) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (f gateFilter) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (f gateFilter) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	if !f.open.Load() {
		if n := int64(buf.Len()); n > f.held.Load() {
			f.held.Store(n)
		}
		return filterchain.Stop
	}
	f.got.Add(int64(buf.Len()))
	buf.Drain(buf.Len())
	return filterchain.Stop
}

type gateFactory struct{ f gateFilter }

func (g gateFactory) CreateFilters(c *conn.Conn) {
	g.f.conn.Store(c)
	c.Filters().AddReadFilter(g.f)
}

// TestTLSResumedReadingGetsEverything: the filters pause with the plain
// text at its bound while crypto/tls has read whole records ahead; once
// they resume and drain, every byte reaches them although no more input
// arrives (a stall a client sending a request body met before).
func TestTLSResumedReadingGetsEverything(t *testing.T) {
	const limit, total = 4 << 10, 256 << 10
	g := gateFilter{open: &atomic.Bool{}, got: &atomic.Int64{}, held: &atomic.Int64{}, conn: &atomic.Pointer[conn.Conn]{}}
	env := startTLSWith(t, 2, func(s *conn.TLSServer) { s.MaxPlaintext = limit },
		[]conn.FilterFactory{gateFactory{g}})
	c := env.dialTLS(t, env.clientConfig())
	if _, err := c.Write(make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the paused filter to hold the bound", func() bool { return g.held.Load() >= limit })
	g.open.Store(true)
	g.conn.Load().ResumeReading()
	testutil.WaitFor(t, 10*time.Second, "every byte to reach the filter", func() bool { return g.got.Load() == total })
}

// TestTLSFullPoolShedsTheHandshake: with the only worker held by a stalled
// handshake and no queue, the next client's handshake is shed (closed and
// counted), and served again once the worker is free.
func TestTLSFullPoolShedsTheHandshake(t *testing.T) {
	env := startTLS(t, 1, func(s *conn.TLSServer) { s.HandshakeTimeout = 2 * time.Second })
	s := dial(t, env.addr)
	if _, err := s.Write(clientHello(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 5)); err != nil { // the worker answers, then waits
		t.Fatal(err)
	}
	raw := dial(t, env.addr)
	if _, err := raw.Write(clientHello(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		t.Fatalf("the shed client was not closed: %v", err)
	}
	if env.srv.Stats.Shed.Load() != 1 {
		t.Fatalf("shed %d, want 1", env.srv.Stats.Shed.Load())
	}
	testutil.WaitFor(t, 10*time.Second, "the stalled handshake to free the worker", func() bool {
		return env.srv.Stats.HandshakeTimeouts.Load() == 1 && env.pool.Stats().Finished == 1
	})
	c := env.dialTLS(t, env.clientConfig())
	echo(t, c, bufio.NewReader(c), "served")
}

// heldFilter drains what it is shown and records, at each read event, the
// crypto/tls buffers the connection holds.
type heldFilter struct {
	c    *conn.Conn
	got  *atomic.Int64
	held *atomic.Int64
}

func (f heldFilter) InitReadCallbacks(filterchain.ReadCallbacks) {}
func (f heldFilter) OnNewConnection() filterchain.Status         { return filterchain.Continue }
func (f heldFilter) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	f.held.Store(int64(f.c.TLS().RecordBufferBytes()))
	f.got.Add(int64(buf.Len()))
	buf.Drain(buf.Len())
	return filterchain.Stop
}

type heldFactory struct{ got, held *atomic.Int64 }

func (h heldFactory) CreateFilters(c *conn.Conn) {
	c.Filters().AddReadFilter(heldFilter{c: c, got: h.got, held: h.held})
}

// TestTLSIdleConnectionHoldsNoRecordBuffers: once a read event consumed
// all its records, the connection holds none of crypto/tls's record-layer
// buffers (docs/tls.md, "Memory of an idle connection"): not the
// handshake's, not the one lent for a small request, nor after a body of
// many records; TLS 1.3 and 1.2.
func TestTLSIdleConnectionHoldsNoRecordBuffers(t *testing.T) {
	got, held := &atomic.Int64{}, &atomic.Int64{}
	env := startTLSWith(t, 2, nil, []conn.FilterFactory{heldFactory{got: got, held: held}})
	want := int64(0)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cfg := env.clientConfig()
		cfg.MinVersion, cfg.MaxVersion = v, v
		c := env.dialTLS(t, cfg)
		for _, n := range []int{100, 256 << 10} {
			want += int64(n)
			held.Store(-2)
			if _, err := c.Write(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, "the filter to get every byte", func() bool { return got.Load() == want })
			if h := held.Load(); h != 0 {
				t.Fatalf("%s: after %d bytes were read, the connection holds %d bytes of crypto/tls buffers", tls.VersionName(v), n, h)
			}
		}
	}
}
