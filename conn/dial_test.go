package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// The TCPDialer's paths that end before gnet takes the socket, on a
// detached loop (its Enroll always fails). eventloop/dial_test.go covers
// the dials that reach a real loop.

// dialResult records how a dial ended; it is touched only by the goroutine
// playing the detached loop.
type dialResult struct {
	c     *Conn
	err   error
	calls int
}

func (r *dialResult) OnDialed(c *Conn)       { r.c = c; r.calls++ }
func (r *dialResult) OnDialFailed(err error) { r.err = err; r.calls++ }

// heldSubmit keeps submitted functions until the test runs them.
type heldSubmit struct{ fns []func() }

func (h *heldSubmit) submit(fn func()) error { h.fns = append(h.fns, fn); return nil }

// heldDialer is a TCPDialer whose workers the test runs by hand, for a
// detached loop that the test runs by hand too.
func heldDialer(t *testing.T) (*Tracker, *Loop, *heldSubmit, *TCPDialer) {
	t.Helper()
	tracker := NewTracker(0)
	l := NewDetachedLoop(0, tracker, DefaultOptions(Options{}))
	held := &heldSubmit{}
	d, err := NewTCPDialer(TCPDialerOptions{Submit: held.submit})
	if err != nil {
		t.Fatal(err)
	}
	return tracker, l, held, d
}

// noLeaks checks at the end of the test that it left no goroutine
// behind (gnet's process-wide pool, started in init, is there before).
func noLeaks(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ign) })
}

func TestNewTCPDialerRequiresSubmit(t *testing.T) {
	if _, err := NewTCPDialer(TCPDialerOptions{}); err == nil || !strings.Contains(err.Error(), "Submit is required") {
		t.Fatalf("got %v, want an error naming Submit", err)
	}
}

// TestTCPDialerRefusesWithoutStarting: when Dial returns an error the
// handler never hears of the dial and the tracker is as before.
func TestTCPDialerRefusesWithoutStarting(t *testing.T) {
	busy := errors.New("pool full")
	for _, tc := range []struct {
		name    string
		submit  func(func()) error
		budget  int64 // tracker max, all of it in use when > 0
		timeout time.Duration
		want    error
		wantMsg string
	}{
		{name: "no worker", submit: func(func()) error { return busy }, timeout: time.Second, want: ErrDialerBusy},
		{name: "budget", submit: func(func()) error { return nil }, budget: 1, timeout: time.Second, want: ErrBudget},
		{name: "zero timeout", submit: func(func()) error { return nil }, wantMsg: "timeout 0s is not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracker := NewTracker(tc.budget)
			if tc.budget > 0 {
				for range tc.budget {
					if err := tracker.Acquire(0); err != nil {
						t.Fatal(err)
					}
				}
			}
			before := tracker.Open()
			l := NewDetachedLoop(0, tracker, DefaultOptions(Options{}))
			d, err := NewTCPDialer(TCPDialerOptions{Submit: tc.submit})
			if err != nil {
				t.Fatal(err)
			}
			r := &dialResult{}
			err = d.Dial(l, "127.0.0.1:1", tc.timeout, r)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Dial: %v, want %v %q", err, tc.want, tc.wantMsg)
			}
			RunDetached(l)
			if r.calls != 0 || tracker.Open() != before || d.InFlight() != 0 {
				t.Fatalf("handler called %d times, tracker %d (was %d), %d in flight", r.calls, tracker.Open(), before, d.InFlight())
			}
		})
	}
}

// TestTCPDialerFailureComesOnTheLoop: a refused connect is reported
// through the loop, never from the worker, and gives the socket back.
func TestTCPDialerFailureComesOnTheLoop(t *testing.T) {
	noLeaks(t)
	tracker, l, held, d := heldDialer(t)
	r := &dialResult{}
	if err := d.Dial(l, testutil.ClosedAddr(t), 5*time.Second, r); err != nil {
		t.Fatal(err)
	}
	if tracker.Open() != 1 || d.InFlight() != 1 {
		t.Fatalf("tracker %d, %d in flight; the dial must hold its socket", tracker.Open(), d.InFlight())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Quiesce(ctx); err == nil || !strings.Contains(err.Error(), "1 dials still in flight") {
		t.Fatalf("Quiesce with a dial in flight: %v", err)
	}
	held.fns[0]() // the worker
	if r.calls != 0 {
		t.Fatal("the worker called the handler; only the loop may")
	}
	if err := d.Quiesce(context.Background()); err != nil {
		t.Fatal(err)
	}
	RunDetached(l)
	if r.calls != 1 || !errors.Is(r.err, syscall.ECONNREFUSED) || tracker.Open() != 0 {
		t.Fatalf("%d calls, err %v, tracker %d; want one ECONNREFUSED and the socket back", r.calls, r.err, tracker.Open())
	}
}

// TestTCPDialerEnrollFailureClosesTheSocket: when the loop cannot take the
// connected socket, the dialer closes it and reports the failure.
func TestTCPDialerEnrollFailureClosesTheSocket(t *testing.T) {
	noLeaks(t)
	eof := make(chan error, 1)
	srv := testutil.NewRawServer(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		eof <- err
	})
	tracker, l, held, d := heldDialer(t)
	r := &dialResult{}
	if err := d.Dial(l, srv.Addr(), 5*time.Second, r); err != nil {
		t.Fatal(err)
	}
	held.fns[0]()
	RunDetached(l)
	if r.calls != 1 || r.err == nil || !strings.Contains(r.err.Error(), "enroll: ") || tracker.Open() != 0 {
		t.Fatalf("%d calls, err %v, tracker %d; want one enroll failure and the socket back", r.calls, r.err, tracker.Open())
	}
	if err := <-eof; err != nil {
		t.Fatalf("the upstream saw %v, want a clean close of the socket", err)
	}
}

// TestDetachedConnClosesOnTheLoop: a detached connection's close completes
// only when the loop runs, like gnet's OnClose, and releases its socket.
func TestDetachedConnClosesOnTheLoop(t *testing.T) {
	tracker := NewTracker(0)
	l := NewDetachedLoop(3, tracker, DefaultOptions(Options{}))
	if err := tracker.Acquire(0); err != nil {
		t.Fatal(err)
	}
	c := NewDetachedConn(l, true)
	if c.Loop() != l || !c.Upstream() || c.Closed() {
		t.Fatal("a new detached connection is not open on its loop")
	}
	if err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.Close(filterchain.CloseNow)
	if !c.Closed() || c.Gone() || tracker.Open() != 1 {
		t.Fatal("the close completed off the loop")
	}
	if err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
	if n := RunDetached(l); n != 1 || !c.Gone() || tracker.Open() != 0 {
		t.Fatalf("ran %d, gone %v, tracker %d; want 1, true, 0", n, c.Gone(), tracker.Open())
	}
}
