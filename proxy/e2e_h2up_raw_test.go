package proxy_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// rawH2 is an HTTP/2 upstream written with x/net's framer, for what a Go
// http.Server will not do on demand: GOAWAY mid-load, RST_STREAM, PINGs
// left unanswered. Each connection runs on its own goroutine; act decides
// what happens to each request (by its stream id and the number of
// requests the connection saw).
type rawH2 struct {
	ln     net.Listener
	conns  atomic.Int64
	closed atomic.Int64 // connections whose peer (ferry) closed them
	pings  atomic.Int64
	// answerPing: PINGs are acknowledged.
	answerPing bool
	act        func(fr *http2.Framer, id uint32, n int) bool // false: stop reading the connection
	wg         sync.WaitGroup
}

func startRawH2(t *testing.T, answerPing bool, act func(fr *http2.Framer, id uint32, n int) bool) *rawH2 {
	t.Helper()
	ln := testutil.Listen(t)
	u := &rawH2{ln: ln, answerPing: answerPing, act: act}
	u.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c)
			}()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		u.wg.Wait()
	})
	return u
}

func (u *rawH2) addr() string { return u.ln.Addr().String() }

func (u *rawH2) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	pre := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, pre); err != nil || string(pre) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}); err != nil {
		return
	}
	n := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			u.closed.Add(1)
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			u.pings.Add(1)
			if !f.IsAck() && u.answerPing {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			n++
			if !u.act(fr, f.StreamID, n) {
				// Stop answering; wait for ferry to close.
				_, _ = io.Copy(io.Discard, c)
				u.closed.Add(1)
				return
			}
		}
	}
}

// rawOK answers a request with 200 "ok".
func rawOK(fr *http2.Framer, id uint32) {
	var hb []byte
	enc := hpack.NewEncoder(&sliceWriter{&hb})
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "2"})
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb, EndHeaders: true})
	_ = fr.WriteData(id, true, []byte("ok"))
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// TestH2UpstreamGoAwayLosesNoRequest: the upstream answers the first 5
// streams of each connection and then sends GOAWAY naming the last one it
// processed; the streams above it were not processed and go again on a
// fresh connection. Every request gets its 200.
func TestH2UpstreamGoAwayLosesNoRequest(t *testing.T) {
	const perConn = 5
	var mu sync.Mutex
	var goaways atomic.Int64
	last := map[*http2.Framer]uint32{}
	u := startRawH2(t, true, func(fr *http2.Framer, id uint32, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case n <= perConn:
			rawOK(fr, id)
			last[fr] = id
			if n == perConn {
				_ = fr.WriteGoAway(id, http2.ErrCodeNo, nil)
				goaways.Add(1)
			}
		default:
			// Above the GOAWAY's last stream id: not processed.
		}
		return true
	})
	h := startH2Proxy(t, u.addr(), func(s *setup) { s.opts.MaxRetries, s.loops = 20, 2 })
	c := h.client()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 40 {
		wg.Go(func() {
			resp, err := c.Get("http://ferry.test/x")
			if err != nil {
				bad.Add(1)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d of 40 requests failed across GOAWAYs", n)
	}
	if u.conns.Load() < 40/perConn {
		t.Fatalf("%d upstream connections for 40 requests at %d per connection", u.conns.Load(), perConn)
	}
	// Each loop has its own pool (2 loops here, clients spread over
	// both): every connection but at most the last of each pool served
	// perConn requests and got a GOAWAY, and those drained connections
	// close once their streams ended.
	if g, c := goaways.Load(), u.conns.Load(); g < c-2 {
		t.Fatalf("%d GOAWAYs over %d upstream connections: more than one connection per loop served fewer than %d", g, c, perConn)
	}
	testutil.WaitFor(t, 10*time.Second, "drained upstream connections closed", func() bool {
		return u.closed.Load() >= goaways.Load()
	})
}

// TestH2UpstreamResetIs502: RST_STREAM before any response byte is an
// upstream reset: retried once for a GET, then 502.
func TestH2UpstreamResetIs502(t *testing.T) {
	var resets atomic.Int64
	u := startRawH2(t, true, func(fr *http2.Framer, id uint32, _ int) bool {
		resets.Add(1)
		_ = fr.WriteRSTStream(id, http2.ErrCodeInternal)
		return true
	})
	h := startH2Proxy(t, u.addr(), nil)
	code, body := h.get(h.client(), "/x")
	if code != 502 {
		t.Fatalf("status %d %q, want 502", code, body)
	}
	if n := resets.Load(); n != 2 {
		t.Fatalf("upstream saw %d attempts, want 2 (one retry)", n)
	}
	if n := h.stat("local_reply_upstream_reset"); n != 1 {
		t.Fatalf("local_reply_upstream_reset = %d, want 1", n)
	}
	// A POST with a body is not replayed.
	resets.Store(0)
	resp, err := h.client().Post("http://ferry.test/x", "text/plain", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 502 {
		t.Fatalf("POST: status %d, want 502", resp.StatusCode)
	}
}

// TestH2UpstreamPingTimeoutCloses: an idle upstream connection whose PING
// goes unanswered is closed; one that answers stays.
func TestH2UpstreamPingTimeoutCloses(t *testing.T) {
	for _, answer := range []bool{false, true} {
		u := startRawH2(t, answer, func(fr *http2.Framer, id uint32, _ int) bool {
			rawOK(fr, id)
			return true
		})
		h := startH2Proxy(t, u.addr(), func(s *setup) {
			s.opts.H2PingInterval = 50 * time.Millisecond
			s.opts.H2PingTimeout = 100 * time.Millisecond
		})
		c := h.client() // one client connection: one loop, one pool
		if code, _ := h.get(c, "/x"); code != 200 {
			t.Fatalf("status %d", code)
		}
		if !answer {
			testutil.WaitFor(t, 10*time.Second, "the connection whose PING went unanswered closed", func() bool {
				return u.closed.Load() == 1
			})
			continue
		}
		// Answered PINGs keep it: a request after a few reuses it.
		testutil.WaitFor(t, 10*time.Second, "three PINGs answered", func() bool { return u.pings.Load() >= 3 })
		if code, _ := h.get(c, "/y"); code != 200 || u.conns.Load() != 1 || u.closed.Load() != 0 {
			t.Fatalf("status %d, %d connections, %d closed; want 200 on the one connection", code, u.conns.Load(), u.closed.Load())
		}
	}
}
