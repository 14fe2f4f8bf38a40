package proxy_test

// Which requests are retried on a new upstream connection, and which are
// never sent twice.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestNoRetryOfNonIdempotentOrBodiedRequests: a POST whose pooled
// connection dies unanswered must not be sent twice.
func TestNoRetryOfNonIdempotentOrBodiedRequests(t *testing.T) {
	var posts atomic.Int64
	// A GET is answered with keep-alive claimed; a POST, the first on its
	// connection or the next on a kept-alive one, dies unanswered.
	up := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, head string) bool {
		if strings.HasPrefix(head, "POST") {
			posts.Add(1)
			_, _ = io.ReadFull(r, make([]byte, 5))
			return false // close without answering
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	c, r := h.dialReader()
	readAll(t, rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET"))
	resp := rawExchange(t, c, r, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST")
	readAll(t, resp)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502 (no silent replay)", resp.StatusCode)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the POST reached the upstream %d times, want exactly once", n)
	}
}

// TestH2RetryAndInterimResponses: a GET whose pooled upstream connection
// turns out dead is retried on a fresh one, invisibly; an upstream's
// unsolicited 100 Continue is dropped; a client's Expect: 100-continue
// gets no HTTP/1 interim bytes on the HTTP/2 connection.
func TestH2RetryAndInterimResponses(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for n := 0; ; n++ {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			if strings.HasPrefix(head, "POST") {
				_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
				body := make([]byte, 4)
				_, _ = io.ReadFull(r, body)
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n%s", body)
				continue
			}
			if n > 0 {
				return // a GET on a reused connection dies unanswered
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	p := dialH2Peer(t, h)
	for i := range 3 {
		id := uint32(2*i + 1)
		p.request(id, "GET", "/r", true)
		p.until("GET", p.ended(id))
		p.expectWhole(id, "200", "ok")
		p.sync()
	}
	if n := h.stat("upstream_rq_retry"); n == 0 {
		t.Fatal("no retry happened: the test did not reach the path")
	}
	p.request(7, "POST", "/e", false, "expect", "100-continue", "content-length", "4")
	p.data(7, true, []byte("ping"))
	p.until("POST", p.ended(7))
	p.expectWhole(7, "200", "ping")
	if len(p.seen(7).heads) != 1 {
		t.Fatalf("POST got %d header blocks, want the final one only", len(p.seen(7).heads))
	}
	waitIdle(t, h)
}
