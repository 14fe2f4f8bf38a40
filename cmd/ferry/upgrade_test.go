package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// tally counts the load's outcomes.
type tally struct {
	ok, lost, retried atomic.Int64
	mu                sync.Mutex
	why               []string
}

func (tl *tally) loss(format string, args ...any) {
	tl.lost.Add(1)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.why) < 20 {
		tl.why = append(tl.why, fmt.Sprintf(format, args...))
	}
}

// countReader counts the bytes read from a connection.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// h1Client sends GET requests one after another on a keep-alive
// HTTP/1.1 connection until stop is closed, as a browser or Go's
// http.Transport would: a response with Connection: close ends the
// connection and the next request dials again; a request that got not
// one response byte on a reused connection that then closed (EOF, reset,
// or a write error) is sent once more on a new connection, the one retry
// RFC 9110 §9.2.2 allows for an idempotent request. Everything else is a
// loss: a refused or failed dial, a failure on a new connection, a
// second failure, a partial response, a status other than 200 or a body
// other than the path (the upstream echoes it).
func h1Client(addr string, id int, stop <-chan struct{}, tl *tally) {
	var (
		c      net.Conn
		cr     *countReader
		br     *bufio.Reader
		reused bool
	)
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	untilStopped(stop, "h1", id, func(path string) {
		for attempt := 0; ; attempt++ {
			if c == nil {
				var err error
				if c, err = net.DialTimeout("tcp", addr, 10*time.Second); err != nil {
					c = nil
					tl.loss("%s: dial: %v", path, err)
					break
				}
				cr = &countReader{r: c}
				br = bufio.NewReader(cr)
				reused = false
			}
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			cr.n = 0
			_, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: ferry\r\n\r\n")
			var resp *http.Response
			if err == nil {
				resp, err = http.ReadResponse(br, nil)
			}
			if err == nil {
				body, berr := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				switch {
				case berr != nil:
					tl.loss("%s: body: %v", path, berr)
				case resp.StatusCode != 200 || string(body) != path:
					tl.loss("%s: %d %q", path, resp.StatusCode, body)
				default:
					tl.ok.Add(1)
				}
				if resp.Close || berr != nil {
					_ = c.Close()
					c = nil
				} else {
					reused = true
				}
				break
			}
			_ = c.Close()
			c = nil
			if reused && cr.n == 0 && attempt == 0 {
				tl.retried.Add(1)
				continue
			}
			tl.loss("%s: attempt %d, reused %v, %d response bytes: %v", path, attempt, reused, cr.n, err)
			break
		}
	})
}

// h2Client sends GET requests one after another over HTTP/2 without TLS
// (h2c with prior knowledge) with Go's transport, on a connection of its
// own, until stop is closed. Go retries by itself only what HTTP/2 says
// was not processed: streams above a GOAWAY's last stream id, and a
// request on a connection that closed before it was written. Any error
// RoundTrip returns, a status other than 200 or a wrong body is a loss.
func h2Client(addr string, id int, stop <-chan struct{}, tl *tally) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	untilStopped(stop, "h2", id, func(path string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			tl.loss("%s: %v", path, err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(body) != path {
			tl.loss("%s: %s %d %q %v", path, resp.Proto, resp.StatusCode, body, err)
			return
		}
		tl.ok.Add(1)
	})
}

// untilStopped calls send with the paths /<proto>/<id>/0, /<proto>/<id>/1,
// ... one after another until stop is closed: one client's load, each
// path unique so that a wrong answer shows.
func untilStopped(stop <-chan struct{}, proto string, id int, send func(path string)) {
	n := 0
	testutil.UntilClosed(stop, func() {
		send(fmt.Sprintf("/%s/%d/%d", proto, id, n))
		n++
	})
}

// TestZeroLossReloadUpgradeStop is issue 12's done-means: under a steady
// keep-alive load (three HTTP/1.1 and two h2c clients, each one request
// at a time), (a) a SIGHUP that changes a route, a new ferry that fails
// after receiving the sockets, (b) a smooth upgrade to a second ferry
// process and (c) SIGTERM of the old process while it drains lose no
// request. What counts as a loss is in h1Client and
// h2Client; the only retry allowed is an idempotent request that got no
// response byte on a reused connection that closed.
func TestZeroLossReloadUpgradeStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	}))
	defer up.Close()

	// Built as make build does (gnet's poll_opt poller keeps a pointer in
	// the epoll data word that an adopted socket's registration copies).
	bin := buildFerry(t, "-tags=poll_opt")
	// The admin API needs a port in the config (port_value 0 turns it
	// off): one reserved here, with the tiny race that implies. The
	// listener binds port 0 and the start-up line says where.
	adminAddr := testutil.ClosedAddr(t)
	_, adminPort, _ := net.SplitHostPort(adminAddr)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	pidFile := filepath.Join(filepath.Dir(cfg), "ferry.pid")
	yaml := proxyYAML(fmt.Sprintf("admin: {address: {socket_address: {address: 127.0.0.1, port_value: %s}}}\npid: %s\n", adminPort, pidFile),
		"", "Auto", up.Listener.Addr().String(), "20s")
	writeYAML(t, cfg, yaml)
	listening := regexp.MustCompile(`listening http=(127\.0\.0\.1:\d+)`)
	old := startFerry(t, bin, cfg)
	addr := old.waitLog(t, "the first ferry's listener", listening)

	var tl tally
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { h1Client(addr, i, stop, &tl) })
	}
	for i := range 2 {
		wg.Go(func() { h2Client(addr, i, stop, &tl) })
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()
	progress := func(what string) {
		t.Helper()
		from := tl.ok.Load()
		testutil.WaitFor(t, 30*time.Second, what, func() bool { return tl.ok.Load() >= from+200 })
	}
	progress("load through the first ferry")

	// (a) SIGHUP with a new route: it answers, and the load goes on.
	reloaded := withReloadedRoute(t, yaml)
	writeYAML(t, cfg, reloaded)
	old.signal(t, syscall.SIGHUP)
	testutil.WaitFor(t, 30*time.Second, "the reloaded route", func() bool {
		_, body := testutil.Fetch(t, http.MethodGet, "http://"+addr+"/reloaded")
		return body == "new route"
	})
	progress("load after the reload")

	// A ferry of another config file in the same directory (so on the
	// same reconfig.sock) is refused before any socket moves.
	other := filepath.Join(filepath.Dir(cfg), "other.yaml")
	writeYAML(t, other, reloaded)
	startFerry(t, bin, other).waitFail(t, "a smooth upgrade takes over a ferry of the same config file")
	progress("load after a ferry of another config was refused")

	// A new ferry that fails after receiving the sockets (its listener
	// has another name) exits 1; the old one serves on, losing nothing.
	writeYAML(t, cfg, strings.Replace(reloaded, "name: http", "name: renamed", 1))
	failed := startFerry(t, bin, cfg)
	failed.waitFail(t, "hands over the listeners [http]")
	old.waitLog(t, "the old ferry's notice", regexp.MustCompile(`the new ferry did not start; serving on`))
	writeYAML(t, cfg, reloaded)
	progress("load after a failed upgrade")

	// (b) A second ferry with the same config takes the listener over.
	next := startFerry(t, bin, cfg)
	if got := next.waitLog(t, "the second ferry's listener", listening); got != addr {
		t.Fatalf("the second ferry listens on %s, want the inherited %s", got, addr)
	}
	next.waitLog(t, "the handover", regexp.MustCompile(`the old ferry stopped accepting and drains`))
	old.waitLog(t, "the old ferry's drain", regexp.MustCompile(`msg=draining`))
	// The admin API's socket moved too: the new ferry answers on it.
	adminURL := "http://" + adminAddr + "/api/v1/version"
	next.waitLog(t, "the new ferry's admin API", regexp.MustCompile(`msg="smooth upgrade: serving"`))
	if code, _ := testutil.Fetch(t, http.MethodGet, adminURL); code != http.StatusOK {
		t.Fatalf("admin API after the upgrade: %d", code)
	}
	progress("load through the second ferry")

	// (c) SIGTERM of the old ferry while it drains: it exits 0.
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil && !strings.Contains(err.Error(), "process already finished") {
		t.Fatal(err)
	}
	old.waitExit(t)
	// The old ferry left the pid file alone: it is the new one's.
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(next.cmd.Process.Pid) {
		t.Fatalf("pid file after the old ferry exited: %q, %v; want %d", b, err, next.cmd.Process.Pid)
	}
	progress("load after the old ferry exited")
	if _, body := testutil.Fetch(t, http.MethodGet, "http://"+addr+"/reloaded"); body != "new route" {
		t.Fatalf("the second ferry answers /reloaded with %q", body)
	}

	stopLoad()
	t.Logf("%d requests answered, %d retried on a keep-alive connection closed between requests, %d lost",
		tl.ok.Load(), tl.retried.Load(), tl.lost.Load())
	if n := tl.lost.Load(); n > 0 {
		t.Fatalf("%d requests lost: %s\nold ferry:\n%s\nnew ferry:\n%s", n, strings.Join(tl.why, "\n"), old.logs(), next.logs())
	}

	next.signal(t, syscall.SIGTERM)
	next.waitExit(t)
	for _, f := range []string{"reconfig.sock", "ferry.pid"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), f)); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", f, err)
		}
	}
}
