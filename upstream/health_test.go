package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/internal/worker"
)

// The health checker's tests run real probes: an eventloop engine whose
// loops run the probe timers, a TCPDialer on a worker pool, and upstreams
// on 127.0.0.1:0.

// checkEnv is an engine with its loops met, a dialer and a Manager.
type checkEnv struct {
	t       *testing.T
	eng     *eventloop.Engine
	workers *worker.Pool
	dialer  *conn.TCPDialer
	m       *Manager
	hc      *HealthChecker
}

func newCheckEnv(t *testing.T, loops, workers int, specs []ClusterSpec) *checkEnv {
	t.Helper()
	ign := []goleak.Option{goleak.IgnoreCurrent(),
		// gnet's process-wide ants pool (used by Enroll) keeps its idle
		// workers and housekeeping for the life of the process.
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1")}
	t.Cleanup(func() { goleak.VerifyNone(t, ign...) })
	wp, err := worker.New(worker.Options{Size: workers})
	if err != nil {
		t.Fatal(err)
	}
	d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: wp.Submit})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := eventloop.New([]*eventloop.Listener{{Name: "l", Address: "127.0.0.1:0"}}, eventloop.Options{Loops: loops})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	e := &checkEnv{t: t, eng: eng, workers: wp, dialer: d, m: NewManager()}
	t.Cleanup(e.stop)
	if err := e.m.Update(specs); err != nil {
		t.Fatal(err)
	}
	// A loop exists once it has had a connection (eventloop's Loops):
	// connect until every loop has one.
	testutil.WaitFor(t, 5*time.Second, "every loop to come up", func() bool {
		c, err := net.Dial("tcp", eng.Addrs()[0].String())
		if err == nil {
			_ = c.Close()
		}
		return len(eng.Loops()) == loops
	})
	return e
}

// start creates the checker and meets the loops.
func (e *checkEnv) start() {
	hc, err := NewHealthChecker(HealthCheckerOptions{Clusters: e.m, Dialer: e.dialer, Loops: e.eng.NumLoops(), KnownLoops: e.eng.Loops})
	if err != nil {
		e.t.Fatal(err)
	}
	e.hc = hc
	for _, l := range e.eng.Loops() {
		hc.AddLoop(l)
	}
}

func (e *checkEnv) stop() {
	if e.hc != nil {
		e.hc.Stop()
	}
	testutil.Shutdown(e.t, 10*time.Second, testutil.Step{Name: "quiesce", Do: e.dialer.Quiesce},
		testutil.Step{Name: "engine stop", Do: e.eng.Stop}, testutil.Step{Name: "workers close", Do: e.workers.Close})
}

// statusServer answers every request with the status it holds, and
// records the last request head.
type statusServer struct {
	*testutil.RawServer
	status atomic.Int64
	head   atomic.Pointer[string]
}

func newStatusServer(t *testing.T, status int) *statusServer {
	s := &statusServer{}
	s.status.Store(int64(status))
	s.RawServer = testutil.NewHeadServer(t, func(c net.Conn, _ *bufio.Reader, head string) bool {
		s.head.Store(&head)
		st := s.status.Load()
		_, _ = io.WriteString(c, fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", st))
		return false
	})
	return s
}

func httpCheck() *HealthCheckSpec {
	return &HealthCheckSpec{Protocol: HealthHTTP, Interval: 150 * time.Millisecond, Timeout: 120 * time.Millisecond,
		HealthyThreshold: 2, UnhealthyThreshold: 2, Path: "/healthz", Method: "GET", Host: "probe.example",
		ExpectedStatuses: []StatusRange{{Start: 200, End: 300}}}
}

func TestHealthCheckHTTPTakesHostOutAndBack(t *testing.T) {
	sick, fine := newStatusServer(t, 200), newStatusServer(t, 204)
	e := newCheckEnv(t, 2, 4, []ClusterSpec{{Name: "c", HealthCheck: httpCheck(),
		Hosts: []HostSpec{{Address: sick.Addr()}, {Address: fine.Addr()}}}})
	e.start()
	c := e.m.Get("c")
	hs, hf := c.Hosts()[0], c.Hosts()[1]
	testutil.WaitFor(t, 10*time.Second, "both hosts to pass a check", func() bool {
		a, _ := hs.HealthChecks()
		b, _ := hf.HealthChecks()
		return a > 0 && b > 0
	})
	if h := sick.head.Load(); h == nil || !strings.HasPrefix(*h, "GET /healthz HTTP/1.1\r\n") ||
		!strings.Contains(*h, "Host: probe.example\r\n") || !strings.Contains(*h, "Connection: close\r\n") {
		t.Fatalf("probe request %q", *h)
	}
	sick.status.Store(503)
	testutil.WaitFor(t, 10*time.Second, "the failing host to leave rotation", func() bool { return !hs.Healthy() })
	if !hs.CheckFailedNow() || hs.HealthCheckResult() != CheckFailed {
		t.Fatalf("out of rotation but check failed %v, result %q", hs.CheckFailedNow(), hs.HealthCheckResult())
	}
	for range 20 {
		if h := c.Pick(); h != hf {
			t.Fatalf("picked %v, want only the healthy host", h)
		}
	}
	sick.status.Store(200)
	testutil.WaitFor(t, 10*time.Second, "the host to return", hs.Healthy)
	if s := c.Stats(); s.Healthy != 2 || s.ChecksFailed < 2 || s.LBPanics != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHealthCheckTCPClosedPortAndPanic(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	e := newCheckEnv(t, 1, 2, []ClusterSpec{{Name: "c", HealthCheck: &HealthCheckSpec{Protocol: HealthTCP,
		Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1},
		Hosts: []HostSpec{{Address: addr}}}})
	e.start()
	h := e.m.Get("c").Hosts()[0]
	testutil.WaitFor(t, 10*time.Second, "the closed port to fail its check", func() bool { return !h.Healthy() })
	// The one host is unhealthy: panic mode still routes to it.
	if got := e.m.Get("c").Pick(); got != h || e.m.Get("c").Stats().LBPanics != 1 {
		t.Fatalf("panic pick %v, stats %+v", got, e.m.Get("c").Stats())
	}
	// Something listens there now: the TCP check passes.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "the port to pass its check", h.Healthy)
}

func TestHealthCheckReloadKeepsStateAndStops(t *testing.T) {
	sick := newStatusServer(t, 500)
	fine := newStatusServer(t, 200)
	spec := ClusterSpec{Name: "c", HealthCheck: httpCheck(), Hosts: []HostSpec{{Address: sick.Addr()}, {Address: fine.Addr()}}}
	e := newCheckEnv(t, 2, 4, []ClusterSpec{spec})
	e.start()
	hs := e.m.Get("c").Hosts()[0]
	testutil.WaitFor(t, 10*time.Second, "the failing host to leave rotation", func() bool { return !hs.Healthy() })
	// A reload that keeps the host keeps its state.
	spec.Hosts = append(spec.Hosts, HostSpec{Address: testutil.ClosedAddr(t)})
	if err := e.m.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	if e.m.Get("c").Hosts()[0] != hs || hs.Healthy() {
		t.Fatal("the reload lost the host's health")
	}
	// A reload that drops health_check stops the probes and puts the host
	// back.
	spec.HealthCheck = nil
	if err := e.m.Update([]ClusterSpec{spec}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the unchecked host to return", hs.Healthy)
	_, failed := hs.HealthChecks()
	before := sick.Accepted.Load()
	// Its probes stopped: no new connection comes within a few intervals
	// (counted, not slept: a marker probe of another cluster runs meanwhile).
	marker := newStatusServer(t, 200)
	if err := e.m.Update([]ClusterSpec{spec, {Name: "m", HealthCheck: httpCheck(), Hosts: []HostSpec{{Address: marker.Addr()}}}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the marker's probes", func() bool { return marker.Accepted.Load() >= 3 })
	if _, f := hs.HealthChecks(); f != failed || sick.Accepted.Load() > before+1 {
		t.Fatalf("probes went on after health_check was dropped: %d failures (was %d), %d connections (was %d)",
			f, failed, sick.Accepted.Load(), before)
	}
}

// TestHealthCheckManyHostsNoGoroutines: 10,000 checked hosts add no
// goroutine: probes are loop timers and the dials share the worker pool.
func TestHealthCheckManyHostsNoGoroutines(t *testing.T) {
	_, port, _ := net.SplitHostPort(testutil.ClosedAddr(t))
	const n = 10_000
	s := ClusterSpec{Name: "many", HealthCheck: &HealthCheckSpec{Protocol: HealthTCP, Interval: 2 * time.Second,
		Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}}
	for i := range n {
		s.Hosts = append(s.Hosts, HostSpec{Address: fmt.Sprintf("127.1.%d.%d:%s", i/250, i%250+1, port)})
	}
	const workers = 8
	e := newCheckEnv(t, 2, workers, []ClusterSpec{s})
	// The pool's workers start on demand: count them in the baseline.
	before := runtime.NumGoroutine() + workers
	e.start()
	if got := e.hc.Probes(); got != n {
		t.Fatalf("%d probes, want %d", got, n)
	}
	c := e.m.Get("many")
	peak := 0
	testutil.WaitFor(t, 30*time.Second, "a thousand probes to fail", func() bool {
		peak = max(peak, runtime.NumGoroutine())
		return c.Stats().ChecksFailed >= 1000
	})
	t.Logf("goroutines: %d before (workers included), %d at most with %d hosts checked; %d probes failed",
		before, peak, n, c.Stats().ChecksFailed)
	if peak > before+2 {
		t.Fatalf("goroutines went from %d (workers included) to %d with %d hosts checked", before, peak, n)
	}
}

func TestHealthCheckSpecValidation(t *testing.T) {
	ok := HealthCheckSpec{Protocol: HealthHTTP, Interval: 2 * time.Second, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}
	for _, tc := range []struct {
		name string
		mod  func(*HealthCheckSpec)
		want string
	}{
		{"protocol", func(s *HealthCheckSpec) { s.Protocol = 0 }, "health_check.protocol"},
		{"zero interval", func(s *HealthCheckSpec) { s.Interval = 0 }, "health_check.interval"},
		{"timeout", func(s *HealthCheckSpec) { s.Timeout = 2 * time.Second }, "health_check.timeout: 2s is not below interval 2s"},
		{"thresholds", func(s *HealthCheckSpec) { s.UnhealthyThreshold = 0 }, "health_check.unhealthy_threshold"},
		{"path", func(s *HealthCheckSpec) { s.Path = "x y" }, "http_check_config.path"},
		{"statuses", func(s *HealthCheckSpec) { s.ExpectedStatuses = []StatusRange{{Start: 200, End: 601}} }, "expected_statuses[0]"},
		{"method", func(s *HealthCheckSpec) { s.Method = "G T" }, "health_check.method"},
	} {
		s := ok
		tc.mod(&s)
		err := NewManager().Update([]ClusterSpec{{Name: "c", Hosts: []HostSpec{{Address: "a:1"}}, HealthCheck: &s}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestHealthCheckPanicThreshold: four real hosts under HTTP checks with
// Envoy's threshold of 50 %. Two failing (50 % healthy) leave the picks on
// the other two; a third failing (25 %) puts the cluster in panic mode,
// across all four; one passing again ends it.
func TestHealthCheckPanicThreshold(t *testing.T) {
	srv := make([]*statusServer, 4)
	hc := httpCheck()
	hc.Interval, hc.Timeout = 400*time.Millisecond, 350*time.Millisecond // a healthy host must not flap on a loaded machine
	spec := ClusterSpec{Name: "c", LB: Random, HealthCheck: hc, PanicThreshold: pct(50)}
	for i := range srv {
		srv[i] = newStatusServer(t, 200)
		spec.Hosts = append(spec.Hosts, HostSpec{Address: srv[i].Addr()})
	}
	e := newCheckEnv(t, 2, 4, []ClusterSpec{spec})
	e.start()
	c := e.m.Get("c")
	hs := c.Hosts()
	fail := func(i int) {
		srv[i].status.Store(503)
		testutil.WaitFor(t, 10*time.Second, "host "+hs[i].Address()+" to fail its checks", func() bool { return !hs[i].Healthy() })
	}
	fail(0)
	fail(1)
	for h := range pickSet(t, c, 1000, false) {
		if h == hs[0] || h == hs[1] {
			t.Fatalf("2 of 4 healthy, threshold 50: picked failed host %v", h)
		}
	}
	if s := c.Stats(); s.LBPanics != 0 || s.Healthy != 2 {
		t.Fatalf("stats %+v", s)
	}
	fail(2)
	if seen := pickSet(t, c, 1000, false); len(seen) != 4 || c.Stats().LBPanics != 1000 {
		t.Fatalf("1 of 4 healthy, threshold 50: picks %v, stats %+v", seen, c.Stats())
	}
	srv[2].status.Store(200)
	testutil.WaitFor(t, 10*time.Second, "host 2 to pass again", hs[2].Healthy)
	for h := range pickSet(t, c, 1000, false) {
		if h == hs[0] || h == hs[1] {
			t.Fatalf("back to 2 of 4 healthy: picked failed host %v", h)
		}
	}
}
