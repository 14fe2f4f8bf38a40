package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
)

// h2Client is an HTTP/2 cleartext (prior knowledge) client through the
// proxy: every request shares one connection while it stays open.
func (h *harness) h2Client() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", h.addr)
		},
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// concurrentOnOneConn runs do(0) … do(n-1) at once (each sending its
// request on the test's one HTTP/2 client), fails the test with every
// error they return, and checks the proxy saw one HTTP/2 connection.
func (h *harness) concurrentOnOneConn(t *testing.T, n int, do func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := do(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.stat("downstream_cx_http2_total"); n != 1 {
		t.Fatalf("HTTP/2 connections = %d, want 1", n)
	}
}

func h2Do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	body := readAll(t, resp)
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s answered over %s, want HTTP/2", req.Method, req.URL.Path, resp.Proto)
	}
	return resp, body
}

func TestH2RequestIsRestatedForHTTP1Upstream(t *testing.T) {
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Cookie", strings.Join(r.Header.Values("Cookie"), "|"))
		w.Header().Set("X-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Via", r.Header.Get("Via"))
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
	}))
	h := startProxy(t, []string{strings.TrimPrefix(up, "http://")}, func(s *setup) { s.opts.Via = "ferry" })
	c := h.h2Client()

	req, _ := http.NewRequest("GET", "http://example.test/a/b?q=1", nil)
	req.Header.Add("Cookie", "x=1; y=2")
	req.Header.Add("Cookie", "z=3")
	resp, body := h2Do(t, c, req)
	if resp.StatusCode != 200 || body != "GET /a/b?q=1 " {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	checks := map[string]string{
		"X-Proto":  "HTTP/1.1",
		"X-Host":   "example.test",
		"X-Cookie": "x=1; y=2; z=3", // crumbs joined into one field (RFC 9113 8.2.3)
		"X-XFF":    "127.0.0.1",
		"X-Via":    "2 ferry",
	}
	for k, want := range checks {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("upstream saw %s = %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie = %q, want both fields", got)
	}

	// A body of unknown length reaches the HTTP/1.1 upstream chunked.
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "streamed ")
		_, _ = io.WriteString(pw, "body")
		_ = pw.Close()
	}()
	req, _ = http.NewRequest("POST", "http://example.test/up", pr)
	resp, body = h2Do(t, c, req)
	if body != "POST /up streamed body" || resp.Header.Get("X-TE") != "chunked" {
		t.Fatalf("streamed POST = %q, TE %q", body, resp.Header.Get("X-TE"))
	}
	// And one of known length with a Content-Length.
	req, _ = http.NewRequest("PUT", "http://example.test/put", strings.NewReader("hello"))
	resp, body = h2Do(t, c, req)
	if body != "PUT /put hello" || resp.Header.Get("X-TE") != "" {
		t.Fatalf("PUT = %q, TE %q", body, resp.Header.Get("X-TE"))
	}
	if n := h.stat("downstream_cx_http2_total"); n != 1 {
		t.Fatalf("HTTP/2 connections = %d, want 1 (the requests share it)", n)
	}
}

// TestH2AutoServesBoth: an Auto listener tells HTTP/1.1 and HTTP/2 clients
// apart by the connection preface; an Http1 one never speaks HTTP/2 and an
// Http2 one never speaks HTTP/1.
func TestH2AutoServesBoth(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	if code, body := h.get(h.client(), "/h1"); code != 200 || body != "GET /h1 " {
		t.Fatalf("HTTP/1.1 on Auto = %d %q", code, body)
	}
	req, _ := http.NewRequest("GET", "http://ferry.test/h2", nil)
	if _, body := h2Do(t, h.h2Client(), req); body != "GET /h2 " {
		t.Fatalf("HTTP/2 on Auto = %q", body)
	}

	h1only := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.factory.Protocol = proxy.ProtoHTTP1 })
	c := h1only.dial()
	_, _ = io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode < 400 {
		t.Fatalf("HTTP/2 preface on an Http1 listener: %v %v, want a 4xx/5xx", resp, err)
	}

	h2only := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.factory.Protocol = proxy.ProtoHTTP2 })
	c = h2only.dial()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	fr := http2.NewFramer(io.Discard, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("HTTP/1.1 on an Http2 listener: connection ended (%v) without GOAWAY", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", ga.ErrCode)
			}
			break
		}
	}
}

// TestH2ConcurrentLargeBodies multiplexes uploads and downloads larger
// than every flow-control window on one connection and checks each byte.
func TestH2ConcurrentLargeBodies(t *testing.T) {
	size := int64(8 << 20)
	if testing.Short() {
		size = 1 << 20
	}
	up := hashUpstream(t, false)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c := h.h2Client()
	want := patternSum(size)
	h.concurrentOnOneConn(t, 12, func(i int) error {
		var req *http.Request
		if i%2 == 0 {
			req, _ = http.NewRequest("POST", "http://ferry.test/hash", newPattern(size))
			req.ContentLength = size
		} else {
			req, _ = http.NewRequest("GET", fmt.Sprintf("http://ferry.test/big/%d", size), nil)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }() // read whole below; errors come from the reads
		if i%2 == 0 {
			b, _ := io.ReadAll(resp.Body)
			if got := fmt.Sprintf("%d %s", size, want); string(b) != got {
				return fmt.Errorf("upload %d: upstream saw %q, want %q", i, b, got)
			}
			return nil
		}
		hs := sha256.New()
		n, err := io.Copy(hs, resp.Body)
		if err != nil || n != size || hex.EncodeToString(hs.Sum(nil)) != want {
			return fmt.Errorf("download %d: %d bytes, err %v, sum match %v", i, n, err, hex.EncodeToString(hs.Sum(nil)) == want)
		}
		return nil
	})
	testutil.WaitFor(t, 2*time.Second, "no request in flight", func() bool { return h.srv.Stats().Active() == 0 })
}

// TestH2SlowReaderStaysBounded: a client that reads a large download
// slowly holds the proxy's memory to its windows and spill queue.
func TestH2SlowReaderStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 32 MiB slowly")
	}
	size := int64(32 << 20)
	up := hashUpstream(t, false)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	w := watchHeap()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://ferry.test/big/%d", size), nil)
	resp, err := h.h2Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.New()
	n, err := io.Copy(hs, &slowReader{r: resp.Body, rate: 256 << 10})
	_ = resp.Body.Close() // err above tells how the body ended
	growth := w.growth()
	if err != nil || n != size || hex.EncodeToString(hs.Sum(nil)) != patternSum(size) {
		t.Fatalf("slow download: %d bytes, err %v", n, err)
	}
	if growth > 24<<20 {
		t.Fatalf("heap grew %d MiB for one slow 32 MiB download", growth>>20)
	}
}

func TestH2LocalRepliesAndTrailers(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.opts.HTTP2.MaxHeaderListSize = 256 << 10 // past the HTTP/1 head limit, to reach it
		s.routes.VirtualHosts = []router.VirtualHostSpec{{
			Name: "all", Domains: []string{"ferry.test"},
			Routes: []router.RouteSpec{
				{Match: router.MatchSpec{Path: "/direct"}, Direct: &router.DirectResponse{Status: 201, Body: "made here\n"}},
				{Match: router.MatchSpec{Prefix: "/"}, Cluster: &router.ClusterAction{Cluster: "origin"}},
			},
		}}
	})
	c := h.h2Client()
	req, _ := http.NewRequest("GET", "http://ferry.test/direct", nil)
	if resp, body := h2Do(t, c, req); resp.StatusCode != 201 || body != "made here\n" {
		t.Fatalf("direct = %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("HEAD", "http://ferry.test/direct", nil)
	if resp, body := h2Do(t, c, req); resp.StatusCode != 201 || body != "" || resp.ContentLength != int64(len("made here\n")) {
		t.Fatalf("HEAD direct = %d %q len %d", resp.StatusCode, body, resp.ContentLength)
	}
	req, _ = http.NewRequest("GET", "http://other.test/", nil)
	if resp, body := h2Do(t, c, req); resp.StatusCode != 404 || !strings.Contains(body, "no route") {
		t.Fatalf("unrouted = %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", "http://ferry.test/chunked", nil)
	resp, body := h2Do(t, c, req)
	if body != "part0;part1;part2;part3;part4;" || resp.Trailer.Get("X-Sum") != "done" {
		t.Fatalf("chunked = %q, trailers %v", body, resp.Trailer)
	}
	for _, p := range []string{"/204", "/304"} {
		req, _ = http.NewRequest("GET", "http://ferry.test"+p, nil)
		if resp, body := h2Do(t, c, req); fmt.Sprint(resp.StatusCode) != p[1:] || body != "" {
			t.Fatalf("%s = %d %q", p, resp.StatusCode, body)
		}
	}
	// A head past the HTTP/1 limit is answered 431 on its stream; the
	// connection carries on.
	req, _ = http.NewRequest("GET", "http://ferry.test/big-head", nil)
	req.Header.Set("X-Big", strings.Repeat("v", 70<<10))
	if resp, _ := h2Do(t, c, req); resp.StatusCode != 431 {
		t.Fatalf("oversized head = %d, want 431", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", "http://ferry.test/after", nil)
	if _, body := h2Do(t, c, req); body != "GET /after " {
		t.Fatalf("after 431 = %q", body)
	}
}

// TestH2StreamFailuresStayOnTheirStream: an upstream that breaks mid-body,
// and a client that cancels, end their own stream only.
func TestH2StreamFailuresStayOnTheirStream(t *testing.T) {
	released := make(chan struct{})
	cancelled := make(chan struct{}, 1)
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cut":
			hj := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			_ = c.Close()
		case "/hang":
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
			case <-released:
			}
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer close(released)
	h := startProxy(t, []string{strings.TrimPrefix(up, "http://")}, nil)
	c := h.h2Client()

	req, _ := http.NewRequest("GET", "http://ferry.test/cut", nil)
	resp, err := c.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close() // err above tells how the body ended
	}
	if err == nil {
		t.Fatal("a response cut by the upstream reached the client as complete")
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", "http://ferry.test/hang", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first bytes %q %v", first, err)
	}
	cancel()
	_ = resp.Body.Close() // cancelled: an error is expected
	select {
	case <-cancelled: // the RST_STREAM closed the upstream connection
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request outlived the client's RST_STREAM")
	}

	req, _ = http.NewRequest("GET", "http://ferry.test/ok", nil)
	if _, body := h2Do(t, c, req); body != "ok" {
		t.Fatalf("after failures = %q", body)
	}
	if n := h.stat("downstream_cx_http2_total"); n != 1 {
		t.Fatalf("HTTP/2 connections = %d, want 1: stream failures must not end the connection", n)
	}
	testutil.WaitFor(t, 2*time.Second, "no request in flight", func() bool { return h.srv.Stats().Active() == 0 })
}

// h2Raw is a hand-driven HTTP/2 client connection.
type h2Raw struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func dialH2Raw(t *testing.T, h *harness) *h2Raw {
	c := h.dial()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	r := &h2Raw{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.enc = hpack.NewEncoder(&r.buf)
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *h2Raw) headers(id uint32, end bool, fields ...string) {
	r.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	block := r.buf.Bytes()
	const maxFrame = 16384 // the peer's SETTINGS_MAX_FRAME_SIZE (default)
	first := block[:min(len(block), maxFrame)]
	block = block[len(first):]
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(block) == 0}); err != nil {
		r.t.Fatal(err)
	}
	for len(block) > 0 {
		frag := block[:min(len(block), maxFrame)]
		block = block[len(frag):]
		if err := r.fr.WriteContinuation(id, len(block) == 0, frag); err != nil {
			r.t.Fatal(err)
		}
	}
}

// until reads frames until match accepts one, or fails at EOF.
func (r *h2Raw) until(what string, match func(http2.Frame) bool) {
	r.t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return
		}
	}
}

func TestH2IdleConnectionGetsGoAway(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.opts.IdleTimeout = 50 * time.Millisecond })
	r := dialH2Raw(t, h)
	r.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/x", ":authority", "a")
	r.until("the response", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
	r.until("GOAWAY after the idle timeout", func(f http2.Frame) bool {
		ga, ok := f.(*http2.GoAwayFrame)
		return ok && ga.ErrCode == http2.ErrCodeNo && ga.LastStreamID == 1
	})
	if _, err := r.fr.ReadFrame(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("after GOAWAY: %v, want the connection closed", err)
	}
}

// TestH2RequestWindowFollowsUpstream: request bytes the upstream has not
// taken are not credited back to the client, so a client cannot push more
// than its windows (plus the socket buffers and the upstream connection's
// high watermark) ahead of a stalled upstream.
func TestH2RequestWindowFollowsUpstream(t *testing.T) {
	const total = 64 << 20
	release := make(chan struct{})
	got := make(chan int64, 1)
	up := testutil.NewHeadServer(t, func(c net.Conn, r *bufio.Reader, _ string) bool {
		<-release // a stalled upstream: reads nothing of the body yet
		n, _ := io.Copy(io.Discard, io.LimitReader(r, total))
		got <- n
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		return false
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close waits for its handler
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.opts.HTTP2.InitialWindowSize = 64 << 10
		s.opts.HTTP2.ConnWindowSize = 128 << 10
	})
	r := dialH2Raw(t, h)
	r.headers(1, false, ":method", "POST", ":scheme", "http", ":path", "/up", ":authority", "a", "content-length", fmt.Sprint(total))
	// Send as long as the window lets us; the proxy must stop crediting.
	sent, window := 0, 65535 // the client's view: the RFC default until SETTINGS arrive
	chunk := make([]byte, 16<<10)
	deadline := time.Now().Add(5 * time.Second)
	_ = r.c.SetReadDeadline(deadline)
	for sent < total && time.Now().Before(deadline) {
		for window >= len(chunk) && sent < total {
			if err := r.fr.WriteData(1, false, chunk); err != nil {
				t.Fatal(err)
			}
			sent += len(chunk)
			window -= len(chunk)
		}
		_ = r.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		f, err := r.fr.ReadFrame()
		if err != nil {
			break // no more credit: the window is closed while the upstream stalls
		}
		switch f := f.(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 1 {
				window += int(f.Increment)
			}
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				window += int(v) - 65535
			}
		}
	}
	if sent >= total {
		t.Fatalf("the client pushed all %d bytes into a stalled upstream: the window was credited regardless", sent)
	}
	if sent > 24<<20 {
		t.Fatalf("the client pushed %d MiB ahead of a stalled upstream", sent>>20)
	}
	unblock()
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	// Now the upstream drains: the credit comes back and the body completes.
	for sent < total {
		for window > 0 && sent < total {
			n := min(window, len(chunk), total-sent)
			if err := r.fr.WriteData(1, sent+n == total, chunk[:n]); err != nil {
				t.Fatal(err)
			}
			sent += n
			window -= n
		}
		if sent == total {
			break
		}
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after the upstream drained: %v with %d bytes sent", err, sent)
		}
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 1 {
			window += int(wu.Increment)
		}
	}
	if n := <-got; n != total {
		t.Fatalf("upstream received %d body bytes, want %d", n, total)
	}
	r.until("the response", func(f http2.Frame) bool {
		hf, ok := f.(*http2.HeadersFrame)
		return ok && hf.StreamID == 1
	})
}

// TestH2HeaderListPastTheAdvertisedLimit: a client that ignores
// SETTINGS_MAX_HEADER_LIST_SIZE gets 431 on that stream, and the
// connection carries on.
func TestH2HeaderListPastTheAdvertisedLimit(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	r := dialH2Raw(t, h)
	r.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/big", ":authority", "a",
		"x-a", strings.Repeat("a", 20<<10), "x-b", strings.Repeat("b", 20<<10))
	r.until("431 on stream 1", func(f http2.Frame) bool {
		hf, ok := f.(*http2.HeadersFrame)
		if !ok || hf.StreamID != 1 {
			return false
		}
		fields, err := hpack.NewDecoder(4096, nil).DecodeFull(hf.HeaderBlockFragment())
		return err == nil && len(fields) > 0 && fields[0].Value == "431"
	})
	r.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/next", ":authority", "a")
	r.until("the next stream's response", func(f http2.Frame) bool {
		return f.Header().StreamID == 3 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
}

// TestH2ConnectionErrorGoAwaySurvivesUnreadInput: a client whose frames
// are still unread when the connection fails gets the GOAWAY saying why,
// not a reset that destroys it.
func TestH2ConnectionErrorGoAwaySurvivesUnreadInput(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	r := dialH2Raw(t, h)
	// An HPACK index that refers to nothing: COMPRESSION_ERROR. Once the
	// proxy has failed the connection, more frames arrive that it will
	// never read; the GOAWAY must still reach the client (the proxy
	// lingers rather than closing on unread input, which resets).
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0x7f}, EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the connection error", func() bool { return h.stat("downstream_cx_http2_protocol_error") == 1 })
	for range 64 {
		if err := r.fr.WritePing(false, [8]byte{1}); err != nil {
			break
		}
	}
	r.until("GOAWAY(COMPRESSION_ERROR)", func(f http2.Frame) bool {
		ga, ok := f.(*http2.GoAwayFrame)
		return ok && ga.ErrCode == http2.ErrCodeCompression
	})
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}
