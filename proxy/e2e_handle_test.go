package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// handleFilters is a stream filter factory whose filters do what the
// request's x-mode header says:
//
//	handoff       stop, and hand the StreamHandle to the test (handles)
//	panic         panic in the BeforeRoute receiver
//	panic-host    panic in the AfterChooseHost receiver
//	panic-send    panic in the sender, on the response head
//	bad-status    SendLocalReply(99, ...) and stop
//	destroy-panic panic in OnDestroy, once the stream ended
type handleFilters struct {
	blocking bool
	handles  chan filterchain.StreamHandle
	ctxs     chan context.Context // handoff also hands over the stream's context, taken in the callback
}

func (f *handleFilters) Blocking() bool { return f.blocking }

func (f *handleFilters) CreateFilters(b filterchain.ChainBuilder) {
	hf := &handleFilter{handles: f.handles, ctxs: f.ctxs}
	b.AddReceiver(hf, filterchain.BeforeRoute)
	b.AddReceiver(&hostFilter{hf}, filterchain.AfterChooseHost)
	b.AddSender(hf)
}

type handleFilter struct {
	handles chan filterchain.StreamHandle
	ctxs    chan context.Context
	mode    string
}

func (f *handleFilter) OnReceive(h filterchain.StreamHandle, hdr filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	v, _ := hdr.Get("x-mode")
	f.mode = string(v)
	switch f.mode {
	case "handoff":
		if f.ctxs != nil {
			f.ctxs <- h.Context()
		}
		f.handles <- h
		return filterchain.StreamStop
	case "panic":
		panic("filter bug in OnReceive")
	case "bad-status":
		h.SendLocalReply(99, "not a final status\n")
		return filterchain.StreamStop
	}
	return filterchain.StreamContinue
}

func (f *handleFilter) Append(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	if f.mode == "panic-send" {
		panic("filter bug in Append")
	}
	return filterchain.StreamContinue
}

func (f *handleFilter) OnDestroy() {
	if f.mode == "destroy-panic" {
		panic("filter bug in OnDestroy")
	}
}

type hostFilter struct{ f *handleFilter }

func (h *hostFilter) OnReceive(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	if h.f.mode == "panic-host" {
		panic("filter bug in AfterChooseHost")
	}
	return filterchain.StreamContinue
}

func (h *hostFilter) OnDestroy() {}

// rawGet sends a GET with an x-mode header on a new connection and
// returns the response with its body read.
func rawGet(t *testing.T, h *harness, path, mode string) (*http.Response, string, *bufio.Reader) {
	t.Helper()
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "GET "+path+" HTTP/1.1\r\nHost: ferry.test\r\nX-Mode: "+mode+"\r\n\r\n", "GET")
	return resp, readAll(t, resp), r
}

// A stream filter that panics while running inline on its loop (policy
// auto, non-blocking chain) is recovered in each filter phase: the client
// gets a 500 and the connection closes, the panic is counted, and the
// process and the other connections keep working.
func TestInlineFilterPanicIsRecovered(t *testing.T) {
	up := newFilterUpstream(t)
	h := startProxy(t, []string{up}, func(s *setup) {
		s.factory.Policy = proxy.PolicyAuto
		s.factory.StreamFilters = []filterchain.StreamFilterFactory{&handleFilters{}}
	})
	other := h.dial()
	otherR := bufio.NewReader(other)
	get := "GET /ok HTTP/1.1\r\nHost: ferry.test\r\n\r\n"
	if resp := rawExchange(t, other, otherR, get, "GET"); resp.StatusCode != 200 {
		t.Fatalf("before: status %d", resp.StatusCode)
	} else {
		readAll(t, resp)
	}
	for i, mode := range []string{"panic", "panic-host", "panic-send"} {
		resp, body, r := rawGet(t, h, "/p", mode)
		if resp.StatusCode != 500 || body != "internal error: filter panic\n" || !resp.Close {
			t.Fatalf("%s: status %d body %q close %v: want 500, the panic body and a close", mode, resp.StatusCode, body, resp.Close)
		}
		if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: after the 500 the connection was not closed: %v", mode, err)
		}
		if n := h.stat("scheduler_filter_panics"); n != int64(i+1) {
			t.Fatalf("%s: scheduler_filter_panics = %d, want %d", mode, n, i+1)
		}
		if resp := rawExchange(t, other, otherR, get, "GET"); resp.StatusCode != 200 {
			t.Fatalf("%s: another connection got status %d after the panic", mode, resp.StatusCode)
		} else if b := readAll(t, resp); b != "added=" {
			t.Fatalf("%s: another connection got body %q", mode, b)
		}
	}
	// OnDestroy runs on the loop when the stream is recycled: its panic is
	// recovered and counted too, and the connection serves the next request.
	req := "GET /d HTTP/1.1\r\nHost: ferry.test\r\nX-Mode: destroy-panic\r\n\r\n"
	if resp := rawExchange(t, other, otherR, req, "GET"); resp.StatusCode != 200 {
		t.Fatalf("destroy-panic: status %d", resp.StatusCode)
	} else {
		readAll(t, resp)
	}
	// The filter is both a receiver and a sender: OnDestroy runs, and
	// panics, twice.
	testutil.WaitFor(t, 10*time.Second, "the OnDestroy panics counted", func() bool {
		return h.stat("scheduler_filter_panics") == 5
	})
	if resp := rawExchange(t, other, otherR, get, "GET"); resp.StatusCode != 200 {
		t.Fatalf("after the OnDestroy panic: status %d", resp.StatusCode)
	} else {
		readAll(t, resp)
	}
	if hops := h.stat("scheduler_worker_hops"); hops != 0 {
		t.Fatalf("scheduler_worker_hops = %d: the chain was meant to run inline", hops)
	}
}

// A filter that stops and then calls SendLocalReply from its own goroutine
// gets its reply written on the stream's loop; a reply for a stream that
// went on is dropped and counted; a status that cannot end a request is
// refused with a 500.
func TestFilterLocalReplyFromItsOwnGoroutine(t *testing.T) {
	release := make(chan struct{})
	releaseStarted := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			arrived <- struct{}{}
			<-release
		case "/started": // the head and part of the body, then the rest later
			w.Header().Set("Content-Length", "10")
			fmt.Fprint(w, "part1")
			w.(http.Flusher).Flush()
			<-releaseStarted
			fmt.Fprint(w, "part2")
			return
		}
		fmt.Fprint(w, "from upstream")
	}))
	t.Cleanup(func() {
		for _, c := range []chan struct{}{release, releaseStarted} {
			select {
			case <-c:
			default:
				close(c)
			}
		}
	})
	upAddr := strings.TrimPrefix(up, "http://")

	start := func(t *testing.T, policy proxy.Policy, blocking bool) (*harness, chan filterchain.StreamHandle) {
		handles := make(chan filterchain.StreamHandle, 1)
		ctxs := make(chan context.Context, 1)
		t.Cleanup(func() {
			select {
			case ctx := <-ctxs:
				// Taken during the callback: live while the stream is,
				// cancelled once it ended (the harness stopped by now).
				if ctx.Err() == nil {
					t.Error("the stream's context was not cancelled when the stream ended")
				}
			default:
			}
		})
		h := startProxy(t, []string{upAddr}, func(s *setup) {
			s.loops = 1 // one loop: a second request's answer means the first callback returned
			s.factory.Policy = policy
			s.factory.StreamFilters = []filterchain.StreamFilterFactory{&handleFilters{blocking: blocking, handles: handles, ctxs: ctxs}}
		})
		return h, handles
	}
	type result struct {
		resp *http.Response
		body string
		err  error
	}
	send := func(h *harness, path string) chan result {
		c := h.dial()
		done := make(chan result, 1)
		go func() {
			r := bufio.NewReader(c)
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: ferry.test\r\nX-Mode: handoff\r\n\r\n"); err != nil {
				done <- result{err: err}
				return
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				done <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			done <- result{resp: resp, body: string(b), err: err}
		}()
		return done
	}
	// expect waits for the response on done and checks it is the
	// filter's reply.
	expect := func(t *testing.T, done chan result, status int, body string) {
		t.Helper()
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.resp.StatusCode != status || r.body != body {
				t.Fatalf("status %d body %q, want the filter's %d %q", r.resp.StatusCode, r.body, status, body)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no response")
		}
	}

	t.Run("inline, after the filter returned StreamStop", func(t *testing.T) {
		h, handles := start(t, proxy.PolicyAuto, false)
		done := send(h, "/a")
		sh := <-handles
		// The loop answers another connection only once the callback that
		// handed sh over has returned StreamStop.
		if code, _ := h.get(h.client(), "/b"); code != 200 {
			t.Fatalf("second connection: status %d", code)
		}
		// Outside a callback, Context is refused: an already cancelled
		// context whose cause says why (it would race with the loop).
		if ctx := sh.Context(); ctx.Err() == nil || !strings.Contains(context.Cause(ctx).Error(), "outside a filter callback") {
			t.Fatalf("Context outside a callback: err %v cause %v, want cancelled, naming the misuse", ctx.Err(), context.Cause(ctx))
		}
		sh.SendLocalReply(403, "denied later\n")
		expect(t, done, 403, "denied later\n")
		if n := h.stat("downstream_rq_direct_response"); n != 1 {
			t.Fatalf("downstream_rq_direct_response = %d, want 1", n)
		}
	})

	t.Run("on a worker, racing the filter's return", func(t *testing.T) {
		h, handles := start(t, proxy.PolicyPool, false)
		done := send(h, "/a")
		sh := <-handles
		sh.SendLocalReply(403, "denied from a goroutine\n")
		expect(t, done, 403, "denied from a goroutine\n")
	})

	t.Run("after Resume, the reply is written at the next filter phase", func(t *testing.T) {
		h, handles := start(t, proxy.PolicyAuto, false)
		done := send(h, "/slow")
		sh := <-handles
		sh.Resume()
		<-arrived // the stream went on: the upstream has the request
		sh.SendLocalReply(403, "after resume\n")
		close(release) // the response head comes back: the sender phase takes the reply
		expect(t, done, 403, "after resume\n")
		if n := h.stat("filter_reply_dropped"); n != 0 {
			t.Fatalf("filter_reply_dropped = %d, want 0", n)
		}
	})

	t.Run("once the response started, the reply is dropped and counted", func(t *testing.T) {
		h, handles := start(t, proxy.PolicyAuto, false)
		c := h.dial()
		if _, err := io.WriteString(c, "GET /started HTTP/1.1\r\nHost: ferry.test\r\nX-Mode: handoff\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		sh := <-handles
		sh.Resume()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil) // the head is out: no filter phase is left
		if err != nil {
			t.Fatal(err)
		}
		sh.SendLocalReply(403, "too late\n")
		close(releaseStarted)
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(b) != "part1part2" {
			t.Fatalf("status %d body %q err %v, want the upstream's whole answer", resp.StatusCode, b, err)
		}
		testutil.WaitFor(t, 10*time.Second, "filter_reply_dropped", func() bool {
			return h.stat("filter_reply_dropped") == 1
		})
	})

	t.Run("a status outside 200-599 is refused with a 500", func(t *testing.T) {
		h, _ := start(t, proxy.PolicyAuto, false)
		resp, body, _ := rawGet(t, h, "/x", "bad-status")
		if resp.StatusCode != 500 || !strings.Contains(body, "status 99") {
			t.Fatalf("status %d body %q, want a 500 naming status 99", resp.StatusCode, body)
		}
	})
}

// Over HTTP/2 a stream filter's panic ends its own stream with the 500;
// the connection and its other streams go on.
func TestH2InlineFilterPanicStaysOnItsStream(t *testing.T) {
	up := newFilterUpstream(t)
	h := startProxy(t, []string{up}, func(s *setup) {
		s.factory.Protocol = proxy.ProtoHTTP2
		s.factory.Policy = proxy.PolicyAuto
		s.factory.StreamFilters = []filterchain.StreamFilterFactory{&handleFilters{}}
	})
	c := h.h2Client()
	do := func(mode string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "http://ferry.test/h2", nil)
		req.Header.Set("X-Mode", mode)
		return h2Do(t, c, req)
	}
	if resp, body := do(""); resp.StatusCode != 200 || body != "added=" {
		t.Fatalf("before: status %d body %q", resp.StatusCode, body)
	}
	for i, mode := range []string{"panic", "panic-send"} {
		if resp, body := do(mode); resp.StatusCode != 500 || body != "internal error: filter panic\n" {
			t.Fatalf("%s: status %d body %q, want the panic's 500", mode, resp.StatusCode, body)
		}
		if n := h.stat("scheduler_filter_panics"); n != int64(i+1) {
			t.Fatalf("%s: scheduler_filter_panics = %d, want %d", mode, n, i+1)
		}
		if resp, body := do(""); resp.StatusCode != 200 || body != "added=" {
			t.Fatalf("after %s: status %d body %q", mode, resp.StatusCode, body)
		}
	}
	if n := h.stat("downstream_cx_http2_total"); n != 1 {
		t.Fatalf("downstream_cx_http2_total = %d: the panics cost the client its connection", n)
	}
}
