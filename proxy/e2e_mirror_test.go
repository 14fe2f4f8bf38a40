package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// shadowed is one request as the shadow upstream received it.
type shadowed struct {
	method, path, host, body string
}

// shadowServer is a mirror's target on 127.0.0.1: it records every request
// (got) and, when hold is set, keeps its reply until the test calls
// release.
type shadowServer struct {
	addr string
	got  chan shadowed
	hold chan struct{}
	once sync.Once
}

func newShadowServer(t *testing.T, hold bool) *shadowServer {
	t.Helper()
	s := &shadowServer{got: make(chan shadowed, 256), hold: make(chan struct{})}
	if !hold {
		s.release()
	}
	s.addr = strings.TrimPrefix(newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.got <- shadowed{method: r.Method, path: r.URL.Path, host: r.Host, body: string(b)}
		<-s.hold
		_, _ = io.WriteString(w, "shadow")
	})), "http://")
	t.Cleanup(s.release) // before the server's Close, which waits for its handlers
	return s
}

// release lets every held reply go.
func (s *shadowServer) release() { s.once.Do(func() { close(s.hold) }) }

// next is the next request the shadow received, within 10 s.
func (s *shadowServer) next(t *testing.T) shadowed {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the shadow received no request")
		return shadowed{}
	}
}

// startMirrored runs ferry with cluster "origin" at the main upstream and
// cluster "shadow" at shadowAddr, the catch-all route mirroring percent of
// its requests there.
func startMirrored(t *testing.T, mainAddr, shadowAddr string, percent uint32, mo proxy.MirrorOptions) *harness {
	t.Helper()
	return startMirroredBreakers(t, mainAddr, shadowAddr, percent, mo, upstream.Thresholds{})
}

// startMirroredBreakers is startMirrored with the shadow cluster's circuit
// breakers.
func startMirroredBreakers(t *testing.T, mainAddr, shadowAddr string, percent uint32, mo proxy.MirrorOptions, brk upstream.Thresholds) *harness {
	t.Helper()
	return startProxy(t, []string{mainAddr}, func(s *setup) {
		s.opts.Mirror = mo
		s.clusters = append(s.clusters, upstream.ClusterSpec{Name: "shadow",
			Hosts: []upstream.HostSpec{{Address: shadowAddr}}, ConnectTimeout: 2 * time.Second, Breakers: brk})
		s.routes.VirtualHosts[0].Routes[0].Cluster.Mirrors = []router.Mirror{{Cluster: "shadow", Percent: percent}}
	})
}

// mainUpstream answers every request with "main" and its body's length.
func mainUpstream(t *testing.T) string {
	return strings.TrimPrefix(newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "main %d", len(b))
	})), "http://")
}

// TestMirrorCopiesRequest: a mirrored request reaches the shadow with its
// method, path and body (Content-Length, chunked, none), its Host with
// "-shadow" before any port; the client gets the main upstream's answer.
func TestMirrorCopiesRequest(t *testing.T) {
	sh := newShadowServer(t, false)
	h := startMirrored(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{})
	c := h.dial()
	r := bufio.NewReader(c)
	for _, tc := range []struct {
		req       string
		method    string
		host      string
		body      string
		mainReply string
	}{
		{"POST /a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello", "POST", "app.test-shadow", "hello", "main 5"},
		{"PUT /b HTTP/1.1\r\nHost: app.test:8080\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: v\r\n\r\n",
			"PUT", "app.test-shadow:8080", "abcdefg", "main 7"},
		{"GET /c HTTP/1.1\r\nhost: [::1]:81\r\n\r\n", "GET", "[::1]-shadow:81", "", "main 0"},
		{"GET /d HTTP/1.1\r\nHost: [::1]\r\n\r\n", "GET", "[::1]-shadow", "", "main 0"},
	} {
		resp := rawExchange(t, c, r, tc.req, tc.method)
		if body := readAll(t, resp); resp.StatusCode != 200 || body != tc.mainReply {
			t.Fatalf("%s: got %d %q, want the main upstream's %q", firstLine(tc.req), resp.StatusCode, body, tc.mainReply)
		}
		got := sh.next(t)
		want := shadowed{method: tc.method, path: strings.Fields(tc.req)[1], host: tc.host, body: tc.body}
		if got != want {
			t.Fatalf("%s: the shadow got %+v, want %+v", firstLine(tc.req), got, want)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "4 mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 4 })
	if n, f := h.stat("upstream_rq_mirror"), h.stat("upstream_rq_mirror_failure"); n != 4 || f != 0 {
		t.Fatalf("mirror %d, failures %d", n, f)
	}
}

// TestMirrorTwoPolicies: a route with two mirror policies copies each
// request, body included, to both shadow clusters; a body past the bound
// of one policy's copy is past it for both.
func TestMirrorTwoPolicies(t *testing.T) {
	a, b := newShadowServer(t, false), newShadowServer(t, false)
	h := startProxy(t, []string{mainUpstream(t)}, func(s *setup) {
		s.opts.Mirror = proxy.MirrorOptions{MaxBodyBytes: 8}
		for _, sh := range []struct{ name, addr string }{{"a", a.addr}, {"b", b.addr}} {
			s.clusters = append(s.clusters, upstream.ClusterSpec{Name: sh.name, Hosts: []upstream.HostSpec{{Address: sh.addr}}})
		}
		s.routes.VirtualHosts[0].Routes[0].Cluster.Mirrors = []router.Mirror{{Cluster: "a", Percent: 100}, {Cluster: "b", Percent: 100}}
	})
	c := h.dial()
	r := bufio.NewReader(c)
	for _, body := range []string{"two", "ninebytes", "chunk"} {
		req := "POST /two HTTP/1.1\r\nHost: app.test\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
		if body == "chunk" {
			req = "POST /two HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nchunk\r\n0\r\n\r\n"
		}
		if got := readAll(t, rawExchange(t, c, r, req, "POST")); got != fmt.Sprintf("main %d", len(body)) {
			t.Fatalf("%q: got %q", body, got)
		}
		if len(body) > 8 {
			continue
		}
		for _, sh := range []*shadowServer{a, b} {
			if got := sh.next(t); got.body != body || got.host != "app.test-shadow" {
				t.Fatalf("%q: a shadow got %+v", body, got)
			}
		}
	}
	testutil.WaitFor(t, 10*time.Second, "4 mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 4 })
	if n := h.stat("upstream_rq_mirror_skipped_body_too_large"); n != 2 {
		t.Fatalf("skipped for body size %d, want 2 (one per policy)", n)
	}
}

// TestMirrorHTTP2Client: requests of an HTTP/2 client are copied as
// HTTP/1.1, :authority as the -shadow Host, a body of stated and of
// unstated length (re-stated chunked) whole.
func TestMirrorHTTP2Client(t *testing.T) {
	sh := newShadowServer(t, false)
	h := startMirrored(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{})
	c := h.h2Client()
	for _, tc := range []struct {
		body   io.Reader
		length int64
	}{{strings.NewReader("stated"), 6}, {io.MultiReader(strings.NewReader("un"), strings.NewReader("stated")), -1}} {
		req, err := http.NewRequest("POST", "http://app.test:8080/h2", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = tc.length
		if _, body := h2Do(t, c, req); !strings.HasPrefix(body, "main ") {
			t.Fatalf("length %d: got %q", tc.length, body)
		}
		got := sh.next(t)
		want := shadowed{method: "POST", path: "/h2", host: "app.test-shadow:8080", body: "stated"}
		if tc.length < 0 {
			want.body = "unstated"
		}
		if got != want {
			t.Fatalf("length %d: the shadow got %+v, want %+v", tc.length, got, want)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "2 mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 2 })
}

// TestMirrorSlowShadowDoesNotDelayMain: the shadow holds its reply until
// the test releases it; the main replies all arrive first, on the same
// client connection, and the mirrors end after the release.
func TestMirrorSlowShadowDoesNotDelayMain(t *testing.T) {
	sh := newShadowServer(t, true)
	h := startMirrored(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{})
	cl := h.client()
	for i := range 3 {
		if code, body := h.get(cl, fmt.Sprintf("/slow/%d", i)); code != 200 || body != "main 0" {
			t.Fatalf("request %d: got %d %q", i, code, body)
		}
		sh.next(t) // the shadow holds this one's reply
	}
	if n := h.stat("upstream_rq_mirror_success") + h.stat("upstream_rq_mirror_failure"); n != 0 {
		t.Fatalf("%d mirrors ended while the shadow held every reply", n)
	}
	if n := h.stat("upstream_rq_mirror"); n != 3 {
		t.Fatalf("mirror %d, want 3", n)
	}
	sh.release()
	testutil.WaitFor(t, 10*time.Second, "the held mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 3 })
}

// TestMirrorDeadShadow: a shadow whose port is closed fails every copy,
// counted, and no main request.
func TestMirrorDeadShadow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	h := startMirrored(t, mainUpstream(t), dead, 100, proxy.MirrorOptions{})
	cl := h.client()
	for i := range 5 {
		if code, body := h.get(cl, fmt.Sprintf("/x/%d", i)); code != 200 || body != "main 0" {
			t.Fatalf("request %d: got %d %q", i, code, body)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "5 mirror failures", func() bool { return h.stat("upstream_rq_mirror_failure") == 5 })
	if n := h.stat("upstream_rq_mirror_success"); n != 0 {
		t.Fatalf("mirror successes %d against a closed port", n)
	}
}

// TestMirrorPercent: percent 0 copies no request, 100 every one.
func TestMirrorPercent(t *testing.T) {
	for _, pct := range []uint32{0, 100} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			sh := newShadowServer(t, false)
			h := startMirrored(t, mainUpstream(t), sh.addr, pct, proxy.MirrorOptions{})
			cl := h.client()
			const n = 20
			for i := range n {
				if code, _ := h.get(cl, fmt.Sprintf("/p/%d", i)); code != 200 {
					t.Fatalf("request %d: %d", i, code)
				}
			}
			want := int64(0)
			if pct == 100 {
				want = n
			}
			testutil.WaitFor(t, 10*time.Second, "the mirrors to end", func() bool {
				return h.stat("upstream_rq_mirror_success") == want
			})
			if got, skipped := h.stat("upstream_rq_mirror"), h.stat("upstream_rq_mirror_skipped_sampling"); got != want || skipped != n-want {
				t.Fatalf("percent %d: mirrored %d, skipped by sampling %d", pct, got, skipped)
			}
			if len(sh.got) != int(want) {
				t.Fatalf("percent %d: the shadow got %d requests, want %d", pct, len(sh.got), want)
			}
		})
	}
}

// TestMirrorBounds: past MaxInFlight mirrors held by a slow shadow, and
// past MaxBodyBytes of body (stated or chunked), requests are not copied
// and counted; their main requests are answered all the same.
func TestMirrorBounds(t *testing.T) {
	sh := newShadowServer(t, true)
	h := startMirrored(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{MaxInFlight: 2, MaxBodyBytes: 16})
	c := h.dial()
	r := bufio.NewReader(c)
	get := func(path string) {
		t.Helper()
		if resp := rawExchange(t, c, r, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n", "GET"); readAll(t, resp) != "main 0" {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	// MaxInFlight is per loop: one client connection keeps to one.
	get("/1")
	get("/2")
	sh.next(t)
	sh.next(t)
	get("/3")
	get("/4")
	if n, o := h.stat("upstream_rq_mirror"), h.stat("upstream_rq_mirror_skipped_overload"); n != 2 || o != 2 {
		t.Fatalf("with 2 held: mirrored %d, skipped for overload %d", n, o)
	}
	sh.release()
	testutil.WaitFor(t, 10*time.Second, "the held mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 2 })

	big := strings.Repeat("x", 17)
	resp := rawExchange(t, c, r, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n"+big, "POST")
	if body := readAll(t, resp); body != "main 17" {
		t.Fatalf("stated body past the bound: got %q", body)
	}
	resp = rawExchange(t, c, r, "POST /bigc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n", "POST")
	if body := readAll(t, resp); body != "main 17" {
		t.Fatalf("chunked body past the bound: got %q", body)
	}
	if n := h.stat("upstream_rq_mirror_skipped_body_too_large"); n != 2 {
		t.Fatalf("skipped for body size %d, want 2", n)
	}
	resp = rawExchange(t, c, r, "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "POST")
	if body := readAll(t, resp); body != "main 3" {
		t.Fatalf("small body: got %q", body)
	}
	if got := sh.next(t); got.body != "abc" {
		t.Fatalf("small body: the shadow got %+v", got)
	}
	resp = rawExchange(t, c, r, "POST /smallc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", "POST")
	if body := readAll(t, resp); body != "main 16" {
		t.Fatalf("chunked body at the bound: got %q", body)
	}
	if got := sh.next(t); got.body != "1234567812345678" {
		t.Fatalf("chunked body at the bound: the shadow got %+v", got)
	}
	testutil.WaitFor(t, 10*time.Second, "the last mirrors to end", func() bool { return h.stat("upstream_rq_mirror_success") == 4 })
}

// TestMirrorShadowMaxRequests: the shadow cluster's max_requests bounds
// the copies in flight to it, as it bounds requests routed to it: past it
// a copy is skipped and counted (upstream_rq_mirror_skipped_overload).
func TestMirrorShadowMaxRequests(t *testing.T) {
	sh := newShadowServer(t, true)
	h := startMirroredBreakers(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{}, upstream.Thresholds{MaxRequests: 1})
	c := h.dial()
	r := bufio.NewReader(c)
	for _, path := range []string{"/1", "/2"} {
		if resp := rawExchange(t, c, r, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n", "GET"); readAll(t, resp) != "main 0" {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if path == "/1" {
			sh.next(t) // held at the shadow: the one request max_requests allows
		}
	}
	if n, o := h.stat("upstream_rq_mirror"), h.stat("upstream_rq_mirror_skipped_overload"); n != 1 || o != 1 {
		t.Fatalf("max_requests 1, one copy held: mirrored %d, skipped for overload %d; want 1 and 1", n, o)
	}
	sh.release()
	testutil.WaitFor(t, 10*time.Second, "the held mirror to end", func() bool { return h.stat("upstream_rq_mirror_success") == 1 })
	if resp := rawExchange(t, c, r, "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n", "GET"); readAll(t, resp) != "main 0" {
		t.Fatalf("/3: status %d", resp.StatusCode)
	}
	if got := sh.next(t); got.path != "/3" {
		t.Fatalf("after the held copy ended the shadow got %+v, want /3 (the slot given back)", got)
	}
}

// TestMirrorNotSentForUnfinishedRequest: a request whose client leaves
// before its body is whole is not copied.
func TestMirrorNotSentForUnfinishedRequest(t *testing.T) {
	sh := newShadowServer(t, false)
	h := startMirrored(t, mainUpstream(t), sh.addr, 100, proxy.MirrorOptions{})
	c := h.dial()
	if _, err := io.WriteString(c, "POST /half HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhalf"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the request to reach ferry", func() bool { return h.stat("downstream_rq_total") == 1 })
	_ = c.Close()
	testutil.WaitFor(t, 10*time.Second, "the unsent mirror to be dropped", func() bool {
		return h.stat("upstream_rq_mirror_skipped_incomplete") == 1
	})
	if n := h.stat("upstream_rq_mirror"); n != 0 || len(sh.got) != 0 {
		t.Fatalf("mirrored %d, shadow got %d", n, len(sh.got))
	}
}

// quietUpstream is benchUpstream without allocating: it answers every
// complete request head (body-less GETs) with benchResponse, so that the
// allocations BenchmarkProxyGETMirror reports are the proxy's.
func quietUpstream(c net.Conn) {
	var buf [4096]byte
	resp := []byte(benchResponse)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			n = copy(buf[:], buf[i+4:n])
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
		if n == len(buf) {
			return // a head past 4 KiB: not a benchmark request
		}
	}
}

// BenchmarkProxyGETMirror is BenchmarkProxyGET on a route with a mirror
// policy, against upstreams that allocate nothing (quietUpstream), so its
// allocs/op are the proxy's and the client's: "off" has no mirror (what
// every route without one pays), "percent-0" has one that samples no
// request, and "on" copies every request to a second upstream (the cost
// of a mirrored request: its own head encoding, one write and one
// response read on the loop, no allocation). Reproduce:
//
//	go test -run=NONE -bench=BenchmarkProxyGETMirror -benchmem -count=5 ./proxy/
func BenchmarkProxyGETMirror(b *testing.B) {
	for _, tc := range []struct {
		name    string
		percent uint32
		mirror  bool
	}{{"off", 0, false}, {"percent-0", 0, true}, {"on", 100, true}} {
		b.Run(tc.name, func(b *testing.B) {
			up := testutil.NewRawServer(b, quietUpstream)
			shadow := testutil.NewRawServer(b, quietUpstream)
			h := startProxy(b, []string{up.Addr()}, func(s *setup) {
				s.clusters = append(s.clusters, upstream.ClusterSpec{Name: "shadow",
					Hosts: []upstream.HostSpec{{Address: shadow.Addr()}}})
				if tc.mirror {
					s.routes.VirtualHosts[0].Routes[0].Cluster.Mirrors = []router.Mirror{{Cluster: "shadow", Percent: tc.percent}}
				}
			})
			req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
			benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
			if tc.percent == 100 && h.stat("upstream_rq_mirror") == 0 {
				b.Fatal("no request was mirrored")
			}
		})
	}
}

// TestMirrorEarlyAnswerIsNotReused: a shadow that answers a copy before
// reading its body (8 MiB here, more than the sockets hold) gets the next
// copy on a new connection: on the old one the rest of the first body
// would still precede it.
func TestMirrorEarlyAnswerIsNotReused(t *testing.T) {
	heads := make(chan string, 4)
	stop := make(chan struct{})
	sh := testutil.NewRawServer(t, func(c net.Conn) {
		head, err := testutil.ReadHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		heads <- head
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return
		}
		<-stop // the body stays unread
	})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for the handlers
	h := startMirrored(t, mainUpstream(t), sh.Addr(), 100, proxy.MirrorOptions{MaxBodyBytes: 16 << 20})
	cl := h.client()
	body := strings.Repeat("b", 8<<20)
	resp, err := cl.Post("http://ferry.test/first", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != fmt.Sprintf("main %d", len(body)) {
		t.Fatalf("first: got %q", got)
	}
	if head := <-heads; !strings.HasPrefix(head, "POST /first ") {
		t.Fatalf("first copy: %q", head)
	}
	testutil.WaitFor(t, 10*time.Second, "the first mirror to end", func() bool { return h.stat("upstream_rq_mirror_success") == 1 })
	if code, _ := h.get(cl, "/second"); code != 200 {
		t.Fatalf("second: %d", code)
	}
	select {
	case head := <-heads:
		if !strings.HasPrefix(head, "GET /second ") {
			t.Fatalf("second copy: %q", head)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second copy never arrived as a request: it went behind the first one's unread body")
	}
	if n := sh.Accepted.Load(); n != 2 {
		t.Fatalf("the shadow accepted %d connections, want 2", n)
	}
}
