package proxy_test

// Load that a healthy upstream can take is never shed by default, and a
// retry policy hides an upstream that dies and comes back.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// TestManyConcurrentH2StreamsAreNotShed drives 2,000 concurrent HTTP/2
// streams over four client connections through ferry's default limits to
// an HTTP/1.1 upstream that answers only once all 2,000 are in (so every
// one needs its own upstream connection at the same time): none may come
// back 503. Before the defaults changed, 1,024 connections per host and
// 1,024 waiters per loop shed most of such a burst.
func TestManyConcurrentH2StreamsAreNotShed(t *testing.T) {
	const conns, perConn = 4, 500
	const total = conns * perConn
	var arrived, peak atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := arrived.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == total {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(20 * time.Second): // never reached unless ferry held requests back
		case <-r.Context().Done():
		}
		arrived.Add(-1)
		_, _ = io.WriteString(w, "ok")
	}))
	h := startProxy(t, []string{up[len("http://"):]}, func(s *setup) { s.opts.HTTP2.MaxConcurrentStreams = perConn })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var statuses sync.Map // status -> *atomic.Int64
	var failed failures
	var wg sync.WaitGroup
	for range conns {
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", h.addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr}
		for range perConn {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://ferry.test/", nil)
				resp, err := c.Do(req)
				if err != nil {
					failed.add(err)
					return
				}
				discard(resp)
				v, _ := statuses.LoadOrStore(resp.StatusCode, &atomic.Int64{})
				v.(*atomic.Int64).Add(1)
			})
		}
	}
	wg.Wait()
	got := map[int]int64{}
	statuses.Range(func(k, v any) bool { got[k.(int)] = v.(*atomic.Int64).Load(); return true })
	if failed.n.Load() > 0 || got[200] != total {
		t.Fatalf("statuses %v, %d transport errors (first %v); want all %d 200 (peak %d at the upstream, %d upstream connections)", got, failed.n.Load(), failed.first.Load(), total, peak.Load(), h.stat("upstream_cx_total"))
	}
	if p := peak.Load(); p != total {
		t.Fatalf("at most %d requests at the upstream at once, want %d", p, total)
	}
	if n := h.stat("local_reply_overflow"); n != 0 {
		t.Fatalf("%d overflow replies", n)
	}
}

// killable is an HTTP/1.1 upstream that can be killed (its listener and
// every connection closed) and restarted on the same port.
type killable struct {
	addr string
	name string
	mu   sync.Mutex
	srv  *http.Server
}

func (k *killable) start(t *testing.T) {
	t.Helper()
	addr := k.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	testutil.WaitFor(t, 5*time.Second, "the port bound", func() bool { // it was ours a moment ago
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	k.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, k.name)
	}), ReadHeaderTimeout: 10 * time.Second}
	k.mu.Lock()
	k.srv = srv
	k.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	_ = k.srv.Close()
}

// TestRetryPolicyLosesNothingWhenAHostDies: under a steady load of four
// clients, one of three upstreams is killed (listener and connections
// closed) and later restarted on its port; with retry_on
// "connect-failure,reset" and num_retries 2 every request gets a 200.
func TestRetryPolicyLosesNothingWhenAHostDies(t *testing.T) {
	ups := make([]*killable, 3)
	addrs := make([]string, 3)
	for i := range ups {
		ups[i] = &killable{name: fmt.Sprint("up", i)}
		ups[i].start(t)
		addrs[i] = ups[i].addr
		t.Cleanup(ups[i].kill)
	}
	h := startProxy(t, addrs, func(s *setup) {
		s.clusters[0].LB = upstream.RoundRobin
		s.routes.VirtualHosts[0].Routes[0].Cluster.Retry = &router.RetryPolicy{
			On: router.RetryConnectFailure | router.RetryReset, NumRetries: 2}
	})
	stop := make(chan struct{})
	var ok atomic.Int64
	var bad failures
	var wg sync.WaitGroup
	for range 4 {
		c := h.client()
		wg.Go(func() {
			testutil.UntilClosed(stop, func() {
				resp, err := c.Get("http://ferry.test/")
				if err != nil {
					bad.add(err)
					return
				}
				discard(resp)
				if resp.StatusCode != 200 {
					bad.add(errors.New(resp.Status))
					return
				}
				ok.Add(1)
			})
		})
	}
	// A bounded load loop: about a second per stage, paced by the load
	// itself (the requests served), not by sleeping.
	stage := func(n int64) {
		target := ok.Load() + n
		testutil.WaitFor(t, 15*time.Second, "the next stage's responses", func() bool { return ok.Load() >= target || bad.n.Load() > 0 })
	}
	stage(300)
	ups[1].kill()
	stage(1000)
	ups[1].start(t)
	stage(1000)
	close(stop)
	wg.Wait()
	if bad.n.Load() != 0 {
		t.Fatalf("%d requests failed (first: %v) out of %d", bad.n.Load(), bad.first.Load(), ok.Load()+bad.n.Load())
	}
	if h.stat("upstream_rq_retry") == 0 {
		t.Fatal("no retry happened: the kill was not exercised")
	}
	t.Logf("%d requests, %d retries", ok.Load(), h.stat("upstream_rq_retry"))
}

// failures counts the failed requests of concurrent clients and keeps the
// first error, for the failure message.
type failures struct {
	n     atomic.Int64
	first atomic.Value // error
}

func (f *failures) add(err error) {
	f.n.Add(1)
	f.first.CompareAndSwap(nil, err)
}

// discard reads the rest of a response's body and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
