package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// Regression tests for failures found in review: each once crashed,
// corrupted or hung ferry.

// TestClientResetsDuringTheExchange: clients that send a request and reset
// at once, while ferry replies or streams the response, must never take
// the process down or leak a request.
func TestClientResetsDuringTheExchange(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			if _, err := testutil.ReadHead(r); err != nil {
				return
			}
			body := strings.Repeat("z", 256<<10)
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
				return
			}
		}
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	for i := range 200 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		path := "/ok"
		if i%2 == 0 {
			path = "/bad path" // a 400 that ferry writes to a client already gone
		}
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
	testutil.WaitFor(t, 10*time.Second, "every request finished", func() bool { return h.srv.Stats().Active() == 0 })
	code, body := h.get(h.client(), "/after")
	if code != 200 || len(body) != 256<<10 {
		t.Fatalf("ferry unhealthy after resets: %d, %d bytes", code, len(body))
	}
}

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

// TestNoRetryOfNonIdempotentOrBodiedRequests: a POST whose pooled
// connection dies unanswered must not be sent twice.
func TestNoRetryOfNonIdempotentOrBodiedRequests(t *testing.T) {
	var posts atomic.Int64
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		head, err := testutil.ReadHead(r)
		if err != nil {
			return
		}
		if strings.HasPrefix(head, "POST") {
			posts.Add(1)
			_, _ = io.ReadFull(r, make([]byte, 5))
			return // close without answering
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// keep-alive claimed, but the next request on this connection dies
		_, _ = testutil.ReadHead(r)
		if _, err := io.ReadFull(r, make([]byte, 5)); err == nil {
			posts.Add(1)
		}
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	c := h.dial()
	r := bufio.NewReader(c)
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

// TestLeftoverBytesNeverReachAnotherRequest: a body on a HEAD reply must
// not be read as the next request's response.
func TestLeftoverBytesNeverReachAnotherRequest(t *testing.T) {
	up := testutil.NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			head, err := testutil.ReadHead(r)
			if err != nil {
				return
			}
			if strings.HasPrefix(head, "HEAD") {
				// Content-Length describes the GET body; the body itself is
				// forbidden here and forged to look like a response.
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npublic")
		}
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	c := h.dial()
	r := bufio.NewReader(c)
	readAll(t, rawExchange(t, c, r, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD"))
	for i := range 3 {
		c2 := h.dial()
		body := readAll(t, rawExchange(t, c2, bufio.NewReader(c2), "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET"))
		if body != "public" {
			t.Fatalf("request %d got %q: another request's bytes leaked", i, body)
		}
	}
}

// TestCloseDelimitedResponseToSlowHTTP10Client: the body of a response to
// an HTTP/1.0 client ends with the close, which must come once the
// (queued, spilled) body is out.
func TestCloseDelimitedResponseToSlowHTTP10Client(t *testing.T) {
	up := hashUpstream(t, false)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.opts.Spill.MemLimit = 64 << 10
		s.opts.Spill.Dir = t.TempDir()
		s.conn.HighWatermark = 64 << 10
	})
	const n = 8 << 20
	c := h.dial()
	_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
	if _, err := fmt.Fprintf(c, "GET /big/%d?chunked=1 HTTP/1.0\r\nHost: a\r\n\r\n", n); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&slowReader{r: c, rate: 512 << 10}), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil || got != n {
		t.Fatalf("read %d bytes (%v), want %d then EOF", got, err, n)
	}
}

// chooseHostFilter answers locally once the host is chosen.
type chooseHostFilter struct{}

func (chooseHostFilter) Blocking() bool { return false }
func (chooseHostFilter) CreateFilters(b filterchain.ChainBuilder) {
	b.AddReceiver(&replyAfterHost{}, filterchain.AfterChooseHost)
}

type replyAfterHost struct{}

func (*replyAfterHost) OnReceive(h filterchain.StreamHandle, _ filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	h.SendLocalReply(429, "slow down\n")
	return filterchain.StreamStop
}
func (*replyAfterHost) OnDestroy() {}

func TestLocalReplyAfterChooseHost(t *testing.T) {
	up := newEchoUpstream(t)
	for _, pol := range []proxy.Policy{proxy.PolicyInline, proxy.PolicyPool} {
		t.Run(pol.String(), func(t *testing.T) {
			h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
				s.factory.Policy = pol
				s.factory.StreamFilters = []filterchain.StreamFilterFactory{chooseHostFilter{}}
			})
			c := h.client()
			for range 3 { // keep-alive: a hung stream would block the second
				code, body := h.get(c, "/x")
				if code != 429 || body != "slow down\n" {
					t.Fatalf("got %d %q", code, body)
				}
			}
		})
	}
}
