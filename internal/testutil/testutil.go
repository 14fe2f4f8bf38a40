// Package testutil holds helpers for ferry's tests: condition waits with a
// deadline (never a bare sleep), a raw scriptable TCP upstream, and raw
// HTTP/1.1 client helpers. It is imported only from _test.go files.
package testutil

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// WaitFor polls cond until it holds or timeout passes, then fails the test
// with msg. It is how tests wait: for a condition, never for a duration.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	backoff := 100 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 10*time.Millisecond)
	}
}

// RawServer is a TCP server on 127.0.0.1:0 that runs a script per
// connection. It counts connections and closes everything on Close.
type RawServer struct {
	ln       net.Listener
	handle   func(c net.Conn)
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	Accepted atomic.Int64
}

// NewRawServer starts a server running handle for each connection; the
// connection is closed when handle returns.
func NewRawServer(t testing.TB, handle func(c net.Conn)) *RawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &RawServer{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// NewHeadServer starts a RawServer that reads one request head after
// another off each connection and hands each to serve, which answers on c
// (reading any body from r). The connection closes when a head cannot be
// read or serve returns false.
func NewHeadServer(t testing.TB, serve func(c net.Conn, r *bufio.Reader, head string) bool) *RawServer {
	t.Helper()
	return NewRawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			head, err := ReadHead(r)
			if err != nil || !serve(c, r, head) {
				return
			}
		}
	})
}

// Reply is a NewHeadServer script that answers every request with resp
// and ignores request bodies.
func Reply(resp string) func(c net.Conn, r *bufio.Reader, head string) bool {
	return func(c net.Conn, _ *bufio.Reader, _ string) bool {
		_, err := io.WriteString(c, resp)
		return err == nil
	}
}

// Addr is the server's address.
func (s *RawServer) Addr() string { return s.ln.Addr().String() }

func (s *RawServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Accepted.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.handle(c)
		})
	}
}

// Close stops the server and closes its connections, waiting for handlers.
func (s *RawServer) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ReadHead reads an HTTP head (through the empty line) from r.
func ReadHead(r *bufio.Reader) (string, error) {
	var head []byte
	for {
		line, err := r.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return string(head), err
		}
		if len(line) <= 2 {
			return string(head), nil
		}
	}
}

// Fetch does one HTTP request with no body (http.DefaultClient) and
// returns the status and the whole body, failing the test on any error.
func Fetch(t testing.TB, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// ReadFile returns the file's content, failing the test if it cannot.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ClosedAddr is a loopback address nothing listens on: a port the kernel
// gave and took back (a connect to it is refused unless another test
// binds it meanwhile, which the kernel's port rotation makes unlikely).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	_ = ln.Close()
	return a
}

// DialTCP connects to addr, closes the connection when the test ends and
// sets a deadline of d on it, so a test that waits for bytes that never
// come fails instead of hanging.
func DialTCP(t testing.TB, addr string, d time.Duration) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(d))
	return c.(*net.TCPConn)
}

// Contains reports (t.Errorf) each of wants that text lacks, naming the
// text what and showing it.
func Contains(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

// Buffer is a bytes.Buffer the code under test may write (a log
// destination, say) while the test reads it: every call holds a lock.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Step is one part of a test harness's shutdown; Name says which, in a
// failure.
type Step struct {
	Name string
	Do   func(context.Context) error
}

// Shutdown runs steps in order within one timeout d, reporting (t.Errorf)
// each step's error with its name: a harness's stop, run by t.Cleanup.
func Shutdown(t testing.TB, d time.Duration, steps ...Step) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, s := range steps {
		if err := s.Do(ctx); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}

// Start runs start, failing the test on its error, and when the test ends
// stop, within 10 s, its error reported (Shutdown): a server or app under
// test, started for the whole test.
func Start(t testing.TB, start func() error, stop func(context.Context) error) {
	t.Helper()
	if err := start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { Shutdown(t, 10*time.Second, Step{Name: "shutdown", Do: stop}) })
}

// IsTimeout reports whether err is a deadline passing (a net.Error that
// timed out): the peer neither sent nor closed.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsReset reports whether err is a socket error other than a timeout,
// such as a connection reset: the peer closed, not gracefully.
func IsReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// Listen listens on a port of 127.0.0.1, failing the test if it cannot;
// the listener closes when the test ends, if nothing closed it before.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// ServeH2C serves srv on ln as HTTP/2 without TLS (prior knowledge) until
// the test ends; it sets srv's Protocols to that.
func ServeH2C(t testing.TB, ln net.Listener, srv *http.Server) {
	t.Helper()
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
	serve(t, ln, srv)
}

// ServeHTTP serves h (HTTP/1.1) on a port of 127.0.0.1 until the test
// ends, and returns its address: a net/http upstream.
func ServeHTTP(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	ln := Listen(t)
	serve(t, ln, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second})
	return ln.Addr().String()
}

// serve runs srv on ln until the test ends, then closes it and waits for
// Serve to return.
func serve(t testing.TB, ln net.Listener, srv *http.Server) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// UntilClosed calls fn again and again until stop is closed: a load
// client's loop.
func UntilClosed(stop <-chan struct{}, fn func()) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		fn()
	}
}
