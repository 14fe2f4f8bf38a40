package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// WebSocket and HTTP/1.1 Upgrade through ferry (proxy/upgrade.go), with
// github.com/coder/websocket on both ends.

// wsEcho is a WebSocket echo upstream. A text message "close:N" makes it
// start the close handshake with status N; the close status the client
// sent is recorded.
type wsEcho struct {
	url    string
	mu     sync.Mutex
	closed []websocket.StatusCode
}

func newWSEcho(t testing.TB) *wsEcho {
	e := &wsEcho{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/forbidden" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow() //nolint:errcheck // a hijacked connection is the handler's to close
		c.SetReadLimit(1 << 20)
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				e.mu.Lock()
				e.closed = append(e.closed, websocket.CloseStatus(err))
				e.mu.Unlock()
				return
			}
			if s, ok := strings.CutPrefix(string(msg), "close:"); ok {
				var code int
				_, _ = fmt.Sscan(s, &code)
				_ = c.Close(websocket.StatusCode(code), "server says bye")
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *wsEcho) closes() []websocket.StatusCode {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]websocket.StatusCode(nil), e.closed...)
}

// logRecorder keeps the access log entries.
type logRecorder struct {
	mu      sync.Mutex
	entries []accesslog.Entry
}

func (l *logRecorder) Log(e *accesslog.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := *e
	c.RequestHeaders, c.ResponseHeaders = nil, nil // views into the stream
	c.Method, c.URI = nil, nil
	l.entries = append(l.entries, c)
}

func (l *logRecorder) all() []accesslog.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]accesslog.Entry(nil), l.entries...)
}

// wsProxy starts a WebSocket echo upstream and a proxy to it (mod as
// startProxy's), with a context the test's WebSocket calls end by, d from
// now.
func wsProxy(t *testing.T, d time.Duration, mod func(*setup)) (*wsEcho, *harness, context.Context) {
	t.Helper()
	up := newWSEcho(t)
	h := startProxy(t, []string{strings.TrimPrefix(up.url, "http://")}, mod)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return up, h, ctx
}

// TestWebSocketThroughFerry: 10,000 messages of 1 byte to 4 KiB go both
// ways intact, then the client's close handshake reaches the upstream
// and its answer comes back; the access log line says 101 with the
// tunnel's bytes.
func TestWebSocketThroughFerry(t *testing.T) {
	logs := &logRecorder{}
	up, h, ctx := wsProxy(t, 60*time.Second, func(s *setup) { s.factory.AccessLog = logs })
	c, resp, err := websocket.Dial(ctx, "ws://"+h.addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through ferry: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c.SetReadLimit(1 << 20)
	var sent int64
	for i := range 10000 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i%4096)
		typ := websocket.MessageBinary
		if i%2 == 0 {
			typ = websocket.MessageText
			msg = []byte(fmt.Sprintf("%d:%s", i, strings.Repeat("t", i%4096)))
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gt, got, err := c.Read(ctx)
		if err != nil || gt != typ || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: type %v, %d bytes, %v; want %v, %d bytes", i, gt, len(got), err, typ, len(msg))
		}
		sent += int64(len(msg))
	}
	if err := c.Close(websocket.StatusNormalClosure, "client says bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, "the upstream saw the close", func() bool {
		cl := up.closes()
		return len(cl) == 1 && cl[0] == websocket.StatusNormalClosure
	})
	testutil.WaitFor(t, 10*time.Second, "the access log line", func() bool { return len(logs.all()) == 1 })
	e := logs.all()[0]
	if e.ResponseCode != 101 || int64(e.BytesReceived) < sent || int64(e.BytesSent) < sent {
		t.Fatalf("access log: code %d, received %d, sent %d; want 101 and more than %d each way",
			e.ResponseCode, e.BytesReceived, e.BytesSent, sent)
	}
	testutil.WaitFor(t, 10*time.Second, "no request active", func() bool { return h.stat("downstream_rq_active") == 0 })
}

// TestWebSocketCloseFromUpstream: the upstream's close handshake reaches
// the client with its status.
func TestWebSocketCloseFromUpstream(t *testing.T) {
	_, h, ctx := wsProxy(t, 20*time.Second, nil)
	c, _, err := websocket.Dial(ctx, "ws://"+h.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow() //nolint:errcheck // the handshake already ended it
	if err := c.Write(ctx, websocket.MessageText, []byte("close:4001")); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "server says bye" {
		t.Fatalf("read: %v; want the upstream's close 4001", err)
	}
}

// TestWebSocketRefusedByUpstream: an upstream that answers the upgrade
// with 403 is an ordinary response, and the connection serves the next
// request.
func TestWebSocketRefusedByUpstream(t *testing.T) {
	_, h, ctx := wsProxy(t, 20*time.Second, nil)
	_, resp, err := websocket.Dial(ctx, "ws://"+h.addr+"/forbidden", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: %v, %v; want the upstream's 403", err, resp)
	}
	c, r := h.dialReader()
	resp = rawExchange(t, c, r, "GET /forbidden HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", "GET")
	body := readAll(t, resp)
	if resp.StatusCode != 403 || !strings.Contains(body, "no") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	resp = rawExchange(t, c, r, "GET /forbidden HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if readAll(t, resp); resp.StatusCode != 403 {
		t.Fatalf("next request on the connection: %d", resp.StatusCode)
	}
}

// TestUpgradeTokenNotAllowedIsPlainHTTP: an upgrade the listener does not
// allow is forwarded as plain HTTP without its Upgrade field (Envoy's
// behaviour), and a listener with websocket turned off does the same to a
// WebSocket handshake.
func TestUpgradeTokenNotAllowedIsPlainHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	upURL := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Upgrade")+"|"+r.Header.Get("Connection"))
		mu.Unlock()
		_, _ = io.WriteString(w, "plain")
	}))
	for _, tc := range []struct {
		name     string
		upgrades []string
		token    string
	}{
		{"unknown token", nil, "foo/2"},
		{"websocket turned off", []string{}, "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, []string{strings.TrimPrefix(upURL, "http://")}, func(s *setup) { s.factory.Upgrades = tc.upgrades })
			c, r := h.dialReader()
			resp := rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: "+tc.token+"\r\n\r\n", "GET")
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "plain" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			mu.Lock()
			last := seen[len(seen)-1]
			mu.Unlock()
			if last != "|" {
				t.Fatalf("the upstream saw Upgrade|Connection %q; want neither", last)
			}
		})
	}
}

// TestUpgradeAllowedByConfig: a token configured on the listener is
// forwarded, and the bytes after the 101 are relayed both ways.
func TestUpgradeAllowedByConfig(t *testing.T) {
	up := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		if !strings.Contains(head, "Upgrade: echo/1") || !strings.Contains(strings.ToLower(head), "connection: upgrade") {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n\r\nhello ")
		_, _ = io.Copy(c, r)
		return false
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.Upgrades = []string{"websocket", "echo"} })
	c, r := h.dialReader()
	// "early" comes with the head, before the 101: it waits in gnet's
	// input and is relayed once the connection switched.
	resp := rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo/1\r\n\r\nearly ", "GET")
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo/1" {
		t.Fatalf("got %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	_, _ = io.WriteString(c, "world")
	got := make([]byte, len("hello early world"))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "hello early world" {
		t.Fatalf("relayed %q, %v", got, err)
	}
}

var _ = proxy.FactoryConfig{}

// TestRouteUpgradeConfigOverridesTheListener: a route's entry enables a
// token the listener does not allow, and another route's disables
// websocket, which the listener allows (Envoy's precedence).
func TestRouteUpgradeConfigOverridesTheListener(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, head string) bool {
		lower := strings.ToLower(head)
		mu.Lock()
		seen = append(seen, head)
		mu.Unlock()
		if strings.Contains(lower, "\r\nupgrade:") {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
		return true
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		vh := &s.routes.VirtualHosts[0]
		vh.Routes = []router.RouteSpec{
			{Match: router.MatchSpec{Prefix: "/custom"}, Cluster: &router.ClusterAction{Cluster: "origin",
				Upgrades: []router.Upgrade{{Type: "Custom", Enabled: true}}}},
			{Match: router.MatchSpec{Prefix: "/nows"}, Cluster: &router.ClusterAction{Cluster: "origin",
				Upgrades: []router.Upgrade{{Type: "websocket", Enabled: false}}}},
			vh.Routes[0],
		}
	})
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/custom", "custom", 101},
		{"/other", "custom", 200},
		{"/nows", "websocket", 200},
		{"/other", "websocket", 101},
	} {
		c, r := h.dialReader()
		resp := rawExchange(t, c, r, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: "+tc.token+"\r\n\r\n", "GET")
		if resp.StatusCode != tc.want {
			t.Fatalf("%s with %s: %d, want %d", tc.path, tc.token, resp.StatusCode, tc.want)
		}
		_ = c.Close()
	}
}

// TestConnectIsRefused: where nothing allows CONNECT, the client gets 501
// naming it, and nothing reaches the upstream.
func TestConnectIsRefused(t *testing.T) {
	up := testutil.NewHeadServer(t, testutil.Reply("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	h := startProxy(t, []string{up.Addr()}, nil)
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "CONNECT")
	body := readAll(t, resp)
	if resp.StatusCode != 501 || !strings.Contains(body, "CONNECT") {
		t.Fatalf("got %d %q; want 501 naming CONNECT", resp.StatusCode, body)
	}
	if n := up.Accepted.Load(); n != 0 {
		t.Fatalf("%d upstream connections for a CONNECT", n)
	}
}

// connectProxy is a proxy whose listener allows CONNECT, in front of
// upstream addr: virtual host tunnel.test:443 has a connect route to
// cluster origin (then the catch-all's prefix route), closed.test:443
// one whose entry disables CONNECT, down.test:443 one to a cluster whose
// host refuses connections, direct.test:443 one answering 403 itself;
// the catch-all has no connect route.
func connectProxy(t *testing.T, addr string, mod func(*setup)) *harness {
	t.Helper()
	return startProxy(t, []string{addr}, func(s *setup) {
		s.factory.Upgrades = []string{"websocket", "CONNECT"}
		s.clusters = append(s.clusters, upstream.ClusterSpec{Name: "down", ConnectTimeout: 2 * time.Second,
			Hosts: []upstream.HostSpec{{Address: testutil.ClosedAddr(t)}}})
		connect := router.MatchSpec{Connect: true}
		vh := func(domain string, rs router.RouteSpec) router.VirtualHostSpec {
			return router.VirtualHostSpec{Name: domain, Domains: []string{domain}, Routes: []router.RouteSpec{rs}}
		}
		s.routes.VirtualHosts = append(s.routes.VirtualHosts,
			vh("tunnel.test:443", router.RouteSpec{Match: connect, Cluster: &router.ClusterAction{Cluster: "origin"}}),
			vh("closed.test:443", router.RouteSpec{Match: connect, Cluster: &router.ClusterAction{Cluster: "origin",
				Upgrades: []router.Upgrade{{Type: "connect", Enabled: false}}}}),
			vh("down.test:443", router.RouteSpec{Match: connect, Cluster: &router.ClusterAction{Cluster: "down"}}),
			vh("direct.test:443", router.RouteSpec{Match: connect, Direct: &router.DirectResponse{Status: 403, Body: "no tunnel"}}))
		if mod != nil {
			mod(s)
		}
	})
}

// TestConnectTunnelsToTheRouteCluster: a CONNECT the route allows is
// terminated: the route's cluster (a raw echo, not the named authority)
// gets no head but the client's bytes, those the client sent with its
// head before the 200 first, 1 MiB each way intact (sha256); the
// client's FIN reaches the upstream and the upstream's answer after it
// still reaches the client (half-close). The access log line says 200
// with the tunnel's bytes, and downstream_rq_connect_tunnel counts it.
func TestConnectTunnelsToTheRouteCluster(t *testing.T) {
	const size = 1 << 20
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, c) // until the client's FIN
		_, _ = io.WriteString(c, "bye")
		_ = c.(*net.TCPConn).CloseWrite()
	})
	logs := &logRecorder{}
	h := connectProxy(t, up.Addr(), func(s *setup) { s.factory.AccessLog = logs })
	c, r := h.dialReader()
	sent, got := sha256.New(), sha256.New()
	early := "early bytes, sent before the 200 "
	sent.Write([]byte(early))
	resp := rawExchange(t, c, r, "CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n"+early, "CONNECT")
	if resp.StatusCode != 200 || resp.ContentLength > 0 || len(resp.Header) != 0 {
		t.Fatalf("got %d, length %d, %v; want a bare 200", resp.StatusCode, resp.ContentLength, resp.Header)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.Reader, size), sent))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	n, err := io.Copy(got, io.LimitReader(r, int64(len(early))+size))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != int64(len(early))+size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echoed %d bytes, sha256 match %v; want %d intact", n, bytes.Equal(got.Sum(nil), sent.Sum(nil)), int64(len(early))+size)
	}
	if rest, err := io.ReadAll(r); err != nil || string(rest) != "bye" {
		t.Fatalf("after the FIN: %q, %v; want the upstream's bye, then EOF", rest, err)
	}
	testutil.WaitFor(t, 10*time.Second, "the access log line", func() bool { return len(logs.all()) == 1 })
	e := logs.all()[0]
	if e.ResponseCode != 200 || e.BytesReceived < size || e.BytesSent < size || e.Duration <= 0 || e.UpstreamCluster != "origin" {
		t.Fatalf("access log: code %d, received %d, sent %d, duration %v, cluster %q; want 200, over %d each way, origin",
			e.ResponseCode, e.BytesReceived, e.BytesSent, e.Duration, e.UpstreamCluster, size)
	}
	testutil.WaitFor(t, 10*time.Second, "no request active", func() bool { return h.stat("downstream_rq_active") == 0 })
	if n := h.stat("downstream_rq_connect_tunnel"); n != 1 {
		t.Fatalf("downstream_rq_connect_tunnel %d, want 1", n)
	}
}

// TestConnectAnswers: before the 200 a CONNECT is an ordinary request:
// no connect route is a 404, CONNECT disabled on its route a 501, a host
// that refuses the connection a 503, a direct_response route its own
// reply, and a target that is not host:port or a body a 400; each answer
// closes the connection (the client may have sent tunnel bytes), and
// nothing but the tunnel reaches the upstream.
func TestConnectAnswers(t *testing.T) {
	up := testutil.NewHeadServer(t, testutil.Reply("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	h := connectProxy(t, up.Addr(), nil)
	for _, tc := range []struct {
		req  string
		want int
		body string
	}{
		{"CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n", 404, "no_route"},
		{"CONNECT closed.test:443 HTTP/1.1\r\nHost: closed.test:443\r\n\r\n", 501, "CONNECT"},
		{"CONNECT down.test:443 HTTP/1.1\r\nHost: down.test:443\r\n\r\n", 503, "upstream_connect_failed"},
		{"CONNECT direct.test:443 HTTP/1.1\r\nHost: direct.test:443\r\n\r\n", 403, "no tunnel"},
		{"CONNECT tunnel.test HTTP/1.1\r\nHost: tunnel.test\r\n\r\n", 400, "authority-form"},
		{"CONNECT u@tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n", 400, "authority-form"},
		{"CONNECT tunnel.test:99999 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n", 400, "authority-form"},
		{"CONNECT /x HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n", 400, "authority-form"},
		{"CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\nContent-Length: 2\r\n\r\nhi", 400, "no body"},
	} {
		c, r := h.dialReader()
		resp := rawExchange(t, c, r, tc.req, "CONNECT")
		if body := readAll(t, resp); resp.StatusCode != tc.want || !strings.Contains(body, tc.body) {
			t.Fatalf("%q: %d %q; want %d with %q", firstLine(tc.req), resp.StatusCode, body, tc.want, tc.body)
		}
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Fatalf("%q: after the answer %q, %v; want the connection closed", firstLine(tc.req), rest, err)
		}
		_ = c.Close()
	}
	if n := up.Accepted.Load(); n != 0 {
		t.Fatalf("%d connections to origin; want none", n)
	}
}

// TestConnectEarlyBytesPastTheBound: more bytes behind a CONNECT than
// max_pipelined_bytes before its 200 (the dial is on a worker: the
// stream waits) cannot be kept, and dropping them would corrupt the
// tunnel: the CONNECT fails with 503 overflow instead.
func TestConnectEarlyBytesPastTheBound(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	h := connectProxy(t, up.Addr(), func(s *setup) { s.opts.MaxPipelinedBytes = 1 << 10 })
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n"+strings.Repeat("x", 2<<10), "CONNECT")
	if body := readAll(t, resp); resp.StatusCode != 503 || !strings.Contains(body, "max_pipelined_bytes") {
		t.Fatalf("got %d %q; want 503 naming max_pipelined_bytes", resp.StatusCode, body)
	}
	if n := h.stat("downstream_rq_connect_tunnel"); n != 0 {
		t.Fatalf("downstream_rq_connect_tunnel %d, want 0", n)
	}
}

// TestConnectOverHTTP2: an HTTP/2 client's CONNECT (RFC 9113 8.5:
// :method and :authority only) is terminated like an HTTP/1.1 one: a 200
// without END_STREAM, then the stream's DATA reaches the route's cluster
// (a raw echo) and its bytes come back as DATA, 256 KiB each way, past
// the windows, intact; the client's END_STREAM reaches the upstream as a
// FIN, whose close then ends the stream. A CONNECT with no connect
// route is a 404 on its own stream, DATA before the 200 a 400, and the
// access log says 200.
func TestConnectOverHTTP2(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, c) // until the FIN
		_ = c.(*net.TCPConn).CloseWrite()
	})
	logs := &logRecorder{}
	h := connectProxy(t, up.Addr(), func(s *setup) { s.factory.AccessLog = logs })
	p := dialH2Peer(t, h)
	p.open(1, false, ":method", "CONNECT", ":authority", "tunnel.test:443")
	p.until("the 200", func() bool { return p.seen(1).status() != "" || p.seen(1).done() })
	if st := p.seen(1).status(); st != "200" || p.seen(1).done() {
		t.Fatalf("stream 1: status %q, ended %v; want an open 200", st, p.seen(1).done())
	}
	body := make([]byte, 256<<10)
	_, _ = rand.Read(body)
	if n := p.upload(1, body, true); n != len(body) {
		t.Fatalf("uploaded %d of %d bytes", n, len(body))
	}
	p.until("the tunnel's end", p.ended(1))
	p.expectWhole(1, "200", string(body))
	p.open(3, false, ":method", "CONNECT", ":authority", "other.test:443")
	p.until("stream 3's answer", p.ended(3))
	if st := p.seen(3).status(); st != "404" {
		t.Fatalf("stream 3 (no connect route): %q, want 404", st)
	}
	testutil.WaitFor(t, 10*time.Second, "the access log lines", func() bool { return len(logs.all()) == 2 })
	if e := logs.all()[0]; e.ResponseCode != 200 || e.BytesReceived < uint64(len(body)) || e.BytesSent < uint64(len(body)) {
		t.Fatalf("access log: code %d, received %d, sent %d; want 200 and %d each way", e.ResponseCode, e.BytesReceived, e.BytesSent, len(body))
	}
	if n := h.stat("downstream_rq_connect_tunnel"); n != 1 {
		t.Fatalf("downstream_rq_connect_tunnel %d, want 1", n)
	}
	// DATA before the 200, in the same write as the HEADERS: ferry reads
	// both before the dial (on a worker) can have finished.
	var both bytes.Buffer
	fr := p.fr
	p.fr = http2.NewFramer(&both, nil)
	p.open(5, false, ":method", "CONNECT", ":authority", "tunnel.test:443")
	p.data(5, false, []byte("early"))
	p.fr = fr
	if _, err := p.c.Write(both.Bytes()); err != nil {
		t.Fatal(err)
	}
	p.until("stream 5's answer", p.ended(5))
	if st := p.seen(5).status(); st != "400" {
		t.Fatalf("stream 5 (DATA before the 200): %q, want 400", st)
	}
}

// TestConnectTunnelSlowReaderStaysBounded: 8 MiB the upstream sends
// into a tunnel whose client reads nothing until the upstream wrote them
// all are held by the relay's spill queue (memory, then its file), and
// reach the client intact: the relay's memory high mark stays far below.
func TestConnectTunnelSlowReaderStaysBounded(t *testing.T) {
	const size = 8 << 20
	sent := sha256.New()
	wrote := make(chan error, 1)
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.Reader, size), sent))
		wrote <- err
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	h := connectProxy(t, up.Addr(), nil)
	c, r := h.dialReader()
	if resp := rawExchange(t, c, r, "CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n", "CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	if err := <-wrote; err != nil { // ferry took it all while the client read nothing
		t.Fatal(err)
	}
	got := sha256.New()
	if n, err := io.Copy(got, r); err != nil || n != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("read %d bytes, %v, sha256 match %v; want %d intact", n, err, bytes.Equal(got.Sum(nil), sent.Sum(nil)), size)
	}
	_ = c.Close()
	testutil.WaitFor(t, 10*time.Second, "the tunnel ends", func() bool { return h.stat("downstream_rq_active") == 0 })
	if hm := h.srv.Stats().TunnelHighMark(); hm <= 0 || hm > 512<<10 {
		t.Fatalf("the tunnel held %d bytes in memory at most; want some, and at most 512 KiB", hm)
	}
	t.Logf("tunnel memory high mark %d bytes for %d MiB", h.srv.Stats().TunnelHighMark(), size>>20)
}

// TestUpgradedConnectionHalfCloses: after the 101, the client's FIN
// reaches the upstream as a FIN, and the upstream's answer after it still
// reaches the client, then its own FIN (the relay's half-close).
func TestUpgradedConnectionHalfCloses(t *testing.T) {
	up := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
		got, _ := io.ReadAll(r) // until the client's FIN
		_, _ = io.WriteString(c, "after-fin:"+string(got))
		return false
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", "GET")
	if resp.StatusCode != 101 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	_, _ = io.WriteString(c, "last words")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "after-fin:last words" {
		t.Fatalf("read %q, %v; want the upstream's answer after the FIN, then EOF", got, err)
	}
}

// BenchmarkWebSocketEchoThroughFerry is one 1 KiB WebSocket message to an
// echo upstream and back through ferry's relay (coder/websocket on both
// ends, 127.0.0.1), against the same client talking to the echo directly.
// On the 2-core dev box (shared with other work): 62-95 µs a round trip
// through ferry, 28 µs direct (go test -run XXX -bench WebSocketEcho
// -benchtime=5000x -count=3 ./proxy/): the extra hop is two more socket
// reads and writes each way, on ferry's loop, in the same process.
func BenchmarkWebSocketEchoThroughFerry(b *testing.B) {
	up := newWSEcho(b)
	for _, via := range []string{"ferry", "direct"} {
		b.Run(via, func(b *testing.B) {
			addr := strings.TrimPrefix(up.url, "http://")
			if via == "ferry" {
				addr = startProxy(b, []string{addr}, nil).addr
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow() //nolint:errcheck // the benchmark is over
			msg := bytes.Repeat([]byte("m"), 1<<10)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
