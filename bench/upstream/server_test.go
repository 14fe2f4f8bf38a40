package main

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// gnet's package-level goroutine pool (an ants pool made when gnet is
	// imported, gnet:pkg/pool/goroutine) lives for the whole process.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// startServer runs a server on 127.0.0.1:0 and stops it when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	addr, _ := startServerWith(t, Options{})
	return addr
}

// startServerWith is startServer with options (Addr, Loops and Logger are
// set here).
func startServerWith(t *testing.T, opts Options) (string, *Server) {
	t.Helper()
	opts.Addr, opts.Loops, opts.Logger = "127.0.0.1:0", 2, log.New(io.Discard, "", 0)
	srv := NewServer(opts)
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := srv.Addr(ctx)
	if err != nil {
		t.Fatalf("server did not bind: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return addr, srv
}

// TestServerMaxConns: past MaxConns a new connection is closed at once and
// counted, the ones within keep working, and a place freed by a close is
// taken again.
func TestServerMaxConns(t *testing.T) {
	addr, srv := startServerWith(t, Options{MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, br := dial(t, addr)
		write(t, c, "GET /1k HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || len(body) != 1024 {
			t.Fatalf("within the budget: %d, %d bytes", resp.StatusCode, len(body))
		}
		held = append(held, c)
	}
	over, br := dial(t, addr)
	write(t, over, "GET /1k HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("a connection past MaxConns was answered")
	}
	if n := srv.Refused(); n != 1 {
		t.Fatalf("refused %d, want 1", n)
	}
	if err := held[0].Close(); err != nil {
		t.Fatal(err)
	}
	// The close reaches the server's loop asynchronously: retry until the
	// freed place is taken (bounded by dial's deadline via the test timeout).
	testutil.WaitFor(t, 10*time.Second, "a freed place is taken again", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close() //nolint:errcheck // probe connection
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET /0 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
		return err == nil && resp.StatusCode == 200
	})
}

// dial opens a client connection with a generous deadline (a hang fails
// the test instead of stalling it).
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := testutil.DialTCP(t, addr, 20*time.Second)
	return c, bufio.NewReader(c)
}

// readResponse reads one response and its whole body.
func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestServerSizesOnOneConnection(t *testing.T) {
	addr := startServer(t)
	c, br := dial(t, addr)
	tests := []struct {
		name, method, path string
		status, bodyLen    int
		contentLength      int64
	}{
		{name: "root", method: "GET", path: "/", status: 200, bodyLen: 0},
		{name: "zero", method: "GET", path: "/0", status: 200, bodyLen: 0},
		{name: "1k", method: "GET", path: "/1k", status: 200, bodyLen: 1024, contentLength: 1024},
		{name: "64k", method: "GET", path: "/64k", status: 200, bodyLen: 65536, contentLength: 65536},
		{name: "size", method: "GET", path: "/size/70000?x=1", status: 200, bodyLen: 70000, contentLength: 70000},
		{name: "head", method: "HEAD", path: "/1k", status: 200, bodyLen: 0, contentLength: 1024},
		{name: "not found", method: "GET", path: "/nope", status: 404, bodyLen: 10, contentLength: 10},
		{name: "too big", method: "GET", path: "/size/999999999", status: 404, bodyLen: 10, contentLength: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(t, c, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := readResponse(t, br, tc.method)
			if resp.StatusCode != tc.status || len(body) != tc.bodyLen {
				t.Fatalf("got %d with %d body bytes, want %d with %d", resp.StatusCode, len(body), tc.status, tc.bodyLen)
			}
			if resp.ContentLength != tc.contentLength || resp.Close {
				t.Fatalf("content-length %d close %v, want %d keep-alive", resp.ContentLength, resp.Close, tc.contentLength)
			}
		})
	}
}

func TestServerPipelining(t *testing.T) {
	addr := startServer(t)
	c, br := dial(t, addr)
	write(t, c, "GET /1k HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"\r\nGET /size/3 HTTP/1.1\r\nHost: x\r\n\r\n")
	for i, want := range []int{1024, 0, 3} {
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || len(body) != want {
			t.Fatalf("response %d: status %d, %d bytes; want 200, %d", i, resp.StatusCode, len(body), want)
		}
	}
}

func TestServerPartialReads(t *testing.T) {
	addr := startServer(t)
	c, br := dial(t, addr)
	req := "POST /1k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
	for i := range len(req) {
		write(t, c, req[i:i+1])
	}
	write(t, c, "GET /size/2 HTTP/1.1\r\n")
	write(t, c, "Host: x\r\n\r")
	write(t, c, "\n")
	for _, want := range []int{1024, 2} {
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || len(body) != want {
			t.Fatalf("status %d, %d bytes; want 200, %d", resp.StatusCode, len(body), want)
		}
	}
}

func TestServerLargeResponseThenClose(t *testing.T) {
	addr := startServer(t)
	c, br := dial(t, addr)
	const size = 16 << 20 // larger than the socket buffers: gnet must queue
	write(t, c, "GET /size/"+strconv.Itoa(size)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || len(body) != size || !resp.Close {
		t.Fatalf("status %d, %d bytes, close %v; want 200, %d, close", resp.StatusCode, len(body), resp.Close, size)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the response: read %d, %v; want EOF", n, err)
	}
}

func TestServerConnectionHandling(t *testing.T) {
	tests := []struct {
		name      string
		req       string
		status    int
		close     bool
		keepAlive bool // response carries Connection: keep-alive
	}{
		{name: "1.1 close", req: "GET /1k HTTP/1.1\r\nConnection: close\r\n\r\n", status: 200, close: true},
		{name: "1.1 close token", req: "GET /1k HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", status: 200, close: true},
		{name: "1.0 default", req: "GET /1k HTTP/1.0\r\n\r\n", status: 200, close: true},
		{name: "1.0 keep-alive", req: "GET /1k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", status: 200, keepAlive: true},
		{name: "bad request", req: "GARBAGE\r\n\r\n", status: 400, close: true},
		{name: "chunked", req: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501, close: true},
		{name: "bad length", req: "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", status: 400, close: true},
	}
	addr := startServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			write(t, c, tc.req)
			resp, _ := readResponse(t, br, "GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			gotKA := strings.EqualFold(resp.Header.Get("Connection"), "keep-alive")
			if gotKA != tc.keepAlive {
				t.Fatalf("Connection header %q, keep-alive want %v", resp.Header.Get("Connection"), tc.keepAlive)
			}
			if tc.close {
				if n, err := br.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("read %d, %v; want EOF after Connection: close", n, err)
				}
				return
			}
			write(t, c, "GET /0 HTTP/1.1\r\n\r\n") // still open
			if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
				t.Fatalf("second request: status %d", resp.StatusCode)
			}
		})
	}
}

func TestServerHeadTooLarge(t *testing.T) {
	addr := startServer(t)
	c, br := dial(t, addr)
	write(t, c, "GET / HTTP/1.1\r\nX: "+strings.Repeat("a", maxHead)+"\r\n")
	resp, _ := readResponse(t, br, "GET")
	if resp.StatusCode != 431 || !resp.Close {
		t.Fatalf("status %d close %v, want 431 and close", resp.StatusCode, resp.Close)
	}
}

func TestHeadEndIncremental(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nnext")
	scanned := 0
	for i := 1; i < len(req)-4; i++ {
		if n := headEnd(req[:i], &scanned); n != 0 {
			t.Fatalf("prefix %d: head end %d before the head was complete", i, n)
		}
	}
	if n := headEnd(req, &scanned); n != len(req)-4 {
		t.Fatalf("head end %d, want %d", n, len(req)-4)
	}
	if scanned != 0 {
		t.Fatalf("scanned %d after a complete head, want 0", scanned)
	}
}

func TestBodySize(t *testing.T) {
	tests := []struct {
		path string
		size int
		ok   bool
	}{
		{path: "/", size: 0, ok: true},
		{path: "/0", size: 0, ok: true},
		{path: "/1k", size: 1024, ok: true},
		{path: "/64k", size: 65536, ok: true},
		{path: "/size/12", size: 12, ok: true},
		{path: "/size/-1"},
		{path: "/size/x"},
		{path: "/2k"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			size, ok := bodySize([]byte(tc.path))
			if size != tc.size || ok != tc.ok {
				t.Fatalf("bodySize(%q) = %d, %v; want %d, %v", tc.path, size, ok, tc.size, tc.ok)
			}
		})
	}
}
