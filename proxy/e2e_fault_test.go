package proxy_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// readRequest consumes one request head (no body) from an upstream conn.
func readRequest(t testing.TB, r *bufio.Reader) bool {
	_, err := testutil.ReadHead(r)
	return err == nil
}

func TestProxyUpstreamFaults(t *testing.T) {
	// midBody is closed once the client holds the start of the body; the
	// "reset mid body" upstream waits for it, so that its reset falls in
	// the middle of the body.
	midBody := make(chan struct{})
	tests := []struct {
		name       string
		upstream   func(c net.Conn)
		refused    bool
		status     int
		bodyPrefix string
		counter    string
		// closed: the client connection must be closed, not answered
		closed bool
	}{
		{name: "refused", refused: true, status: 503, bodyPrefix: "upstream_connect_failed", counter: "local_reply_upstream_connect_failed"},
		{name: "timeout", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_, _ = io.Copy(io.Discard, c) // never answers
		}, status: 504, bodyPrefix: "upstream_timeout", counter: "local_reply_upstream_timeout"},
		{name: "garbage", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
		}, status: 502, bodyPrefix: "upstream_bad_response", counter: "local_reply_upstream_bad_response"},
		{name: "reset before response", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_ = c.(*net.TCPConn).SetLinger(0)
		}, status: 502, bodyPrefix: "upstream_reset", counter: "local_reply_upstream_reset"},
		{name: "reset mid body", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			select {
			case <-midBody:
			case <-time.After(2 * time.Second): // the client failed before it read
			}
			_ = c.(*net.TCPConn).SetLinger(0)
		}, closed: true, counter: "upstream_rq_reset_mid_body"},
		{name: "two content-lengths", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
		}, status: 502, bodyPrefix: "upstream_bad_response", counter: "local_reply_upstream_bad_response"},
		{name: "CL and TE", upstream: func(c net.Conn) {
			readRequest(t, bufio.NewReader(c))
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		}, status: 502, bodyPrefix: "upstream_bad_response", counter: "local_reply_upstream_bad_response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := testutil.ClosedAddr(t)
			if !tc.refused {
				addr = testutil.NewRawServer(t, tc.upstream).Addr()
			}
			h := startProxy(t, []string{addr}, func(s *setup) { s.opts.RouteTimeout = 300 * time.Millisecond })
			c := h.dial()
			if _, err := io.WriteString(c, "GET /f HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			if tc.closed {
				// The head went out; the body must not read as complete.
				resp := rawExchange(t, c, r, "", "GET")
				start := make([]byte, len("partial"))
				_, err := io.ReadFull(resp.Body, start)
				close(midBody)
				if err != nil || string(start) != "partial" {
					t.Fatalf("the start of the body: %q, %v", start, err)
				}
				b, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Fatalf("a truncated body read as complete: %q", b)
				}
			} else {
				resp := rawExchange(t, c, r, "", "GET")
				body := readAll(t, resp)
				if resp.StatusCode != tc.status || !strings.HasPrefix(body, tc.bodyPrefix) {
					t.Fatalf("got %d %q, want %d %s...", resp.StatusCode, body, tc.status, tc.bodyPrefix)
				}
			}
			testutil.WaitFor(t, 2*time.Second, tc.counter, func() bool { return h.stat(tc.counter) == 1 })
			testutil.WaitFor(t, 2*time.Second, "no request in flight", func() bool { return h.srv.Stats().Active() == 0 })
		})
	}
}

func TestProxyRetriesStaleKeepAlive(t *testing.T) {
	// The upstream answers one request per connection but claims
	// keep-alive, then closes: the second request finds a dead pooled
	// connection and must be retried on a new one, invisibly.
	up := testutil.NewRawServer(t, func(c net.Conn) {
		if readRequest(t, bufio.NewReader(c)) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	c, r := h.dialReader()
	for i := range 3 {
		resp := rawExchange(t, c, r, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
		if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

func TestProxyRejectsBadRequests(t *testing.T) {
	up := newEchoUpstream(t)
	tests := []struct {
		name, req string
		status    int
	}{
		{name: "CL and TE", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "two differing CL", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400},
		{name: "bad chunk size", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", status: 400},
		{name: "obs-fold", req: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", status: 400},
		{name: "bare LF", req: "GET / HTTP/1.1\nHost: a\n\n", status: 400},
		{name: "unknown TE", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
		{name: "HTTP/2.0 line", req: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
		{name: "oversized header", req: "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", status: 431},
		{name: "long request line", req: "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", status: 414},
	}
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r := h.dialReader()
			resp := rawExchange(t, c, r, tc.req, "GET")
			readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close {
				t.Fatalf("connection not marked for close after a framing error")
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Fatalf("connection still open after the error reply: %v", err)
			}
		})
	}
}
