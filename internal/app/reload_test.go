package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// fixedUpstream answers every request with body.
func fixedUpstream(t *testing.T, body string) string {
	t.Helper()
	return testutil.ServeHTTP(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
}

// routeTo is a config whose only route sends / to cluster name (host up),
// on an Auto listener (HTTP/1.1 and h2c).
func routeTo(t *testing.T, name, up string) *config.Config {
	t.Helper()
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":%q}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Auto","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":%q,"hosts":[{"address":%q}]}]}}`, name, name, up)
	cfg := mustConfig(t, js)
	return cfg
}

// loadLoop is keep-alive clients, two over HTTP/1.1 and two over h2c,
// sending GETs to one URL without pause and counting every response: a
// response that is not 200 or whose body check refuses is counted bad.
type loadLoop struct {
	total, bad atomic.Int64
	firstBad   atomic.Pointer[string]
	// seen records, per client, the bodies it got.
	seen [4]sync.Map
	stop chan struct{}
	wg   sync.WaitGroup
}

// startLoad starts the clients on url; check (nil: any body) judges a
// 200's body for client i. The loop stops at cleanup, or at finish.
func startLoad(t *testing.T, url string, check func(i int, body string) bool) *loadLoop {
	t.Helper()
	return startLoadTLS(t, url, nil, check)
}

// startLoadTLS is startLoad over TLS with tc (an https url; nil: h2c and
// plain HTTP/1.1).
func startLoadTLS(t *testing.T, url string, tc *tls.Config, check func(i int, body string) bool) *loadLoop {
	t.Helper()
	h2 := &http2.Transport{TLSClientConfig: tc}
	h1 := &http.Transport{MaxIdleConnsPerHost: 4, TLSClientConfig: tc,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}} // HTTP/1.1 only
	if tc == nil {
		h2.AllowHTTP = true
		h2.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	clients := []*http.Client{{Transport: h1}, {Transport: h1}, {Transport: h2}, {Transport: h2}}
	l := &loadLoop{stop: make(chan struct{})}
	deadline := time.Now().Add(60 * time.Second) // bounded whatever happens
	for i, c := range clients {
		l.wg.Go(func() {
			for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				l.total.Add(1)
				msg := ""
				switch {
				case err != nil || resp.StatusCode != 200:
					msg = fmt.Sprint(err, resp)
				case check != nil && !check(i, string(body)):
					msg = "body " + string(body)
				default:
					l.seen[i].Store(string(body), true)
					continue
				}
				l.bad.Add(1)
				l.firstBad.CompareAndSwap(nil, &msg)
			}
		})
	}
	t.Cleanup(func() {
		l.halt()
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
	})
	testutil.WaitFor(t, 20*time.Second, "requests before the reload", func() bool { return l.total.Load() >= 400 })
	return l
}

// more waits for n more responses.
func (l *loadLoop) more(t *testing.T, n int64) {
	t.Helper()
	mark := l.total.Load()
	testutil.WaitFor(t, 20*time.Second, "requests after the reload", func() bool { return l.total.Load() >= mark+n })
}

// halt stops the clients and waits for them. Idempotent.
func (l *loadLoop) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// finish stops the clients and fails the test if any response was lost.
func (l *loadLoop) finish(t *testing.T) {
	t.Helper()
	l.halt()
	if n := l.bad.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed or went astray; first: %s", n, l.total.Load(), *l.firstBad.Load())
	}
	t.Logf("%d requests, none lost", l.total.Load())
}

// TestReloadUnderLoadLosesNothing: keep-alive clients over HTTP/1.1 and
// HTTP/2 send requests without pause while a reload moves the route to a
// new cluster (and drops the old one): every request is answered 200, by
// the old cluster or the new, and every client then reaches the new one.
// A reload that changes the number of loops is refused and changes
// nothing.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a := startApp(t, routeTo(t, "a", fixedUpstream(t, "a")))
	next := routeTo(t, "b", fixedUpstream(t, "b"))
	var reloaded atomic.Bool
	var sawNew [4]atomic.Bool
	load := startLoad(t, "http://"+a.Addrs()[0].String()+"/", func(i int, body string) bool {
		after := reloaded.Load()
		if body == "b" {
			sawNew[i].Store(true)
			return true
		}
		return body == "a" && !(after && sawNew[i].Load()) // not the old route after the new one answered this client
	})
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	reloaded.Store(true)
	testutil.WaitFor(t, 20*time.Second, "every client reaching the new route", func() bool {
		for i := range sawNew {
			if !sawNew[i].Load() {
				return false
			}
		}
		return true
	})
	load.more(t, 400)

	// A reload that changes the number of loops is refused; the new route
	// stays.
	refused := routeTo(t, "c", fixedUpstream(t, "c"))
	refused.Ferry.EventLoops = 9
	if err := a.Reload(refused); err == nil || !strings.HasPrefix(err.Error(), "ferry.event_loops: changed") {
		t.Fatalf("reload changing event_loops: %v", err)
	}
	load.finish(t)
	if a.Config() != next || a.reload.ok.Load() != 1 || a.reload.failed.Load() != 1 {
		t.Fatalf("config %p (want %p), %d reloads applied, %d refused", a.Config(), next, a.reload.ok.Load(), a.reload.failed.Load())
	}
	if a.clusters.Get("a") != nil || a.clusters.Get("b") == nil {
		t.Fatal("the old cluster is still there, or the new one is missing")
	}
}

// tagFilter is a stream filter that sets X-Tag on every response to its
// config's "tag".
type tagFilter struct{ tag string }

func (f *tagFilter) CreateFilters(b filterchain.ChainBuilder) { b.AddSender(f) }
func (f *tagFilter) Blocking() bool                           { return false }
func (f *tagFilter) OnDestroy()                               {}
func (f *tagFilter) Append(_ filterchain.StreamHandle, h filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	h.Set("X-Tag", f.tag)
	return filterchain.StreamContinue
}

// tagRegistry registers tagFilter as "tag".
func tagRegistry(t *testing.T) *filterchain.Registry {
	t.Helper()
	reg := filterchain.NewRegistry()
	if err := reg.AddStream("tag", func(raw json.RawMessage) (filterchain.StreamFilterFactory, error) {
		var c struct{ Tag string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return &tagFilter{tag: c.Tag}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// twoRoutes is a config with route tables r1 (to upstream a) and r2 (to
// b); listener l uses router, tags responses with tag, and adds the
// listener settings extra (JSON members, "" for none).
func twoRoutes(t *testing.T, a, b, router, tag, extra string) *config.Config {
	t.Helper()
	if extra != "" {
		extra = "," + extra
	}
	js := fmt.Sprintf(`{"servers":[{"routers":[
		{"router_config_name":"r1","virtual_hosts":[{"name":"v","domains":["*"],"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"a"}}]}]},
		{"router_config_name":"r2","virtual_hosts":[{"name":"v","domains":["*"],"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"b"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","stream_filters":[{"type":"tag","config":{"tag":%q}}],
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Auto","router_config_name":%q}}]}]%s}]}],
		"cluster_manager":{"clusters":[{"name":"a","hosts":[{"address":%q}]},{"name":"b","hosts":[{"address":%q}]}]}}`,
		tag, router, extra, a, b)
	return mustConfig(t, js)
}

// keepAlive is one raw HTTP/1.1 keep-alive connection.
type keepAlive struct {
	c net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c := testutil.DialTCP(t, addr, 20*time.Second)
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

// get sends GET / and returns the response's header and body.
func (k *keepAlive) get(t *testing.T) (http.Header, string) {
	t.Helper()
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return resp.Header, string(b)
}

// TestReloadSwapsListenerFilters: under load, a reload changes a
// listener's stream filter, its proxy filter's route table and adds an
// access log. A connection opened after the reload gets the new chain
// (new tag, new route, a log line); one opened before keeps its old chain
// for the requests it still sends; no request of the load is lost.
func TestReloadSwapsListenerFilters(t *testing.T) {
	upA, upB := fixedUpstream(t, "a"), fixedUpstream(t, "b")
	a := startWith(t, twoRoutes(t, upA, upB, "r1", "old", ""), Options{Filters: tagRegistry(t)})
	addr := a.Addrs()[0].String()
	old := dialKeepAlive(t, addr)
	if h, body := old.get(t); h.Get("X-Tag") != "old" || body != "a" {
		t.Fatalf("before the reload: tag %q body %q", h.Get("X-Tag"), body)
	}
	load := startLoad(t, "http://"+addr+"/", func(_ int, body string) bool { return body == "a" || body == "b" })
	logPath := t.TempDir() + "/access.log"
	next := twoRoutes(t, upA, upB, "r2", "new", fmt.Sprintf(`"access_logs":[{"log_path":%q,"log_format":"%%response_code%%"}]`, logPath))
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	fresh := dialKeepAlive(t, addr)
	for range 2 {
		if h, body := fresh.get(t); h.Get("X-Tag") != "new" || body != "b" {
			t.Fatalf("a connection opened after the reload: tag %q body %q, want the new chain (new, b)", h.Get("X-Tag"), body)
		}
		if h, body := old.get(t); h.Get("X-Tag") != "old" || body != "a" {
			t.Fatalf("a connection opened before the reload: tag %q body %q, want its old chain (old, a)", h.Get("X-Tag"), body)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the new access log's lines", func() bool {
		return strings.Contains(testutil.ReadFile(t, logPath), "200")
	})
	load.more(t, 400)
	load.finish(t)
	if st := a.reload.last.Load(); st.Err != "" || a.reload.ok.Load() != 1 {
		t.Fatalf("reload state %+v", st)
	}
}

// TestReloadRefusesNamingThePath: a change a running ferry cannot make is
// refused with its exact config path; the old config keeps serving and
// /api/v1/states shows the refusal.
func TestReloadRefusesNamingThePath(t *testing.T) {
	upA, upB := fixedUpstream(t, "a"), fixedUpstream(t, "b")
	cur := twoRoutes(t, upA, upB, "r1", "old", "")
	a := startWith(t, cur, Options{Filters: tagRegistry(t), AdminAddress: "127.0.0.1:0"})
	url := "http://" + a.Addrs()[0].String() + "/"
	for _, tc := range []struct {
		name, want string
		edit       func(c *config.Config)
	}{
		{"event loops", "ferry.event_loops: changed", func(c *config.Config) { c.Ferry.EventLoops = 7 }},
		{"write watermark", "ferry.buffers.write_high_watermark: changed", func(c *config.Config) { c.Ferry.Buffers.WriteHighWatermark = 1 << 20 }},
		{"lingering close", "ferry.timeouts.lingering_close: changed", func(c *config.Config) {
			c.Ferry.Timeouts.LingeringClose = config.Duration(3 * time.Second)
		}},
		{"processor", "servers[0].processor: changed", func(c *config.Config) { c.Servers[0].Processor = config.Processor{N: 1} }},
		{"unknown stream filter", "servers[0].listeners[0].stream_filters[0].type", func(c *config.Config) {
			c.Servers[0].Listeners[0].StreamFilters[0].Type = "nope"
			c.Servers[0].Listeners[0].StreamFilters[0].Config = json.RawMessage(`{}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := twoRoutes(t, upA, upB, "r2", "new", "")
			tc.edit(next)
			err := a.Reload(next)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v, want an error naming %s", err, tc.want)
			}
			if a.Config() != cur {
				t.Fatal("the config in force changed")
			}
			if code, body := testutil.Fetch(t, http.MethodGet, url); code != 200 || body != "a" {
				t.Fatalf("after the refusal: %d %q, want the old route's a", code, body)
			}
			code, states := testutil.Fetch(t, http.MethodGet, "http://"+a.AdminAddr().String()+"/api/v1/states")
			if code != 200 || !strings.Contains(states, tc.want) {
				t.Fatalf("/api/v1/states %d does not show the refusal %q: %s", code, tc.want, states)
			}
		})
	}
}

// TestReloadSwapsProxySettings: under load, a reload changes ferry.proxy
// (Via), a timeout and the head limit; a connection opened after it
// answers with the new Via and refuses a head past the new limit, one
// opened before keeps the settings it began with.
func TestReloadSwapsProxySettings(t *testing.T) {
	up := fixedUpstream(t, "a")
	a := startApp(t, routeTo(t, "a", up))
	addr := a.Addrs()[0].String()
	old := dialKeepAlive(t, addr)
	if h, _ := old.get(t); h.Get("Via") != "" {
		t.Fatalf("Via %q before the reload, want none", h.Get("Via"))
	}
	load := startLoad(t, "http://"+addr+"/", func(_ int, body string) bool { return body == "a" })
	next := routeTo(t, "a", up)
	next.Ferry.Proxy.Via = "edge"
	next.Ferry.Timeouts.RequestHeader = config.Duration(3 * time.Second)
	next.Ferry.HTTP1.MaxHeaderBytes = 1024
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	fresh := dialKeepAlive(t, addr)
	if h, _ := fresh.get(t); h.Get("Via") != "1.1 edge" {
		t.Fatalf("a new connection: Via %q, want 1.1 edge", h.Get("Via"))
	}
	if h, _ := old.get(t); h.Get("Via") != "" {
		t.Fatalf("the connection opened before the reload: Via %q, want none (its old settings)", h.Get("Via"))
	}
	// A 2 KiB head: within the old connection's limit, past the new one's.
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 2048) + "\r\n\r\n"
	for _, k := range []struct {
		name string
		conn *keepAlive
		want int
	}{{"old", old, 200}, {"new", fresh, 431}} {
		if _, err := io.WriteString(k.conn.c, big); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(k.conn.r, nil)
		if err != nil {
			t.Fatalf("%s connection, 2 KiB head: %v", k.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != k.want {
			t.Fatalf("%s connection, 2 KiB head: %d, want %d (max_header_bytes 1024 applies to new connections)",
				k.name, resp.StatusCode, k.want)
		}
	}
	load.more(t, 400)
	load.finish(t)
}

// answered reports whether a new connection to addr gets a response to
// GET /: false when ferry closes it unanswered (refused at accept).
func answered(t *testing.T, addr string) bool {
	t.Helper()
	k := dialKeepAlive(t, addr)
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// TestReloadSwapsLimits: under load, a reload changes max_connections,
// the worker pool's size and the drain timeout; each takes effect (new
// connections above the new budget are refused, and admitted again once
// the budget is lifted by the next reload) and no request of the load is
// lost.
func TestReloadSwapsLimits(t *testing.T) {
	up := fixedUpstream(t, "a")
	a := startApp(t, routeTo(t, "a", up))
	addr := a.Addrs()[0].String()
	load := startLoad(t, "http://"+addr+"/", func(_ int, body string) bool { return body == "a" })
	next := routeTo(t, "a", up)
	held := a.tracker.Downstream.Load()
	next.Ferry.MaxConnections = int(held) + 2
	next.Ferry.Scheduler.Workers = 3
	next.Ferry.Timeouts.Drain = config.Duration(7 * time.Second)
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	if c, d := a.workers.Cap(), time.Duration(a.live.drain.Load()); c != 3 || d != 7*time.Second {
		t.Fatalf("after the reload: %d workers, drain %v; want 3, 7s", c, d)
	}
	n := 0
	for range 4 {
		if answered(t, addr) {
			n++
		}
	}
	if n == 0 || n == 4 {
		t.Fatalf("%d of 4 new connections answered with max_connections %d and %d open: want some refused, not all",
			n, held+2, held)
	}
	if err := a.Reload(routeTo(t, "a", up)); err != nil {
		t.Fatal(err)
	}
	if !answered(t, addr) {
		t.Fatal("a new connection is refused after the budget went back to its default")
	}
	load.more(t, 400)
	load.finish(t)
}

// gatedUpstream answers "slow" on /slow once release is closed (it
// sends on arrived when such a request comes), and "a" at once on any
// other path.
func gatedUpstream(t *testing.T, arrived chan<- struct{}, release <-chan struct{}) string {
	t.Helper()
	return testutil.ServeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
			io.WriteString(w, "slow")
			return
		}
		io.WriteString(w, "a")
	})
}

// twoListeners is a config with listeners l1 and (unless one) l2, both
// routing everything to cluster a at up. l2 binds 127.0.0.2: gnet tells
// its listeners apart by address, so two on 127.0.0.1:0 would be one.
func twoListeners(t *testing.T, up string, one bool) *config.Config {
	t.Helper()
	l2 := `,{"name":"l2","address":"127.0.0.2:0","filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Auto","router_config_name":"r"}}]}]}`
	if one {
		l2 = ""
	}
	return mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"a"}}]}]}],
		"listeners":[{"name":"l1","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Auto","router_config_name":"r"}}]}]}%s]}],
		"cluster_manager":{"clusters":[{"name":"a","hosts":[{"address":%q}]}]}}`, l2, up))
}

// TestReloadRemovedListenerDrains: under load on l1, a reload removes l2:
// new connections to l2 are refused at once, its idle keep-alive
// connection closes, its in-flight request finishes (with Connection:
// close) and then its connection closes; l1 loses nothing, and a smooth
// upgrade now hands over l1 alone.
func TestReloadRemovedListenerDrains(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	up := gatedUpstream(t, arrived, release)
	a := startApp(t, twoListeners(t, up, false))
	addr1, addr2 := a.Addrs()[0].String(), a.Addrs()[1].String()
	load := startLoad(t, "http://"+addr1+"/", func(_ int, body string) bool { return body == "a" })
	idle := dialKeepAlive(t, addr2)
	if _, body := idle.get(t); body != "a" {
		t.Fatalf("l2 before the reload: %q", body)
	}
	busy := dialKeepAlive(t, addr2)
	if _, err := io.WriteString(busy.c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request did not reach the upstream")
	}

	if err := a.Reload(twoListeners(t, up, true)); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr2, 5*time.Second); err == nil {
		_ = c.Close()
		t.Fatal("a new connection to the removed listener was accepted")
	}
	if got := a.Addrs(); len(got) != 1 || got[0].String() != addr1 {
		t.Fatalf("addresses after the removal: %v, want [%s]", got, addr1)
	}
	if _, err := idle.r.ReadByte(); err != io.EOF {
		t.Fatalf("the removed listener's idle connection: %v, want EOF (closed by the drain)", err)
	}
	close(release)
	resp, err := http.ReadResponse(busy.r, nil)
	if err != nil {
		t.Fatalf("the in-flight request on the removed listener: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "slow" || !resp.Close {
		t.Fatalf("the in-flight request: %d %q close=%v, want 200 slow with Connection: close", resp.StatusCode, b, resp.Close)
	}
	if _, err := busy.r.ReadByte(); err != io.EOF {
		t.Fatalf("after its last response the removed listener's connection: %v, want EOF", err)
	}
	socks, err := a.ListenerSockets()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range socks {
		for _, fd := range l.FDs {
			_ = syscall.Close(fd)
		}
	}
	if len(socks) != 1 || socks[0].Name != "l1" {
		t.Fatalf("a smooth upgrade would hand over %+v, want l1 alone", socks)
	}
	load.more(t, 400)
	load.finish(t)
}

// TestReloadAddedListenerOpens: under load on l1, a reload adds l2, which
// answers at once (on a spare slot of the running loops); a later smooth
// upgrade would hand over both; once every spare slot is taken, another
// added listener is refused naming it, and the old config keeps serving.
// An added listener that is bound but cannot be put under the running
// loops fails the reload, naming it (the rest applied and says so): it is
// never reported as applied while it does not serve.
func TestReloadAddedListenerNotOpenedIsAnError(t *testing.T) {
	up := fixedUpstream(t, "a")
	a := startApp(t, twoListeners(t, up, true))
	a.openAdded = func(*eventloop.PendingListener) (*eventloop.Listener, int, error) {
		return nil, 0, errors.New("epoll_ctl: injected")
	}
	next := twoListeners(t, up, false)
	err := a.Reload(next)
	var pr *partialReload
	if !errors.As(err, &pr) || !strings.Contains(err.Error(), `servers[0].listeners[1] ("l2" at 127.0.0.2:0): bound, but not opened`) ||
		!strings.Contains(err.Error(), "injected") || !strings.Contains(err.Error(), "the rest of the reload applied") {
		t.Fatalf("reload error %v, want the unopened listener named", err)
	}
	if a.Config() != next || a.reload.failed.Load() != 1 || a.reload.ok.Load() != 0 || len(a.Addrs()) != 1 {
		t.Fatalf("config in force %p (want %p), %d failed, %d ok, addresses %v", a.Config(), next,
			a.reload.failed.Load(), a.reload.ok.Load(), a.Addrs())
	}
	if st := a.reload.last.Load(); st == nil || !strings.Contains(st.Err, "not opened") {
		t.Fatalf("/api/v1/states would show %+v", st)
	}
}

func TestReloadAddedListenerOpens(t *testing.T) {
	up := fixedUpstream(t, "a")
	one := twoListeners(t, up, true)
	a := startApp(t, one)
	addr1 := a.Addrs()[0].String()
	load := startLoad(t, "http://"+addr1+"/", func(_ int, body string) bool { return body == "a" })
	if err := a.Reload(twoListeners(t, up, false)); err != nil {
		t.Fatal(err)
	}
	addrs := a.Addrs()
	if len(addrs) != 2 || addrs[0].String() != addr1 || !strings.HasPrefix(addrs[1].String(), "127.0.0.2:") {
		t.Fatalf("addresses after the reload: %v", addrs)
	}
	if code, body := testutil.Fetch(t, http.MethodGet, "http://"+addrs[1].String()+"/"); code != 200 || body != "a" {
		t.Fatalf("the added listener: %d %q", code, body)
	}
	socks, err := a.ListenerSockets()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range socks {
		names = append(names, l.Name)
		for _, fd := range l.FDs {
			_ = syscall.Close(fd)
		}
	}
	if strings.Join(names, ",") != "l1,l2" {
		t.Fatalf("a smooth upgrade would hand over %v, want l1 and l2", names)
	}
	// Spare slots are used once: l2's stays taken after it goes, so three
	// more listeners take the rest and a fourth is refused.
	if err := a.Reload(one); err != nil {
		t.Fatal(err)
	}
	more := func(n int) *config.Config {
		c := twoListeners(t, up, true)
		for i := range n {
			l := c.Servers[0].Listeners[0]
			l.Name = fmt.Sprintf("x%d", i)
			l.Address = fmt.Sprintf("127.0.0.%d:0", 10+i)
			c.Servers[0].Listeners = append(c.Servers[0].Listeners, l)
		}
		return c
	}
	full := more(3)
	if err := a.Reload(full); err != nil {
		t.Fatal(err)
	}
	err = a.Reload(more(4))
	if err == nil || !strings.Contains(err.Error(), `servers[0].listeners ("x3" at 127.0.0.13:0)`) ||
		!strings.Contains(err.Error(), "no spare listener slot left") {
		t.Fatalf("a fifth added listener: %v, want refused naming it", err)
	}
	if a.Config() != full || len(a.Addrs()) != 4 {
		t.Fatalf("after the refusal: config %p (want %p), %d listeners (want 4)", a.Config(), full, len(a.Addrs()))
	}
	load.more(t, 400)
	load.finish(t)
}

// TestUpgradeHandsOverAnAddedListener: a listener a reload added is
// handed over by a smooth upgrade like the configured ones, matched by
// name wherever the new config lists it.
func TestUpgradeHandsOverAnAddedListener(t *testing.T) {
	up := fixedUpstream(t, "a")
	old := startApp(t, twoListeners(t, up, true))
	if err := old.Reload(twoListeners(t, up, false)); err != nil {
		t.Fatal(err)
	}
	ls, err := old.ListenerSockets()
	if err != nil {
		t.Fatal(err)
	}
	defer closeSockets(ls)
	cfg := twoListeners(t, up, false)
	l := cfg.Servers[0].Listeners
	l[0], l[1] = l[1], l[0] // l2 first: the running ferry hands it over second
	next := startWith(t, cfg, Options{Inherit: ls})
	want := old.Addrs()
	if got := next.Addrs(); len(got) != 2 || got[0].String() != want[1].String() || got[1].String() != want[0].String() {
		t.Fatalf("the new ferry listens on %v, want the inherited %v in its config's order", got, want)
	}
	if err := old.HandOver(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range next.Addrs() {
		if code, body := testutil.Fetch(t, http.MethodGet, "http://"+addr.String()+"/"); code != 200 || body != "a" {
			t.Fatalf("%s after the handover: %d %q", addr, code, body)
		}
	}
}

// TestReloadRemovedListenerClosesAtDrainTimeout: a request on a removed
// listener that outlives ferry.timeouts.drain has its connection closed
// when the drain ends, and the drain's goroutine ends with it.
func TestReloadRemovedListenerClosesAtDrainTimeout(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	up := gatedUpstream(t, arrived, release)
	t.Cleanup(func() { close(release) }) // before the upstream's Close: its handler returns
	a := startApp(t, twoListeners(t, up, false))
	stuck := dialKeepAlive(t, a.Addrs()[1].String())
	if _, err := io.WriteString(stuck.c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-arrived
	next := twoListeners(t, up, true)
	next.Ferry.Timeouts.Drain = config.Duration(200 * time.Millisecond)
	start := time.Now()
	if err := a.Reload(next); err != nil {
		t.Fatal(err)
	}
	_ = stuck.c.SetReadDeadline(time.Now().Add(5 * time.Second)) // far past the drain timeout, short of the route's 15 s
	_, err := stuck.r.ReadByte()
	if err == nil || testutil.IsTimeout(err) {
		t.Fatalf("the stuck request's connection: %v, want it closed by the drain timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the drain timeout", d)
	}
	testutil.WaitFor(t, 10*time.Second, "the drain goroutine to end", func() bool {
		done := make(chan struct{})
		go func() { a.ldrain.wg.Wait(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(10 * time.Millisecond):
			return false
		}
	})
}

// TestReloadSwapsListenerTLS: under a TLS keep-alive load (HTTP/1.1 and
// h2), a reload that gives a TLS listener another certificate (inline PEM
// instead of files) serves it to connections made after the reload, while
// a connection made before goes on being served over the TLS it began
// with; no request of the load is lost.
func TestReloadSwapsListenerTLS(t *testing.T) {
	ta := startTLSApp(t, "", "")
	c2 := testutil.NewCert(t, "127.0.0.1")
	both := ta.cert.Pool.Clone()
	both.AppendCertsFromPEM(c2.CAPEM)
	load := startLoadTLS(t, "https://"+ta.addr+"/", &tls.Config{RootCAs: both},
		func(_ int, body string) bool { return body == "hello over https" })
	old, err := tls.Dial("tcp", ta.addr, &tls.Config{RootCAs: ta.cert.Pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Close() })
	_ = old.SetDeadline(time.Now().Add(20 * time.Second))
	k := &keepAlive{c: old, r: bufio.NewReader(old)}
	if _, body := k.get(t); body != "hello over https" {
		t.Fatalf("before the reload: %q", body)
	}
	cur := ta.a.Config()
	next := *cur
	next.Servers = append([]config.Server(nil), cur.Servers...)
	ls := append([]config.Listener(nil), cur.Servers[0].Listeners...)
	fcs := append([]config.FilterChain(nil), ls[0].FilterChains...)
	tc := *fcs[0].TLSContext
	tc.CertChain, tc.PrivateKey = string(c2.CertPEM), string(c2.KeyPEM)
	fcs[0].TLSContext, ls[0].FilterChains, next.Servers[0].Listeners = &tc, fcs, ls
	if err := ta.a.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.Dial("tcp", ta.addr, &tls.Config{RootCAs: ta.cert.Pool}); err == nil {
		t.Fatal("a new connection verified against the old certificate's CA: the old TLS is still served")
	}
	fresh, err := tls.Dial("tcp", ta.addr, &tls.Config{RootCAs: c2.Pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("a new connection with the new certificate's CA: %v", err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	_ = fresh.SetDeadline(time.Now().Add(20 * time.Second))
	if _, body := (&keepAlive{c: fresh, r: bufio.NewReader(fresh)}).get(t); body != "hello over https" {
		t.Fatalf("a new connection after the reload: %q", body)
	}
	if _, body := k.get(t); body != "hello over https" {
		t.Fatalf("the connection made before the reload: %q", body)
	}
	load.more(t, 400)
	load.finish(t)
}

// TestReloadRefusesRenamingOnTheSameAddress: a reload that renames a
// listener at a fixed address (a removal and an addition on the same
// address, which the removed listener's socket still holds) is refused
// naming the added listener, and the old listener serves on.
func TestReloadRefusesRenamingOnTheSameAddress(t *testing.T) {
	up := fixedUpstream(t, "a")
	cfg := routeTo(t, "a", up)
	cfg.Servers[0].Listeners[0].Address = testutil.ClosedAddr(t) // a port of its own, so that the address is the listener's
	a := startApp(t, cfg)
	next := routeTo(t, "a", up)
	next.Servers[0].Listeners[0].Address = cfg.Servers[0].Listeners[0].Address
	next.Servers[0].Listeners[0].Name = "renamed"
	err := a.Reload(next)
	if err == nil || !strings.Contains(err.Error(), `servers[0].listeners[0]: listener "renamed" takes the address`) {
		t.Fatalf("reload renaming a listener on its address: %v", err)
	}
	if code, body := testutil.Fetch(t, http.MethodGet, "http://"+a.Addrs()[0].String()+"/"); code != 200 || body != "a" {
		t.Fatalf("after the refusal: %d %q", code, body)
	}
}
