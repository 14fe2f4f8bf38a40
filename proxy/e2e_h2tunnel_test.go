package proxy_test

// WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through ferry
// (proxy/h2tunnel.go): a raw HTTP/2 client (h2Peer) with a tiny WebSocket
// framer on one side, github.com/coder/websocket's echo upstream
// (newWSEcho) or a scripted one on the other.

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
)

// wsFrame is a masked client frame: FIN, opcode op, payload (RFC 6455
// 5.2). The mask is fixed: the tests need no secrecy.
func wsFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// wsParse parses one unmasked server frame at the start of b: its
// opcode, payload and size, or ok false when b holds no whole frame.
func wsParse(b []byte) (op byte, payload []byte, size int, ok bool) {
	if len(b) < 2 {
		return 0, nil, 0, false
	}
	op, n, off := b[0]&0x0f, int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, false
		}
		n, off = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, false
		}
		n, off = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b) < off+n {
		return 0, nil, 0, false
	}
	return op, b[off : off+n], off + n, true
}

// wsStream is a WebSocket over stream id of a raw HTTP/2 client.
type wsStream struct {
	p   *h2Peer
	id  uint32
	off int // bytes of the stream's DATA already parsed
}

// extConnect opens stream id as an extended CONNECT for websocket to path
// and waits for its response head.
func extConnect(p *h2Peer, id uint32, path string, fields ...string) *wsStream {
	p.t.Helper()
	openExtConnect(p, id, path, fields...)
	p.until("the response head", func() bool { return len(p.seen(id).heads) > 0 || p.seen(id).done() })
	return &wsStream{p: p, id: id}
}

// openExtConnect sends the HEADERS of extConnect.
func openExtConnect(p *h2Peer, id uint32, path string, fields ...string) {
	p.t.Helper()
	p.open(id, false, append([]string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", path,
		":authority", "ferry.test", "sec-websocket-version", "13"}, fields...)...)
}

// send writes one client message as DATA, within the windows.
func (w *wsStream) send(op byte, payload []byte) {
	w.p.t.Helper()
	w.p.upload(w.id, wsFrame(op, payload), false)
}

// recv reads frames until one whole server message is in.
func (w *wsStream) recv() (byte, []byte) {
	w.p.t.Helper()
	var op byte
	var payload []byte
	w.p.until("a WebSocket message", func() bool {
		o, pl, n, ok := wsParse(w.p.seen(w.id).data.Bytes()[w.off:])
		if ok {
			op, payload = o, pl
			w.off += n
		}
		return ok
	})
	return op, payload
}

// settingSeen reports whether the server's SETTINGS, read by now, had
// ENABLE_CONNECT_PROTOCOL=1.
func settingSeen(t *testing.T, h *harness) bool {
	t.Helper()
	c := h.dial()
	p := newH2Peer(t, c)
	for {
		f, err := p.next()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingEnableConnectProtocol)
			_ = c.Close()
			return ok && v == 1
		}
	}
}

// TestH2WebSocketThroughFerry: an HTTP/2 client's extended CONNECT reaches
// a WebSocket upstream as an HTTP/1.1 upgrade and comes back as a 200
// without END_STREAM; 10,000 messages of 1 byte to 4 KiB go both ways
// intact, another stream of the connection is served meanwhile, and the
// close handshake ends the stream with END_STREAM. The access log line
// says 101 (the upstream's status, as Envoy logs it) with the bytes each
// way. An upstream that answers without switching (403) is passed back
// as an ordinary response.
func TestH2WebSocketThroughFerry(t *testing.T) {
	logs := &logRecorder{}
	up, h, _ := wsProxy(t, 60*time.Second, func(s *setup) { s.factory.AccessLog = logs })
	if !settingSeen(t, h) {
		t.Fatal("SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised")
	}
	p := dialH2Peer(t, h)
	_ = p.c.SetDeadline(time.Now().Add(60 * time.Second))
	w := extConnect(p, 1, "/ws")
	s := p.seen(1)
	if s.status() != "200" || s.done() {
		t.Fatalf("extended CONNECT: status %q, ended %v, reset %v", s.status(), s.ends, s.rst)
	}
	for name := range s.heads[0] {
		if name == "sec-websocket-accept" || name == "upgrade" || name == "connection" {
			t.Fatalf("response head carries %s: %v", name, s.heads[0])
		}
	}
	var sent int
	for i := range 10000 {
		op, msg := byte(2), bytes.Repeat([]byte{byte(i)}, 1+i%4096)
		if i%2 == 0 {
			op, msg = 1, []byte(fmt.Sprintf("%d:%s", i, strings.Repeat("t", i%4096)))
		}
		w.send(op, msg)
		gop, got := w.recv()
		if gop != op || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: opcode %d, %d bytes; want %d, %d bytes", i, gop, len(got), op, len(msg))
		}
		sent += len(msg)
		if i == 5000 { // the connection's other streams go on
			p.request(3, "GET", "/plain", true)
			p.until("the plain request's end", p.ended(3))
			if p.seen(3).rst {
				t.Fatal("a plain request beside the tunnel was reset")
			}
		}
	}
	bye := binary.BigEndian.AppendUint16(nil, uint16(websocket.StatusNormalClosure))
	w.send(8, bye)
	if op, got := w.recv(); op != 8 || len(got) < 2 || !bytes.Equal(got[:2], bye) {
		t.Fatalf("close answer: opcode %d %q", op, got)
	}
	p.until("the stream's end", p.ended(1))
	if s.rst || s.ends != 1 {
		t.Fatalf("end: reset %v (%v), END_STREAM %d", s.rst, s.rstCode, s.ends)
	}
	testutil.WaitFor(t, 10*time.Second, "the upstream saw the close", func() bool {
		cl := up.closes()
		return len(cl) == 1 && cl[0] == websocket.StatusNormalClosure
	})
	// An upstream that does not switch answers an ordinary response.
	extConnect(p, 5, "/forbidden")
	p.until("the refusal's end", p.ended(5))
	p.expectWhole(5, "403", "no\n")
	waitAccessLine(t, logs, 101, sent)
	waitIdle(t, h)
}

// waitAccessLine waits for an access log line with code and at least
// least bytes counted each way.
func waitAccessLine(t *testing.T, logs *logRecorder, code, least int) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("an access log line %d with %d bytes each way", code, least), func() bool {
		for _, e := range logs.all() {
			if e.ResponseCode == code && int(e.BytesReceived) >= least && int(e.BytesSent) >= least {
				return true
			}
		}
		return false
	})
}

// wsAccept is the Sec-WebSocket-Accept for key (RFC 6455 4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// switchUpstream answers each upgrade with a 101 whose
// Sec-WebSocket-Accept fits the request's key (or is wrong, with bad),
// then hands the connection to tunnel, which returns when done. heads
// receives each request head.
func switchUpstream(t *testing.T, bad bool, heads chan<- string, tunnel func(c net.Conn, r *bufio.Reader)) *testutil.RawServer {
	return testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		if heads != nil {
			heads <- head
		}
		key := ""
		for _, line := range strings.Split(head, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "sec-websocket-key") {
				key = strings.TrimSpace(v)
			}
		}
		accept := wsAccept(key)
		if bad {
			accept = wsAccept(key + "x")
		}
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" +
			"Sec-WebSocket-Accept: " + accept + "\r\nX-Up: yes\r\n\r\n"))
		tunnel(c, r)
		return false
	})
}

// TestH2WebSocketRequestAndHalfClose: the upgrade the upstream gets
// (GET, Upgrade, Connection, a fresh 16-byte key, the client's
// sec-websocket-* fields, none of its own key); then the client's
// END_STREAM reaches the upstream as a FIN after its last bytes, and the
// upstream may still answer after it: its bytes and close come back as
// DATA and END_STREAM.
func TestH2WebSocketRequestAndHalfClose(t *testing.T) {
	heads := make(chan string, 1)
	up := switchUpstream(t, false, heads, func(c net.Conn, r *bufio.Reader) {
		var got bytes.Buffer
		_, _ = got.ReadFrom(r) // until ferry's FIN
		_, _ = c.Write(append([]byte("after-fin:"), got.Bytes()...))
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/chat?room=1", "sec-websocket-protocol", "chat", "sec-websocket-key", "client-key", "x-app", "1")
	head := <-heads
	testutil.Contains(t, "the upstream's request", head, "GET /chat?room=1 HTTP/1.1\r\n", "Host: ferry.test\r\n",
		"Upgrade: websocket\r\n", "Connection: upgrade\r\n", "sec-websocket-version: 13\r\n", "sec-websocket-protocol: chat\r\n", "x-app: 1\r\n")
	var key string
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, "sec-websocket-key") {
			if key != "" {
				t.Fatalf("two keys in %q", head)
			}
			key = v
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		t.Fatalf("key %q: %d bytes, %v; want 16 random bytes", key, len(raw), err)
	}
	if s := p.seen(1); s.status() != "200" || s.heads[0]["x-up"] != "yes" {
		t.Fatalf("head %v", s.heads)
	}
	p.data(1, false, []byte("last "))
	p.data(1, true, []byte("words"))
	p.until("the stream's end", p.ended(1))
	s := p.seen(1)
	if s.rst || s.data.String() != "after-fin:last words" {
		t.Fatalf("got %q, reset %v (%v); want the upstream's answer after the FIN", s.data.String(), s.rst, s.rstCode)
	}
	// END_STREAM on the request itself: the upstream gets its FIN right
	// after the 101.
	p.open(3, true, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/",
		":authority", "ferry.test", "sec-websocket-version", "13")
	<-heads
	p.until("stream 3's end", p.ended(3))
	if s := p.seen(3); s.rst || s.status() != "200" || s.data.String() != "after-fin:" {
		t.Fatalf("stream 3: %q %q, reset %v (%v)", s.status(), s.data.String(), s.rst, s.rstCode)
	}
	waitIdle(t, h)
}

// TestH2WebSocketResets: a client's RST_STREAM closes the upstream
// connection; an upstream that closes ends the stream with END_STREAM
// after its last bytes, one that resets resets the stream with
// CONNECT_ERROR; the other streams of the connection go on.
func TestH2WebSocketResets(t *testing.T) {
	closed := make(chan string, 2)
	up := switchUpstream(t, false, nil, func(c net.Conn, r *bufio.Reader) {
		line, _ := r.ReadString('\n')
		switch line {
		case "bye\n":
			_, _ = c.Write([]byte("so long"))
			return // the upstream closes
		case "rst\n":
			_ = c.(*net.TCPConn).SetLinger(0)
			return // the upstream resets
		}
		_, err := new(bytes.Buffer).ReadFrom(r)
		closed <- fmt.Sprintf("%q %v", line, err)
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/a")
	extConnect(p, 3, "/b")
	p.data(1, false, []byte("hello\n"))
	p.sync()
	p.reset(1)
	select {
	case got := <-closed:
		if got != `"hello\n" <nil>` {
			t.Fatalf("upstream read %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open after the client's reset")
	}
	p.data(3, false, []byte("bye\n"))
	p.until("stream 3's end", p.ended(3))
	if s := p.seen(3); s.rst || s.data.String() != "so long" || s.ends != 1 {
		t.Fatalf("stream 3: %q, reset %v (%v), END_STREAM %d", s.data.String(), s.rst, s.rstCode, s.ends)
	}
	extConnect(p, 5, "/c")
	p.data(5, false, []byte("rst\n"))
	p.until("stream 5's end", p.ended(5))
	if s := p.seen(5); !s.rst || s.rstCode != http2.ErrCodeConnect || s.ends != 0 {
		t.Fatalf("upstream reset: reset %v (%v), END_STREAM %d; want CONNECT_ERROR", s.rst, s.rstCode, s.ends)
	}
	waitIdle(t, h)
}

// TestH2WebSocketDataAfterUpstreamClose: DATA the client sends after
// the upstream closed, while ferry still holds the upstream's last bytes
// for want of window, is dropped: the stream still ends with all of them
// and END_STREAM, not with a 400 for "DATA before the tunnel".
func TestH2WebSocketDataAfterUpstreamClose(t *testing.T) {
	const last = "what the upstream sent before its FIN"
	gone := make(chan struct{})
	up := switchUpstream(t, false, nil, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write([]byte(last))
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = new(bytes.Buffer).ReadFrom(r) // until ferry closed its side: it handled the FIN
		close(gone)
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 8})
	p.credit = false
	extConnect(p, 1, "/ws")
	p.until("the first 8 bytes", func() bool { return p.seen(1).data.Len() == 8 || p.seen(1).done() })
	<-gone
	p.data(1, false, []byte("late\n"))
	p.sync()
	if s := p.seen(1); s.done() {
		t.Fatalf("DATA after the upstream's close: status %v, reset %v (%v)", s.heads, s.rst, s.rstCode)
	}
	_ = p.fr.WriteWindowUpdate(1, 1<<10)
	p.until("the stream's end", p.ended(1))
	if s := p.seen(1); s.rst || s.data.String() != last || s.ends != 1 {
		t.Fatalf("got %q, reset %v (%v), END_STREAM %d; want all the upstream sent", s.data.String(), s.rst, s.rstCode, s.ends)
	}
	waitIdle(t, h)
}

// TestH2WebSocketRefusals: a wrong Sec-WebSocket-Accept is a 502; a
// listener with websocket turned off does not advertise the setting, so
// :protocol is a malformed request; DATA before the 200 is a 400.
func TestH2WebSocketRefusals(t *testing.T) {
	bad := switchUpstream(t, true, nil, func(net.Conn, *bufio.Reader) {})
	h := startProxy(t, []string{bad.Addr()}, nil)
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/ws")
	p.until("stream 1's end", p.ended(1))
	if got := p.seen(1).status(); got != "502" {
		t.Fatalf("wrong accept: %q", got)
	}

	// DATA before the tunnel: the upstream never answers.
	release := make(chan struct{})
	hang := scriptUpstream(t, release, func(string, *bufio.Reader) string { return "" })
	unblock := unblocker(t, release)
	h2 := startProxy(t, []string{hang.Addr()}, nil)
	p = dialH2Peer(t, h2)
	openExtConnect(p, 1, "/ws")
	p.data(1, false, []byte("early"))
	p.until("stream 1's end", p.ended(1))
	if got := p.seen(1).status(); got != "400" {
		t.Fatalf("early DATA: %q", got)
	}
	unblock()

	off := startProxy(t, []string{bad.Addr()}, func(s *setup) { s.factory.Upgrades = []string{} })
	if settingSeen(t, off) {
		t.Fatal("SETTINGS_ENABLE_CONNECT_PROTOCOL advertised with websocket off")
	}
	p = dialH2Peer(t, off)
	extConnect(p, 1, "/ws")
	p.until("stream 1's end", p.ended(1))
	if s := p.seen(1); !s.rst || s.rstCode != http2.ErrCodeProtocol {
		t.Fatalf("not advertised: reset %v (%v), heads %v", s.rst, s.rstCode, s.heads)
	}
}

// TestH2WebSocketFlowControl: a client sending 32 MiB into a tunnel
// whose upstream reads nothing is stopped by the flow-control windows
// ferry returns only as the upstream takes the bytes: the upload stalls
// and ferry's heap stays far below what was offered. Once the upstream
// reads, the rest flows, every byte intact, and 4 MiB back (past every
// window) reach the client whole before the upstream's close ends the
// stream.
func TestH2WebSocketFlowControl(t *testing.T) {
	const size, back = 32 << 20, 4 << 20
	release := make(chan struct{})
	up := switchUpstream(t, false, nil, func(c net.Conn, r *bufio.Reader) {
		<-release
		hs := sha256.New()
		n, _ := r.WriteTo(hs)
		_, _ = fmt.Fprintf(c, "%d:%x;", n, hs.Sum(nil))
		_, _ = c.Write(bytes.Repeat([]byte("b"), back))
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	p := dialH2Peer(t, h)
	_ = p.c.SetDeadline(time.Now().Add(60 * time.Second))
	extConnect(p, 1, "/ws")
	w := watchHeap()
	sent := 0
	for stalls := 0; stalls < 3 && sent < size; {
		n := int(min(int64(size-sent), p.connWin, p.win[1], 16384))
		if n <= 0 {
			before := p.connWin + p.win[1]
			p.sync()
			if p.connWin+p.win[1] == before {
				stalls++
			} else {
				stalls = 0
			}
			continue
		}
		p.data(1, false, body[sent:sent+n])
		sent += n
		p.connWin -= int64(n)
		p.win[1] -= int64(n)
	}
	growth := w.growth()
	if sent >= size || growth > 8<<20 {
		t.Fatalf("sent %d of %d bytes to an upstream reading nothing, heap grew %d KiB", sent, size, growth>>10)
	}
	t.Logf("stalled after %d KiB (socket buffers, conn's queue and one stream window), heap grew %d KiB", sent>>10, growth>>10)
	unblock()
	p.upload(1, body[sent:], true)
	p.until("the stream's end", p.ended(1))
	s := p.seen(1)
	want := fmt.Sprintf("%d:%x;", size, sha256.Sum256(body)) + strings.Repeat("b", back)
	if s.rst || s.data.String() != want {
		t.Fatalf("got %d bytes (%q...), reset %v (%v)", s.data.Len(), trunc(s.data.String()), s.rst, s.rstCode)
	}
	waitIdle(t, h)
}

// TestH2WebSocketIdleTimeout: a tunnel that moves nothing for the
// listener's idle timeout is reset (CANCEL) and its upstream connection
// closed; until then bytes flow.
func TestH2WebSocketIdleTimeout(t *testing.T) {
	closed := make(chan error, 1)
	up := switchUpstream(t, false, nil, func(c net.Conn, r *bufio.Reader) {
		line, _ := r.ReadString('\n')
		_, _ = c.Write([]byte(line))
		_, err := new(bytes.Buffer).ReadFrom(r)
		closed <- err
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.IdleTimeout = 300 * time.Millisecond })
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/ws")
	p.data(1, false, []byte("ping\n"))
	p.until("the echo", func() bool { return p.seen(1).data.String() == "ping\n" })
	p.until("the idle reset", p.ended(1))
	if s := p.seen(1); !s.rst || s.rstCode != http2.ErrCodeCancel || s.ends != 0 {
		t.Fatalf("idle tunnel: reset %v (%v), END_STREAM %d", s.rst, s.rstCode, s.ends)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Logf("upstream read ended with %v", err) // a FIN or a reset: either closes it
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open")
	}
	waitIdle(t, h)
}

// TestH2WebSocketRouteRefusal: where the listener allows websocket but the
// route turns it off, an extended CONNECT is answered 403 (Envoy's answer
// to a WebSocket on a route without it), counted in
// local_reply_bad_request, and nothing reaches the upstream; a listener
// speaking HTTP/2 upstream does not offer extended CONNECT at all.
func TestH2WebSocketRouteRefusal(t *testing.T) {
	up := switchUpstream(t, false, nil, func(net.Conn, *bufio.Reader) {})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		vh := &s.routes.VirtualHosts[0]
		vh.Routes = append([]router.RouteSpec{{Match: router.MatchSpec{Prefix: "/nows"},
			Cluster: &router.ClusterAction{Cluster: "origin", Upgrades: []router.Upgrade{{Type: "websocket", Enabled: false}}}}},
			vh.Routes...)
	})
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/nows")
	p.until("stream 1's end", p.ended(1))
	if got := p.seen(1).status(); got != "403" || h.stat("local_reply_bad_request") != 1 || up.Accepted.Load() != 0 {
		t.Fatalf("route without websocket: %q, %d counted, %d upstream connections",
			got, h.stat("local_reply_bad_request"), up.Accepted.Load())
	}
	h2up := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.UpstreamHTTP2 = true })
	if settingSeen(t, h2up) {
		t.Fatal("SETTINGS_ENABLE_CONNECT_PROTOCOL advertised over an HTTP/2 upstream")
	}
	// :protocol connect names CONNECT's entry, which enables CONNECT
	// termination on connect routes, not an upgrade of a path route: 403,
	// as an HTTP/1.1 "Upgrade: connect" is dropped (upgrade.go).
	up2 := switchUpstream(t, false, nil, func(net.Conn, *bufio.Reader) {})
	withConnect := startProxy(t, []string{up2.Addr()}, func(s *setup) { s.factory.Upgrades = []string{"websocket", "CONNECT"} })
	p = dialH2Peer(t, withConnect)
	p.open(1, false, ":method", "CONNECT", ":protocol", "connect", ":scheme", "http", ":path", "/",
		":authority", "ferry.test")
	p.until("stream 1's end", p.ended(1))
	if got := p.seen(1).status(); got != "403" || up2.Accepted.Load() != 0 {
		t.Fatalf(":protocol connect on a path route: %q, %d upstream connections", got, up2.Accepted.Load())
	}
}

// TestH2WebSocketRouteOnly: a listener that turns websocket off still
// advertises extended CONNECT when a route of its table turns it on; that
// route tunnels, the others answer 403.
func TestH2WebSocketRouteOnly(t *testing.T) {
	up := switchUpstream(t, false, nil, func(c net.Conn, r *bufio.Reader) {
		line, _ := r.ReadString('\n')
		_, _ = c.Write([]byte("echo:" + line))
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.factory.Upgrades = []string{}
		vh := &s.routes.VirtualHosts[0]
		vh.Routes = append([]router.RouteSpec{{Match: router.MatchSpec{Prefix: "/ws"},
			Cluster: &router.ClusterAction{Cluster: "origin", Upgrades: []router.Upgrade{{Type: "websocket", Enabled: true}}}}},
			vh.Routes...)
	})
	if !settingSeen(t, h) {
		t.Fatal("SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised for a route's websocket")
	}
	p := dialH2Peer(t, h)
	extConnect(p, 1, "/other")
	p.until("stream 1's end", p.ended(1))
	if got := p.seen(1).status(); got != "403" {
		t.Fatalf("route without websocket: %q", got)
	}
	extConnect(p, 3, "/ws")
	p.data(3, false, []byte("hi\n"))
	p.until("stream 3's end", p.ended(3))
	if s := p.seen(3); s.status() != "200" || s.rst || s.data.String() != "echo:hi\n" {
		t.Fatalf("route with websocket: %q %q, reset %v", s.status(), s.data.String(), s.rst)
	}
}
