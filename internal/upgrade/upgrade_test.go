package upgrade

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// tcpListener returns a listening socket on 127.0.0.1:0 and a function
// handing out duplicates of its descriptor.
func tcpListener(t *testing.T) (net.Listener, func() int) {
	t.Helper()
	ln := testutil.Listen(t)
	return ln, func() int {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		return int(f.Fd()) // the File is left to the finalizer: keep its descriptor
	}
}

func serve(t *testing.T, path string, dup func() int, handed *atomic.Int32) *Server {
	t.Helper()
	s, err := Serve(path, ServeOptions{Logger: quiet(),
		Listeners: func() ([]Listener, error) {
			return []Listener{{Name: "a", Address: "127.0.0.1:0", FDs: []int{dupFD(t, dup())}}}, nil
		},
		Handover: func() error { handed.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dupFD(t *testing.T, fd int) int {
	t.Helper()
	n, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNoPeer(t *testing.T) {
	dir := t.TempDir()
	if _, err := Dial(filepath.Join(dir, SocketName)); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("no file: %v", err)
	}
	// A stale file: its process died without removing it.
	path := filepath.Join(dir, SocketName)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := Dial(path); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("stale file: %v", err)
	}
	// Serve replaces the stale file.
	var handed atomic.Int32
	_, dup := tcpListener(t)
	s := serve(t, path, dup, &handed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Close left the socket file: %v", err)
	}
}

func TestHandover(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	ln, dup := tcpListener(t)
	var handed atomic.Int32
	s := serve(t, path, dup, &handed)
	if _, err := Serve(path, ServeOptions{}); err == nil || !strings.Contains(err.Error(), "another process serves it") {
		t.Fatalf("a second server: %v", err)
	}

	// A new process that gives up leaves the old one serving, unchanged.
	h, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	h.Abort()

	h, err = Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Pid != os.Getpid() || len(h.Listeners) != 1 || len(h.Listeners[0].FDs) != 1 || h.Listeners[0].Name != "a" {
		t.Fatalf("handover %+v", h)
	}
	fd := h.Listeners[0].FDs[0]
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if port := sa.(*syscall.SockaddrInet4).Port; port != ln.Addr().(*net.TCPAddr).Port {
		t.Fatalf("received a socket on port %d, want %s", port, ln.Addr())
	}
	_ = syscall.Close(fd)
	if handed.Load() != 0 {
		t.Fatal("handed over before ready")
	}
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.HandedOver():
	case <-time.After(10 * time.Second):
		t.Fatal("HandedOver not closed")
	}
	if handed.Load() != 1 {
		t.Fatalf("Handover ran %d times", handed.Load())
	}
	// The path is free for the new process's own server.
	if _, err := Dial(path); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("after the handover: %v", err)
	}
	serve(t, path, dup, &handed)
}

func TestPath(t *testing.T) {
	for _, c := range []struct{ dir, cfg, want string }{
		{"/run/ferry", "/etc/ferry/ferry.json", "/run/ferry/reconfig.sock"},
		{"", "/etc/ferry/ferry.json", "/etc/ferry/reconfig.sock"},
		{"", "", "reconfig.sock"},
	} {
		if got := Path(c.dir, c.cfg); got != c.want {
			t.Errorf("Path(%q, %q) = %q, want %q", c.dir, c.cfg, got, c.want)
		}
	}
}

// Close during an exchange ends it at once: a ferry told to stop does not
// wait for a new one that takes its time.
func TestCloseCutsAnExchangeShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	_, dup := tcpListener(t)
	var handed atomic.Int32
	s := serve(t, path, dup, &handed)
	h, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Abort()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(); err == nil {
		t.Fatal("Ready succeeded against a closed server")
	}
	if handed.Load() != 0 {
		t.Fatal("handed over after Close")
	}
}

// A process on the socket that never answers (a hung ferry) is an error,
// not "no ferry": the new process must not bind beside it unasked.
func TestSilentPeerIsAnError(t *testing.T) {
	defer func(d time.Duration) { answerTimeout = d }(answerTimeout)
	answerTimeout = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), SocketName)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // test listener
	_, err = Dial(path)
	if err == nil || errors.Is(err, ErrNoPeer) || !strings.Contains(err.Error(), "did not hand its listeners over") {
		t.Fatalf("Dial to a silent peer: %v", err)
	}
}

// TestAnotherConfigIsRefused: a ferry of another config file that shares
// the directory (and so reconfig.sock) is refused with the reason, and the
// running ferry keeps its sockets; the same file is served.
func TestAnotherConfigIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	var handed atomic.Int32
	var listed atomic.Int32
	s, err := Serve(path, ServeOptions{Logger: quiet(), Config: "/etc/ferry/a.json",
		Listeners: func() ([]Listener, error) { listed.Add(1); return nil, nil },
		Handover:  func() error { handed.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, err = DialConfig(path, "/etc/ferry/b.json")
	if err == nil || !strings.Contains(err.Error(), "runs /etc/ferry/a.json, not /etc/ferry/b.json") ||
		!strings.Contains(err.Error(), "uds_dir") {
		t.Fatalf("DialConfig with another config: %v, want a refusal naming both files", err)
	}
	if listed.Load() != 0 || handed.Load() != 0 {
		t.Fatalf("the refused peer got the listeners (%d) or a handover (%d)", listed.Load(), handed.Load())
	}
	h, err := DialConfig(path, "/etc/ferry/a.json")
	if err != nil {
		t.Fatalf("DialConfig with the same config: %v", err)
	}
	h.Abort()
}
