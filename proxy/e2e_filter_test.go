package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/proxy"
)

// testFilter is a stream filter driven by request headers:
//
//	x-filter: add      adds x-added: 1 to the request, x-resp: 1 to the response
//	x-filter: reply    answers 403 locally
//	x-filter: park     stops, then resumes from another goroutine
//	x-filter: panic    panics (recovered on the loop and on a worker: 500)
type testFilter struct {
	blocking bool
	created  *atomic.Int64
}

func (f *testFilter) Blocking() bool { return f.blocking }

func (f *testFilter) CreateFilters(b filterchain.ChainBuilder) {
	f.created.Add(1)
	tf := &testStreamFilter{}
	b.AddReceiver(tf, filterchain.BeforeRoute)
	b.AddSender(tf)
}

type testStreamFilter struct{ mode string }

func (f *testStreamFilter) OnReceive(h filterchain.StreamHandle, hdr filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	v, _ := hdr.Get("x-filter")
	f.mode = string(v)
	switch f.mode {
	case "add":
		hdr.Set("x-added", "1")
	case "reply":
		h.SendLocalReply(403, "denied by filter\n")
		return filterchain.StreamStop
	case "park":
		go h.Resume()
		return filterchain.StreamStop
	case "panic":
		panic("filter bug")
	}
	return filterchain.StreamContinue
}

func (f *testStreamFilter) Append(_ filterchain.StreamHandle, hdr filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	if f.mode == "add" {
		hdr.Set("x-resp", "1")
		hdr.Del("x-upstream-secret")
	}
	return filterchain.StreamContinue
}

func (f *testStreamFilter) OnDestroy() {}

func TestStreamFiltersUnderEachPolicy(t *testing.T) {
	up := newFilterUpstream(t)
	tests := []struct {
		name     string
		policy   proxy.Policy
		blocking bool
		hops     bool
	}{
		{name: "inline", policy: proxy.PolicyInline},
		{name: "auto, non-blocking chain stays on the loop", policy: proxy.PolicyAuto},
		{name: "auto, blocking chain hops to the pool", policy: proxy.PolicyAuto, blocking: true, hops: true},
		{name: "pool", policy: proxy.PolicyPool, hops: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var created atomic.Int64
			h := startProxy(t, []string{up}, func(s *setup) {
				s.factory.Policy = tc.policy
				s.factory.StreamFilters = []filterchain.StreamFilterFactory{&testFilter{blocking: tc.blocking, created: &created}}
			})
			c := h.client()
			cases := []struct {
				mode   string
				status int
				check  func(*http.Response, string) error
			}{
				{mode: "add", status: 200, check: func(r *http.Response, body string) error {
					if body != "added=1" || r.Header.Get("X-Resp") != "1" || r.Header.Get("X-Upstream-Secret") != "" {
						return fmt.Errorf("body %q x-resp %q secret %q", body, r.Header.Get("X-Resp"), r.Header.Get("X-Upstream-Secret"))
					}
					return nil
				}},
				{mode: "reply", status: 403, check: func(_ *http.Response, body string) error {
					if body != "denied by filter\n" {
						return fmt.Errorf("body %q", body)
					}
					return nil
				}},
				{mode: "park", status: 200},
				{mode: "", status: 200},
				{mode: "panic", status: 500, check: func(r *http.Response, body string) error {
					if body != "internal error: filter panic\n" || !r.Close {
						return fmt.Errorf("body %q close %v: want the panic's 500 and a close", body, r.Close)
					}
					return nil
				}},
				{mode: "", status: 200}, // the proxy is still serving
			}
			for _, cc := range cases {
				req, _ := http.NewRequest("GET", "http://ferry.test/f", nil)
				req.Header.Set("X-Filter", cc.mode)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("mode %q: %v", cc.mode, err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != cc.status {
					t.Fatalf("mode %q: status %d (%q), want %d", cc.mode, resp.StatusCode, body, cc.status)
				}
				if cc.check != nil {
					if err := cc.check(resp, body); err != nil {
						t.Fatalf("mode %q: %v", cc.mode, err)
					}
				}
			}
			if hops := h.stat("scheduler_worker_hops"); (hops > 0) != tc.hops {
				t.Fatalf("worker hops = %d, want hops: %v", hops, tc.hops)
			}
			if created.Load() == 0 {
				t.Fatal("filters were never created")
			}
			if n := h.stat("scheduler_filter_panics"); n != 1 {
				t.Fatalf("scheduler_filter_panics = %d, want 1", n)
			}
		})
	}
}

func newFilterUpstream(t *testing.T) string {
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Secret", "s")
		fmt.Fprintf(w, "added=%s", r.Header.Get("X-Added"))
	}))
	return strings.TrimPrefix(up, "http://")
}
