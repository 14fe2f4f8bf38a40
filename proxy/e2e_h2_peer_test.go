package proxy_test

// A raw HTTP/2 client (h2Peer) and the scripted upstreams the HTTP/2
// tests drive ferry with.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
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
	p.open(id, end, append([]string{":method", method, ":scheme", "http", ":path", path, ":authority", "ferry.test"}, fields...)...)
}

// open opens stream id with the name, value pairs of all, pseudo-headers
// included.
func (p *h2Peer) open(id uint32, end bool, all ...string) {
	p.t.Helper()
	p.buf.Reset()
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

// finishWhole reads until stream id ended, failing with why if the
// connection closes first, then checks the stream as expectWhole does.
func (p *h2Peer) finishWhole(id uint32, status, body, why string) {
	p.t.Helper()
	for !p.seen(id).done() {
		if _, err := p.next(); err != nil {
			p.t.Fatalf("connection closed (%v, GOAWAY %v) with %d of stream %d's %d bytes sent: %s",
				err, p.goaway != nil, p.seen(id).data.Len(), id, len(body), why)
		}
	}
	p.expectWhole(id, status, body)
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
	return testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		out := reply(head, r)
		if out == "" {
			select {
			case <-release:
			case <-waitClosed(c, r):
			}
			return false
		}
		_, err := io.WriteString(c, out)
		return err == nil
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

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
