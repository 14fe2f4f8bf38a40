package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
)

// The proxy's request paths, end to end over loopback: one keep-alive
// client connection, one request in flight. They measure ferry's share of
// a round trip (the client and the upstream are minimal raw sockets), so a
// change to the stream's phases, its reset or its failure path shows here.
// Reproduce: go test -run=NONE -bench=. -benchmem -count=5 ./proxy/

// benchResponse is what the raw upstream answers to every request.
const benchResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// benchUpstream answers every request head on a connection with
// benchResponse until the connection closes.
func benchUpstream(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		if _, err := testutil.ReadHead(r); err != nil {
			return
		}
		if _, err := io.WriteString(c, benchResponse); err != nil {
			return
		}
	}
}

// benchRoundTrips sends req b.N times on one connection and reads each
// response of exactly wantLen bytes, checking that it starts with status.
func benchRoundTrips(b *testing.B, h *harness, req string, status string, wantLen int) {
	b.Helper()
	c := h.dial()
	buf := make([]byte, wantLen)
	rq := []byte(req)
	roundTrip := func() {
		if _, err := c.Write(rq); err != nil {
			b.Fatalf("write: %v", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatalf("read: %v", err)
		}
		if !bytes.HasPrefix(buf, []byte(status)) {
			b.Fatalf("response %q, want %s", buf, status)
		}
	}
	roundTrip() // connections and free lists warm
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
}

// responseLen is the wire length of the response to req (head and a
// Content-Length body), so that the benchmark reads it with one ReadFull.
func responseLen(b *testing.B, h *harness, req string) int {
	b.Helper()
	c := h.dial()
	if _, err := io.WriteString(c, req); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReader(c)
	n := 0
	cl := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("read head: %v", err)
		}
		n += len(line)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			if cl, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				b.Fatalf("content-length %q: %v", line, err)
			}
		}
	}
	if cl < 0 {
		b.Fatal("the response states no Content-Length")
	}
	return n + cl
}

// BenchmarkProxyGET is a forwarded GET: route, pool, upstream, response.
func BenchmarkProxyGET(b *testing.B) {
	up := testutil.NewRawServer(b, benchUpstream)
	h := startProxy(b, []string{up.Addr()}, nil)
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
}

// BenchmarkProxyNoRoute is a local reply: no route matches, 404.
func BenchmarkProxyNoRoute(b *testing.B) {
	h := startProxy(b, nil, func(s *setup) {
		s.routes.VirtualHosts[0].Routes[0].Match = router.MatchSpec{Prefix: "/only"}
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 404", responseLen(b, h, req))
}

// BenchmarkProxyDirect is a direct response route.
func BenchmarkProxyDirect(b *testing.B) {
	h := startProxy(b, nil, func(s *setup) {
		s.routes.VirtualHosts[0].Routes[0] = router.RouteSpec{Match: router.MatchSpec{Prefix: "/"},
			Direct: &router.DirectResponse{Status: 200, Body: "direct\n"}}
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
}
