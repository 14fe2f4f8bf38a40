package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// answerOK answers one request (whose head was read) with a keep-alive 200.
func answerOK(c net.Conn, br *bufio.Reader, head string) bool {
	if _, err := io.CopyN(io.Discard, br, contentLength(head)); err != nil {
		return false
	}
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return err == nil
}

// faultCase is one upstream fault and what the client must see.
type faultCase struct {
	name    string
	handle  func(c net.Conn, br *bufio.Reader) // nil: connection refused
	reqs    []string                           // requests sent one after another on one client connection
	want    []int                              // status per request; 0: the body must not read as complete
	prefix  string                             // local reply body prefix of the last response
	counter string                             // counter that must move
	// bodyRead, if set, gets a token for each byte of the response body
	// the client reads (while it has room): a handler waits on it to act
	// in the middle of the body, when the client holds part of it.
	bodyRead chan struct{}
	// minTook bounds how soon the last answer may come (a timeout case).
	minTook time.Duration
}

func faultCases() []faultCase {
	hang := func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		_, _ = io.Copy(io.Discard, br) // never answers; returns when ferry closes
	}
	// stale answers the first request of a connection, then closes the
	// connection as soon as the second request arrives (the keep-alive
	// race: the upstream closed it just as ferry reused it).
	stale := func(c net.Conn, br *bufio.Reader) {
		head, ok := readHead(br)
		if !ok || !answerOK(c, br, head) {
			return
		}
		readHead(br)
	}
	post := "POST /p HTTP/1.1\r\nHost: rel.test\r\nContent-Length: 5\r\n\r\nhello"
	resetRead, dripRead := make(chan struct{}, 16), make(chan struct{}, 16)
	// clientHas waits until the client has read one more body byte.
	clientHas := func(read <-chan struct{}) bool {
		select {
		case <-read:
			return true
		case <-time.After(ioTimeout): // the client failed before it read
			return false
		}
	}
	return []faultCase{
		{name: "refused", reqs: []string{get("/f")}, want: []int{503},
			prefix: "upstream_connect_failed", counter: "local_reply_upstream_connect_failed"},
		{name: "reset before response", handle: func(c net.Conn, br *bufio.Reader) {
			readHead(br)
			resetConn(c)
		}, reqs: []string{get("/f")}, want: []int{502}, prefix: "upstream_reset", counter: "local_reply_upstream_reset"},
		{name: "reset during response", handle: func(c net.Conn, br *bufio.Reader) {
			readHead(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("p", 5000))
			clientHas(resetRead) // the upstream dies once the client holds part of the body
			resetConn(c)
		}, reqs: []string{get("/f")}, want: []int{0}, counter: "upstream_rq_reset_mid_body", bodyRead: resetRead},
		{name: "close during response", handle: func(c net.Conn, br *bufio.Reader) {
			readHead(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"+strings.Repeat("q", 1024)+"\r\n")
		}, reqs: []string{get("/f")}, want: []int{0}, counter: "upstream_rq_reset_mid_body"},
		{name: "hang", handle: hang, reqs: []string{get("/hang")}, want: []int{504},
			prefix: "upstream_timeout", counter: "local_reply_upstream_timeout", minTook: 400 * time.Millisecond},
		{name: "hang after head", handle: func(c net.Conn, br *bufio.Reader) {
			readHead(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			_, _ = io.Copy(io.Discard, br)
		}, reqs: []string{get("/hang")}, want: []int{0}, counter: "upstream_rq_timeout"},
		{name: "slow drip", handle: func(c net.Conn, br *bufio.Reader) {
			// The body in eight one-byte chunks, each sent only once the
			// client has the one before: every piece reaches ferry on its own.
			readHead(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for range 8 {
				if _, err := io.WriteString(c, "1\r\nd\r\n"); err != nil || !clientHas(dripRead) {
					return
				}
			}
			_, _ = io.WriteString(c, "0\r\n\r\n")
			_, _ = io.Copy(io.Discard, br)
		}, reqs: []string{get("/hang/drip")}, want: []int{200}, counter: "downstream_rq_total", bodyRead: dripRead},
		{name: "garbage", handle: func(c net.Conn, br *bufio.Reader) {
			readHead(br)
			_, _ = io.WriteString(c, "\x00\x01garbage\r\n\r\n")
		}, reqs: []string{get("/f")}, want: []int{502}, prefix: "upstream_bad_response", counter: "local_reply_upstream_bad_response"},
		{name: "stale keep-alive GET is retried", handle: stale, reqs: []string{get("/a"), get("/b")},
			want: []int{200, 200}, counter: "upstream_rq_retry"},
		{name: "stale keep-alive POST is 502", handle: stale, reqs: []string{post, post},
			want: []int{200, 502}, prefix: "upstream_reset", counter: "local_reply_upstream_reset"},
	}
}

// TestUpstreamFaults: for each upstream fault, the client gets the right
// local reply (or a visibly cut body), never hangs; the right counter
// moves, downstream_rq_active returns to 0 and no goroutine is left.
func TestUpstreamFaults(t *testing.T) {
	for _, tc := range faultCases() {
		runNoLeak(t, tc.name, func(t *testing.T) {
			addr := testutil.ClosedAddr(t)
			if tc.handle != nil {
				addr = rawUpstream(t, tc.handle).Addr()
			}
			f := startFerry(t, knobs{upstream: addr, loops: 1})
			before := f.stat(tc.counter)
			cl := f.dial(t)
			for i, req := range tc.reqs {
				start := time.Now()
				cl.write(t, req)
				method, _, _ := strings.Cut(req, " ")
				var r *resp
				var err error
				if tc.bodyRead != nil {
					r, err = cl.readCounting(method, tc.bodyRead)
				} else {
					r, err = cl.read(method)
				}
				took := time.Since(start)
				switch {
				case testutil.IsTimeout(err):
					t.Fatalf("request %d: the client hung: %v", i+1, err)
				case tc.want[i] == 0 && err == nil:
					t.Fatalf("request %d: a cut response read as complete: %d %q", i+1, r.status, r.body)
				case tc.want[i] == 0:
					// Cut visibly: the connection must end.
					if err := cl.closed(ioTimeout); err != nil {
						t.Fatalf("request %d: after a cut body: %v", i+1, err)
					}
				case err != nil:
					t.Fatalf("request %d: want %d, got %v", i+1, tc.want[i], err)
				case r.status != tc.want[i]:
					t.Fatalf("request %d: got %d %q, want %d", i+1, r.status, r.body, tc.want[i])
				case i == len(tc.reqs)-1 && tc.prefix != "" && !hasPrefix(r, tc.prefix):
					t.Fatalf("request %d: body %q, want %s...", i+1, r.body, tc.prefix)
				}
				if tc.minTook > 0 && took < tc.minTook {
					t.Fatalf("answered after %v, before the route timeout", took)
				}
			}
			f.waitStat(t, tc.counter, before+1)
			f.quiesce(t)
		})
	}
}

// TestUpstreamNeverReadsBody: an upstream that reads the head of a 32 MiB
// upload and never its body nor answers. ferry must take the body into its
// spill queue (memory bounded) and answer 504 once the route timeout
// passes; an upstream that answers early without reading the body has its
// answer delivered. Never a hang.
func TestUpstreamNeverReadsBody(t *testing.T) {
	const size = 32 << 20
	tests := []struct {
		name   string
		early  bool // the upstream answers at once
		status int
	}{
		{name: "silent", status: 504},
		{name: "early answer", early: true, status: 413},
	}
	for _, tc := range tests {
		runNoLeak(t, tc.name, func(t *testing.T) {
			done := make(chan struct{})
			up := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				readHead(br)
				if tc.early {
					_, _ = io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
				}
				<-done // read nothing more, until the test ends
			})
			t.Cleanup(func() { close(done) }) // runs before the upstream's Close waits for this handler
			f := startFerry(t, knobs{upstream: up.Addr(), routeTimeout: 500 * time.Millisecond, spillMem: 256 << 10,
				highWatermark: 256 << 10, lowWM: 64 << 10})
			base := heapInuse()
			peak := watchPeak()
			cl := f.dial(t)
			cl.write(t, fmt.Sprintf("POST /up HTTP/1.1\r\nHost: rel.test\r\nContent-Length: %d\r\n\r\n", size))
			var wg sync.WaitGroup
			var sent int64
			var sentAt time.Time
			start := time.Now()
			wg.Go(func() {
				_ = cl.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				sent, _ = io.Copy(cl.c, newPattern(1, size))
				sentAt = time.Now()
			})
			_ = cl.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			r, err := readResp(cl.br, "POST")
			answered := time.Now()
			wg.Wait()
			t.Logf("%d MiB sent in %v; answered after %v", sent>>20, sentAt.Sub(start), answered.Sub(start))
			if !tc.early && answered.Sub(sentAt) > 3*time.Second {
				t.Errorf("answered %v after the whole body was sent; the route timeout is 500ms", answered.Sub(sentAt))
			}
			if err != nil {
				t.Fatalf("after %d of %d body bytes sent: %v", sent, size, err)
			}
			if r.status != tc.status {
				t.Fatalf("got %d %q, want %d", r.status, r.body, tc.status)
			}
			if g := int64(peak.end()) - int64(base); g > 16<<20 {
				t.Fatalf("heap grew by %d MiB buffering a %d MiB body: not bounded by the spill queue", g>>20, size>>20)
			}
			f.quiesce(t)
		})
	}
}

// readCounting is read, but reads the body a byte at a time and puts a
// token in bodyRead for each byte while it has room.
func (cl *client) readCounting(method string, bodyRead chan<- struct{}) (*resp, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(ioTimeout))
	r, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var body []byte
	b := make([]byte, 1)
	for {
		n, err := r.Body.Read(b)
		if n == 1 {
			body = append(body, b[0])
			select {
			case bodyRead <- struct{}{}:
			default: // the handler has all the tokens it waits for
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("status %d, body cut after %d bytes: %w", r.StatusCode, len(body), err)
		}
	}
	return &resp{status: r.StatusCode, header: r.Header, close: r.Close, body: string(body)}, nil
}
