package proxy_test

// HTTP/2 flow control toward the client: bytes held for a closed window,
// replies waiting for window across drain and idle, upload credit.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

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
	p.finishWhole(1, "403", body, "the drain dropped a reply that waited for window")
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
	p.finishWhole(1, "403", body, "the idle timeout counted a connection with a reply in progress as idle")
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

// TestH2EarlyEndsGiveBackUploadCredit: streams that end while the client is
// still uploading (413, a direct reply, an upstream that answers without
// reading, an upstream that closes, a reset) must give their share of the
// connection window back, so that the next stream can upload more than the
// connection window.
func TestH2EarlyEndsGiveBackUploadCredit(t *testing.T) {
	hash := hashUpstream(t, false)
	early := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		if strings.Contains(head, "/early-close") {
			return false // closes without an answer, body unread
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly")
		_, _ = io.Copy(io.Discard, r)
		return false
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
