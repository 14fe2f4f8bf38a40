package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestValidateAndVersion(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],"listeners":[{"name":"l","address":"127.0.0.1:0",
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1"}]}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.json")
	if err := os.WriteFile(typo, []byte(`{"servers":[{"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[{"type":"proxy",
		"config":{"downstream_protocol":"Http1","router_config_name":"r","router_confg_typo":1}}]}]}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{name: "version", args: []string{"version"}, code: 0, out: "ferry "},
		{name: "embedded default is valid", args: []string{"validate"}, code: 0, out: "valid"},
		{name: "invalid config names its paths", args: []string{"validate", "-c", bad}, code: 1,
			err: "cluster_manager.clusters[0].hosts[0].address"},
		{name: "unknown field is listed with its path", args: []string{"validate", "-c", typo}, code: 1,
			err: "servers[0].listeners[0].filter_chains[0].filters[0].config.router_confg_typo: unknown field"},
		{name: "start refuses an invalid config", args: []string{"start", "-c", bad}, code: 1, err: "invalid configuration"},
		{name: "missing file", args: []string{"-c", filepath.Join(dir, "nope.json")}, code: 1, err: "nope.json"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, err: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
				t.Fatalf("stdout %q stderr %q; want %q and %q", out.String(), errb.String(), tc.out, tc.err)
			}
		})
	}
}

// TestStartServeAndDrainOnSIGTERM runs the real binary: it must print the
// start-up line, proxy, and on SIGTERM finish the request in flight and
// exit 0.
func TestStartServeAndDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "hello")
	}))
	defer up.Close()
	defer close(release)

	bin := buildFerry(t)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	accessLog := filepath.Join(t.TempDir(), "access.log")
	yaml := proxyYAML("", fmt.Sprintf("    access_logs: [{log_path: %q}]\n", accessLog), "Http1", up.Listener.Addr().String(), "10s")
	writeYAML(t, cfg, yaml)
	ferry := startFerry(t, bin, cfg)
	addr := ferry.waitLog(t, "the start-up line naming the listener", regexp.MustCompile(`listening http=(127\.0\.0\.1:\d+)`))
	logged := func(s string) bool { return strings.Contains(ferry.logs(), s) }

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Fatalf("proxied body %q", body)
	}

	// SIGUSR1 reopens the access log after logrotate renamed it: the line
	// already written stays in the renamed file, later ones go to a new
	// file at the path (docs/operations.md, "Access log").
	testutil.WaitFor(t, 20*time.Second, "the first access log line", func() bool {
		b, _ := os.ReadFile(accessLog)
		return strings.Count(string(b), "\n") == 1
	})
	if err := os.Rename(accessLog, accessLog+".1"); err != nil {
		t.Fatal(err)
	}
	ferry.signal(t, syscall.SIGUSR1)
	testutil.WaitFor(t, 20*time.Second, "the reopened access log", func() bool {
		_, err := os.Stat(accessLog)
		return err == nil && logged("access logs reopened")
	})
	if b, err := os.ReadFile(accessLog + ".1"); err != nil || !strings.Contains(string(b), " Http1 200 ") {
		t.Fatalf("rotated access log %q (%v): want the first request's line", b, err)
	}

	// SIGHUP re-reads the file: a changed route answers; a change ferry
	// cannot make while it runs (the loops) is refused and the running
	// config keeps serving.
	reloaded := withReloadedRoute(t, yaml)
	writeYAML(t, cfg, reloaded)
	ferry.signal(t, syscall.SIGHUP)
	fetch := func(path string) string {
		r, err := http.Get("http://" + addr + path)
		if err != nil {
			return err.Error()
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return string(b)
	}
	testutil.WaitFor(t, 20*time.Second, "the reloaded route", func() bool { return fetch("/reloaded") == "new route" })
	writeYAML(t, cfg, strings.Replace(reloaded, "ferry:\n", "ferry:\n  event_loops: 7\n", 1))
	ferry.signal(t, syscall.SIGHUP)
	testutil.WaitFor(t, 20*time.Second, "the refused reload's log line", func() bool {
		return logged("reload refused") && logged("ferry.event_loops: changed")
	})
	if got := fetch("/reloaded"); got != "new route" {
		t.Fatalf("after a refused reload: %q", got)
	}
	if got := fetch("/"); got != "hello" {
		t.Fatalf("after a refused reload, / = %q", got)
	}

	// A request in flight when SIGTERM arrives must complete.
	done := make(chan string, 1)
	go func() {
		r, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		done <- string(b)
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}
	ferry.signal(t, syscall.SIGTERM)
	// The listening socket closes first: a new connection is refused by
	// the kernel, not accepted and dropped, while /slow is still in flight.
	testutil.WaitFor(t, 20*time.Second, "the listening socket closed", func() bool { return logged("listening sockets closed") })
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("a connection during the drain: %v, want connection refused", err)
	}
	release <- struct{}{}
	if got := <-done; got != "hello" {
		t.Fatalf("in-flight request during drain got %q", got)
	}
	ferry.waitExit(t) // exit 0 after SIGTERM
	// Every later request is in the new file, the drained one included:
	// the lines are written before ferry exits.
	b, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	logLines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(logLines) < 4 || !strings.Contains(logLines[len(logLines)-1], " Http1 200 ") {
		t.Fatalf("access log after the reopen %q: want a line per later request, the drained /slow last", b)
	}
}

// buildFerry builds this command into a temporary directory with the
// extra go build flags and returns the binary's path.
func buildFerry(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// proxyYAML is a YAML config of one listener "http" on 127.0.0.1:0
// speaking downstream to the one-host cluster c at upstream, with head
// put before servers and listenerExtra lines (indented as the listener's
// fields) after its address.
func proxyYAML(head, listenerExtra, downstream, upstream, drain string) string {
	return head + `servers:
- routers:
  - router_config_name: r
    virtual_hosts:
    - {name: all, domains: ["*"], routers: [{match: {prefix: "/"}, route: {cluster_name: c}}]}
  listeners:
  - name: http
    address: 127.0.0.1:0
` + listenerExtra + `    filter_chains:
    - filters:
      - {type: proxy, config: {downstream_protocol: ` + downstream + `, upstream_protocol: Http1, router_config_name: r}}
cluster_manager:
  clusters:
  - {name: c, type: SIMPLE, lb_type: LB_ROUNDROBIN, hosts: [{address: "` + upstream + `"}]}
ferry:
  timeouts: {drain: ` + drain + `}
`
}

// writeYAML writes a config file the test's ferry reads.
func writeYAML(t *testing.T, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withReloadedRoute is a proxyYAML config with a direct response at
// /reloaded ("new route") before the route to c: what a SIGHUP test
// changes.
func withReloadedRoute(t *testing.T, yaml string) string {
	t.Helper()
	reloaded := strings.Replace(yaml, `routers: [{match: {prefix: "/"}, route: {cluster_name: c}}]`,
		`routers: [{match: {path: "/reloaded"}, direct_response: {status: 200, body: "new route"}}, {match: {prefix: "/"}, route: {cluster_name: c}}]`, 1)
	if reloaded == yaml {
		t.Fatal("test config template changed: no route to replace")
	}
	return reloaded
}

// signal sends sig to the ferry the test started.
func (p *ferryProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// ferryProc is a ferry process the test started: its stderr is collected
// and its exit awaited.
type ferryProc struct {
	cmd    *exec.Cmd
	log    testutil.Buffer
	exited chan struct{}
	err    error
}

func startFerry(t *testing.T, bin, cfg string) *ferryProc {
	t.Helper()
	p := &ferryProc{cmd: exec.Command(bin, "start", "-c", cfg), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = p.log.Write([]byte(sc.Text() + "\n"))
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL) // by PID: only the process this test started
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("ferry pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p
}

// logs is what the process printed so far.
func (p *ferryProc) logs() string { return p.log.String() }

// waitLog waits until the log matches re and returns the first submatch
// (or the match).
func (p *ferryProc) waitLog(t *testing.T, what string, re *regexp.Regexp) string {
	t.Helper()
	var got string
	testutil.WaitFor(t, 30*time.Second, what, func() bool {
		m := re.FindStringSubmatch(p.logs())
		if m == nil {
			select {
			case <-p.exited:
				t.Fatalf("ferry exited (%v) before %s:\n%s", p.err, what, p.logs())
			default:
			}
			return false
		}
		got = m[len(m)-1]
		return true
	})
	return got
}

// waitExit waits for the process to exit and fails unless it exited 0.
func (p *ferryProc) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("ferry pid %d did not exit:\n%s", p.cmd.Process.Pid, p.logs())
	}
	if p.err != nil {
		t.Fatalf("ferry pid %d: %v\n%s", p.cmd.Process.Pid, p.err, p.logs())
	}
}

// waitFail waits for the process to exit non-zero, having printed want.
func (p *ferryProc) waitFail(t *testing.T, want string) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("ferry pid %d did not exit:\n%s", p.cmd.Process.Pid, p.logs())
	}
	if p.err == nil || !strings.Contains(p.logs(), want) {
		t.Fatalf("ferry pid %d exited with %v, want a failure saying %q:\n%s", p.cmd.Process.Pid, p.err, want, p.logs())
	}
}
