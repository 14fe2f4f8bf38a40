package reliability

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/app"
	"github.com/ferry-proxy/ferry/internal/apptest"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// ioTimeout bounds every client read that expects an answer: a ferry that
// hangs a client fails the test instead of hanging it.
const ioTimeout = 5 * time.Second

// knobs are the configuration values a test sets; zero keeps ferry's
// default (or the harness's, where noted).
type knobs struct {
	upstream string
	// routeTimeout is the timeout of the catch-all route (default 5s);
	// hangTimeout that of the "/hang" prefix (default 500ms).
	routeTimeout, hangTimeout  time.Duration
	headerTimeout, bodyTimeout time.Duration
	// requestTimeout bounds a whole request (timeouts.request; 0 = off).
	requestTimeout             time.Duration
	idleTimeout, lingerTimeout time.Duration
	maxConns                   int
	maxPipelined               int
	maxReqPerConn              int
	maxBody                    int64
	highWatermark, lowWM       int
	spillMem                   int64
	spillDir                   string
	loops                      int
}

// ferry is one ferry under test.
type ferry struct {
	t    testing.TB
	app  *app.App
	addr string
}

// dur renders d in the configuration's duration syntax; 0 keeps the
// default.
func dur(d time.Duration) any {
	if d == 0 {
		return "0"
	}
	return d.String()
}

// configJSON is a MOSN v2 configuration for k: one listener on
// 127.0.0.1:0, a catch-all virtual host with a "/hang" route and a "/"
// route to the cluster "up".
func configJSON(k knobs) []byte {
	route := func(prefix string, timeout time.Duration) map[string]any {
		return map[string]any{"match": map[string]any{"prefix": prefix},
			"route": map[string]any{"cluster_name": "up", "timeout": timeout.String()}}
	}
	ferryBlock := map[string]any{
		"event_loops":     k.loops,
		"max_connections": k.maxConns,
		"scheduler":       map[string]any{"policy": "auto", "workers": 16},
		"http1": map[string]any{"max_request_body_bytes": k.maxBody, "max_pipelined_bytes": k.maxPipelined,
			"max_requests_per_connection": k.maxReqPerConn},
		"timeouts": map[string]any{"request_header": dur(k.headerTimeout), "request_body": dur(k.bodyTimeout),
			"request": dur(k.requestTimeout),
			"idle":    dur(k.idleTimeout), "lingering_close": dur(k.lingerTimeout), "drain": "2s"},
		"buffers": map[string]any{"write_high_watermark": k.highWatermark, "write_low_watermark": k.lowWM,
			"spill_memory_bytes": k.spillMem, "spill_dir": k.spillDir},
	}
	cfg := map[string]any{
		"servers": []any{map[string]any{
			"default_log_level": "ERROR",
			"routers": []any{map[string]any{
				"router_config_name": "rel",
				"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"},
					"routers": []any{route("/hang", k.hangTimeout), route("/", k.routeTimeout)}}},
			}},
			"listeners": []any{map[string]any{
				"name": "rel", "address": "127.0.0.1:0", "bind_port": true,
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{"type": "proxy", "config": map[string]any{
					"downstream_protocol": "Auto", "upstream_protocol": "Http1", "router_config_name": "rel"}}}}},
			}},
		}},
		"cluster_manager": map[string]any{"clusters": []any{map[string]any{
			"name": "up", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s",
			"hosts": []any{map[string]any{"address": k.upstream}},
		}}},
		"ferry": ferryBlock,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // a map of plain values always marshals
	}
	return b
}

// startFerry starts ferry with k (harness defaults filled in); it stops
// when the test ends.
func startFerry(t testing.TB, k knobs) *ferry {
	t.Helper()
	if k.routeTimeout == 0 {
		k.routeTimeout = 5 * time.Second
	}
	if k.hangTimeout == 0 {
		k.hangTimeout = 500 * time.Millisecond
	}
	if k.loops == 0 {
		k.loops = 2
	}
	if k.lingerTimeout == 0 {
		k.lingerTimeout = time.Second
	}
	if k.spillDir == "" {
		k.spillDir = t.TempDir()
	}
	a := apptest.Start(t, configJSON(k))
	t.Cleanup(func() {
		// A panic recovered on a loop only closes its connection; here it
		// can only be a bug in ferry, which the test must not hide.
		if n := filterchain.NetworkFilterPanics(); n != 0 {
			t.Errorf("%d panics recovered on a loop (filterchain.NetworkFilterPanics); see the log", n)
		}
	})
	return &ferry{t: t, app: a, addr: a.Addrs()[0].String()}
}

// stat reads a named counter or gauge (0 if it does not exist yet).
func (f *ferry) stat(name string) int64 {
	v, _ := f.app.Server().Stats().Set().Get(name)
	return v
}

// snapshot maps every counter to its value.
func (f *ferry) snapshot() map[string]int64 {
	m := map[string]int64{}
	for _, s := range f.app.Server().Stats().Set().Snapshot() {
		m[s.Name] = s.Value
	}
	return m
}

// quiesce waits until ferry has no request in flight.
func (f *ferry) quiesce(t testing.TB) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, "downstream_rq_active back to 0", func() bool {
		return f.app.Server().Stats().Active() == 0
	})
}

// waitStat waits until counter name reaches at least want.
func (f *ferry) waitStat(t testing.TB, name string, want int64) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("%s >= %d (now %d)", name, want, f.stat(name)), func() bool {
		return f.stat(name) >= want
	})
}

// client is a raw client connection.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

func (f *ferry) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatalf("dial ferry: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

func (cl *client) write(t testing.TB, s string) {
	t.Helper()
	_ = cl.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(cl.c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// resp is a response read whole.
type resp struct {
	status int
	header http.Header
	close  bool
	body   string
}

// read reads one response and its whole body; a body cut short is an
// error, never a short body.
func (cl *client) read(method string) (*resp, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(ioTimeout))
	return readResp(cl.br, method)
}

// readResp reads one response and its whole body from br.
func readResp(br *bufio.Reader, method string) (*resp, error) {
	r, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Body.Close() }() // read to its end below
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("status %d, body cut after %d bytes: %w", r.StatusCode, len(b), err)
	}
	return &resp{status: r.StatusCode, header: r.Header, close: r.Close, body: string(b)}, nil
}

// mustRead reads one response or fails the test.
func (cl *client) mustRead(t testing.TB, method string) *resp {
	t.Helper()
	r, err := cl.read(method)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return r
}

// closed waits for the connection to end (EOF or reset) with no further
// byte; it reports what happened instead.
func (cl *client) closed(within time.Duration) error {
	_ = cl.c.SetReadDeadline(time.Now().Add(within))
	b, err := cl.br.ReadByte()
	switch {
	case err == nil:
		rest, _ := cl.br.Peek(cl.br.Buffered())
		return fmt.Errorf("connection still open: unexpected bytes %q", append([]byte{b}, rest...))
	case errors.Is(err, io.EOF), testutil.IsReset(err):
		return nil
	default:
		return fmt.Errorf("connection not closed: %w", err)
	}
}

// get is a minimal GET request head.
func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: rel.test\r\n\r\n" }

// heapInuse returns HeapInuse after a full GC.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// heapPeak samples HeapInuse (without forcing GC) until stopped.
type heapPeak struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// leakOpts ignore gnet's process-wide ants pool, which lives as long as
// the process (see proxy/main_test.go).
func leakOpts(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
	}, extra...)
}

// runNoLeak runs fn as subtest name and then checks that every goroutine
// the subtest started (ferry, upstream, clients) is gone.
func runNoLeak(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	cur := goleak.IgnoreCurrent()
	if !t.Run(name, fn) {
		return
	}
	if err := goleak.Find(leakOpts(cur)...); err != nil {
		t.Errorf("%s leaked goroutines: %v", name, err)
	}
}

// percentile returns the p-th percentile (0..1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// hasPrefix reports whether the response body names the local reply kind.
func hasPrefix(r *resp, kind string) bool { return strings.HasPrefix(r.body, kind) }
