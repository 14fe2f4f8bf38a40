package tcpproxy_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/internal/worker"
	"github.com/ferry-proxy/ferry/tcpproxy"
	"github.com/ferry-proxy/ferry/upstream"
)

// harness is a tcp_proxy listener on 127.0.0.1:0 in front of clusters.
type harness struct {
	t      testing.TB
	eng    *eventloop.Engine
	dialer *conn.TCPDialer
	wp     *worker.Pool
	f      *tcpproxy.Factory
	addr   string
}

type setup struct {
	cfg      tcpproxy.Config
	clusters []upstream.ClusterSpec
	conn     conn.Options
	tls      *conn.TLSServer
}

func start(t testing.TB, mod func(*setup)) *harness {
	t.Helper()
	st := &setup{cfg: tcpproxy.Config{Cluster: "c"}}
	mod(st)
	wp, err := worker.New(worker.Options{Size: 16, Queue: 64})
	if err != nil {
		t.Fatal(err)
	}
	clusters := upstream.NewManager()
	if err := clusters.Update(st.clusters); err != nil {
		t.Fatal(err)
	}
	d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: wp.Submit})
	if err != nil {
		t.Fatal(err)
	}
	f, err := tcpproxy.NewFactory(st.cfg, tcpproxy.Deps{Clusters: clusters, Dialer: d,
		Spill: spill.Options{MemLimit: 64 << 10, Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	lst := &eventloop.Listener{Name: "tcp", Address: "127.0.0.1:0", TLS: st.tls,
		Filters: []conn.FilterFactory{f}}
	eng, err := eventloop.New([]*eventloop.Listener{lst}, eventloop.Options{Loops: 2, Tracker: conn.NewTracker(0), Conn: st.conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, eng: eng, dialer: d, wp: wp, f: f, addr: eng.Addrs()[0].String()}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	testutil.Shutdown(h.t, 5*time.Second, testutil.Step{Name: "quiesce", Do: h.dialer.Quiesce},
		testutil.Step{Name: "engine stop", Do: h.eng.Stop}, testutil.Step{Name: "workers", Do: h.wp.Close})
	if n := filterchain.NetworkFilterPanics(); n != 0 {
		h.t.Errorf("%d network filter panics", n)
	}
}

func (h *harness) dial() *net.TCPConn {
	h.t.Helper()
	return testutil.DialTCP(h.t, h.addr, 60*time.Second)
}

func cluster(name string, addrs ...string) upstream.ClusterSpec {
	hosts := make([]upstream.HostSpec, len(addrs))
	for i, a := range addrs {
		hosts[i] = upstream.HostSpec{Address: a}
	}
	return upstream.ClusterSpec{Name: name, Hosts: hosts, ConnectTimeout: 2 * time.Second}
}

// echo is an upstream that writes back what it reads and half-closes
// after the client's FIN.
func echo(t testing.TB) *testutil.RawServer {
	return testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, c)
		_ = c.(*net.TCPConn).CloseWrite()
	})
}

// tag is an upstream that answers its name and closes.
func tag(t testing.TB, name string) *testutil.RawServer {
	return testutil.NewRawServer(t, func(c net.Conn) { _, _ = io.WriteString(c, name) })
}

func TestEchoAndHalfCloseFromClient(t *testing.T) {
	up := echo(t)
	h := start(t, func(s *setup) { s.clusters = []upstream.ClusterSpec{cluster("c", up.Addr())} })
	for range 3 {
		c := h.dial()
		msg := bytes.Repeat([]byte("ferry "), 10000)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		// The FIN after the bytes: the echo answers everything, then its
		// own FIN comes back.
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("got %d bytes back, want %d", len(got), len(msg))
		}
	}
	testutil.WaitFor(t, 5*time.Second, "sessions end", func() bool { return h.f.Stats.Active.Load() == 0 })
}

func TestHalfCloseFromUpstream(t *testing.T) {
	// The upstream sends, half-closes, then reads what the client sends
	// after that.
	var got []byte
	var mu sync.Mutex
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "hello")
		_ = c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		mu.Lock()
		got = b
		mu.Unlock()
	})
	h := start(t, func(s *setup) { s.clusters = []upstream.ClusterSpec{cluster("c", up.Addr())} })
	c := h.dial()
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	// The upstream's FIN arrives as EOF, and the client can still send.
	if n, err := c.Read(b); err != io.EOF {
		t.Fatalf("read after the upstream's FIN: %d, %v; want EOF", n, err)
	}
	payload := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	testutil.WaitFor(t, 10*time.Second, "upstream got the payload", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(payload)
	})
	testutil.WaitFor(t, 5*time.Second, "sessions end", func() bool { return h.f.Stats.Active.Load() == 0 })
}

// throttled reads slowly: a pause every 256 KiB.
type throttled struct {
	r io.Reader
	n int
}

func (t *throttled) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := t.r.Read(p)
	t.n += n
	if t.n >= 256<<10 {
		t.n = 0
		time.Sleep(time.Millisecond)
	}
	return n, err
}

// peakRSSGrowth resets the process's peak RSS (/proc/self/clear_refs 5)
// and returns a function giving how far the peak since then rose above the
// RSS at the reset, in bytes. The client, ferry and the upstream all run in
// this process, so it counts all three.
func peakRSSGrowth(t *testing.T) func() int64 {
	t.Helper()
	status := func(field string) int64 {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				return kb << 10
			}
		}
		t.Fatalf("no %s in /proc/self/status", field)
		return 0
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	base := status("VmRSS")
	return func() int64 { return status("VmHWM") - base }
}

// TestLargeBothWaysThroughAThrottledPeerStaysBounded is issue 11's TCP
// proxy criterion: 64 MiB each way through a throttled peer keep their
// sha256, with RSS growth at most 32 MiB (the peak, of the whole test
// process).
func TestLargeBothWaysThroughAThrottledPeerStaysBounded(t *testing.T) {
	const size = 64 << 20
	if testing.Short() {
		t.Skip("64 MiB each way")
	}
	// The upstream echoes through a slow reader.
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, &throttled{r: c})
		_ = c.(*net.TCPConn).CloseWrite()
	})
	h := start(t, func(s *setup) {
		s.clusters = []upstream.ClusterSpec{cluster("c", up.Addr())}
		s.conn = conn.Options{HighWatermark: 64 << 10}
	})
	c := h.dial()
	growth := peakRSSGrowth(t)
	want := sha256.New()
	errc := make(chan error, 1)
	go func() {
		src := io.TeeReader(io.LimitReader(rand.Reader, size), want)
		_, err := io.Copy(c, src)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got := sha256.New()
	n, err := io.Copy(got, &throttled{r: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes back (sha256 match %v), want %d", n, bytes.Equal(got.Sum(nil), want.Sum(nil)), size)
	}
	testutil.WaitFor(t, 5*time.Second, "session ends", func() bool { return h.f.Stats.Active.Load() == 0 })
	// Memory held: the spill queues' memory (64 KiB each) plus one read;
	// the rest of the backlog went to the spill file.
	if hm := h.f.Stats.HighMark.Load(); hm > 512<<10 {
		t.Fatalf("a relay held %d bytes in memory; want at most 512 KiB", hm)
	}
	t.Logf("relay memory high mark %d bytes", h.f.Stats.HighMark.Load())
	g := growth()
	t.Logf("peak RSS growth %d KiB", g>>10)
	if g > 32<<20 {
		t.Fatalf("peak RSS rose %d MiB during the transfer; want at most 32", g>>20)
	}
}

func TestConnectRetriesOnAnotherHost(t *testing.T) {
	dead := testutil.ClosedAddr(t) // the connect is refused
	live := tag(t, "live")
	h := start(t, func(s *setup) {
		cl := cluster("c", dead, live.Addr())
		cl.LB = upstream.RoundRobin
		s.clusters = []upstream.ClusterSpec{cl}
		s.cfg.MaxConnectAttempts = 2
	})
	for range 4 { // round robin starts on either host
		c := h.dial()
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "live" {
			t.Fatalf("read %q, %v", b, err)
		}
	}
	if h.f.Stats.ConnectFailures.Load() == 0 {
		t.Fatal("no connect failure counted")
	}
	if n := h.f.Stats.NoUpstream.Load(); n != 0 {
		t.Fatalf("%d connections without upstream", n)
	}
}

func TestEveryAttemptFailsClosesTheClient(t *testing.T) {
	dead := testutil.ClosedAddr(t)
	h := start(t, func(s *setup) { s.clusters = []upstream.ClusterSpec{cluster("c", dead)} })
	c := h.dial()
	_, _ = c.Write([]byte("lost"))
	if b, err := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("read %q, %v; want a close", b, err)
	}
	testutil.WaitFor(t, 5*time.Second, "counted", func() bool { return h.f.Stats.NoUpstream.Load() == 1 })
	if n := h.f.Stats.ConnectFailures.Load(); n != 1 {
		t.Fatalf("%d connect failures; want 1 (max_connect_attempts defaults to 1)", n)
	}
}

func TestIdleTimeoutClosesBoth(t *testing.T) {
	closed := make(chan struct{})
	up := testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	})
	h := start(t, func(s *setup) {
		s.clusters = []upstream.ClusterSpec{cluster("c", up.Addr())}
		s.cfg.IdleTimeout = 50 * time.Millisecond
	})
	c := h.dial()
	_, _ = c.Write([]byte("x"))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("read %q, %v; want EOF", b, err)
	}
	<-closed
	testutil.WaitFor(t, 5*time.Second, "counted", func() bool { return h.f.Stats.Idle.Load() == 1 })
}

func TestRoutesBySourceAndDestination(t *testing.T) {
	a, b, d := tag(t, "a"), tag(t, "b"), tag(t, "default")
	h := start(t, func(s *setup) {
		s.clusters = []upstream.ClusterSpec{cluster("a", a.Addr()), cluster("b", b.Addr()), cluster("d", d.Addr())}
		s.cfg = tcpproxy.Config{Routes: []tcpproxy.Route{
			// Never matches: another source network.
			{Cluster: "a", Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			// Never matches: port 1 only.
			{Cluster: "a", DestinationPorts: []tcpproxy.PortRange{{Min: 1, Max: 1}}},
			{Cluster: "b", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				DestinationPorts: []tcpproxy.PortRange{{Min: 1024, Max: 65535}}},
			{Cluster: "d"},
		}}
	})
	c := h.dial()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "b" {
		t.Fatalf("read %q, %v; want b", got, err)
	}
}

func TestNoRouteClosesTheClient(t *testing.T) {
	a := tag(t, "a")
	h := start(t, func(s *setup) {
		s.clusters = []upstream.ClusterSpec{cluster("a", a.Addr())}
		s.cfg = tcpproxy.Config{Routes: []tcpproxy.Route{{Cluster: "a", SourcePorts: []tcpproxy.PortRange{{Min: 1, Max: 1}}}}}
	})
	c := h.dial()
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("read %q; want a close", b)
	}
	testutil.WaitFor(t, 5*time.Second, "counted", func() bool { return h.f.Stats.NoRoute.Load() == 1 })
}
