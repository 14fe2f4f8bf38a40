package proxy_test

// Circuit breakers (upstream/breaker.go) as the client sees them: an
// overload reply that says which limit tripped, and recovery; gRPC local
// replies (proxy/grpc_reply.go).

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// holdUpstream answers 200 "ok" to every request once release is closed,
// holding each until then; seen counts the requests that arrived.
func holdUpstream(t *testing.T) (up *testutil.RawServer, seen *atomic.Int64, release func()) {
	ch := make(chan struct{})
	seen = &atomic.Int64{}
	up = testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, _ string) bool {
		seen.Add(1)
		<-ch
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release) // before the upstream's Close waits for its handlers
	return up, seen, release
}

// sendGET writes a GET on a new connection and returns a reader for the
// response.
func sendGET(t *testing.T, h *harness, extra string) (net.Conn, *bufio.Reader) {
	c := h.dial()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n"+extra+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// TestBreakersTripAndRecover: past max_requests, and past
// max_pending_requests with max_connections reached, a request gets a 503
// with x-ferry-overloaded naming the limit, counted per limit; once the
// load drops the next request goes through.
func TestBreakersTripAndRecover(t *testing.T) {
	for _, tc := range []struct {
		limit    string
		breakers upstream.Thresholds
	}{
		{limit: "max_requests", breakers: upstream.Thresholds{MaxRequests: 2}},
		{limit: "max_pending_requests", breakers: upstream.Thresholds{MaxConnections: 1, MaxPendingRequests: 1}},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			up, seen, release := holdUpstream(t)
			h := startProxy(t, []string{up.Addr()}, func(s *setup) {
				s.loops = 1
				s.clusters[0].Breakers = tc.breakers
			})
			var held []*bufio.Reader
			for i := range 2 {
				_, r := sendGET(t, h, "")
				held = append(held, r)
				// The first at the upstream, the second there too or waiting
				// for its one connection.
				testutil.WaitFor(t, 3*time.Second, "request admitted", func() bool {
					return h.srv.Stats().Active() == int64(i+1) && seen.Load() >= 1
				})
			}
			_, r := sendGET(t, h, "")
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != 503 || resp.Header.Get("x-ferry-overloaded") != "true" || !strings.Contains(body, tc.limit) {
				t.Fatalf("third request: %d, x-ferry-overloaded %q, body %q; want 503, true, naming %s",
					resp.StatusCode, resp.Header.Get("x-ferry-overloaded"), body, tc.limit)
			}
			if n := h.stat("overload_" + tc.limit); n != 1 {
				t.Fatalf("overload_%s = %d, want 1", tc.limit, n)
			}
			release()
			for i, r := range held {
				resp, err := http.ReadResponse(r, nil)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("held request %d: %v %v", i, resp, err)
				}
				readAll(t, resp)
			}
			waitIdle(t, h)
			if status, _ := h.get(h.client(), "/"); status != 200 {
				t.Fatalf("after the load dropped: %d, want 200", status)
			}
		})
	}
}

// TestGRPCLocalReplies: a gRPC request ferry answers itself gets a gRPC
// error: 200, application/grpc, trailers-only, grpc-status by the kind.
func TestGRPCLocalReplies(t *testing.T) {
	dead := testutil.ClosedAddr(t)
	h := startProxy(t, []string{dead}, func(s *setup) {
		s.routes.VirtualHosts[0].Routes[0].Match = router.MatchSpec{Prefix: "/svc.Dead/"}
	})
	p := dialH2Peer(t, h)
	grpc := []string{"content-type", "application/grpc+proto", "te", "trailers"}
	p.request(1, "POST", "/svc.Missing/Call", true, grpc...)
	p.request(3, "POST", "/svc.Dead/Call", true, grpc...)
	p.request(5, "POST", "/svc.Missing/Call", true) // not gRPC: the usual 404
	p.until("the three replies", func() bool { return p.ended(1)() && p.ended(3)() && p.ended(5)() })
	for id, want := range map[uint32]string{1: "12", 3: "14"} {
		s := p.seen(id)
		if len(s.heads) != 1 || s.data.Len() != 0 || s.ends != 1 {
			t.Fatalf("stream %d: %d header blocks, %d body bytes, %d ends; want a trailers-only response", id, len(s.heads), s.data.Len(), s.ends)
		}
		hd := s.heads[0]
		if hd[":status"] != "200" || hd["content-type"] != "application/grpc" || hd["grpc-status"] != want || hd["grpc-message"] == "" {
			t.Fatalf("stream %d: %v; want 200, application/grpc, grpc-status %s and a message", id, hd, want)
		}
	}
	if st := p.seen(5).status(); st != "404" {
		t.Fatalf("a plain request got %s, want 404", st)
	}

	// Over HTTP/1.1 too, with the overload header kept.
	c := h.dial()
	resp := rawExchange(t, c, bufio.NewReader(c), "POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nContent-Length: 0\r\n\r\n", "POST")
	readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("grpc-status") != "12" {
		t.Fatalf("HTTP/1.1 gRPC request: %d, grpc-status %q", resp.StatusCode, resp.Header.Get("grpc-status"))
	}
}

// TestGRPCTimeoutCapsTheRouteTimeout: a gRPC request's grpc-timeout ends
// it before the route timeout would, as DEADLINE_EXCEEDED.
func TestGRPCTimeoutCapsTheRouteTimeout(t *testing.T) {
	up, _, _ := holdUpstream(t)
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.opts.RouteTimeout = time.Minute })
	p := dialH2Peer(t, h)
	p.request(1, "POST", "/svc/Call", true, "content-type", "application/grpc", "grpc-timeout", "50m")
	p.until("the deadline", p.ended(1))
	if hd := p.seen(1).heads[0]; hd["grpc-status"] != "4" {
		t.Fatalf("%v, want grpc-status 4 DEADLINE_EXCEEDED", hd)
	}
}

// TestMaxRetriesCapsRetriesInFlight: with one retry in flight (its second
// attempt held by the upstream), max_retries 1 refuses the next retry: its
// failure is answered and counted in upstream_rq_retry_overflow. Once the
// held attempt ends, retries are made again.
func TestMaxRetriesCapsRetriesInFlight(t *testing.T) {
	bad, _ := resetUpstream(t)
	hold, atHold, release := holdUpstream(t)
	h := startProxy(t, []string{bad.Addr(), hold.Addr()}, func(s *setup) {
		withRetry(router.RetryPolicy{On: router.RetryReset})(s)
		s.clusters[0].Breakers = upstream.Thresholds{MaxRetries: 1}
	})
	var held []*bufio.Reader
	refused := false
	for i := 0; i < 8 && !refused; i++ {
		_, r := sendGET(t, h, "")
		testutil.WaitFor(t, 3*time.Second, "the request answered or held", func() bool {
			return atHold.Load() == int64(len(held)+1) || h.stat("local_reply_upstream_reset") > 0
		})
		if h.stat("local_reply_upstream_reset") == 0 {
			held = append(held, r)
			continue
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 502 {
			t.Fatalf("refused retry: %v %v, want 502", resp, err)
		}
		readAll(t, resp)
		refused = true
	}
	if !refused || h.stat("upstream_rq_retry_overflow") != 1 {
		t.Fatalf("refused %v, upstream_rq_retry_overflow %d; want a retry refused by max_retries", refused, h.stat("upstream_rq_retry_overflow"))
	}
	release()
	for _, r := range held {
		if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("held request: %v %v", resp, err)
		}
	}
	waitIdle(t, h)
	c := h.client()
	before := h.stat("upstream_rq_retry_success")
	for range 2 { // one of the two meets the resetting host
		if status, _ := h.get(c, "/"); status != 200 {
			t.Fatalf("after the retries in flight ended: %d, want 200", status)
		}
	}
	if h.stat("upstream_rq_retry_success") == before {
		t.Fatal("no retry made after recovery")
	}
}
