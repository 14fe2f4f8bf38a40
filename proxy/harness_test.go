package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/internal/worker"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// harness is a ferry assembled in-process on 127.0.0.1:0.
type harness struct {
	t       testing.TB
	eng     *eventloop.Engine
	srv     *proxy.Server
	workers *worker.Pool
	addr    string
	// clusters is the live cluster set, for reloads.
	clusters *upstream.Manager
	// tracker counts the engine's sockets.
	tracker *conn.Tracker
}

// setup tweaks the harness before start.
type setup struct {
	opts     proxy.Options
	clusters []upstream.ClusterSpec
	routes   router.TableSpec
	factory  proxy.FactoryConfig
	conn     conn.Options
	loops    int
	// workers sizes the worker pool; zero is 64 workers and a queue of 64.
	workers worker.Options
}

// startProxy runs ferry in front of the upstream addresses, with one catch-all
// route to cluster "origin", after mod adjusts the set-up.
func startProxy(t testing.TB, upstreams []string, mod func(*setup)) *harness {
	t.Helper()
	hosts := make([]upstream.HostSpec, len(upstreams))
	for i, a := range upstreams {
		hosts[i] = upstream.HostSpec{Address: a}
	}
	st := &setup{
		loops:    2,
		clusters: []upstream.ClusterSpec{{Name: "origin", Hosts: hosts, ConnectTimeout: 2 * time.Second}},
		routes: router.TableSpec{Name: "r", VirtualHosts: []router.VirtualHostSpec{{
			Name: "all", Domains: []string{"*"},
			Routes: []router.RouteSpec{{Match: router.MatchSpec{Prefix: "/"}, Cluster: &router.ClusterAction{Cluster: "origin"}}},
		}}},
		factory: proxy.FactoryConfig{RouterName: "r", Policy: proxy.PolicyAuto},
	}
	if mod != nil {
		mod(st)
	}
	if st.workers.Size == 0 && st.workers.Queue == 0 {
		st.workers = worker.Options{Size: 64, Queue: 64}
	}
	workers, err := worker.New(st.workers)
	if err != nil {
		t.Fatal(err)
	}
	clusters := upstream.NewManager()
	if len(upstreams) > 0 {
		if err := clusters.Update(st.clusters); err != nil {
			t.Fatal(err)
		}
	}
	tbl, err := router.NewTable(st.routes)
	if err != nil {
		t.Fatal(err)
	}
	routers := router.NewRegistry()
	routers.Set(map[string]*router.Table{"r": tbl})
	tracker := conn.NewTracker(0)
	o := st.opts
	o.Loops, o.Workers, o.Clusters, o.Routers = st.loops, workers, clusters, routers
	srv, err := proxy.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	lst := &eventloop.Listener{Name: "test", Address: "127.0.0.1:0",
		Filters: []conn.FilterFactory{srv.NewFactory(st.factory)}}
	eng, err := eventloop.New([]*eventloop.Listener{lst}, eventloop.Options{Loops: st.loops, Tracker: tracker, Conn: st.conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, eng: eng, srv: srv, workers: workers, addr: eng.Addrs()[0].String(), clusters: clusters, tracker: tracker}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	drain := func(ctx context.Context) error {
		_ = h.srv.Drain(ctx) // what a test left in flight may be aborted; dials must finish
		return nil
	}
	testutil.Shutdown(h.t, 5*time.Second, testutil.Step{Name: "drain", Do: drain},
		testutil.Step{Name: "engine stop", Do: h.eng.Stop}, testutil.Step{Name: "workers close", Do: h.workers.Close})
	// The network filter Manager recovers a panic on a loop and only closes
	// the connection, so a bug in the proxy (a read filter) would pass
	// unseen: no proxy test makes a network filter panic on purpose.
	if n := filterchain.NetworkFilterPanics(); n != 0 {
		h.t.Errorf("%d panics recovered on a loop (filterchain.NetworkFilterPanics): proxy code panicked; see the log", n)
	}
}

// stat reads a named counter.
func (h *harness) stat(name string) int64 {
	v, ok := h.srv.Stats().Set().Get(name)
	if !ok {
		h.t.Fatalf("no stat %q", name)
	}
	return v
}

// dial opens a raw client connection.
func (h *harness) dial() net.Conn {
	h.t.Helper()
	return testutil.DialTCP(h.t, h.addr, 20*time.Second)
}

// dialReader opens a raw client connection and a reader of its responses.
func (h *harness) dialReader() (net.Conn, *bufio.Reader) {
	h.t.Helper()
	c := h.dial()
	return c, bufio.NewReader(c)
}

// client is an HTTP client through the proxy with keep-alive.
func (h *harness) client() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", h.addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get does a GET through the proxy and returns status and body.
func (h *harness) get(c *http.Client, path string) (int, string) {
	h.t.Helper()
	resp, err := c.Get("http://ferry.test" + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// rawExchange writes req on c and reads one response.
func rawExchange(t testing.TB, c net.Conn, r *bufio.Reader, req string, method string) *http.Response {
	t.Helper()
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	resp, err := http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response to %q: %v", firstLine(req), err)
	}
	return resp
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

var _ = fmt.Sprintf

// newHTTPServer starts an httptest server and returns its URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
