package proxy_test

// The route's retry_policy (proxy/retry.go): what is retried, where, with
// which body, and what is not.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// withRetry sets the catch-all route's retry policy and round robin over
// the hosts in order, on one loop.
func withRetry(p router.RetryPolicy) func(*setup) {
	return func(s *setup) {
		s.loops = 1
		s.clusters[0].LB = upstream.RoundRobin
		s.routes.VirtualHosts[0].Routes[0].Cluster.Retry = &p
	}
}

// retryHost answers every request 200 with its name, echoing a body
// of Content-Length, and counts what it saw.
type retryHost struct {
	*testutil.RawServer
	hits   atomic.Int64
	bodies atomic.Value // the last body, string
}

func newRetryHost(t *testing.T, name string) *retryHost {
	u := &retryHost{}
	u.RawServer = testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		u.hits.Add(1)
		body := readBody(r, head)
		u.bodies.Store(body)
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(name)+len(body), name+body)
		return err == nil
	})
	return u
}

// readBody reads a Content-Length body after head.
func readBody(r *bufio.Reader, head string) string {
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "content-length") {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return ""
			}
			return string(b)
		}
	}
	return ""
}

// resetUpstream reads each request (and its body) and closes without an
// answer, counting them.
func resetUpstream(t *testing.T) (*testutil.RawServer, *atomic.Int64) {
	var n atomic.Int64
	return testutil.NewHeadServer(t, func(_ net.Conn, r *bufio.Reader, head string) bool {
		n.Add(1)
		readBody(r, head)
		return false
	}), &n
}

// TestRetryResetGoesToTheNextHost: a request the first host resets is
// retried on the second, under retry_on reset; without a policy the same
// request fails (the connection was fresh: no stale-connection retry).
func TestRetryResetGoesToTheNextHost(t *testing.T) {
	bad, badHits := resetUpstream(t)
	good := newRetryHost(t, "good")
	h := startProxy(t, []string{bad.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset}))
	c := h.client()
	for i := range 4 {
		if status, body := h.get(c, "/"); status != 200 || body != "good" {
			t.Fatalf("request %d: %d %q, want 200 from the good host", i, status, body)
		}
	}
	if badHits.Load() == 0 || h.stat("upstream_rq_retry") < badHits.Load() {
		t.Fatalf("bad host saw %d, %d retries: every reset should be retried", badHits.Load(), h.stat("upstream_rq_retry"))
	}
	if n := h.stat("upstream_rq_retry_success"); n == 0 {
		t.Fatal("upstream_rq_retry_success not counted")
	}

	plain := startProxy(t, []string{bad.Addr()}, func(s *setup) { s.loops = 1 })
	if status, _ := plain.get(plain.client(), "/"); status != 502 {
		t.Fatalf("no policy: %d, want 502 (no retry by default, as in Envoy and MOSN)", status)
	}
}

// TestRetryOn5xx: a 503 from the first host is retried under retry_on 5xx
// and never reaches the client; a 503 is kept without the condition.
func TestRetryOn5xx(t *testing.T) {
	unavailable := testutil.NewHeadServer(t, testutil.Reply("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"))
	good := newRetryHost(t, "good")
	h := startProxy(t, []string{unavailable.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.Retry5xx, NumRetries: 2}))
	c := h.client()
	for i := range 4 {
		if status, body := h.get(c, "/"); status != 200 || body != "good" {
			t.Fatalf("request %d: %d %q, want 200 from the good host", i, status, body)
		}
	}
	codes := startProxy(t, []string{unavailable.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.RetryStatusCodes, RetriableStatusCodes: []int{500}}))
	saw503 := false
	cc := codes.client()
	for range 4 {
		status, _ := codes.get(cc, "/")
		saw503 = saw503 || status == 503
	}
	if !saw503 {
		t.Fatal("a 503 not in retriable_status_codes was retried")
	}
}

// TestRetryReplaysABodyWithinTheBound: a POST (allowed by
// retry_non_idempotent) whose first host resets it reaches the second host
// with its body intact; a body past retry_buffer_limit_bytes is not
// replayed, and a POST is never retried without retry_non_idempotent.
func TestRetryReplaysABodyWithinTheBound(t *testing.T) {
	body := strings.Repeat("0123456789", 300) // 3000 bytes
	post := func(h *harness) (int, string) {
		c, r := h.dialReader()
		resp := rawExchange(t, c, r, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n"+body, "POST")
		return resp.StatusCode, readAll(t, resp)
	}
	bad, _ := resetUpstream(t)
	good := newRetryHost(t, "good")
	h := startProxy(t, []string{bad.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset, NonIdempotent: true}))
	for i := range 2 { // one of the two goes to the bad host first
		if status, got := post(h); status != 200 || got != "good"+body {
			t.Fatalf("POST %d: %d, body intact %v", i, status, got == "good"+body)
		}
	}
	if h.stat("upstream_rq_retry") == 0 {
		t.Fatal("no retry happened")
	}

	bad2, badHits := resetUpstream(t)
	good2 := newRetryHost(t, "good")
	small := startProxy(t, []string{bad2.Addr(), good2.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset, NonIdempotent: true, BufferLimit: 1000}))
	strict := startProxy(t, []string{bad2.Addr(), good2.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset}))
	for _, h := range []*harness{small, strict} {
		s1, _ := post(h) // the first goes to the bad host
		if s1 != 502 {
			t.Fatalf("first POST: %d, want 502 (not replayed)", s1)
		}
		if n := h.stat("upstream_rq_retry"); n != 0 {
			t.Fatalf("%d retries of a request that cannot be replayed", n)
		}
	}
	if badHits.Load() != 2 || good2.hits.Load() != 0 {
		t.Fatalf("bad host saw %d, good host %d; want 2, 0", badHits.Load(), good2.hits.Load())
	}
}

// TestRetryPerTryTimeout: an attempt past retry_timeout is abandoned and
// retried on the next host, well within the route timeout.
func TestRetryPerTryTimeout(t *testing.T) {
	release := make(chan struct{})
	hang := scriptUpstream(t, release, func(string, *bufio.Reader) string { return "" })
	unblock := unblocker(t, release)
	defer unblock()
	good := newRetryHost(t, "good")
	h := startProxy(t, []string{hang.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset, PerTryTimeout: 50 * time.Millisecond}))
	c := h.client()
	for i := range 2 {
		if status, body := h.get(c, "/"); status != 200 || body != "good" {
			t.Fatalf("request %d: %d %q, want 200 from the good host", i, status, body)
		}
	}
	if n := h.stat("upstream_rq_per_try_timeout"); n == 0 || n != h.stat("upstream_rq_retry") {
		t.Fatalf("upstream_rq_per_try_timeout = %d, %d retries; want each retry after a per-try timeout", n, h.stat("upstream_rq_retry"))
	}
	if n := h.stat("local_reply_upstream_timeout"); n != 0 {
		t.Fatalf("%d timeouts answered", n)
	}
}

// TestRetryBackOffWaits: a retry after the back-off's base waits on the
// loop's timer (counted), and a retry-less request does not.
func TestRetryBackOffWaits(t *testing.T) {
	bad, _ := resetUpstream(t)
	good := newRetryHost(t, "good")
	h := startProxy(t, []string{bad.Addr(), good.Addr()}, withRetry(router.RetryPolicy{On: router.RetryReset,
		BackOffBase: 100 * time.Millisecond, BackOffMax: 100 * time.Millisecond}))
	c := h.client()
	for range 2 {
		if status, _ := h.get(c, "/"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	retries, backoffs := h.stat("upstream_rq_retry"), h.stat("upstream_rq_retry_backoff")
	if retries == 0 || backoffs != retries { // a draw of exactly 0 in [0, 100ms) would skip one: 1 in 10^8
		t.Fatalf("%d retries, %d back-offs; want a back-off before each retry", retries, backoffs)
	}
}
