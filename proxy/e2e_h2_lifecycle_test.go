package proxy_test

// The life of an HTTP/2 connection: drain, GOAWAY, request limits, idle
// timeout, the client going away, the concurrency limit.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
)

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

// TestH2ClientGoesAwayWithStreamsInEveryState: the client's TCP connection
// closes while its streams wait for the upstream's answer, for a pool
// connection, for flow-control window (mid-body, spilled), upload into a
// stalled upstream, or hold a local reply; every stream must be aborted
// and its upstream connection let go.
func TestH2ClientGoesAwayWithStreamsInEveryState(t *testing.T) {
	release := make(chan struct{})
	var hangsClosed atomic.Int64
	up := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		switch path := strings.Fields(head)[1]; path {
		case "/hang":
			_, _ = io.Copy(io.Discard, r) // until the proxy closes
			hangsClosed.Add(1)
			return false
		case "/stall-upload":
			<-release
			return false
		case "/big":
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("b", 1<<20))
		default:
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(path), path)
		}
		return true
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
