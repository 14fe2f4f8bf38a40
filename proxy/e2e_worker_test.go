package proxy_test

// Streams whose filter phases run on workers (the pool and auto
// policies) while loop events arrive, and streams queued for an upstream
// connection.

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// blockingFilter makes the auto policy run the filter phases on a worker,
// and holds the worker for a while so that loop events arrive meanwhile.
type blockingFilter struct{ delay time.Duration }

func (f blockingFilter) Blocking() bool { return true }

func (f blockingFilter) CreateFilters(b filterchain.ChainBuilder) {
	b.AddReceiver(&sleepFilter{d: f.delay}, filterchain.BeforeRoute)
}

type sleepFilter struct{ d time.Duration }

func (f *sleepFilter) OnReceive(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	time.Sleep(f.d) // a blocking filter: this is what it does on a worker
	return filterchain.StreamContinue
}

func (f *sleepFilter) OnDestroy() {}

func TestLoopEventsWhileOnAWorker(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.factory.Policy = proxy.PolicyAuto
		s.factory.StreamFilters = []filterchain.StreamFilterFactory{blockingFilter{delay: 100 * time.Millisecond}}
	})
	tests := []struct {
		name, req string
		status    int
	}{
		{name: "bad chunk while the head is on a worker", status: 400,
			req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"},
		{name: "good request still works", status: 200,
			req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial()
			resp := rawExchange(t, c, bufio.NewReader(c), tc.req, "POST")
			readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	testutil.WaitFor(t, 5*time.Second, "no request in flight", func() bool { return h.srv.Stats().Active() == 0 })
}

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
	h.concurrentOnOneConn(t, 4, func(i int) error {
		req, _ := http.NewRequest("POST", "http://ferry.test/hash", newPattern(size))
		if i%2 == 0 {
			req.ContentLength = size
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if got := resp.Header.Get("X-Sum"); resp.StatusCode != 204 || got != want {
			return fmt.Errorf("upload %d: %d, upstream saw %q", i, resp.StatusCode, got)
		}
		return nil
	})
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
