package proxy_test

// Circuit breakers max_connections and max_pending_requests over HTTP/2
// upstreams (upstream/mux.go): the multiplexed pool counts them across
// loops as the HTTP/1.1 pool does, with the same overload reply and
// counters (proxy/e2e_breaker_test.go is the HTTP/1.1 side).

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/upstream"
)

// holdH2C is an h2c upstream allowing maxStreams streams per connection
// that holds every request but those to /warm until release; seen counts
// the held requests that arrived.
func holdH2C(t *testing.T, maxStreams uint32) (up *h2cUpstream, seen *atomic.Int64, release func()) {
	ch := make(chan struct{})
	seen = &atomic.Int64{}
	up = startH2C(t, maxStreams, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm" {
			_, _ = io.WriteString(w, "warm")
			return
		}
		seen.Add(1)
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	var closed atomic.Bool
	release = func() {
		if closed.CompareAndSwap(false, true) {
			close(ch)
		}
	}
	t.Cleanup(release) // before the upstream's Close
	return up, seen, release
}

// burstResult is what one client of a burst got.
type burstResult struct {
	status           int
	overloaded, body string
	grpcStatus       string
}

// burst sends n GETs at once, each on its own connection (extra header
// lines for each by index), and returns a channel of their results.
func burst(t *testing.T, h *harness, n int, extra func(i int) string) <-chan burstResult {
	out := make(chan burstResult, n)
	for i := range n {
		_, r := sendGET(t, h, extra(i))
		go func() {
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				out <- burstResult{status: -1, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			out <- burstResult{status: resp.StatusCode, overloaded: resp.Header.Get("x-ferry-overloaded"),
				body: string(b), grpcStatus: resp.Header.Get("grpc-status")}
		}()
	}
	return out
}

// collect appends the results ready on ch to got.
func collect(got []burstResult, ch <-chan burstResult) []burstResult {
	for {
		select {
		case r := <-ch:
			got = append(got, r)
		default:
			return got
		}
	}
}

// TestH2UpstreamBreakersTripAndRecover: one loop, max_connections 1 on an
// upstream allowing 2 streams a connection, max_pending_requests 2: once
// the connection is up and its SETTINGS known (a first request), of 8
// concurrent requests 2 are at the upstream, 2 wait for a stream, 4 get
// the overload reply naming max_pending_requests (a gRPC one a gRPC
// error), counted as over HTTP/1.1; the held and waiting ones complete
// once the upstream answers, on one connection, and the next requests go
// through.
func TestH2UpstreamBreakersTripAndRecover(t *testing.T) {
	up, seen, release := holdH2C(t, 2)
	h := startH2Proxy(t, up.addr, func(s *setup) {
		s.loops = 1
		s.clusters[0].Breakers = upstream.Thresholds{MaxConnections: 1, MaxPendingRequests: 2}
	})
	if status, body := h.get(h.client(), "/warm"); status != 200 || body != "warm" {
		t.Fatalf("first request: %d %q", status, body)
	}
	const n = 8
	results := burst(t, h, n, func(int) string { return "" })
	var refused []burstResult
	testutil.WaitFor(t, 5*time.Second, "2 requests at the upstream, 2 waiting, 4 refused", func() bool {
		refused = collect(refused, results)
		return len(refused) == 4 && seen.Load() == 2 && h.srv.Stats().Active() == 4
	})
	for _, r := range refused {
		if r.status != 503 || r.overloaded != "true" || !strings.Contains(r.body, "max_pending_requests") {
			t.Fatalf("refused request: %+v; want 503, x-ferry-overloaded, naming max_pending_requests", r)
		}
	}
	// A gRPC request refused the same way gets a gRPC error.
	if r := <-burst(t, h, 1, func(int) string { return "Content-Type: application/grpc\r\n" }); r.status != 200 || r.grpcStatus != "8" {
		t.Fatalf("gRPC request past the limit: %+v; want 200 with grpc-status 8 RESOURCE_EXHAUSTED", r)
	}
	if h.stat("overload_max_pending_requests") != 5 || h.stat("local_reply_overflow") != 5 {
		t.Fatalf("overload_max_pending_requests %d, local_reply_overflow %d; want 5, 5",
			h.stat("overload_max_pending_requests"), h.stat("local_reply_overflow"))
	}
	if up.conns.Load() != 1 {
		t.Fatalf("%d upstream connections at max_connections 1", up.conns.Load())
	}
	release()
	for range n - len(refused) {
		if r := <-results; r.status != 200 || r.body != "ok" {
			t.Fatalf("admitted request: %+v, want 200 ok", r)
		}
	}
	waitIdle(t, h)
	c := h.client()
	for i := range 4 {
		if status, body := h.get(c, "/"); status != 200 || body != "ok" {
			t.Fatalf("after the load dropped, request %d: %d %q", i, status, body)
		}
	}
	if up.conns.Load() != 1 || seen.Load() != 8 {
		t.Fatalf("%d upstream connections, %d requests seen; want 1, 8", up.conns.Load(), seen.Load())
	}
}

// TestH2UpstreamMaxConnectionsAcrossLoops: with two loops and
// max_connections 1, the upstream never gets a second connection; what
// does not fit is refused with the overload reply naming the limit:
// max_connections on the loop without the connection, max_pending_requests
// past the waiters on the other.
func TestH2UpstreamMaxConnectionsAcrossLoops(t *testing.T) {
	up, seen, release := holdH2C(t, 2)
	h := startH2Proxy(t, up.addr, func(s *setup) {
		s.loops = 2
		s.clusters[0].Breakers = upstream.Thresholds{MaxConnections: 1, MaxPendingRequests: 2}
	})
	const n = 10
	results := burst(t, h, n, func(int) string { return "" })
	var refused []burstResult
	testutil.WaitFor(t, 5*time.Second, "every request at the upstream, waiting or refused", func() bool {
		refused = collect(refused, results)
		// The loop that holds the connection has 2 at the upstream (fewer
		// if fewer of the requests landed on it) and up to 2 waiting.
		// Every request still active is at the upstream or counted as
		// waiting: a refusal on its way to its client (its stream not
		// ended yet) would still count as active.
		active := h.srv.Stats().Active()
		waiting := h.clusters.Get("origin").Breaker().Open(upstream.LimitPending)
		return h.stat("downstream_rq_total") == n && active == int64(n-len(refused)) && seen.Load() == min(active, 2) &&
			active == seen.Load()+waiting
	})
	if len(refused) < n-4 {
		t.Fatalf("%d refused; at most 2 at the upstream and 2 waiting, so at least %d", len(refused), n-4)
	}
	for _, r := range refused {
		if r.status != 503 || r.overloaded != "true" ||
			!strings.Contains(r.body, "max_connections") && !strings.Contains(r.body, "max_pending_requests") {
			t.Fatalf("refused request: %+v; want 503, x-ferry-overloaded, naming a limit", r)
		}
	}
	if got := h.stat("overload_max_connections") + h.stat("overload_max_pending_requests"); got != int64(len(refused)) {
		t.Fatalf("%d counted per limit, %d refused", got, len(refused))
	}
	release()
	for range n - len(refused) {
		if r := <-results; r.status != 200 {
			t.Fatalf("admitted request: %+v, want 200", r)
		}
	}
	if up.conns.Load() != 1 {
		t.Fatalf("%d upstream connections at max_connections 1 over two loops", up.conns.Load())
	}
}
