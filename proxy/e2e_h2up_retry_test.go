package proxy_test

// The route's retry_policy over HTTP/2 upstreams (upstream_protocol
// Http2): retries on the response status, the request body replayed from
// the bounded replay buffer, the per-try timeout (proxy/retry.go, hooked
// into proxy/upstream_h2.go).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/router"
)

// h2RetryHost is an h2c upstream that answers its first `fail` requests
// with 503 (reading their bodies first), the rest 200 with its name and
// the body it got; it counts the requests and keeps the last body.
type h2RetryHost struct {
	*h2cUpstream
	hits     atomic.Int64
	lastBody atomic.Value // string
}

func newH2RetryHost(t *testing.T, name string, fail int64) *h2RetryHost {
	u := &h2RetryHost{}
	u.h2cUpstream = startH2C(t, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		u.lastBody.Store(string(b))
		if n <= fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "busy")
			return
		}
		_, _ = io.WriteString(w, name+" "+string(b))
	}))
	return u
}

// startH2Retry runs ferry speaking h2c to the hosts, in round robin on one
// loop, with retry policy p on the catch-all route.
func startH2Retry(t *testing.T, p router.RetryPolicy, addrs ...string) *harness {
	t.Helper()
	return startProxy(t, addrs, func(s *setup) {
		s.factory.UpstreamHTTP2 = true
		withRetry(p)(s)
	})
}

// postThrough sends a Content-Length POST on a new connection and returns
// the status and body.
func postThrough(t *testing.T, h *harness, body string) (int, string) {
	t.Helper()
	c := h.dial()
	r := bufio.NewReader(c)
	resp := rawExchange(t, c, r, fmt.Sprintf("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body), "POST")
	return resp.StatusCode, readAll(t, resp)
}

// TestH2UpstreamRetryOn503: one h2c host answering 503 once, then 200:
// under retry_on 5xx the client sees the 200 only; the retry is counted as
// a success. Without the condition the 503 reaches the client.
func TestH2UpstreamRetryOn503(t *testing.T) {
	up := newH2RetryHost(t, "good", 1)
	h := startH2Retry(t, router.RetryPolicy{On: router.Retry5xx, NumRetries: 1}, up.addr)
	c := h.client()
	if status, body := h.get(c, "/"); status != 200 || body != "good " {
		t.Fatalf("%d %q, want 200 from the retry", status, body)
	}
	if up.hits.Load() != 2 || h.stat("upstream_rq_retry") != 1 || h.stat("upstream_rq_retry_success") != 1 {
		t.Fatalf("host saw %d, retries %d, successes %d; want 2, 1, 1", up.hits.Load(),
			h.stat("upstream_rq_retry"), h.stat("upstream_rq_retry_success"))
	}
	// The stream of the dropped 503 was reset, the connection kept: both
	// attempts went on one connection.
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections, want 1", n)
	}

	once := newH2RetryHost(t, "good", 1)
	codes := startH2Retry(t, router.RetryPolicy{On: router.RetryStatusCodes, RetriableStatusCodes: []int{500}}, once.addr)
	if status, body := codes.get(codes.client(), "/"); status != 503 || body != "busy" {
		t.Fatalf("503 not in retriable_status_codes: %d %q, want the 503 kept", status, body)
	}
	if n := codes.stat("upstream_rq_retry"); n != 0 {
		t.Fatalf("%d retries of a status the policy does not name", n)
	}
}

// TestH2UpstreamRetryGoesToAnotherHost: under gateway-error a 503 host is
// left for the other; every request ends 200 there.
func TestH2UpstreamRetryGoesToAnotherHost(t *testing.T) {
	bad := newH2RetryHost(t, "bad", 1<<30)
	good := newH2RetryHost(t, "good", 0)
	h := startH2Retry(t, router.RetryPolicy{On: router.RetryGatewayError, NumRetries: 1}, bad.addr, good.addr)
	c := h.client()
	for i := range 4 {
		if status, body := h.get(c, "/"); status != 200 || body != "good " {
			t.Fatalf("request %d: %d %q, want 200 from the good host", i, status, body)
		}
	}
	if bad.hits.Load() == 0 || h.stat("upstream_rq_retry") != bad.hits.Load() {
		t.Fatalf("bad host saw %d, %d retries: each of its 503s should be retried", bad.hits.Load(), h.stat("upstream_rq_retry"))
	}
}

// TestH2UpstreamRetryReplaysTheBody: a POST (retry_non_idempotent) whose
// first attempt got a 503 reaches the retry with its body intact, the
// body larger than a stream's initial window so the replay goes through
// flow control; a body past retry_buffer_limit_bytes is not replayed: the
// 503 is kept, and the refusal counted.
func TestH2UpstreamRetryReplaysTheBody(t *testing.T) {
	var sb bytes.Buffer
	for i := 0; sb.Len() < 200<<10; i++ {
		fmt.Fprintf(&sb, "%08d,", i)
	}
	body := sb.String()
	up := newH2RetryHost(t, "good", 1)
	h := startH2Retry(t, router.RetryPolicy{On: router.Retry5xx, NumRetries: 1, NonIdempotent: true, BufferLimit: 1 << 20}, up.addr)
	status, got := postThrough(t, h, body)
	if status != 200 || got != "good "+body {
		t.Fatalf("POST: %d, %d bytes back (want %d), intact %v", status, len(got), len("good "+body), got == "good "+body)
	}
	if up.hits.Load() != 2 || h.stat("upstream_rq_retry") != 1 {
		t.Fatalf("host saw %d, %d retries; want 2, 1", up.hits.Load(), h.stat("upstream_rq_retry"))
	}

	small := newH2RetryHost(t, "good", 1)
	hs := startH2Retry(t, router.RetryPolicy{On: router.Retry5xx, NumRetries: 1, NonIdempotent: true, BufferLimit: 1000}, small.addr)
	status, got = postThrough(t, hs, body[:3000])
	if status != 503 || got != "busy" {
		t.Fatalf("POST past the replay bound: %d %q, want the 503 kept", status, got)
	}
	if small.lastBody.Load() != body[:3000] {
		t.Fatal("the first attempt did not get the whole body")
	}
	if n, tl := hs.stat("upstream_rq_retry"), hs.stat("upstream_rq_retry_body_too_large"); n != 0 || tl != 1 || small.hits.Load() != 1 {
		t.Fatalf("%d retries, %d counted as too large, host saw %d; want 0, 1, 1", n, tl, small.hits.Load())
	}
}

// TestH2UpstreamPerTryTimeout: the first attempt hangs past retry_timeout;
// its stream is reset (the upstream handler sees its context end) and the
// retry, on the same host, answers well within the route timeout.
func TestH2UpstreamPerTryTimeout(t *testing.T) {
	var hits atomic.Int64
	cancelled := make(chan struct{}, 1)
	up := startH2C(t, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // until ferry resets the stream
			cancelled <- struct{}{}
			return
		}
		_, _ = io.WriteString(w, "late but fine")
	}))
	h := startH2Retry(t, router.RetryPolicy{On: router.Retry5xx, NumRetries: 1, PerTryTimeout: 250 * time.Millisecond}, up.addr)
	if status, body := h.get(h.client(), "/"); status != 200 || body != "late but fine" {
		t.Fatalf("%d %q, want 200 from the retry", status, body)
	}
	<-cancelled
	if n, r := h.stat("upstream_rq_per_try_timeout"), h.stat("upstream_rq_retry"); n != 1 || r != 1 {
		t.Fatalf("upstream_rq_per_try_timeout %d, retries %d; want 1, 1", n, r)
	}
	if n := h.stat("local_reply_upstream_timeout"); n != 0 {
		t.Fatalf("%d timeouts answered", n)
	}
}
