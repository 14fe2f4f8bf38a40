package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// testDeadline bounds every wait in these tests: a hang fails the test.
const testDeadline = 20 * time.Second

// origin is a net/http upstream on 127.0.0.1 that counts the connections
// it accepted and reports each one it closed.
type origin struct {
	addr   string
	conns  atomic.Int32
	closed chan struct{} // one send per closed connection
}

// startOrigin serves:
//
//	/echo       the request body back, with Content-Length
//	/big/N      N bytes of a repeating pattern, then closes the connection
//	anything    "hello " + the path
func startOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{closed: make(chan struct{}, 64)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/echo":
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body) // a failed write shows up as a short body in the test
		case strings.HasPrefix(r.URL.Path, "/big/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/big/"))
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(pattern(n))
		default:
			_, _ = io.WriteString(w, "hello "+r.URL.Path)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			o.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			select {
			case o.closed <- struct{}{}:
			default:
			}
		}
	}
	srv.Start() // httptest listens on 127.0.0.1:0
	t.Cleanup(srv.Close)
	o.addr = srv.Listener.Addr().String()
	return o
}

// pattern returns n bytes that make a shifted or truncated copy obvious.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// freeAddr returns 127.0.0.1:PORT for a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return testutil.ClosedAddr(t)
}

// startForwarder runs serve in-process in front of upstream and stops it
// when the test ends. dial, if not nil, replaces the upstream dialer.
func startForwarder(t *testing.T, upstream string, dial func() (net.Conn, error)) string {
	t.Helper()
	opts := options{addr: freeAddr(t), upstream: upstream, loops: 2,
		log: log.New(io.Discard, "", 0), dial: dial}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- serve(ctx, opts, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testDeadline):
			t.Errorf("serve did not return within %v of cancel", testDeadline)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve returned before booting: %v", err)
	case <-time.After(testDeadline):
		t.Fatal("forwarder did not boot")
	}
	return opts.addr
}

// dial opens a client connection with a deadline.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := testutil.DialTCP(t, addr, testDeadline)
	return c, bufio.NewReader(c)
}

// roundTrip writes one request and reads its response body.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, method, path string, body []byte) []byte {
	t.Helper()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", method, path, len(body))
	if _, err := c.Write(append([]byte(req), body...)); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return readBody(t, br, method)
}

// readBody reads one response and checks for a 200.
func readBody(t *testing.T, br *bufio.Reader, method string) []byte {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close() // fully read below
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	return got
}

// waitClosed reads c until the forwarder closes it.
func waitClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	n, err := io.Copy(io.Discard, br)
	if testutil.IsTimeout(err) {
		t.Fatalf("the connection stayed open (%d bytes read)", n)
	}
	// io.EOF (nil from Copy) or a reset: either way it was closed.
}

func TestKeepAliveRequestsShareOneUpstreamConn(t *testing.T) {
	o := startOrigin(t)
	c, br := dial(t, startForwarder(t, o.addr, nil))
	for i := range 5 {
		path := "/req/" + strconv.Itoa(i)
		if got := roundTrip(t, c, br, "GET", path, nil); string(got) != "hello "+path {
			t.Fatalf("request %d: body %q", i, got)
		}
	}
	if n := o.conns.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections, want 1 for one keep-alive client", n)
	}
}

func TestMiBBodyBothWays(t *testing.T) {
	o := startOrigin(t)
	c, br := dial(t, startForwarder(t, o.addr, nil))
	// A first small exchange opens the upstream side: a body sent while it
	// is still being dialed is held, and past maxPending (1 MiB) the client
	// is closed, which is TestTooMuchWhileDialingClosesClient's case, not this.
	if got := roundTrip(t, c, br, "GET", "/ready", nil); string(got) != "hello /ready" {
		t.Fatalf("first request: body %q", got)
	}
	body := make([]byte, 1<<20)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second one checks that the link is still in step
		if got := roundTrip(t, c, br, "POST", "/echo", body); !bytes.Equal(got, body) {
			t.Fatalf("round %d: echoed %d bytes, not the 1 MiB sent", i, len(got))
		}
	}
}

// TestUpstreamCloseDeliversEverything has the upstream send 24 MiB and
// close while the client reads nothing, so most of it is still in gnet's
// buffer for the client when the upstream side closes. The client must
// still get all of it (gnet itself would drop it on close).
func TestUpstreamCloseDeliversEverything(t *testing.T) {
	o := startOrigin(t)
	c, br := dial(t, startForwarder(t, o.addr, nil))
	const size = 24 << 20
	if _, err := io.WriteString(c, "GET /big/"+strconv.Itoa(size)+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.closed:
	case <-time.After(testDeadline):
		t.Fatal("the upstream did not finish its response and close")
	}
	if got := readBody(t, br, "GET"); !bytes.Equal(got, pattern(size)) {
		t.Fatalf("got %d bytes, not the %d sent (or not in order)", len(got), size)
	}
	waitClosed(t, br)
}

func TestUpstreamDownClosesClient(t *testing.T) {
	down := freeAddr(t) // nothing listens there any more
	c, br := dial(t, startForwarder(t, down, nil))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, br)
}

// gatedDial returns a dialer that waits for gate to close before dialing
// addr, so that client bytes pile up while "dialing".
func gatedDial(addr string, gate <-chan struct{}) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		select {
		case <-gate:
		case <-time.After(testDeadline):
			return nil, errors.New("gate never opened")
		}
		return net.DialTimeout("tcp", addr, testDeadline)
	}
}

func TestBytesSentWhileDialingArriveInOrder(t *testing.T) {
	o := startOrigin(t)
	gate := make(chan struct{})
	c, br := dial(t, startForwarder(t, o.addr, gatedDial(o.addr, gate)))
	var reqs bytes.Buffer
	for i := range 3 { // pipelined: all buffered before the upstream opens
		fmt.Fprintf(&reqs, "GET /p/%d HTTP/1.1\r\nHost: test\r\n\r\n", i)
	}
	if _, err := c.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	close(gate)
	for i := range 3 {
		if got, want := string(readBody(t, br, "GET")), "hello /p/"+strconv.Itoa(i); got != want {
			t.Fatalf("response %d: %q, want %q", i, got, want)
		}
	}
}

func TestTooMuchWhileDialingClosesClient(t *testing.T) {
	o := startOrigin(t)
	gate := make(chan struct{})
	c, br := dial(t, startForwarder(t, o.addr, gatedDial(o.addr, gate)))
	// More than maxPending; the write itself may fail once the forwarder
	// has closed the connection.
	_, _ = c.Write(make([]byte, maxPending+64<<10))
	waitClosed(t, br)
	// Let the dialer finish: its upstream must be closed at once, before
	// the forwarder stops (an Enroll cut short by Stop would leak in gnet).
	close(gate)
	select {
	case <-o.closed:
	case <-time.After(testDeadline):
		t.Fatal("the upstream of a client that had gone was not closed")
	}
	if n := o.conns.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections, want 1", n)
	}
}

func TestRunPrintsOneLine(t *testing.T) {
	o := startOrigin(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", addr, "-upstream", o.addr, "-loops", "1"}, pw)
		_ = pw.Close() // ends the reader below
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || sc.Text() != "listening on "+addr {
		t.Fatalf("first stdout line %q, want %q (%v)", sc.Text(), "listening on "+addr, sc.Err())
	}
	c, br := dial(t, addr)
	if got := roundTrip(t, c, br, "GET", "/x", nil); string(got) != "hello /x" {
		t.Fatalf("body %q", got)
	}
	cancel()
	if sc.Scan() {
		t.Errorf("a second stdout line: %q", sc.Text())
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" = valid, else a part of the error
	}{
		{args: []string{"-addr", "127.0.0.1:9000", "-upstream", "127.0.0.1:8080"}},
		{args: []string{"-addr", "127.0.0.1:9000", "-upstream", "127.0.0.1:8080", "-loops", "4"}},
		{args: []string{"-upstream", "127.0.0.1:8080"}, want: "-addr is required"},
		{args: []string{"-addr", "127.0.0.1:0", "-upstream", "127.0.0.1:8080"}, want: "want a port"},
		{args: []string{"-addr", "127.0.0.1", "-upstream", "127.0.0.1:8080"}, want: "missing port"},
		{args: []string{"-addr", "127.0.0.1:9000"}, want: "-upstream is required"},
		{args: []string{"-addr", "127.0.0.1:9000", "-upstream", "127.0.0.1:8080", "-loops", "-1"}, want: "-loops"},
		{args: []string{"-addr", "127.0.0.1:9000", "-upstream", "127.0.0.1:8080", "extra"}, want: "unexpected"},
		{args: []string{"-nope"}, want: "not defined"},
	} {
		_, err := parseOptions(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
