package reliability

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// soakClients is the number of concurrent soak clients.
const soakClients = 32

// soakIOTimeout bounds every soak read: longer than any route timeout, so
// a read that passes it is a hung client.
const soakIOTimeout = 15 * time.Second

// tally counts what the soak clients saw. Any goroutine.
type tally struct {
	ok, local, cut, aborted, pipelined, faults atomic.Int64
	h2ok                                       atomic.Int64 // of ok: over HTTP/2
	uploadBytes, downloadBytes                 atomic.Int64
	slowestFault                               atomic.Int64 // nanoseconds
	mu                                         sync.Mutex
	violations                                 []string
}

func (ty *tally) violate(format string, args ...any) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if len(ty.violations) < 50 {
		ty.violations = append(ty.violations, fmt.Sprintf(format, args...))
	}
}

// soakClient is one client's keep-alive connection, redialled as needed.
type soakClient struct {
	addr string
	rng  *rand.Rand
	ty   *tally
	c    net.Conn
	br   *bufio.Reader
}

func (sc *soakClient) conn() error {
	if sc.c != nil {
		return nil
	}
	c, err := net.Dial("tcp", sc.addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	sc.c, sc.br = c, bufio.NewReaderSize(c, 32<<10)
	return nil
}

func (sc *soakClient) drop(reset bool) {
	if sc.c == nil {
		return
	}
	if reset {
		resetConn(sc.c)
	} else {
		_ = sc.c.Close()
	}
	sc.c, sc.br = nil, nil
}

// size picks a body size: mostly small, sometimes up to 1 MiB, sometimes 0.
func (sc *soakClient) size() int64 {
	switch p := sc.rng.IntN(100); {
	case p < 10:
		return 0
	case p < 70:
		return sc.rng.Int64N(4 << 10)
	case p < 95:
		return sc.rng.Int64N(64 << 10)
	default:
		return sc.rng.Int64N(1<<20 + 1)
	}
}

// run does one random operation.
func (sc *soakClient) run() {
	if err := sc.conn(); err != nil {
		sc.ty.violate("%v", err)
		return
	}
	_ = sc.c.SetDeadline(time.Now().Add(soakIOTimeout))
	switch p := sc.rng.IntN(100); {
	case p < 35:
		sc.download(sc.size(), sc.rng.IntN(3) == 0)
	case p < 60:
		sc.upload(sc.size(), sc.rng.IntN(3) == 0)
	case p < 70:
		sc.burst(2 + sc.rng.IntN(19))
	case p < 75:
		sc.abortRequest()
	case p < 80:
		sc.abortResponse()
	case p < 90:
		sc.fault([]string{"/fault/reset", "/fault/midreset", "/hang/soak"}[sc.rng.IntN(3)])
	default:
		sc.echo()
	}
}

// finish reads one response to a normal request and checks it whole;
// check verifies the body. It drops the connection when it ends.
func (sc *soakClient) finish(what string, check func(r *http.Response, body []byte) error) {
	r, err := http.ReadResponse(sc.br, nil)
	if err != nil {
		sc.ty.violate("%s: no response: %v", what, err)
		sc.drop(false)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	switch {
	case err != nil:
		sc.ty.violate("%s: status %d, body cut after %d bytes: %v", what, r.StatusCode, len(body), err)
	case r.StatusCode != 200:
		sc.ty.violate("%s: status %d %q", what, r.StatusCode, body)
	default:
		if err := check(r, body); err != nil {
			sc.ty.violate("%s: %v", what, err)
		} else {
			sc.ty.ok.Add(1)
		}
	}
	if err != nil || r.Close {
		sc.drop(false)
	}
}

func checkDownload(n int64) func(*http.Response, []byte) error {
	return func(r *http.Response, body []byte) error {
		sum := sha256.Sum256(body)
		if int64(len(body)) != n || hex.EncodeToString(sum[:]) != r.Header.Get("X-Sha256") {
			return fmt.Errorf("a wrong body read as complete: %d bytes, want %d with sha256 %s", len(body), n, r.Header.Get("X-Sha256"))
		}
		return nil
	}
}

func (sc *soakClient) download(n int64, chunked bool) {
	q := ""
	if chunked {
		q = "?chunked=1"
	}
	what := fmt.Sprintf("GET /big/%d%s", n, q)
	if _, err := fmt.Fprintf(sc.c, "GET /big/%d%s HTTP/1.1\r\nHost: soak.test\r\n\r\n", n, q); err != nil {
		sc.ty.violate("%s: write: %v", what, err)
		sc.drop(false)
		return
	}
	sc.finish(what, checkDownload(n))
	sc.ty.downloadBytes.Add(n)
}

func (sc *soakClient) upload(n int64, chunked bool) {
	seed := sc.rng.Uint64()
	what := fmt.Sprintf("POST /up %d bytes (chunked %v)", n, chunked)
	h := sha256.New()
	var err error
	if chunked {
		_, err = io.WriteString(sc.c, "POST /up HTTP/1.1\r\nHost: soak.test\r\nTransfer-Encoding: chunked\r\n\r\n")
		if err == nil {
			err = writeChunked(sc.c, io.TeeReader(newPattern(seed, n), h), sc.rng)
		}
	} else {
		_, err = fmt.Fprintf(sc.c, "POST /up HTTP/1.1\r\nHost: soak.test\r\nContent-Length: %d\r\n\r\n", n)
		if err == nil {
			_, err = io.Copy(sc.c, io.TeeReader(newPattern(seed, n), h))
		}
	}
	if err != nil {
		sc.ty.violate("%s: write: %v", what, err)
		sc.drop(false)
		return
	}
	want := fmt.Sprintf("%d %x", n, h.Sum(nil))
	sc.finish(what, func(_ *http.Response, body []byte) error {
		if string(body) != want {
			return fmt.Errorf("the upstream got %q, want %q", body, want)
		}
		return nil
	})
	sc.ty.uploadBytes.Add(n)
}

// writeChunked writes r as chunks of random sizes and the last chunk.
func writeChunked(w io.Writer, r io.Reader, rng *rand.Rand) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf[:1+rng.IntN(len(buf))])
		if n > 0 {
			// bufio.Writer errors are sticky: Flush reports them.
			_, _ = fmt.Fprintf(bw, "%x\r\n", n)
			_, _ = bw.Write(buf[:n])
			_, _ = bw.WriteString("\r\n")
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	_, _ = bw.WriteString("0\r\n\r\n") // sticky, reported by Flush
	return bw.Flush()
}

// burst pipelines n small GETs in one write and reads them in order.
func (sc *soakClient) burst(n int) {
	var b strings.Builder
	sizes := make([]int64, n)
	for i := range sizes {
		sizes[i] = sc.rng.Int64N(2 << 10)
		fmt.Fprintf(&b, "GET /big/%d HTTP/1.1\r\nHost: soak.test\r\n\r\n", sizes[i])
	}
	if _, err := io.WriteString(sc.c, b.String()); err != nil {
		sc.ty.violate("burst of %d: write: %v", n, err)
		sc.drop(false)
		return
	}
	for i, s := range sizes {
		if sc.c == nil {
			sc.ty.violate("burst of %d: the connection ended after %d responses", n, i)
			return
		}
		sc.finish(fmt.Sprintf("burst %d/%d GET /big/%d", i+1, n, s), checkDownload(s))
	}
	sc.ty.pipelined.Add(int64(n))
}

// abortRequest sends part of a request body and goes away.
func (sc *soakClient) abortRequest() {
	n := 1024 + sc.rng.Int64N(256<<10)
	// Write errors do not matter: the client is leaving anyway.
	_, _ = fmt.Fprintf(sc.c, "POST /up HTTP/1.1\r\nHost: soak.test\r\nContent-Length: %d\r\n\r\n", n)
	_, _ = io.CopyN(sc.c, newPattern(1, n), sc.rng.Int64N(n))
	sc.drop(sc.rng.IntN(2) == 0)
	sc.ty.aborted.Add(1)
}

// abortResponse reads part of a large response and goes away.
func (sc *soakClient) abortResponse() {
	n := int64(256<<10 + sc.rng.IntN(768<<10))
	_, _ = fmt.Fprintf(sc.c, "GET /big/%d HTTP/1.1\r\nHost: soak.test\r\n\r\n", n) // a failure shows in the read
	if r, err := http.ReadResponse(sc.br, nil); err == nil {
		_, _ = io.CopyN(io.Discard, r.Body, sc.rng.Int64N(n/2))
	}
	sc.drop(sc.rng.IntN(2) == 0)
	sc.ty.aborted.Add(1)
}

// fault asks for a path where the upstream misbehaves: a complete local
// reply (502/504) or a visible cut is right; a complete 200 is not.
func (sc *soakClient) fault(path string) {
	sc.ty.faults.Add(1)
	start := time.Now()
	defer func() {
		// The hang route's timeout is 500 ms: an answer ten times later is
		// a timeout that did not fire.
		if d := time.Since(start); d > 5*time.Second {
			sc.ty.violate("GET %s: answered after %v; the route timeout is 500ms", path, d)
		}
		took := int64(time.Since(start))
		for cur := sc.ty.slowestFault.Load(); took > cur && !sc.ty.slowestFault.CompareAndSwap(cur, took); {
			cur = sc.ty.slowestFault.Load()
		}
	}()
	if _, err := fmt.Fprintf(sc.c, "GET %s HTTP/1.1\r\nHost: soak.test\r\n\r\n", path); err != nil {
		sc.drop(false)
		return
	}
	r, err := http.ReadResponse(sc.br, nil)
	if err != nil {
		if testutil.IsTimeout(err) {
			sc.ty.violate("GET %s: hung: %v", path, err)
		}
		sc.ty.cut.Add(1)
		sc.drop(false)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	switch {
	case err != nil && testutil.IsTimeout(err):
		sc.ty.violate("GET %s: body hung: %v", path, err)
	case err != nil:
		sc.ty.cut.Add(1) // visibly cut: right for /fault/midreset
	case r.StatusCode == 200:
		sc.ty.violate("GET %s: a faulty upstream's response read as complete: %q", path, body)
	case r.StatusCode != 502 && r.StatusCode != 504:
		sc.ty.violate("GET %s: status %d %q", path, r.StatusCode, body)
	default:
		sc.ty.local.Add(1)
	}
	if err != nil || r.Close {
		sc.drop(false)
	}
}

func (sc *soakClient) echo() {
	if _, err := io.WriteString(sc.c, "GET /echo HTTP/1.1\r\nHost: soak.test\r\n\r\n"); err != nil {
		sc.ty.violate("GET /echo: write: %v", err)
		sc.drop(false)
		return
	}
	sc.finish("GET /echo", func(_ *http.Response, body []byte) error {
		if string(body) != "GET /echo" {
			return fmt.Errorf("body %q", body)
		}
		return nil
	})
}

// settled closes the upstream's idle connections (so that their handler
// goroutines go) and returns the goroutine count and the heap in use.
func settled(up *upstream) (int, uint64) {
	up.srv.CloseClientConnections()
	return runtime.NumGoroutine(), heapInuse()
}

// TestSoak runs mixed traffic with injected upstream faults from
// soakClients concurrent clients for 30 s (-soak or FERRY_SOAK for
// longer), then checks that every exchange ended in one complete, verified
// response or a visible cut, and that heap, goroutines and
// downstream_rq_active return to their baseline.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	d := soakDuration(t)
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), routeTimeout: 5 * time.Second, hangTimeout: 500 * time.Millisecond,
		highWatermark: 256 << 10, lowWM: 64 << 10, spillMem: 256 << 10})
	warm := &soakClient{addr: f.addr, rng: rand.New(rand.NewPCG(0, 0)), ty: &tally{}}
	for range 50 {
		warm.run()
	}
	warm.drop(false)
	for _, v := range warm.ty.violations {
		t.Errorf("warm-up violation: %s", v)
	}
	f.quiesce(t)
	g0, h0 := settled(up)
	testutil.WaitFor(t, 5*time.Second, "the goroutine count to settle for the baseline", func() bool {
		prev := g0
		g0, h0 = settled(up)
		return g0 >= prev
	})
	ty := &tally{}
	stats0 := f.snapshot()

	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	var h2s []*http.Transport
	for i := range soakH2Conns {
		tr := newH2Transport(f.addr)
		h2s = append(h2s, tr)
		for j := range soakH2Streams {
			hc := &h2SoakClient{base: "http://soak.test", c: &http.Client{Transport: tr}, ty: ty,
				rng: rand.New(rand.NewPCG(uint64(1000+i*soakH2Streams+j), 9))}
			wg.Go(func() {
				for time.Now().Before(deadline) {
					hc.run()
				}
			})
		}
	}
	for i := range soakClients {
		sc := &soakClient{addr: f.addr, rng: rand.New(rand.NewPCG(uint64(i)+1, 7)), ty: ty}
		wg.Go(func() {
			defer sc.drop(false)
			for time.Now().Before(deadline) {
				sc.run()
			}
		})
	}
	wg.Wait()
	for _, tr := range h2s {
		tr.CloseIdleConnections()
	}
	f.quiesce(t)
	var g1 int
	var h1 uint64
	back := time.Now().Add(30 * time.Second) // idle pool workers expire after 10-20 s
	for g1, h1 = settled(up); g1 > g0+8 || h1 > h0+16<<20; g1, h1 = settled(up) {
		if time.Now().After(back) {
			t.Fatalf("not back near the baseline after 30 s: goroutines %d -> %d, heap in use %d KiB -> %d KiB\n%s",
				g0, g1, h0>>10, h1>>10, goroutineSummary())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline, as testutil.WaitFor does
	}
	stats1 := f.snapshot()
	delta := func(name string) int64 { return stats1[name] - stats0[name] }
	t.Logf("soak %v, %d HTTP/1.1 clients and %d HTTP/2 streams on %d connections: %d ok (%d over HTTP/2), %d pipelined, %d local 5xx, %d visibly cut, %d client aborts, %d fault requests (slowest answered in %v), %d violations; "+
		"%d MiB up, %d MiB down; downstream_rq_total +%d, upstream_rq_retry +%d, upstream_rq_reset_mid_body +%d, "+
		"local_reply_upstream_reset +%d, local_reply_upstream_timeout +%d, downstream_rq_aborted +%d; "+
		"heap in use %d KiB -> %d KiB, goroutines %d -> %d, downstream_rq_active %d",
		d, soakClients, soakH2Conns*soakH2Streams, soakH2Conns, ty.ok.Load(), ty.h2ok.Load(), ty.pipelined.Load(), ty.local.Load(), ty.cut.Load(), ty.aborted.Load(), ty.faults.Load(), time.Duration(ty.slowestFault.Load()),
		len(ty.violations), ty.uploadBytes.Load()>>20, ty.downloadBytes.Load()>>20, delta("downstream_rq_total"),
		delta("upstream_rq_retry"), delta("upstream_rq_reset_mid_body"), delta("local_reply_upstream_reset"),
		delta("local_reply_upstream_timeout"), delta("downstream_rq_aborted"), h0>>10, h1>>10, g0, g1, f.app.Server().Stats().Active())
	var moved []string
	for name, v := range stats1 {
		if dv := v - stats0[name]; dv != 0 {
			moved = append(moved, fmt.Sprintf("%s=%+d", name, dv))
		}
	}
	sort.Strings(moved)
	t.Logf("counters moved: %s", strings.Join(moved, " "))
	for _, v := range ty.violations {
		t.Errorf("violation: %s", v)
	}
	if got, want := delta("downstream_rq_total"), ty.ok.Load()+ty.local.Load(); got < want {
		t.Errorf("downstream_rq_total moved by %d, fewer than the %d responses seen", got, want)
	}
	if delta("local_reply_upstream_reset")+delta("local_reply_upstream_timeout")+delta("local_reply_upstream_bad_response") < ty.local.Load() {
		t.Errorf("local 5xx replies seen: %d; counters moved less", ty.local.Load())
	}
	if ty.ok.Load() == 0 || ty.faults.Load() == 0 || ty.h2ok.Load() == 0 {
		t.Errorf("the soak did nothing: %d ok (%d over HTTP/2), %d faults", ty.ok.Load(), ty.h2ok.Load(), ty.faults.Load())
	}
}

// goroutineSummary counts live goroutines by the function on top of their
// stack, for a failure message.
func goroutineSummary() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) > 1 {
			counts[lines[1]]++
		}
	}
	var b strings.Builder
	for fn, n := range counts {
		fmt.Fprintf(&b, "%4d %s\n", n, fn)
	}
	return b.String()
}
