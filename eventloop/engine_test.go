package eventloop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreCurrent(), // gnet's process-wide pool, started in init
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
	)
}

// cmdFilter runs line commands sent by the test client:
//
//	echo X        writes X back
//	blast N       writes N bytes, then CloseFlush
//	linger        writes "bye", then CloseLinger
//	timer MS      closes the connection MS milliseconds later (loop timer)
//	panic         panics, as a buggy network filter would
type cmdFilter struct {
	cb    filterchain.ReadCallbacks
	c     *conn.Conn
	t     conn.Timer
	marks *marks
}

type marks struct{ above, below atomic.Int64 }

func (f *cmdFilter) OnAboveHighWatermark() { f.marks.above.Add(1) }
func (f *cmdFilter) OnBelowLowWatermark()  { f.marks.below.Add(1) }

func (f *cmdFilter) InitReadCallbacks(cb filterchain.ReadCallbacks) {
	f.cb = cb
	f.c.SetWatermarkListener(f)
	f.t.Init(conn.TimerFunc(func() { f.c.Close(filterchain.CloseNow) }))
}

func (f *cmdFilter) OnNewConnection() filterchain.Status { return filterchain.Continue }

func (f *cmdFilter) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	for {
		b := buf.Bytes()
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			return filterchain.Stop
		}
		line := string(b[:i])
		buf.Drain(i + 1)
		cmd, arg, _ := strings.Cut(line, " ")
		switch cmd {
		case "echo":
			_ = f.c.Write([]byte(arg + "\n"))
		case "blast":
			n, _ := strconv.Atoi(arg)
			_ = f.c.Write(make([]byte, n))
			f.c.Close(filterchain.CloseFlush)
			return filterchain.Stop
		case "linger":
			_ = f.c.Write([]byte("bye\n"))
			f.c.Close(filterchain.CloseLinger)
			return filterchain.Stop
		case "panic":
			panic("network filter bug")
		case "timer":
			ms, _ := strconv.Atoi(arg)
			f.c.Loop().Schedule(&f.t, time.Duration(ms)*time.Millisecond)
		}
	}
}

type cmdFactory struct{ marks *marks }

func (f cmdFactory) CreateFilters(c *conn.Conn) {
	c.Filters().AddReadFilter(&cmdFilter{marks: f.marks, c: c})
}

func startEngine(t *testing.T, tracker *conn.Tracker, copts conn.Options) (*Engine, string, *marks) {
	t.Helper()
	mk := &marks{}
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: mk}}}
	e := runEngine(t, l, Options{Loops: 2, Tracker: tracker, Conn: copts})
	return e, e.Addrs()[0].String(), mk
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// send writes s to c or fails the test.
func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestEchoAndPortZero(t *testing.T) {
	_, addr, _ := startEngine(t, nil, conn.Options{})
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("bound address %s still has port 0", addr)
	}
	c := dial(t, addr)
	r := bufio.NewReader(c)
	for _, w := range []string{"a", "bc", "def"} {
		send(t, c, "echo "+w+"\n")
		if got, err := r.ReadString('\n'); err != nil || got != w+"\n" {
			t.Fatalf("echo %q = %q, %v", w, got, err)
		}
	}
}

func TestCloseFlushDeliversEverything(t *testing.T) {
	_, addr, _ := startEngine(t, nil, conn.Options{})
	c := dial(t, addr)
	const n = 8 << 20 // far more than the socket buffers: gnet queues most of it
	send(t, c, "blast "+strconv.Itoa(n)+"\n")
	got, err := io.Copy(io.Discard, c)
	if err != nil || got != n {
		t.Fatalf("received %d bytes (%v) before EOF, want %d", got, err, n)
	}
}

func TestCloseLingerLetsTheReplyArrive(t *testing.T) {
	_, addr, _ := startEngine(t, nil, conn.Options{LingerTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	// Unread input behind the command would make a plain close send a
	// reset that can destroy "bye"; lingering discards it instead.
	send(t, c, "linger\n"+strings.Repeat("x", 64<<10))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye\n" {
		t.Fatalf("got %q, %v; want the reply then EOF", b, err)
	}
}

func TestWatermarksAndTimers(t *testing.T) {
	_, addr, mk := startEngine(t, nil, conn.Options{HighWatermark: 64 << 10, LowWatermark: 16 << 10})
	c := dial(t, addr)
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10) // keep the kernel from absorbing it all
	// The client does not read: the echoes pile up in ferry past the mark.
	big := strings.Repeat("y", 64<<10)
	const lines = 128
	for range lines {
		send(t, c, "echo "+big+"\n")
	}
	testutil.WaitFor(t, 5*time.Second, "high watermark", func() bool { return mk.above.Load() > 0 })
	if _, err := io.CopyN(io.Discard, c, int64(lines*(len(big)+1))); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "low watermark", func() bool { return mk.below.Load() > 0 })

	start := time.Now()
	send(t, c, "timer 50\n")
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data; want the timer to close the connection")
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("closed after %v, before the 50ms timer", d)
	}
}

func TestBudgetRefusesBeyondTheLimit(t *testing.T) {
	tr := conn.NewTracker(2)
	_, addr, _ := startEngine(t, tr, conn.Options{})
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		send(t, c, "echo ok\n")
		if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "ok\n" {
			t.Fatalf("within budget: %q %v", got, err)
		}
	}
	over := dial(t, addr)
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection past the budget was served")
	}
	testutil.WaitFor(t, 2*time.Second, "refusal counted", func() bool { return tr.Refused.Load() == 1 })
	_ = a.Close()
	testutil.WaitFor(t, 2*time.Second, "slot released", func() bool { return tr.Open() == 1 })
	c := dial(t, addr)
	send(t, c, "echo again\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "again\n" {
		t.Fatalf("after a slot freed: %q %v", got, err)
	}
}

func TestUnexpectedStopIsReported(t *testing.T) {
	l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
	e, err := New([]*Listener{l}, Options{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop the gnet engine behind ferry's back, as an internal failure would.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.eng.Stop(ctx)
	<-e.Done()
	if err := e.Err(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Err() = %v, want ErrStopped", err)
	}
}

func TestListenerValidation(t *testing.T) {
	tests := []struct {
		name, addr string
		reuse      bool
		want       string
	}{
		{name: "no port", addr: "127.0.0.1", want: "missing port"},
		{name: "bad port", addr: "127.0.0.1:http", want: "bad port"},
		{name: "port 0 with reuse_port", addr: "127.0.0.1:0", reuse: true, want: "reuse_port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]*Listener{{Name: "x", Address: tc.addr}}, Options{ReusePort: tc.reuse})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// runEngine starts an engine over l with o; the test fails on any error,
// and at cleanup the engine stops and must report no error of its own.
func runEngine(t testing.TB, l *Listener, o Options) *Engine {
	t.Helper()
	return runListeners(t, []*Listener{l}, o)
}

// runListeners starts an engine serving ls; it stops at cleanup.
func runListeners(t testing.TB, ls []*Listener, o Options) *Engine {
	t.Helper()
	e, err := New(ls, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := e.Err(); err != nil {
			t.Errorf("requested stop reported %v", err)
		}
	})
	return e
}
