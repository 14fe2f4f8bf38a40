package reliability

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// drip writes s one byte every gap until it is written, the connection
// fails or stop closes. It simulates a slow client; the sleep is the
// client's pace, not a wait for state.
func drip(cl *client, s string, gap time.Duration, stop <-chan struct{}) {
	for i := range len(s) {
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		_ = cl.c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := cl.c.Write([]byte{s[i]}); err != nil {
			return
		}
	}
}

// TestSlowClientsTimeOut: a head or body that arrives too slowly, or never,
// is answered 408 and the connection closed, within the configured timeout
// (300 ms) plus a generous margin; an idle connection is closed without a
// response after the idle timeout.
func TestSlowClientsTimeOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	up := newUpstream(t)
	// request_body bounds each gap between body reads (nginx's
	// client_body_timeout); a body dripped faster than that is bounded by
	// the whole-request timeout, set here at three gaps.
	f := startFerry(t, knobs{upstream: up.addr(), headerTimeout: timeout, bodyTimeout: timeout,
		requestTimeout: 3 * timeout, idleTimeout: 2 * timeout, lingerTimeout: 200 * time.Millisecond})
	endless := strings.Repeat("a", 1000) // longer than any case lasts at 50 ms a byte
	tests := []struct {
		name    string
		prefix  string // written at once
		drip    string // then one byte every 50 ms
		counter string
		status  int // 0: closed without a response
	}{
		{name: "slowloris request line", drip: "GET /" + endless, counter: "local_reply_request_timeout", status: 408},
		{name: "slowloris header field", prefix: "GET / HTTP/1.1\r\nHost: rel.test\r\nX-Slow: ", drip: endless,
			counter: "local_reply_request_timeout", status: 408},
		{name: "slowloris many header lines", prefix: "GET / HTTP/1.1\r\nHost: rel.test\r\n",
			drip: strings.Repeat("X: y\r\n", 200), counter: "local_reply_request_timeout", status: 408},
		{name: "head stalls", prefix: "GET / HTTP/1.1\r\nHost: rel.test\r\n", counter: "local_reply_request_timeout", status: 408},
		{name: "body stalls", prefix: "POST /up HTTP/1.1\r\nHost: rel.test\r\nContent-Length: 1000\r\n\r\n0123456789",
			counter: "local_reply_request_timeout", status: 408},
		{name: "chunked body stalls", prefix: "POST /up HTTP/1.1\r\nHost: rel.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			counter: "local_reply_request_timeout", status: 408},
		// request_body "bounds receiving a request's body" (config/ferry.go):
		// a body dripped one byte every 50 ms, which would take 50 s
		// whole, must not hold the connection past a few timeouts (the
		// R-U-Dead-Yet attack).
		{name: "body drips", prefix: "POST /up HTTP/1.1\r\nHost: rel.test\r\nContent-Length: 1000\r\n\r\n", drip: endless,
			counter: "local_reply_request_timeout", status: 408},
		{name: "idle connection", counter: "downstream_cx_idle_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.stat(tc.counter)
			cl := f.dial(t)
			start := time.Now()
			if tc.prefix != "" {
				cl.write(t, tc.prefix)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { drip(cl, tc.drip, 50*time.Millisecond, stop) })
			defer wg.Wait()
			defer close(stop)
			limit := 3*timeout + time.Second
			if tc.status != 0 {
				r := cl.mustRead(t, "GET")
				took := time.Since(start)
				if r.status != tc.status || !r.close {
					t.Fatalf("got %d (close %v) %q, want %d with Connection: close", r.status, r.close, r.body, tc.status)
				}
				if took < timeout/2 || took > limit {
					t.Fatalf("answered after %v; want about the %v timeout (at most %v)", took, timeout, limit)
				}
			}
			if err := cl.closed(limit + time.Second); err != nil {
				t.Fatalf("after %v: %v", time.Since(start), err)
			}
			if took := time.Since(start); took > 2*limit {
				t.Fatalf("closed after %v, want within %v", took, 2*limit)
			}
			f.waitStat(t, tc.counter, before+1)
			f.quiesce(t)
		})
	}
}

// TestSlowlorisCrowdDoesNotStarveOthers: 40 slowloris connections at once
// do not stop a well-behaved client from being served, and each of them is
// answered 408.
func TestSlowlorisCrowdDoesNotStarveOthers(t *testing.T) {
	const n, timeout = 40, 400 * time.Millisecond
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), headerTimeout: timeout, lingerTimeout: 200 * time.Millisecond})
	before := f.stat("local_reply_request_timeout")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	slow := make([]*client, n)
	for i := range slow {
		slow[i] = f.dial(t)
		slow[i].write(t, "GET /loris HTTP/1.1\r\nHost: rel.test\r\n")
		wg.Go(func() { drip(slow[i], strings.Repeat("X: y\r\n", 100), 20*time.Millisecond, stop) })
	}
	defer wg.Wait()
	defer close(stop)
	good := f.dial(t)
	for i := range 50 {
		good.write(t, get("/good"))
		if r := good.mustRead(t, "GET"); r.status != 200 || r.body != "GET /good" {
			t.Fatalf("request %d of the good client: %d %q", i, r.status, r.body)
		}
	}
	for i, cl := range slow {
		r := cl.mustRead(t, "GET")
		if r.status != 408 {
			t.Fatalf("slow client %d: got %d %q, want 408", i, r.status, r.body)
		}
		if err := cl.closed(3 * time.Second); err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
	}
	f.waitStat(t, "local_reply_request_timeout", before+n)
	f.quiesce(t)
}

// TestMaxRequestsPerConnection: the last allowed request is answered with
// Connection: close and the connection ends; pipelined requests past the
// limit never reach the upstream.
func TestMaxRequestsPerConnection(t *testing.T) {
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), maxReqPerConn: 3})
	t.Run("sequential", func(t *testing.T) {
		cl := f.dial(t)
		for i := range 3 {
			cl.write(t, get("/seq"))
			r := cl.mustRead(t, "GET")
			if r.status != 200 || r.close != (i == 2) {
				t.Fatalf("request %d: %d close=%v, want 200 close=%v", i+1, r.status, r.close, i == 2)
			}
		}
		if err := cl.closed(ioTimeout); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		n0 := up.requests.Load()
		cl := f.dial(t)
		cl.write(t, strings.Repeat(get("/pipe"), 5))
		for i := range 3 {
			if r := cl.mustRead(t, "GET"); r.status != 200 {
				t.Fatalf("request %d: %d", i+1, r.status)
			}
		}
		if err := cl.closed(ioTimeout); err != nil {
			t.Fatal(err)
		}
		f.quiesce(t)
		if got := up.requests.Load() - n0; got != 3 {
			t.Fatalf("the upstream saw %d requests, want 3", got)
		}
	})
}

// TestPipelining: 1,000 small requests in one write are all answered in
// order; a pipelined flood past max_pipelined_bytes closes the connection
// after the response in progress, with memory bounded.
func TestPipelining(t *testing.T) {
	up := newUpstream(t)
	t.Run("1000 in one write", func(t *testing.T) {
		f := startFerry(t, knobs{upstream: up.addr()})
		var b strings.Builder
		for i := range 1000 {
			b.WriteString(get("/p/" + strconv.Itoa(i)))
		}
		cl := f.dial(t)
		cl.write(t, b.String())
		for i := range 1000 {
			r, err := cl.read("GET")
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			if want := "GET /p/" + strconv.Itoa(i); r.status != 200 || r.body != want {
				t.Fatalf("response %d: %d %q, want 200 %q", i, r.status, r.body, want)
			}
		}
		f.quiesce(t)
		if got := f.stat("downstream_rq_pipeline_overflow"); got != 0 {
			t.Fatalf("downstream_rq_pipeline_overflow = %d, want 0", got)
		}
	})
	t.Run("flood past max_pipelined_bytes", func(t *testing.T) {
		const limit, flood = 64 << 10, 32 << 20
		f := startFerry(t, knobs{upstream: up.addr(), maxPipelined: limit, lingerTimeout: 500 * time.Millisecond})
		base := heapInuse()
		peak := watchPeak()
		cl := f.dial(t)
		cl.write(t, get("/slow/300"))
		var wg sync.WaitGroup
		wg.Go(func() {
			chunk := []byte(strings.Repeat(get("/x"), (64<<10)/len(get("/x"))))
			for sent := 0; sent < flood; sent += len(chunk) {
				_ = cl.c.SetWriteDeadline(time.Now().Add(ioTimeout))
				if _, err := cl.c.Write(chunk); err != nil {
					return // ferry closed the connection: expected
				}
			}
		})
		r, err := cl.read("GET")
		if err != nil {
			wg.Wait()
			t.Fatalf("the request in progress lost its response: %v", err)
		}
		if r.status != 200 || r.body != "GET /slow/300" {
			t.Fatalf("got %d %q, want 200 \"GET /slow/300\"", r.status, r.body)
		}
		err = cl.closed(ioTimeout)
		wg.Wait()
		if err != nil {
			t.Fatalf("after a %d MiB pipelined flood: %v", flood>>20, err)
		}
		if g := int64(peak.end()) - int64(base); g > 16<<20 {
			t.Fatalf("heap grew by %d MiB during a %d MiB pipelined flood: not bounded", g>>20, flood>>20)
		}
		f.waitStat(t, "downstream_rq_pipeline_overflow", 1)
		f.quiesce(t)
	})
}

// TestTimeoutsFireOnTime: 60 idle keep-alive connections, opened 3 ms
// apart so that their deadlines spread over many timer ticks, with a 200 ms
// idle timeout, are all closed within a second; a timeout that fires a
// timing wheel revolution (10 s) late is no timeout against a flood.
func TestTimeoutsFireOnTime(t *testing.T) {
	const n, idle = 60, 200 * time.Millisecond
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), idleTimeout: idle})
	before := f.stat("downstream_cx_idle_timeout")
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(3 * time.Millisecond) // clients arrive over time; not a wait for state
		cl := f.dial(t)
		start := time.Now()
		wg.Go(func() {
			if err := cl.closed(12 * time.Second); err != nil {
				took[i] = -1
				return
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	late := 0
	for _, d := range took {
		if d < 0 || d > time.Second {
			late++
		}
	}
	if late > 0 {
		t.Fatalf("%d of %d idle connections (idle timeout %v) were not closed within 1s: %v", late, n, idle, took)
	}
	f.waitStat(t, "downstream_cx_idle_timeout", before+n)
}
