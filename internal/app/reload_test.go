package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// fixedUpstream answers every request with body.
func fixedUpstream(t *testing.T, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
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

// TestReloadUnderLoadLosesNothing: keep-alive clients over HTTP/1.1 and
// HTTP/2 send requests without pause while a reload moves the route to a
// new cluster (and drops the old one): every request is answered 200, by
// the old cluster or the new, and every client then reaches the new one.
// A reload that changes a listener is refused and changes nothing.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a := startApp(t, routeTo(t, "a", fixedUpstream(t, "a")))
	next := routeTo(t, "b", fixedUpstream(t, "b"))
	addr := "http://" + a.Addrs()[0].String() + "/"
	h2 := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer h2.CloseIdleConnections()
	h1 := &http.Transport{MaxIdleConnsPerHost: 4}
	defer h1.CloseIdleConnections()
	clients := []*http.Client{{Transport: h1}, {Transport: h1}, {Transport: h2}, {Transport: h2}}

	var (
		total, bad atomic.Int64
		reloaded   atomic.Bool
		sawNew     [4]atomic.Bool
		firstBad   atomic.Pointer[string]
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	deadline := time.Now().Add(60 * time.Second) // bounded whatever happens
	for i, c := range clients {
		wg.Go(func() {
			for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				default:
				}
				after := reloaded.Load()
				resp, err := c.Get(addr)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				total.Add(1)
				switch {
				case err != nil || resp.StatusCode != 200:
					bad.Add(1)
					msg := fmt.Sprint(err, resp)
					firstBad.CompareAndSwap(nil, &msg)
				case string(body) == "b":
					sawNew[i].Store(true)
				case string(body) != "a" || after && sawNew[i].Load():
					bad.Add(1) // garbage, or the old route after the new one answered this client
					msg := "body " + string(body)
					firstBad.CompareAndSwap(nil, &msg)
				}
			}
		})
	}
	testutil.WaitFor(t, 20*time.Second, "requests before the reload", func() bool { return total.Load() >= 400 })
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
	mark := total.Load()
	testutil.WaitFor(t, 20*time.Second, "requests after the reload", func() bool { return total.Load() >= mark+400 })

	// A reload that changes a listener is refused; the new route stays.
	moved := routeTo(t, "c", fixedUpstream(t, "c"))
	moved.Servers[0].Listeners[0].Name = "renamed"
	if err := a.Reload(moved); err == nil || !strings.HasPrefix(err.Error(), "servers[0].listeners: changed") {
		t.Fatalf("reload changing a listener: %v", err)
	}
	close(stop)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed or went astray; first: %s", n, total.Load(), *firstBad.Load())
	}
	if a.Config() != next || a.reload.ok.Load() != 1 || a.reload.failed.Load() != 1 {
		t.Fatalf("config %p (want %p), %d reloads applied, %d refused", a.Config(), next, a.reload.ok.Load(), a.reload.failed.Load())
	}
	if a.clusters.Get("a") != nil || a.clusters.Get("b") == nil {
		t.Fatal("the old cluster is still there, or the new one is missing")
	}
	t.Logf("%d requests, %d after the reload, none lost", total.Load(), total.Load()-mark)
}
