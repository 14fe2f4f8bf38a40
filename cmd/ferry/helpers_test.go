package main

import (
	"bufio"
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
