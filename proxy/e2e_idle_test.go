package proxy_test

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestIdleConnectionsCostNoGoroutines opens 5,000 keep-alive connections,
// sends one request on each so that ferry has fully set them up, and checks
// that ferry runs no more goroutines than with none: connections live on
// the event loops, not on goroutines.
func TestIdleConnectionsCostNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5,000 connections")
	}
	const n = 5000
	up := testutil.NewHeadServer(t, testutil.Reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	h := startProxy(t, []string{up.Addr()}, nil)
	// Warm up one request so the upstream connection, the workers that
	// dialled it and every lazy structure exist before the baseline.
	warm := h.dial()
	wr := bufio.NewReader(warm)
	readAll(t, rawExchange(t, warm, wr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET"))
	runtime.GC()
	before := runtime.NumGoroutine()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	buf := make([]byte, 256)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if _, err := io.ReadAtLeast(c, buf, len("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	runtime.GC()
	after := runtime.NumGoroutine()
	runtime.ReadMemStats(&ms1)
	t.Logf("goroutines: %d before, %d with %d idle connections; heap in use %+.0f B per connection (client and server side)",
		before, after, n, float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/n)
	if after-before > 8 {
		t.Fatalf("%d idle connections added %d goroutines; want a fixed handful", n, after-before)
	}
	if got := h.eng.Tracker().Downstream.Load(); got < n {
		t.Fatalf("ferry tracks %d downstream connections, want >= %d", got, n)
	}
}
