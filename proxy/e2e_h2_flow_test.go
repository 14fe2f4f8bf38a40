package proxy_test

// Review tests of the HTTP/2 integration (proxy/h2.go and the paths it
// touches): stream lifecycles on the loop, memory handed to the codec,
// flow control and protocol framing toward the client.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// h2Seen is what a raw client saw on one stream.
type h2Seen struct {
	heads        []map[string]string // every header block: 1xx, final, trailers
	data         bytes.Buffer
	dataFrames   int
	ends         int // END_STREAM flags seen
	dataAfterEnd bool
	rst          bool
	rstCode      http2.ErrCode
}

func (s *h2Seen) status() string {
	for _, h := range s.heads {
		if st := h[":status"]; st != "" && st[0] != '1' {
			return st
		}
	}
	return ""
}

func (s *h2Seen) done() bool { return s.ends > 0 || s.rst }

// h2Peer is a raw HTTP/2 client that records what each stream receives,
// decodes header blocks with one HPACK decoder (the dynamic table is per
// connection) and, when credit is set, returns every DATA byte to the
// windows at once.
type h2Peer struct {
	t      *testing.T
	c      net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	buf    bytes.Buffer
	st     map[uint32]*h2Seen
	goaway *http2.GoAwayFrame
	credit bool
	eof    error
	acks   int // PING acknowledgements

	// Send windows, for uploads that respect flow control.
	peerInit int64
	connWin  int64
	win      map[uint32]int64
}

func dialH2Peer(t *testing.T, h *harness, settings ...http2.Setting) *h2Peer {
	t.Helper()
	return newH2Peer(t, h.dial(), settings...)
}

// dialSmallWindow connects with a small receive buffer set before the
// handshake (so TCP's window scaling matches it): a client that reads
// slowly at the TCP level, whatever its HTTP/2 windows say.
func dialSmallWindow(t *testing.T, h *harness) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newH2Peer(t *testing.T, c net.Conn, settings ...http2.Setting) *h2Peer {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	p := &h2Peer{t: t, c: c, fr: http2.NewFramer(c, c), st: map[uint32]*h2Seen{}, credit: true,
		peerInit: 65535, connWin: 65535, win: map[uint32]int64{}}
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.fr.MaxHeaderListSize = 1 << 20
	p.enc = hpack.NewEncoder(&p.buf)
	if err := p.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *h2Peer) seen(id uint32) *h2Seen {
	s := p.st[id]
	if s == nil {
		s = &h2Seen{}
		p.st[id] = s
	}
	return s
}

// request opens stream id; fields are name, value pairs after the pseudo
// headers, which are filled in for method and path.
func (p *h2Peer) request(id uint32, method, path string, end bool, fields ...string) {
	p.t.Helper()
	p.buf.Reset()
	all := append([]string{":method", method, ":scheme", "http", ":path", path, ":authority", "ferry.test"}, fields...)
	for i := 0; i+1 < len(all); i += 2 {
		_ = p.enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
	}
	if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.buf.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		p.t.Fatal(err)
	}
	p.seen(id)
	p.win[id] = p.peerInit
}

func (p *h2Peer) data(id uint32, end bool, b []byte) {
	p.t.Helper()
	if err := p.fr.WriteData(id, end, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *h2Peer) reset(id uint32) {
	p.t.Helper()
	if err := p.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
		p.t.Fatal(err)
	}
}

// next reads and records one frame.
func (p *h2Peer) next() (http2.Frame, error) {
	f, err := p.fr.ReadFrame()
	if err != nil {
		p.eof = err
		return nil, err
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		s := p.seen(f.StreamID)
		m := map[string]string{}
		for _, hf := range f.Fields {
			if old, ok := m[hf.Name]; ok {
				m[hf.Name] = old + "," + hf.Value
			} else {
				m[hf.Name] = hf.Value
			}
		}
		s.heads = append(s.heads, m)
		if f.StreamEnded() {
			s.ends++
		}
	case *http2.DataFrame:
		s := p.seen(f.StreamID)
		if s.ends > 0 {
			s.dataAfterEnd = true
		}
		s.data.Write(f.Data())
		s.dataFrames++
		if f.StreamEnded() {
			s.ends++
		}
		if n := len(f.Data()); n > 0 && p.credit {
			_ = p.fr.WriteWindowUpdate(0, uint32(n))
			if !f.StreamEnded() {
				_ = p.fr.WriteWindowUpdate(f.StreamID, uint32(n))
			}
		}
	case *http2.RSTStreamFrame:
		s := p.seen(f.StreamID)
		s.rst, s.rstCode = true, f.ErrCode
	case *http2.GoAwayFrame:
		p.goaway = f
	case *http2.SettingsFrame:
		if !f.IsAck() {
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				for id := range p.win {
					p.win[id] += int64(v) - p.peerInit
				}
				p.peerInit = int64(v)
			}
			_ = p.fr.WriteSettingsAck()
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			p.connWin += int64(f.Increment)
		} else {
			p.win[f.StreamID] += int64(f.Increment)
		}
	case *http2.PingFrame:
		if f.IsAck() {
			p.acks++
		}
	}
	return f, nil
}

// sync sends a PING and reads until its ACK: every frame sent before it
// has been processed by the proxy's loop.
func (p *h2Peer) sync() {
	p.t.Helper()
	want := p.acks + 1
	if err := p.fr.WritePing(false, [8]byte{1}); err != nil {
		p.t.Fatal(err)
	}
	p.until("PING ACK", func() bool { return p.acks >= want })
}

// upload sends body on stream id as the windows allow, reading frames for
// WINDOW_UPDATEs; it stops early if the stream ends or is reset, and
// returns what it sent.
func (p *h2Peer) upload(id uint32, body []byte, end bool) int {
	p.t.Helper()
	sent := 0
	for sent < len(body) && !p.seen(id).done() {
		n := min(int64(len(body)-sent), p.connWin, p.win[id], 16384)
		if n <= 0 {
			if _, err := p.next(); err != nil {
				p.t.Fatalf("upload on stream %d: %v after %d of %d bytes (connection window %d, stream window %d)",
					id, err, sent, len(body), p.connWin, p.win[id])
			}
			continue
		}
		p.data(id, end && sent+int(n) == len(body), body[sent:sent+int(n)])
		sent += int(n)
		p.connWin -= n
		p.win[id] -= n
	}
	return sent
}

// until reads frames until cond holds; it fails the test at EOF.
func (p *h2Peer) until(what string, cond func() bool) {
	p.t.Helper()
	for !cond() {
		if _, err := p.next(); err != nil {
			ga := ""
			if p.goaway != nil {
				ga = fmt.Sprintf(" after GOAWAY %v %q", p.goaway.ErrCode, p.goaway.DebugData())
			}
			p.t.Fatalf("waiting for %s: %v%s", what, err, ga)
		}
	}
}

func (p *h2Peer) ended(id uint32) func() bool { return func() bool { return p.seen(id).done() } }

// expectWhole checks that stream id got status and body, END_STREAM once,
// no DATA after it and no reset.
func (p *h2Peer) expectWhole(id uint32, status, body string) {
	p.t.Helper()
	s := p.seen(id)
	if s.rst {
		p.t.Fatalf("stream %d reset (%v), want %s", id, s.rstCode, status)
	}
	if got := s.status(); got != status {
		p.t.Fatalf("stream %d status %q, want %q (body %q)", id, got, status, s.data.String())
	}
	if s.data.String() != body {
		p.t.Fatalf("stream %d body %q (%d bytes), want %q (%d bytes)", id, trunc(s.data.String()), s.data.Len(), trunc(body), len(body))
	}
	if s.ends != 1 || s.dataAfterEnd {
		p.t.Fatalf("stream %d: END_STREAM %d times, DATA after it %v", id, s.ends, s.dataAfterEnd)
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func waitIdle(t *testing.T, h *harness) {
	t.Helper()
	testutil.WaitFor(t, 3*time.Second, "no request in flight (downstream_rq_active back to 0)", func() bool {
		return h.srv.Stats().Active() == 0
	})
}

// scriptUpstream answers each request on a raw connection with reply(head),
// or hangs until release when reply returns "".
func scriptUpstream(t *testing.T, release <-chan struct{}, reply func(head string, r *bufio.Reader) string) *testutil.RawServer {
	return testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			out := reply(head, r)
			if out == "" {
				select {
				case <-release:
				case <-waitClosed(c, r):
				}
				return
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	})
}

// waitClosed reports when the peer closes c (reads are drained).
func waitClosed(_ net.Conn, r *bufio.Reader) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, r)
		close(ch)
	}()
	return ch
}

// unblocker returns a function closing ch once, also registered as a
// cleanup: call it after the upstream is started, so that it runs before
// the upstream's Close waits for its handlers.
func unblocker(t *testing.T, ch chan struct{}) func() {
	var once sync.Once
	f := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(f)
	return f
}

// ---------------------------------------------------------------------------
// Bugs
// ---------------------------------------------------------------------------

// TestH2PoolPolicyBodyArrivingDuringUpFilter: with the pool policy the
// UpFilter phase runs on a worker; a small response whose body arrives in
// the same read as its head is complete (queued in the spill queue) by the
// time the stream is back on its loop. The body must still reach the client.
func TestH2PoolPolicyBodyArrivingDuringUpFilter(t *testing.T) {
	up := scriptUpstream(t, nil, func(string, *bufio.Reader) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.Policy = proxy.PolicyPool })
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/small", true)
	p.until("stream 1 to end", p.ended(1))
	s := p.seen(1)
	if s.data.String() != "hello" || s.ends != 1 || s.rst {
		cl := ""
		if len(s.heads) > 0 {
			cl = s.heads[0]["content-length"]
		}
		t.Errorf("stream 1: status %q, content-length %q, END_STREAM on the HEADERS frame: %v, reset: %v, body %q, want \"hello\"",
			s.status(), cl, s.dataFrames == 0 && s.ends == 1, s.rst, s.data.String())
	}
	// The proxy's side of the stream must end too, while the client
	// keeps its connection.
	testutil.WaitFor(t, 2*time.Second, "downstream_rq_active to return to 0 (a stream stuck in UpRecvData with its body in the spill queue stays in h2conn.streams, so the connection never goes idle)",
		func() bool { return h.srv.Stats().Active() == 0 })
}

// TestH2ResponseHeadIsNotHeldForTheBody: an upstream that sends its head
// and then thinks (a long poll, server-sent events) must not keep the
// client from seeing the head: HTTP/1 clients get it at once.
func TestH2ResponseHeadIsNotHeldForTheBody(t *testing.T) {
	release := make(chan struct{})
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := testutil.ReadHead(r); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
		<-release
		_, _ = io.WriteString(c, "later")
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	p.sync() // settings exchanged: from here the client sends nothing that would flush the proxy's output
	_ = p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	p.request(1, "GET", "/poll", true)
	for len(p.seen(1).heads) == 0 {
		if _, err := p.next(); err != nil {
			t.Fatalf("no response HEADERS while the upstream holds its body: %v (HTTP/1 clients get the head at once)", err)
		}
	}
	unblock()
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p.until("stream 1 to end", p.ended(1))
	p.expectWhole(1, "200", "later")
}

// TestH2RequestBodyTimeoutIsAGap: RequestBodyTimeout bounds the gap
// between request body reads (it is re-armed on every read for HTTP/1).
// An HTTP/2 upload that keeps flowing must not be cut by it.
func TestH2RequestBodyTimeoutIsAGap(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.opts.RequestBodyTimeout = 300 * time.Millisecond
	})
	p := dialH2Peer(t, h)
	p.request(1, "POST", "/slow", false)
	var want strings.Builder
	for i := range 12 {
		piece := fmt.Sprintf("piece%02d;", i)
		want.WriteString(piece)
		p.data(1, i == 11, []byte(piece))
		time.Sleep(60 * time.Millisecond) // a slow but steady client: every gap is well within the timeout
	}
	p.until("stream 1 to end", p.ended(1))
	p.expectWhole(1, "200", "POST /slow "+want.String())
}

// TestH2DrainStopsNewStreams: Server.Drain makes every HTTP/1 response
// close its connection. On HTTP/2 the counterpart is GOAWAY: a client that
// always has a stream in flight must not be able to keep opening streams
// on a draining connection, or the drain never ends.
func TestH2DrainStopsNewStreams(t *testing.T) {
	release := make(chan struct{})
	up := scriptUpstream(t, release, func(head string, _ *bufio.Reader) string {
		if strings.HasPrefix(head, "GET /hang") {
			return ""
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/hang", true)
	testutil.WaitFor(t, 2*time.Second, "stream 1 in flight", func() bool { return h.srv.Stats().Active() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = h.srv.Drain(ctx) // starts draining; returns at once with stream 1 in flight

	p.request(3, "GET", "/during-drain", true)
	p.until("stream 3 to end", p.ended(3))
	// Stream 3's response was the drain's chance to say GOAWAY; a stream
	// opened after it must be refused.
	p.request(5, "GET", "/after-drain", true)
	p.until("stream 5 to be answered or refused", func() bool {
		s := p.seen(5)
		return s.done() || len(s.heads) > 0 || (p.goaway != nil && p.goaway.LastStreamID < 5)
	})
	if s := p.seen(5); len(s.heads) > 0 {
		t.Fatalf("stream 5, opened while the server drains, was served (%s): no GOAWAY was sent while a stream was in flight, so the drain cannot end", s.status())
	}
	unblock()
	waitIdle(t, h)
}

// TestH2WindowOpeningDoesNotTripTheBacklogGuard: the guard in onData cuts
// off a client whose outbound backlog passes HighWatermark+1 MiB, meant
// for control-frame floods. DATA the proxy itself writes past its high
// watermark (each window-blocked stream flushes what it held as soon as a
// window opens, without looking at the socket's watermark) must not make a
// well-behaved client that reads slowly look like an abuser.
func TestH2WindowOpeningDoesNotTripTheBacklogGuard(t *testing.T) {
	const streams, size = 40, 256 << 10
	up := scriptUpstream(t, nil, func(string, *bufio.Reader) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("b", size))
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.loops = 1
		s.conn.HighWatermark = 64 << 10
	})
	p := newH2Peer(t, dialSmallWindow(t, h), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	p.credit = false
	if err := p.fr.WriteWindowUpdate(0, 64<<20); err != nil {
		t.Fatal(err)
	}
	for i := range streams {
		p.request(uint32(2*i+1), "GET", "/big", true)
	}
	p.until("every response head", func() bool {
		for i := range streams {
			if len(p.seen(uint32(2*i+1)).heads) == 0 {
				return false
			}
		}
		return true
	})
	// The client opens the stream windows, then, reading slowly, pings.
	if err := p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WritePing(false, [8]byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WritePing(false, [8]byte{9}); err != nil {
		t.Fatal(err)
	}
	p.credit = true
	all := func() bool {
		for i := range streams {
			if !p.seen(uint32(2*i + 1)).done() {
				return false
			}
		}
		return true
	}
	for !all() {
		if _, err := p.next(); err != nil {
			t.Fatalf("connection lost (%v) with responses in flight; downstream_cx_http2_backlog_overflow = %d: a client that opened its windows was cut off as an abuser",
				err, h.stat("downstream_cx_http2_backlog_overflow"))
		}
	}
	for i := range streams {
		p.expectWhole(uint32(2*i+1), "200", strings.Repeat("b", size))
	}
}

// directProxy is a ferry whose every route answers body with status 403.
func directProxy(t *testing.T, body string, mod func(*setup)) *harness {
	return startProxy(t, nil, func(s *setup) {
		s.routes.VirtualHosts = []router.VirtualHostSpec{{Name: "all", Domains: []string{"*"},
			Routes: []router.RouteSpec{{Match: router.MatchSpec{Prefix: "/"}, Direct: &router.DirectResponse{Status: 403, Body: body}}}}}
		if mod != nil {
			mod(s)
		}
	})
}

// TestH2DrainKeepsAReplyWaitingForWindow: a stream whose reply waits for
// the client's flow-control window has been answered (its HEADERS are
// out, GOAWAY counts it as processed); a drain must not close the
// connection under it before the rest of the body could go.
func TestH2DrainKeepsAReplyWaitingForWindow(t *testing.T) {
	body := strings.Repeat("d", 100)
	h := directProxy(t, body, nil)
	p := dialH2Peer(t, h, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	p.credit = false
	p.sync()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = h.srv.Drain(ctx) // draining from now on
	p.request(1, "GET", "/a", true)
	p.until("the reply's first 10 bytes", func() bool { return p.seen(1).data.Len() >= 10 })
	if err := p.fr.WriteWindowUpdate(1, 1000); err != nil {
		t.Fatal(err)
	}
	for !p.seen(1).done() {
		if _, err := p.next(); err != nil {
			t.Fatalf("connection closed (%v, GOAWAY %v) with %d of stream 1's %d bytes sent: the drain dropped a reply that waited for window",
				err, p.goaway != nil, p.seen(1).data.Len(), len(body))
		}
	}
	p.expectWhole(1, "403", body)
}

// TestH2IdleTimeoutKeepsAReplyWaitingForWindow: the same for the idle
// timeout: a connection whose stream still has a reply to finish is not
// idle.
func TestH2IdleTimeoutKeepsAReplyWaitingForWindow(t *testing.T) {
	body := strings.Repeat("i", 100)
	h := directProxy(t, body, func(s *setup) { s.opts.IdleTimeout = 100 * time.Millisecond })
	p := dialH2Peer(t, h, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	p.credit = false
	p.request(1, "GET", "/a", true)
	p.until("the reply's first 10 bytes", func() bool { return p.seen(1).data.Len() >= 10 })
	// The client is slow to open its window: ten idle timeouts pass (a
	// GOAWAY and the close end the wait early).
	_ = p.c.SetReadDeadline(time.Now().Add(time.Second))
	for p.goaway == nil {
		if _, err := p.next(); err != nil {
			break
		}
	}
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_ = p.fr.WriteWindowUpdate(1, 1000)
	for !p.seen(1).done() {
		if _, err := p.next(); err != nil {
			t.Fatalf("connection closed (%v, GOAWAY %v) with %d of stream 1's %d bytes sent: the idle timeout counted a connection with a reply in progress as idle",
				err, p.goaway != nil, p.seen(1).data.Len(), len(body))
		}
	}
	p.expectWhole(1, "403", body)
}

// TestH2MaxRequestsPerConn: MaxRequestsPerConn closes a client connection
// after that many requests; on HTTP/2 that is a GOAWAY once the limit is
// reached, refusing the streams past it.
func TestH2MaxRequestsPerConn(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.opts.MaxRequestsPerConn = 2 })
	p := dialH2Peer(t, h)
	for i := range 3 {
		id := uint32(2*i + 1)
		p.request(id, "GET", "/n", true)
		p.until(fmt.Sprint("stream ", id), func() bool {
			return p.seen(id).done() || (p.goaway != nil && p.goaway.LastStreamID < id)
		})
	}
	if s := p.seen(5); len(s.heads) > 0 {
		t.Fatalf("the third request on a connection limited to 2 was served (GOAWAY %v)", p.goaway != nil)
	}
}

// TestH2RouteTimeoutStopsWithTheUpstream: the route timeout bounds the
// upstream ("did not answer in time, or stalled between two reads of the
// response body"). Once the upstream's response is complete, a client
// that keeps its flow-control window closed for a while (a paused player)
// must not have its stream reset as an upstream timeout.
func TestH2RouteTimeoutStopsWithTheUpstream(t *testing.T) {
	const size = 100 << 10
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		if strings.HasPrefix(head, "GET /hang ") {
			return "" // never answers
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("z", size))
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.opts.RouteTimeout = 200 * time.Millisecond })
	p := dialH2Peer(t, h)
	p.credit = false
	p.request(1, "GET", "/x", true)
	p.until("the first window's worth", func() bool { return p.seen(1).data.Len() >= 65535 })
	// The client keeps stream 1's window closed (the upstream is done)
	// while two more streams, one after the other, run into the route
	// timeout: stream 1's route timer, had it stayed armed, was armed
	// before either of theirs, so it would have fired by the time the
	// second has. The connection's window opens for their replies only.
	if err := p.fr.WriteWindowUpdate(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{3, 5} {
		p.request(id, "GET", "/hang", true)
		p.until(fmt.Sprint("stream ", id, " to time out"), p.ended(id))
		if st := p.seen(id).status(); st != "504" {
			t.Fatalf("stream %d to a silent upstream: status %q, want 504", id, st)
		}
	}
	if n := h.stat("upstream_rq_timeout"); n != 2 || p.seen(1).done() {
		t.Errorf("upstream_rq_timeout = %d, want 2 (the two silent upstreams), stream 1 ended early: %v: the route timeout fired for an upstream that had answered whole",
			n, p.seen(1).done())
	}
	if err := p.fr.WriteWindowUpdate(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	p.until("stream 1", p.ended(1))
	p.expectWhole(1, "200", strings.Repeat("z", size))
}

// ---------------------------------------------------------------------------
// Regression tests for risky paths (passing)
// ---------------------------------------------------------------------------

// TestH2ResetWhileWaitingForAPoolConnection: a stream queued for an
// upstream connection (the host's limit is reached) is reset by the
// client; it must leave the pool's queue, so that the connection, once
// free, goes to a live stream and never to a recycled one.
func TestH2ResetWhileWaitingForAPoolConnection(t *testing.T) {
	release := make(chan struct{})
	var seen sync.Map
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		path := strings.Fields(head)[1]
		seen.Store(path, true)
		if path == "/hold" {
			<-release
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(path)) + "\r\n\r\n" + path
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.loops = 1
		s.clusters[0].MaxConnsPerHost = 1
	})
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/hold", true)
	testutil.WaitFor(t, 2*time.Second, "/hold at the upstream", func() bool { _, ok := seen.Load("/hold"); return ok })
	p.request(3, "GET", "/queued", true)
	p.sync()
	if a := h.srv.Stats().Active(); a != 2 {
		t.Fatalf("active = %d, want 2 (stream 3 waiting for the pool)", a)
	}
	p.reset(3)
	p.sync()
	testutil.WaitFor(t, 2*time.Second, "stream 3 gone", func() bool { return h.srv.Stats().Active() == 1 })
	unblock()
	p.until("stream 1", p.ended(1))
	p.expectWhole(1, "200", "/hold")
	p.request(5, "GET", "/next", true)
	p.until("stream 5", p.ended(5))
	p.expectWhole(5, "200", "/next")
	if _, ok := seen.Load("/queued"); ok {
		t.Fatal("the reset stream's request reached the upstream")
	}
	waitIdle(t, h)
}

// gateFilter blocks its receive phase (on a worker with the pool policy)
// until the test opens the gate.
type gateFilter struct {
	entered chan struct{}
	gate    chan struct{}
}

func (f *gateFilter) Blocking() bool { return true }
func (f *gateFilter) CreateFilters(b filterchain.ChainBuilder) {
	b.AddReceiver(&gateStreamFilter{f: f}, filterchain.BeforeRoute)
}

type gateStreamFilter struct{ f *gateFilter }

func (g *gateStreamFilter) OnReceive(_ filterchain.StreamHandle, hdr filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	if v, _ := hdr.Get("x-gate"); string(v) == "1" {
		g.f.entered <- struct{}{}
		<-g.f.gate
	}
	return filterchain.StreamContinue
}
func (g *gateStreamFilter) OnDestroy() {}

// TestH2ResetAndCloseWhileOnAWorker: a stream whose filter phases run on a
// worker is reset by the client (and, in a second round, its connection
// closed) meanwhile; the hand-back must finish the abort, the request must
// never go upstream, and the connection's other streams carry on.
func TestH2ResetAndCloseWhileOnAWorker(t *testing.T) {
	var upstreamSaw sync.Map
	up := scriptUpstream(t, nil, func(head string, r *bufio.Reader) string {
		upstreamSaw.Store(strings.Fields(head)[1], true)
		// No body: a body in the head's read meets the bug of
		// TestH2PoolPolicyBodyArrivingDuringUpFilter.
		return "HTTP/1.1 204 No Content\r\n\r\n"
	})
	gf := &gateFilter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.factory.Policy = proxy.PolicyPool
		s.factory.StreamFilters = []filterchain.StreamFilterFactory{gf}
	})
	p := dialH2Peer(t, h)
	// A body that arrives while the worker owns the stream, then a reset.
	p.request(1, "POST", "/on-worker", false, "x-gate", "1", "content-length", "10")
	<-gf.entered
	p.data(1, false, []byte("01234"))
	p.reset(1)
	p.sync()
	gf.gate <- struct{}{}
	waitIdle(t, h)
	p.request(3, "GET", "/after", true)
	p.until("stream 3", p.ended(3))
	p.expectWhole(3, "204", "")

	// The connection closes while a worker owns a stream.
	p2 := dialH2Peer(t, h)
	p2.request(1, "GET", "/closed-on-worker", true, "x-gate", "1")
	<-gf.entered
	p2.sync()
	open := h.eng.Tracker().Open()
	_ = p2.c.Close()
	testutil.WaitFor(t, 2*time.Second, "the close reached the loop", func() bool { return h.eng.Tracker().Open() < open })
	gf.gate <- struct{}{}
	waitIdle(t, h)
	for _, path := range []string{"/on-worker", "/closed-on-worker"} {
		if _, ok := upstreamSaw.Load(path); ok {
			t.Errorf("%s reached the upstream after its stream was gone", path)
		}
	}
}

// TestH2LocalReplyWaitsForTheClientsWindow: a client that advertised
// SETTINGS_INITIAL_WINDOW_SIZE=0 gets the reply's HEADERS, then its body
// as the window opens (a WINDOW_UPDATE, then a larger initial window),
// with END_STREAM once, after the last byte.
func TestH2LocalReplyWaitsForTheClientsWindow(t *testing.T) {
	body := strings.Repeat("0123456789", 10)
	h := startProxy(t, nil, func(s *setup) {
		s.routes.VirtualHosts = []router.VirtualHostSpec{{Name: "all", Domains: []string{"*"},
			Routes: []router.RouteSpec{{Match: router.MatchSpec{Prefix: "/"}, Direct: &router.DirectResponse{Status: 403, Body: body}}}}}
	})
	p := dialH2Peer(t, h, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	p.credit = false // the test opens the windows itself
	p.sync()
	p.request(1, "GET", "/a", true)
	p.request(3, "HEAD", "/a", true)
	p.request(5, "GET", "/reset-me", true)
	p.until("the three HEADERS", func() bool {
		return len(p.seen(1).heads) > 0 && p.seen(3).done() && len(p.seen(5).heads) > 0
	})
	if s := p.seen(3); s.dataFrames != 0 || s.status() != "403" || s.heads[0]["content-length"] != "100" {
		t.Fatalf("HEAD: %d DATA frames, status %s, content-length %q", s.dataFrames, s.status(), s.heads[0]["content-length"])
	}
	p.sync()
	if p.seen(1).data.Len() != 0 {
		t.Fatalf("%d bytes sent with a zero window", p.seen(1).data.Len())
	}
	p.reset(5) // the pending reply of a reset stream is dropped
	if err := p.fr.WriteWindowUpdate(1, 40); err != nil {
		t.Fatal(err)
	}
	p.until("40 bytes", func() bool { return p.seen(1).data.Len() >= 40 })
	p.sync()
	if n := p.seen(1).data.Len(); n != 40 || p.seen(1).ends != 0 {
		t.Fatalf("%d bytes, END_STREAM %d, with a 40-byte window", n, p.seen(1).ends)
	}
	if err := p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535}); err != nil {
		t.Fatal(err)
	}
	p.until("stream 1", p.ended(1))
	p.expectWhole(1, "403", body)
	p.sync()
	if s := p.seen(5); s.data.Len() != 0 {
		t.Fatalf("the reset stream got %d bytes of its reply", s.data.Len())
	}
	p.request(7, "GET", "/b", true)
	p.until("stream 7", p.ended(7))
	p.expectWhole(7, "403", body)
}

// TestH2NoBodyResponsesSendNoData: HEAD, 204 and 304 end the stream on the
// HEADERS frame (no DATA at all); a zero Content-Length too.
func TestH2NoBodyResponsesSendNoData(t *testing.T) {
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		switch strings.Fields(head)[1] {
		case "/204":
			return "HTTP/1.1 204 No Content\r\n\r\n"
		case "/304":
			return "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
		case "/empty":
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + map[bool]string{true: "", false: "hello"}[strings.HasPrefix(head, "HEAD")]
	})
	for _, pol := range []proxy.Policy{proxy.PolicyInline, proxy.PolicyPool} {
		t.Run(pol.String(), func(t *testing.T) {
			h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.Policy = pol })
			p := dialH2Peer(t, h)
			cases := []struct {
				method, path, status, cl string
			}{
				{"HEAD", "/x", "200", "5"}, {"GET", "/204", "204", ""}, {"GET", "/304", "304", ""}, {"GET", "/empty", "200", "0"},
			}
			for i, c := range cases {
				id := uint32(2*i + 1)
				p.request(id, c.method, c.path, true)
				p.until(c.path, p.ended(id))
				s := p.seen(id)
				if s.status() != c.status || s.dataFrames != 0 || s.ends != 1 || s.heads[0]["content-length"] != c.cl {
					t.Fatalf("%s %s: status %s, %d DATA frames, END_STREAM %d, content-length %q",
						c.method, c.path, s.status(), s.dataFrames, s.ends, s.heads[0]["content-length"])
				}
			}
			waitIdle(t, h)
		})
	}
}

// TestH2ResponseFramings: an interim 103 before the final head, a
// close-delimited body, a chunked body with and without trailers: each
// reaches the client whole, END_STREAM exactly once and last.
func TestH2ResponseFramings(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			switch strings.Fields(head)[1] {
			case "/103":
				_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
			case "/until-close":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nno length ")
				_, _ = io.WriteString(c, strings.Repeat("x", 100<<10))
				return // closing the connection ends the body
			case "/chunked":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
				_, _ = io.WriteString(c, "6\r\n world\r\n0\r\n\r\n")
			case "/trailers":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n")
				_, _ = io.WriteString(c, "0\r\nX-Sum: 42\r\n\r\n")
			}
		}
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/103", true)
	p.request(3, "GET", "/until-close", true)
	p.request(5, "GET", "/chunked", true)
	p.request(7, "GET", "/trailers", true)
	for _, id := range []uint32{1, 3, 5, 7} {
		p.until(fmt.Sprint("stream ", id), p.ended(id))
	}
	p.expectWhole(1, "200", "final")
	p.expectWhole(3, "200", "no length "+strings.Repeat("x", 100<<10))
	if cl := p.seen(3).heads[0]["content-length"]; cl != "" {
		t.Fatalf("close-delimited body announced content-length %q", cl)
	}
	p.expectWhole(5, "200", "hello world")
	p.expectWhole(7, "200", "hello")
	if s := p.seen(7); len(s.heads) != 2 || s.heads[1]["x-sum"] != "42" {
		t.Fatalf("trailers: %v", s.heads)
	}
	waitIdle(t, h)
}

// TestH2RequestBodyFramings: a body without content-length (chunked
// upstream, with trailers), with one, and one that breaks its
// content-length, which resets its stream only.
func TestH2RequestBodyFramings(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	p := dialH2Peer(t, h)
	p.request(1, "POST", "/chunked-up", false, "te", "trailers")
	p.data(1, false, []byte("hello "))
	p.data(1, false, []byte("world"))
	p.buf.Reset()
	_ = p.enc.WriteField(hpack.HeaderField{Name: "x-req-sum", Value: "42"})
	if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	p.request(3, "POST", "/length", false, "content-length", "5")
	p.data(3, false, []byte("12345"))
	p.data(3, true, nil)
	p.request(5, "POST", "/short", false, "content-length", "10")
	p.data(5, true, []byte("123"))
	p.request(7, "POST", "/empty-end", false)
	p.data(7, true, nil)
	for _, id := range []uint32{1, 3, 5, 7} {
		p.until(fmt.Sprint("stream ", id), p.ended(id))
	}
	p.expectWhole(1, "200", "POST /chunked-up hello world")
	if s := p.seen(1); s.heads[0]["x-te"] != "chunked" || s.heads[0]["x-trailer"] != "42" {
		t.Fatalf("chunked upload: upstream saw TE %q trailer %q", s.heads[0]["x-te"], s.heads[0]["x-trailer"])
	}
	p.expectWhole(3, "200", "POST /length 12345")
	if s := p.seen(5); !s.rst || s.rstCode != http2.ErrCodeProtocol {
		t.Fatalf("content-length mismatch: rst %v %v, status %q", s.rst, s.rstCode, s.status())
	}
	p.expectWhole(7, "200", "POST /empty-end ")
	waitIdle(t, h)
}

// TestH2EarlyEndsGiveBackUploadCredit: streams that end while the client is
// still uploading (413, a direct reply, an upstream that answers without
// reading, an upstream that closes, a reset) must give their share of the
// connection window back, so that the next stream can upload more than the
// connection window.
func TestH2EarlyEndsGiveBackUploadCredit(t *testing.T) {
	hash := hashUpstream(t, false)
	early := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		head, err := testutil.ReadHead(r)
		if err != nil {
			return
		}
		if strings.Contains(head, "/early-close") {
			return // closes without an answer, body unread
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly")
		_, _ = io.Copy(io.Discard, r)
	})
	h := startProxy(t, []string{hash.Listener.Addr().String()}, func(s *setup) {
		s.opts.MaxRequestBodyBytes = 1 << 20
		s.opts.HTTP2.InitialWindowSize = 64 << 10
		s.opts.HTTP2.ConnWindowSize = 96 << 10
		s.clusters = append(s.clusters, s.clusters[0])
		s.clusters[1].Name = "early"
		s.clusters[1].Hosts = []upstream.HostSpec{{Address: early.Addr()}}
		s.routes.VirtualHosts = []router.VirtualHostSpec{{Name: "all", Domains: []string{"*"}, Routes: []router.RouteSpec{
			{Match: router.MatchSpec{Prefix: "/direct"}, Direct: &router.DirectResponse{Status: 200, Body: "direct\n"}},
			{Match: router.MatchSpec{Prefix: "/early"}, Cluster: &router.ClusterAction{Cluster: "early"}},
			{Match: router.MatchSpec{Prefix: "/"}, Cluster: &router.ClusterAction{Cluster: "origin"}},
		}}}
	})
	p := dialH2Peer(t, h)
	p.sync()
	chunk := bytes.Repeat([]byte("u"), 48<<10)
	id := uint32(1)
	for _, path := range []string{"/direct", "/early-answer", "/early-close", "/too-large", "/reset"} {
		if path == "/too-large" {
			// No content-length: past MaxRequestBodyBytes, 413 comes once
			// the bytes arrived.
			p.request(id, "POST", path, false)
			p.upload(id, bytes.Repeat([]byte("u"), 1<<20+16<<10), false)
		} else {
			p.request(id, "POST", path, false, "content-length", "4194304")
			p.upload(id, chunk, false)
		}
		if path == "/reset" {
			p.reset(id)
		} else {
			p.until(path+" to end", p.ended(id))
			if st := p.seen(id).status(); st == "" {
				t.Fatalf("%s: no response", path)
			}
		}
		id += 2
	}
	p.sync()
	// Now a stream must be able to upload well past the connection window.
	const size = 1 << 20
	body := make([]byte, size)
	_, _ = io.ReadFull(newPattern(size), body)
	p.request(id, "POST", "/hash", false, "content-length", fmt.Sprint(size))
	if n := p.upload(id, body, true); n != size {
		t.Fatalf("uploaded %d of %d bytes", n, size)
	}
	p.until("the hash", p.ended(id))
	p.expectWhole(id, "200", fmt.Sprintf("%d %s", size, patternSum(size)))
	waitIdle(t, h)
}

// TestH2ClientGoesAwayWithStreamsInEveryState: the client's TCP connection
// closes while its streams wait for the upstream's answer, for a pool
// connection, for flow-control window (mid-body, spilled), upload into a
// stalled upstream, or hold a local reply; every stream must be aborted
// and its upstream connection let go.
func TestH2ClientGoesAwayWithStreamsInEveryState(t *testing.T) {
	release := make(chan struct{})
	var hangsClosed atomic.Int64
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			switch path := strings.Fields(head)[1]; path {
			case "/hang":
				_, _ = io.Copy(io.Discard, r) // until the proxy closes
				hangsClosed.Add(1)
				return
			case "/stall-upload":
				<-release
				return
			case "/big":
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("b", 1<<20))
			default:
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(path), path)
			}
		}
	})
	unblock := unblocker(t, release)
	defer unblock()
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.loops = 1
		s.clusters[0].MaxConnsPerHost = 8
		s.routes.VirtualHosts = []router.VirtualHostSpec{{Name: "all", Domains: []string{"*"}, Routes: []router.RouteSpec{
			{Match: router.MatchSpec{Prefix: "/direct"}, Direct: &router.DirectResponse{Status: 200, Body: strings.Repeat("r", 1000)}},
			{Match: router.MatchSpec{Prefix: "/"}, Cluster: &router.ClusterAction{Cluster: "origin"}},
		}}}
	})
	p := dialH2Peer(t, h, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	p.credit = false
	id := uint32(1)
	open := func(path string, end bool, fields ...string) uint32 {
		p.request(id, "GET", path, end, fields...)
		id += 2
		return id - 2
	}
	for range 5 {
		open("/hang", true)
	}
	big1, big2 := open("/big", true), open("/big", true)
	upl := open("/stall-upload", false, "content-length", "200000")
	p.upload(upl, bytes.Repeat([]byte("u"), 60000), false)
	for range 3 {
		open("/queued", true) // past the 8 connections: waiting for the pool
	}
	open("/direct", true)
	open("/direct", true)
	p.until("the two downloads' heads", func() bool { return len(p.seen(big1).heads) > 0 && len(p.seen(big2).heads) > 0 })
	p.sync()
	if a := h.srv.Stats().Active(); a != 11 {
		t.Fatalf("active = %d before the close, want 11 (the two local replies are done, their bodies wait in h2conn.left)", a)
	}
	_ = p.c.Close()
	waitIdle(t, h)
	testutil.WaitFor(t, 3*time.Second, "the upstream connections of /hang closed", func() bool { return hangsClosed.Load() == 5 })

	p2 := dialH2Peer(t, h)
	p2.request(1, "GET", "/after", true)
	p2.until("stream 1", p2.ended(1))
	p2.expectWhole(1, "200", "/after")
}

// TestH2ConcurrencyLimitAndRapidReset: the stream beyond
// MaxConcurrentStreams is refused and never reaches the upstream; a
// rapid-reset flood ends the connection with ENHANCE_YOUR_CALM, and no
// stream it opened is left behind.
func TestH2ConcurrencyLimitAndRapidReset(t *testing.T) {
	release := make(chan struct{})
	var reached atomic.Int64
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		reached.Add(1)
		if strings.Contains(head, "/hold") {
			<-release
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.opts.HTTP2.MaxConcurrentStreams = 4 })
	p := dialH2Peer(t, h)
	p.sync()
	for i := range 5 {
		p.request(uint32(2*i+1), "GET", "/hold", true)
	}
	p.until("stream 9 refused", p.ended(9))
	if s := p.seen(9); !s.rst || s.rstCode != http2.ErrCodeRefusedStream {
		t.Fatalf("stream 9 past the limit: rst %v code %v", s.rst, s.rstCode)
	}
	testutil.WaitFor(t, 2*time.Second, "4 requests at the upstream", func() bool { return reached.Load() == 4 })
	unblock()
	for i := range 4 {
		p.until("held streams", p.ended(uint32(2*i+1)))
		p.expectWhole(uint32(2*i+1), "200", "ok")
	}
	waitIdle(t, h)

	r := dialH2Peer(t, h)
	for i := range 400 {
		r.request(uint32(2*i+1), "GET", "/flood", true)
		r.reset(uint32(2*i + 1))
	}
	for r.goaway == nil {
		if _, err := r.next(); err != nil {
			t.Fatalf("rapid reset: connection ended (%v) without GOAWAY", err)
		}
	}
	if r.goaway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("rapid reset: GOAWAY %v", r.goaway.ErrCode)
	}
	_ = r.c.Close() // the proxy lingers after a connection error until the client goes
	waitIdle(t, h)
}

// TestH2PoolPolicyUploads: with the pool policy (filter phases on workers)
// upload bytes arrive while a worker owns the stream: they wait in the
// request pipe's spill queue, uncredited, then go once the head is sent;
// several uploads larger than every window share one connection.
// (They are answered 204 with the digest in a header: a body arriving with
// the response head meets the bug of
// TestH2PoolPolicyBodyArrivingDuringUpFilter, which also truncates large
// downloads under this policy whenever the whole body is read during the
// UpFilter hop.)
func TestH2PoolPolicyUploads(t *testing.T) {
	const size = 2 << 20
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs := sha256.New()
		n, _ := io.Copy(hs, r.Body)
		w.Header().Set("X-Sum", fmt.Sprintf("%d %x", n, hs.Sum(nil)))
		w.WriteHeader(http.StatusNoContent)
	}))
	h := startProxy(t, []string{strings.TrimPrefix(up, "http://")}, func(s *setup) {
		s.factory.Policy = proxy.PolicyPool
		s.opts.HTTP2.InitialWindowSize = 64 << 10
		s.opts.HTTP2.ConnWindowSize = 128 << 10
	})
	c := h.h2Client()
	want := fmt.Sprintf("%d %s", size, patternSum(size))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://ferry.test/hash", newPattern(size))
			if i%2 == 0 {
				req.ContentLength = size
			}
			resp, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_ = resp.Body.Close()
			if got := resp.Header.Get("X-Sum"); resp.StatusCode != 204 || got != want {
				errs <- fmt.Errorf("upload %d: %d, upstream saw %q", i, resp.StatusCode, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.stat("downstream_cx_http2_total"); n != 1 {
		t.Fatalf("HTTP/2 connections = %d, want 1", n)
	}
	waitIdle(t, h)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestH2ResetMidBodyWithHeldBytes: the client resets a download whose
// bytes wait for its window (held by the stream and spilled); nothing
// more is sent on it, its upstream connection is let go, and a stream
// after it on the same connection downloads the same size whole.
func TestH2ResetMidBodyWithHeldBytes(t *testing.T) {
	const size = 1 << 20
	up := hashUpstream(t, false)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.opts.Spill.MemLimit = 64 << 10
		s.opts.Spill.Dir = t.TempDir()
	})
	p := dialH2Peer(t, h)
	p.credit = false // the 65535-byte windows fill up: the rest is held
	p.request(1, "GET", fmt.Sprintf("/big/%d", size), true)
	p.until("the first window's worth", func() bool { return p.seen(1).data.Len() >= 65535 })
	p.reset(1)
	p.sync()
	got := p.seen(1).data.Len()
	waitIdle(t, h)
	p.credit = true
	if err := p.fr.WriteWindowUpdate(0, 65535); err != nil { // the connection window the reset stream used
		t.Fatal(err)
	}
	p.request(3, "GET", fmt.Sprintf("/big/%d", size), true)
	p.until("stream 3", p.ended(3))
	if s := p.seen(3); s.data.Len() != size || sha(s.data.Bytes()) != patternSum(size) || s.ends != 1 {
		t.Fatalf("stream 3: %d bytes, END_STREAM %d", s.data.Len(), s.ends)
	}
	if n := p.seen(1).data.Len(); n != got {
		t.Fatalf("%d bytes of stream 1 arrived after its RST_STREAM", n-got)
	}
}

// TestH2RetryAndInterimResponses: a GET whose pooled upstream connection
// turns out dead is retried on a fresh one, invisibly; an upstream's
// unsolicited 100 Continue is dropped; a client's Expect: 100-continue
// gets no HTTP/1 interim bytes on the HTTP/2 connection.
func TestH2RetryAndInterimResponses(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for n := 0; ; n++ {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			if strings.HasPrefix(head, "POST") {
				_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
				body := make([]byte, 4)
				_, _ = io.ReadFull(r, body)
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n%s", body)
				continue
			}
			if n > 0 {
				return // a GET on a reused connection dies unanswered
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	p := dialH2Peer(t, h)
	for i := range 3 {
		id := uint32(2*i + 1)
		p.request(id, "GET", "/r", true)
		p.until("GET", p.ended(id))
		p.expectWhole(id, "200", "ok")
		p.sync()
	}
	if n := h.stat("upstream_rq_retry"); n == 0 {
		t.Fatal("no retry happened: the test did not reach the path")
	}
	p.request(7, "POST", "/e", false, "expect", "100-continue", "content-length", "4")
	p.data(7, true, []byte("ping"))
	p.until("POST", p.ended(7))
	p.expectWhole(7, "200", "ping")
	if len(p.seen(7).heads) != 1 {
		t.Fatalf("POST got %d header blocks, want the final one only", len(p.seen(7).heads))
	}
	waitIdle(t, h)
}

// TestH2IdleGoAwayThenNewStream: after the idle timeout's GOAWAY, a stream
// the client opens (it had not seen the GOAWAY yet) is not served and
// leaves nothing behind.
func TestH2IdleGoAwayThenNewStream(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.opts.IdleTimeout = 50 * time.Millisecond })
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/x", true)
	p.until("stream 1", p.ended(1))
	for p.goaway == nil {
		if _, err := p.next(); err != nil {
			t.Fatalf("no GOAWAY after the idle timeout: %v", err)
		}
	}
	p.request(3, "GET", "/late", true) // may hit a closed socket: either way, not served
	for {
		if _, err := p.next(); err != nil {
			break
		}
	}
	if s := p.seen(3); len(s.heads) > 0 {
		t.Fatalf("a stream opened after GOAWAY(last=%d) was served", p.goaway.LastStreamID)
	}
	if p.goaway.LastStreamID != 1 {
		t.Fatalf("GOAWAY last stream %d, want 1", p.goaway.LastStreamID)
	}
	waitIdle(t, h)
}
