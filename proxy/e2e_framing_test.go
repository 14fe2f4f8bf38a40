package proxy_test

// Message framing on both sides: bodies without a length, bodyless
// responses, interim responses, leftover bytes, close-delimited bodies.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// TestLeftoverBytesNeverReachAnotherRequest: a body on a HEAD reply must
// not be read as the next request's response.
func TestLeftoverBytesNeverReachAnotherRequest(t *testing.T) {
	up := testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, head string) bool {
		if strings.HasPrefix(head, "HEAD") {
			// Content-Length describes the GET body; the body itself is
			// forbidden here and forged to look like a response.
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET")
			return true
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npublic")
		return true
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.loops = 1 })
	c, r := h.dialReader()
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

// TestH2ResponseHeadIsNotHeldForTheBody: an upstream that sends its head
// and then thinks (a long poll, server-sent events) must not keep the
// client from seeing the head: HTTP/1 clients get it at once.
func TestH2ResponseHeadIsNotHeldForTheBody(t *testing.T) {
	release := make(chan struct{})
	up := testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
		<-release
		_, _ = io.WriteString(c, "later")
		return false
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	p.sync() // settings exchanged: from here the client sends nothing that would flush the proxy's output
	_ = p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	p.request(1, "GET", "/poll", true)
	for len(p.seen(1).heads) == 0 {
		if _, err := p.next(); err != nil {
			t.Fatalf("no response HEADERS while the upstream holds its body: %v (HTTP/1 clients get the head at once)", err)
		}
	}
	unblock()
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p.until("stream 1 to end", p.ended(1))
	p.expectWhole(1, "200", "later")
}

// TestH2NoBodyResponsesSendNoData: HEAD, 204 and 304 end the stream on the
// HEADERS frame (no DATA at all); a zero Content-Length too.
func TestH2NoBodyResponsesSendNoData(t *testing.T) {
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		switch strings.Fields(head)[1] {
		case "/204":
			return "HTTP/1.1 204 No Content\r\n\r\n"
		case "/304":
			return "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
		case "/empty":
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + map[bool]string{true: "", false: "hello"}[strings.HasPrefix(head, "HEAD")]
	})
	for _, pol := range []proxy.Policy{proxy.PolicyInline, proxy.PolicyPool} {
		t.Run(pol.String(), func(t *testing.T) {
			h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.factory.Policy = pol })
			p := dialH2Peer(t, h)
			cases := []struct {
				method, path, status, cl string
			}{
				{"HEAD", "/x", "200", "5"}, {"GET", "/204", "204", ""}, {"GET", "/304", "304", ""}, {"GET", "/empty", "200", "0"},
			}
			for i, c := range cases {
				id := uint32(2*i + 1)
				p.request(id, c.method, c.path, true)
				p.until(c.path, p.ended(id))
				s := p.seen(id)
				if s.status() != c.status || s.dataFrames != 0 || s.ends != 1 || s.heads[0]["content-length"] != c.cl {
					t.Fatalf("%s %s: status %s, %d DATA frames, END_STREAM %d, content-length %q",
						c.method, c.path, s.status(), s.dataFrames, s.ends, s.heads[0]["content-length"])
				}
			}
			waitIdle(t, h)
		})
	}
}

// TestH2ResponseFramings: an interim 103 before the final head, a
// close-delimited body, a chunked body with and without trailers: each
// reaches the client whole, END_STREAM exactly once and last.
func TestH2ResponseFramings(t *testing.T) {
	up := testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, head string) bool {
		switch strings.Fields(head)[1] {
		case "/103":
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
		case "/until-close":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nno length ")
			_, _ = io.WriteString(c, strings.Repeat("x", 100<<10))
			return false // closing the connection ends the body
		case "/chunked":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			_, _ = io.WriteString(c, "6\r\n world\r\n0\r\n\r\n")
		case "/trailers":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n")
			_, _ = io.WriteString(c, "0\r\nX-Sum: 42\r\n\r\n")
		}
		return true
	})
	h := startProxy(t, []string{up.Addr()}, nil)
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/103", true)
	p.request(3, "GET", "/until-close", true)
	p.request(5, "GET", "/chunked", true)
	p.request(7, "GET", "/trailers", true)
	for _, id := range []uint32{1, 3, 5, 7} {
		p.until(fmt.Sprint("stream ", id), p.ended(id))
	}
	p.expectWhole(1, "200", "final")
	p.expectWhole(3, "200", "no length "+strings.Repeat("x", 100<<10))
	if cl := p.seen(3).heads[0]["content-length"]; cl != "" {
		t.Fatalf("close-delimited body announced content-length %q", cl)
	}
	p.expectWhole(5, "200", "hello world")
	p.expectWhole(7, "200", "hello")
	if s := p.seen(7); len(s.heads) != 2 || s.heads[1]["x-sum"] != "42" {
		t.Fatalf("trailers: %v", s.heads)
	}
	waitIdle(t, h)
}

// TestH2RequestBodyFramings: a body without content-length (chunked
// upstream, with trailers), with one, and one that breaks its
// content-length, which resets its stream only.
func TestH2RequestBodyFramings(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	p := dialH2Peer(t, h)
	p.request(1, "POST", "/chunked-up", false, "te", "trailers")
	p.data(1, false, []byte("hello "))
	p.data(1, false, []byte("world"))
	p.buf.Reset()
	_ = p.enc.WriteField(hpack.HeaderField{Name: "x-req-sum", Value: "42"})
	if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	p.request(3, "POST", "/length", false, "content-length", "5")
	p.data(3, false, []byte("12345"))
	p.data(3, true, nil)
	p.request(5, "POST", "/short", false, "content-length", "10")
	p.data(5, true, []byte("123"))
	p.request(7, "POST", "/empty-end", false)
	p.data(7, true, nil)
	for _, id := range []uint32{1, 3, 5, 7} {
		p.until(fmt.Sprint("stream ", id), p.ended(id))
	}
	p.expectWhole(1, "200", "POST /chunked-up hello world")
	if s := p.seen(1); s.heads[0]["x-te"] != "chunked" || s.heads[0]["x-trailer"] != "42" {
		t.Fatalf("chunked upload: upstream saw TE %q trailer %q", s.heads[0]["x-te"], s.heads[0]["x-trailer"])
	}
	p.expectWhole(3, "200", "POST /length 12345")
	if s := p.seen(5); !s.rst || s.rstCode != http2.ErrCodeProtocol {
		t.Fatalf("content-length mismatch: rst %v %v, status %q", s.rst, s.rstCode, s.status())
	}
	p.expectWhole(7, "200", "POST /empty-end ")
	waitIdle(t, h)
}
