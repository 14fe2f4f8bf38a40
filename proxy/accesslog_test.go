package proxy_test

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
)

// logged is what a recordingLog keeps of one entry (copies: the entry is
// the stream's and is reused).
type logged struct {
	status                          int
	failure, method, uri, cluster   string
	host, upLocal, downLocal, peer  string
	sent, received                  uint64
	headSent, respHead, dur         time.Duration
	reqHeader, respHeader, protocol string
}

// recordingLog is an AccessLogger that keeps every entry it is given.
type recordingLog struct {
	mu      sync.Mutex
	entries []logged
}

func (r *recordingLog) Log(e *accesslog.Entry) {
	l := logged{status: e.ResponseCode, failure: e.Failure, method: string(e.Method), uri: string(e.URI),
		cluster: e.UpstreamCluster, host: e.UpstreamHost, upLocal: e.UpstreamLocalAddress,
		downLocal: e.DownstreamLocalAddress, peer: e.DownstreamRemoteAddress, sent: e.BytesSent,
		received: e.BytesReceived, headSent: e.RequestReceived, respHead: e.ResponseReceived, dur: e.Duration,
		protocol: e.Protocol}
	if v, ok := e.RequestHeaders.Get("x-id"); ok {
		l.reqHeader = string(v)
	}
	if e.ResponseHeaders != nil {
		if v, ok := e.ResponseHeaders.Get("content-length"); ok {
			l.respHeader = string(v)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, l)
}

func (r *recordingLog) all() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logged(nil), r.entries...)
}

// TestAccessLogHook: the listener's AccessLogger gets one entry per
// request, at its end, with what the stream knew: a forwarded GET and a
// request no route matches.
func TestAccessLogHook(t *testing.T) {
	up := testutil.NewRawServer(t, benchUpstream)
	rec := &recordingLog{}
	h := startProxy(t, []string{up.Addr()}, func(s *setup) {
		s.factory.AccessLog = rec
		s.routes.VirtualHosts[0].Routes[0].Match = router.MatchSpec{Prefix: "/api/"}
	})
	c := h.dial()
	reqs := []string{
		"GET /api/x?a=1 HTTP/1.1\r\nHost: a\r\nX-Id: 7\r\n\r\n",
		"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	var sent []int
	for _, r := range reqs {
		if _, err := io.WriteString(c, r); err != nil {
			t.Fatal(err)
		}
		resp, n := readResponse(t, c)
		if !strings.HasPrefix(resp, "HTTP/1.1 ") {
			t.Fatalf("response %q", resp)
		}
		sent = append(sent, n)
	}
	testutil.WaitFor(t, 5*time.Second, "two entries", func() bool { return len(rec.all()) == 2 })
	got := rec.all()
	ok, miss := got[0], got[1]
	if ok.status != 200 || ok.failure != "" || ok.method != "GET" || ok.uri != "/api/x?a=1" || ok.cluster != "origin" ||
		ok.host != up.Addr() || ok.reqHeader != "7" || ok.respHeader != "2" || ok.protocol != "Http1" {
		t.Errorf("forwarded GET logged as %+v", ok)
	}
	if ok.received != uint64(len(reqs[0])) || ok.sent != uint64(sent[0]) {
		t.Errorf("forwarded GET: %d bytes received, %d sent; want %d, %d", ok.received, ok.sent, len(reqs[0]), sent[0])
	}
	if ok.downLocal != h.addr || ok.peer != c.LocalAddr().String() || !strings.HasPrefix(ok.upLocal, "127.0.0.1:") {
		t.Errorf("forwarded GET addresses: local %q (want %q), peer %q (want %q), upstream local %q",
			ok.downLocal, h.addr, ok.peer, c.LocalAddr(), ok.upLocal)
	}
	if ok.headSent <= 0 || ok.respHead < ok.headSent || ok.dur < ok.respHead {
		t.Errorf("forwarded GET stages: head sent %v, response head %v, duration %v", ok.headSent, ok.respHead, ok.dur)
	}
	if miss.status != 404 || miss.failure != "no_route" || miss.cluster != "" || miss.host != "" || miss.upLocal != "" ||
		miss.headSent != 0 || miss.respHead != 0 || miss.dur <= 0 || miss.respHeader != "" || miss.sent != uint64(sent[1]) {
		t.Errorf("no-route request logged as %+v (response of %d bytes)", miss, sent[1])
	}
}

// readResponse reads one response with a Content-Length body from c and
// returns it with its length on the wire.
func readResponse(t *testing.T, c io.Reader) (string, int) {
	t.Helper()
	var b strings.Builder
	one := make([]byte, 1)
	cl := -1
	for !strings.HasSuffix(b.String(), "\r\n\r\n") {
		if _, err := io.ReadFull(c, one); err != nil {
			t.Fatalf("read head: %v", err)
		}
		b.WriteByte(one[0])
	}
	for _, line := range strings.Split(b.String(), "\r\n") {
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("content-length %q", line)
			}
			cl = n
		}
	}
	if cl < 0 {
		t.Fatalf("no Content-Length in %q", b.String())
	}
	body := make([]byte, cl)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return b.String() + string(body), b.Len() + cl
}

// BenchmarkProxyGETAccessLog is BenchmarkProxyGET with an access log in
// MOSN's default format written to /dev/null: the difference is the
// access log's cost per request, and its allocations (none):
// go test -run=NONE -bench='ProxyGET' -benchmem -count=5 ./proxy/
func BenchmarkProxyGETAccessLog(b *testing.B) {
	f, err := accesslog.Compile("", accesslog.Text)
	if err != nil {
		b.Fatal(err)
	}
	// 256 line buffers instead of 4,096: their growth on first use would
	// otherwise show in B/op for the first few thousand requests.
	w, err := accesslog.Open(os.DevNull, accesslog.Options{Lines: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close(context.Background()) })
	up := testutil.NewRawServer(b, benchUpstream)
	h := startProxy(b, []string{up.Addr()}, func(s *setup) {
		s.factory.AccessLog = accesslog.NewLogger(accesslog.Sink{Format: f, Writer: w})
	})
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
	b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "drops/op")
}

var _ proxy.AccessLogger = (*recordingLog)(nil)
