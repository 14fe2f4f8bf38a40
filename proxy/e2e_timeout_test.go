package proxy_test

// What the request body timeout and the route timeout bound.

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestH2RequestBodyTimeoutIsAGap: RequestBodyTimeout bounds the gap
// between request body reads (it is re-armed on every read for HTTP/1).
// An HTTP/2 upload that keeps flowing must not be cut by it.
func TestH2RequestBodyTimeoutIsAGap(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.opts.RequestBodyTimeout = 300 * time.Millisecond
	})
	p := dialH2Peer(t, h)
	p.request(1, "POST", "/slow", false)
	var want strings.Builder
	for i := range 12 {
		piece := fmt.Sprintf("piece%02d;", i)
		want.WriteString(piece)
		p.data(1, i == 11, []byte(piece))
		time.Sleep(60 * time.Millisecond) // a slow but steady client: every gap is well within the timeout
	}
	p.until("stream 1 to end", p.ended(1))
	p.expectWhole(1, "200", "POST /slow "+want.String())
}

// TestH2RouteTimeoutStopsWithTheUpstream: the route timeout bounds the
// upstream ("did not answer in time, or stalled between two reads of the
// response body"). Once the upstream's response is complete, a client
// that keeps its flow-control window closed for a while (a paused player)
// must not have its stream reset as an upstream timeout.
func TestH2RouteTimeoutStopsWithTheUpstream(t *testing.T) {
	const size = 100 << 10
	up := scriptUpstream(t, nil, func(head string, _ *bufio.Reader) string {
		if strings.HasPrefix(head, "GET /hang ") {
			return "" // never answers
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("z", size))
	})
	h := startProxy(t, []string{up.Addr()}, func(s *setup) { s.opts.RouteTimeout = 200 * time.Millisecond })
	p := dialH2Peer(t, h)
	p.credit = false
	p.request(1, "GET", "/x", true)
	p.until("the first window's worth", func() bool { return p.seen(1).data.Len() >= 65535 })
	// The client keeps stream 1's window closed (the upstream is done)
	// while two more streams, one after the other, run into the route
	// timeout: stream 1's route timer, had it stayed armed, was armed
	// before either of theirs, so it would have fired by the time the
	// second has. The connection's window opens for their replies only.
	if err := p.fr.WriteWindowUpdate(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{3, 5} {
		p.request(id, "GET", "/hang", true)
		p.until(fmt.Sprint("stream ", id, " to time out"), p.ended(id))
		if st := p.seen(id).status(); st != "504" {
			t.Fatalf("stream %d to a silent upstream: status %q, want 504", id, st)
		}
	}
	if n := h.stat("upstream_rq_timeout"); n != 2 || p.seen(1).done() {
		t.Errorf("upstream_rq_timeout = %d, want 2 (the two silent upstreams), stream 1 ended early: %v: the route timeout fired for an upstream that had answered whole",
			n, p.seen(1).done())
	}
	if err := p.fr.WriteWindowUpdate(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	p.until("stream 1", p.ended(1))
	p.expectWhole(1, "200", strings.Repeat("z", size))
}
