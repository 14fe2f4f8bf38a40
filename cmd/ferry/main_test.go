package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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
