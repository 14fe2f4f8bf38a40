package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// h2cUpstream is a Go HTTP/2 server speaking h2c with prior knowledge on
// 127.0.0.1:0. conns counts the connections it accepted.
type h2cUpstream struct {
	addr  string
	conns atomic.Int64
	srv   *http.Server
}

func startH2C(t *testing.T, maxStreams uint32, h http.Handler) *h2cUpstream {
	t.Helper()
	ln := testutil.Listen(t)
	u := &h2cUpstream{addr: ln.Addr().String()}
	u.srv = &http.Server{Handler: h, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)},
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				u.conns.Add(1)
			}
		}}
	testutil.ServeH2C(t, ln, u.srv)
	return u
}

// startH2Proxy runs ferry with upstream_protocol Http2 in front of addr.
func startH2Proxy(t *testing.T, addr string, mod func(*setup)) *harness {
	t.Helper()
	return startProxy(t, []string{addr}, func(s *setup) {
		s.factory.UpstreamHTTP2 = true
		if mod != nil {
			mod(s)
		}
	})
}

// echoH2 answers with what it saw: protocol, method, body, trailers.
func echoH2() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Sum"))
		w.Header().Set("X-Te", r.Header.Get("Te"))
		w.Header().Set("X-Hop-Seen", r.Header.Get("X-Hop")+r.Header.Get("Connection"))
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		if r.URL.Path == "/len" {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)+len(r.Method)+1))
		}
		fmt.Fprintf(w, "%s %s", r.Method, b)
		if r.URL.Path != "/len" {
			w.(http.Flusher).Flush() // no length: the body is chunked to HTTP/1.1
			w.Header().Set("Grpc-Status", "3")
			w.Header().Set("Grpc-Message", "bad arg")
		}
	})
}

func TestH2UpstreamHTTP1Client(t *testing.T) {
	up := startH2C(t, 0, echoH2())
	h := startH2Proxy(t, up.addr, nil)
	c, r := h.dialReader()

	resp := rawExchange(t, c, r, "GET /len HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n", "GET")
	body := readAll(t, resp)
	if resp.StatusCode != 200 || body != "GET " || resp.Header.Get("X-Proto") != "HTTP/2.0" ||
		resp.Header.Get("X-Host") != "example.test" || resp.ContentLength != 4 || resp.Header.Get("X-Hop-Seen") != "" {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	resp = rawExchange(t, c, r, "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "POST hello" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}

	// A chunked request with trailers; the response has no length: it is
	// chunked to the client, with the upstream's trailers.
	resp = rawExchange(t, c, r, "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nTrailer: X-Sum\r\n\r\n"+
		"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 42\r\n\r\n", "POST")
	body = readAll(t, resp)
	if resp.StatusCode != 200 || body != "POST abcde" || resp.Header.Get("X-Req-Trailer") != "42" ||
		resp.Header.Get("X-Te") != "trailers" {
		t.Fatalf("chunked POST: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if len(resp.TransferEncoding) != 1 || resp.Trailer.Get("Grpc-Status") != "3" || resp.Trailer.Get("Grpc-Message") != "bad arg" {
		t.Fatalf("chunked response: TE %v trailers %v", resp.TransferEncoding, resp.Trailer)
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 3 sequential requests, want 1", n)
	}
}

func TestH2UpstreamHTTP2Client(t *testing.T) {
	up := startH2C(t, 0, echoH2())
	h := startH2Proxy(t, up.addr, nil)
	c := h.h2Client()
	req, _ := http.NewRequest("POST", "http://ferry.test/t", io.MultiReader(strings.NewReader("x"), strings.NewReader("yz")))
	req.Trailer = http.Header{"X-Sum": nil}
	req.Body = &trailerBody{r: strings.NewReader("xyz"), set: func() { req.Trailer.Set("X-Sum", "7") }}
	resp, body := h2Do(t, c, req)
	if resp.StatusCode != 200 || body != "POST xyz" || resp.Header.Get("X-Req-Trailer") != "7" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Trailer.Get("Grpc-Status") != "3" || resp.Trailer.Get("Grpc-Message") != "bad arg" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

// trailerBody sets the request's trailers once its body is read.
type trailerBody struct {
	r   io.Reader
	set func()
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.set != nil {
		b.set()
		b.set = nil
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

// barrier holds every request until n arrived, so that they are all in
// flight at once.
func barrier(n int) (http.Handler, *atomic.Int64) {
	var seen atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) >= int64(n) {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "ok")
	}), &seen
}

func concurrentGets(t *testing.T, h *harness, n int) {
	t.Helper()
	c := h.client()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			resp, err := c.Get(fmt.Sprintf("http://ferry.test/%d", i))
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestH2UpstreamStreamsShareConnections(t *testing.T) {
	const n, maxStreams, loops = 100, 30, 2
	hd, seen := barrier(n)
	up := startH2C(t, maxStreams, hd)
	h := startH2Proxy(t, up.addr, nil)
	concurrentGets(t, h, n)
	if seen.Load() != n {
		t.Fatalf("upstream saw %d requests, want %d", seen.Load(), n)
	}
	// Per loop, ceil(requests on it / maxStreams); over the loops at most
	// ceil(n/maxStreams) + loops - 1.
	if got, limit := up.conns.Load(), int64((n+maxStreams-1)/maxStreams+loops-1); got > limit {
		t.Fatalf("%d upstream connections for %d concurrent streams (max %d per connection), want at most %d", got, n, maxStreams, limit)
	}
}

func TestH2UpstreamOneStreamPerConnection(t *testing.T) {
	const n = 6
	hd, _ := barrier(n)
	up := startH2C(t, 1, hd)
	h := startH2Proxy(t, up.addr, nil)
	concurrentGets(t, h, n)
	if got := up.conns.Load(); got < n {
		t.Fatalf("%d upstream connections for %d concurrent streams with MAX_CONCURRENT_STREAMS 1", got, n)
	}
}

var (
	_ = context.Background
	_ = testutil.WaitFor
)

// smallBufListener shrinks the send buffer of accepted sockets, so that
// what the upstream "sent" is close to what ferry took.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10)
	}
	return c, err
}

// TestH2UpstreamFlowControlBoundsSlowClient: a slow HTTP/1.1 client reads
// a 64 MiB response from an HTTP/2 upstream. ferry returns the upstream's
// flow-control window only as the client drains, so the upstream can never
// be more than a window (plus socket and outbound buffers) ahead of the
// client: ferry buffers a bounded amount instead of spilling the stream.
func TestH2UpstreamFlowControlBoundsSlowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB")
	}
	const size = 64 << 20
	var written atomic.Int64
	ln := testutil.Listen(t)
	us := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		buf := make([]byte, 32<<10)
		for n := 0; n < size; n += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
			written.Add(int64(len(buf)))
		}
	})}
	testutil.ServeH2C(t, smallBufListener{ln}, us)

	h := startH2Proxy(t, ln.Addr().String(), func(s *setup) { s.opts.RouteTimeout = time.Minute })
	c := h.dial()
	_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var read, maxAhead int64
	buf := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(buf)
		read += int64(n)
		maxAhead = max(maxAhead, written.Load()-read)
		if err != nil {
			break
		}
		if read%(1<<20) < 16<<10 {
			time.Sleep(2 * time.Millisecond) // a slow client, not a wait for state
		}
	}
	if read != size {
		t.Fatalf("read %d bytes, want %d", read, size)
	}
	// Stream window 256 KiB + ferry's outbound queue and socket buffers.
	if maxAhead > 12<<20 {
		t.Fatalf("the upstream got %d MiB ahead of the slow client: ferry buffered without bound", maxAhead>>20)
	}
	t.Logf("upstream at most %d KiB ahead of the client", maxAhead>>10)
}
