package reliability

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// pattern yields n deterministic pseudo-random bytes (splitmix64 of seed)
// without holding them in memory.
type pattern struct {
	state uint64
	n     int64
	buf   [8]byte
	off   int
}

func newPattern(seed uint64, n int64) *pattern { return &pattern{state: seed, n: n, off: 8} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		if p.off == 8 {
			p.state += 0x9e3779b97f4a7c15
			z := p.state
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
			z = (z ^ (z >> 27)) * 0x94d049bb133111eb
			binary.LittleEndian.PutUint64(p.buf[:], z^(z>>31))
			p.off = 0
		}
		b[i] = p.buf[p.off]
		p.off++
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// patternSum is the hex sha256 of pattern(seed, n).
func patternSum(seed uint64, n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newPattern(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

// upstream is the general test origin, a net/http server:
//
//	GET  /big/N[?chunked=1]   N pattern bytes (seed N), X-Sha256 names their hash
//	POST /up                  "<length> <sha256>" of the request body, read whole
//	*    /slow/MS             waits MS ms, then as the default
//	*    /fault/reset         resets the connection before any response byte
//	*    /fault/midreset      sends a head announcing 4096 bytes, 100 of them, then resets
//	*    /hang...             never answers (until ferry closes the connection)
//	*    anything else        200 "<method> <path>"
type upstream struct {
	srv       *httptest.Server
	stop      chan struct{}
	bigDone   atomic.Int64 // /big responses written whole
	requests  atomic.Int64
	hangs     atomic.Int64
	hangsDone atomic.Int64
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{stop: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		close(u.stop)
		u.srv.Close()
	})
	return u
}

func (u *upstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/big/"):
		u.serveBig(w, r)
	case strings.HasPrefix(p, "/up"):
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			return // the request was cut: ferry must not forward a response as whole
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	case strings.HasPrefix(p, "/slow/"):
		ms, _ := strconv.Atoi(p[len("/slow/"):])
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond): // simulates a slow upstream
		case <-u.stop:
		}
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	case p == "/fault/reset":
		u.hijack(w, "")
	case p == "/fault/midreset":
		u.hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("m", 100))
	case strings.HasPrefix(p, "/hang"):
		u.hangs.Add(1)
		defer u.hangsDone.Add(1)
		select {
		case <-r.Context().Done():
		case <-u.stop:
		}
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	}
}

func (u *upstream) serveBig(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Path[len("/big/"):], 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "bad size", 400)
		return
	}
	seed := uint64(n)
	w.Header().Set("X-Sha256", patternSum(seed, n))
	if r.URL.Query().Get("chunked") == "" {
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	}
	if _, err := io.Copy(w, newPattern(seed, n)); err == nil {
		u.bigDone.Add(1)
	}
}

// hijack writes raw (if any) and resets the connection.
func (u *upstream) hijack(w http.ResponseWriter, raw string) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if raw != "" {
		_, _ = io.WriteString(c, raw)
		// Let the partial response reach ferry before the reset; this
		// simulates an upstream dying mid-body, not a wait for state.
		time.Sleep(20 * time.Millisecond)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// rawUpstream starts a scripted TCP upstream.
func rawUpstream(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *testutil.RawServer {
	t.Helper()
	return testutil.NewRawServer(t, func(c net.Conn) { handle(c, bufio.NewReader(c)) })
}

// readHead reads a request head; it reports false at the connection's end.
func readHead(br *bufio.Reader) (string, bool) {
	h, err := testutil.ReadHead(br)
	return h, err == nil
}

// contentLength is the Content-Length of a raw head (0 if none).
func contentLength(head string) int64 {
	for _, l := range strings.Split(head, "\r\n") {
		n, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), "Content-Length") {
			cl, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return cl
		}
	}
	return 0
}

// resetConn closes c with SO_LINGER 0, so the peer sees a reset.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
