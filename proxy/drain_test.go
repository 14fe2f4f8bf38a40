package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A drain closes connections between requests, never under one: an idle
// HTTP/1 connection closes at once (CloseIdle), an idle HTTP/2 one says
// GOAWAY and closes, and a connection with a request in flight gets its
// response, with Connection: close, and then closes.
func TestCloseIdleClosesOnlyIdleConnections(t *testing.T) {
	release := make(chan struct{})
	up := testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, head string) bool {
		if strings.HasPrefix(head, "GET /hang") {
			<-release // answered once the drain began
		}
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	unblock := unblocker(t, release)
	h := startProxy(t, []string{up.Addr()}, nil)

	get := func(c net.Conn, r *bufio.Reader, path string) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c := testutil.DialTCP(t, h.addr, 10*time.Second)
		return c, bufio.NewReader(c)
	}
	idle, ri := dial()
	if resp := get(idle, ri, "/a"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first response: %d, close %v", resp.StatusCode, resp.Close)
	}
	busy, rb := dial()
	if _, err := io.WriteString(busy, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/b", true)
	p.until("stream 1", p.ended(1))
	testutil.WaitFor(t, 5*time.Second, "the hanging request in flight", func() bool { return h.srv.Stats().Active() == 1 })

	h.srv.StartDrain()
	closed := 0
	for _, l := range h.eng.Loops() {
		done := make(chan int, 1)
		if err := l.Execute(func() { done <- h.srv.CloseIdle(l) }); err != nil {
			t.Fatal(err)
		}
		closed += <-done
	}
	if closed != 2 {
		t.Fatalf("CloseIdle closed %d connections, want 2 (the idle HTTP/1 and HTTP/2 ones)", closed)
	}
	if n, err := ri.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the idle HTTP/1 connection: read %d, %v; want EOF", n, err)
	}
	for p.eof == nil {
		_, _ = p.next()
	}
	if p.goaway == nil {
		t.Fatal("the idle HTTP/2 connection closed without GOAWAY")
	}
	// Clients close their side on EOF: ferry's lingering close ends.
	_ = idle.Close()
	_ = p.c.Close()

	unblock()
	resp, err := http.ReadResponse(rb, nil)
	if err != nil {
		t.Fatalf("the request in flight during the drain: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("the request in flight: %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	_ = busy.Close()
	testutil.WaitFor(t, 5*time.Second, "no client connection left", func() bool {
		return h.eng.Tracker().Downstream.Load() == 0
	})
}
