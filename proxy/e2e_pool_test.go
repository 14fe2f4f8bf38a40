package proxy_test

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/upstream"
)

// namedUpstream answers every request on a keep-alive connection with its
// one-letter name, and counts the connections that ended.
type namedUpstream struct {
	*testutil.RawServer
	ended atomic.Int64
}

func newNamedUpstream(t *testing.T, name string) *namedUpstream {
	u := &namedUpstream{}
	u.RawServer = testutil.NewRawServer(t, func(c net.Conn) {
		defer u.ended.Add(1)
		r := bufio.NewReader(c)
		for {
			if _, err := testutil.ReadHead(r); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"+name); err != nil {
				return
			}
		}
	})
	return u
}

// TestReloadClosesRemovedHostsIdleConns: a reload that drops a host closes
// the pooled connections ferry keeps to it, on whichever loop holds them,
// and leaves the other host's alone.
func TestReloadClosesRemovedHostsIdleConns(t *testing.T) {
	a, b := newNamedUpstream(t, "A"), newNamedUpstream(t, "B")
	h := startProxy(t, []string{a.Addr(), b.Addr()}, nil)
	// Two clients, so that both loops are likely to hold pools; round
	// robin sends each client's requests to both hosts.
	seen := map[string]int{}
	for range 2 {
		c, r := h.dialReader()
		for range 4 {
			resp := rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			seen[readAll(t, resp)]++
		}
	}
	if seen["A"] == 0 || seen["B"] == 0 || a.Accepted.Load() == 0 {
		t.Fatalf("responses %v, %d connections to A; want both hosts used", seen, a.Accepted.Load())
	}
	if a.ended.Load() != 0 || b.ended.Load() != 0 {
		t.Fatal("pooled connections ended before the reload")
	}

	err := h.clusters.Update([]upstream.ClusterSpec{{Name: "origin", ConnectTimeout: 2 * time.Second,
		Hosts: []upstream.HostSpec{{Address: b.Addr()}}}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "ferry to close its idle connections to the removed host", func() bool {
		return a.ended.Load() == a.Accepted.Load()
	})
	c, r := h.dialReader()
	for range 4 {
		resp := rawExchange(t, c, r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if got := readAll(t, resp); got != "B" {
			t.Fatalf("after the reload a request reached %q", got)
		}
	}
	if b.ended.Load() != 0 {
		t.Fatalf("%d connections to the kept host were closed", b.ended.Load())
	}
}
