package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSupervisorStopsWholeProcessGroup(t *testing.T) {
	sup := &supervisor{logDir: t.TempDir()}
	lines := make(chan string, 4)
	// A parent that starts a child, like nginx's master and worker.
	p, err := sup.start(startSpec{name: "tree", argv: []string{"sh", "-c", "sleep 300 & echo child $!; wait"},
		onLine: func(l string) { lines <- l }})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	select {
	case l := <-lines:
		if _, err := fmt.Sscanf(l, "child %d", &child); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no output from the child within 10s")
	}
	sup.Close()
	if !p.exited() {
		t.Fatal("leader still running after Close")
	}
	// The child was in the same group, so it got SIGKILL too. Delivery is
	// asynchronous: wait (bounded) until it is gone (ESRCH) or a zombie.
	waitFor(t, 10*time.Second, func() bool {
		return syscall.Kill(child, 0) != nil || isZombie(child)
	}, fmt.Sprintf("child %d survived Close", child))
}

// waitFor polls cond until it holds, failing the test with msg after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		<-tick.C
	}
}

func isZombie(pid int) bool {
	st, err := (procFS{root: "/proc", ticksPerSec: 100}).read(pid, "stat")
	return err != nil || strings.Contains(string(st), ") Z ")
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{fn: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"listen", "ing on 1\r\nready ", "3\n", "partial"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"listening on 1", "ready 3"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestWaitHTTPReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	sup := &supervisor{logDir: t.TempDir()}
	defer sup.Close()
	p, err := sup.start(startSpec{name: "sleeper", argv: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	if err := waitHTTPReady(context.Background(), p, addr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	err = waitHTTPReady(context.Background(), p, fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if !errors.Is(err, errNotReady) {
		t.Fatalf("closed port: error %v, want errNotReady", err)
	}
}

func TestCrashSummary(t *testing.T) {
	sup := &supervisor{logDir: t.TempDir()}
	defer sup.Close()
	script := `echo "ferry: listening"; echo "panic: runtime error: nil map"; echo; ` +
		`echo "goroutine 7 [running]:"; echo "pkg.(*s).f(0x1)"; echo "	/src/f.go:14 +0x73"; exit 2`
	p, err := sup.start(startSpec{name: "crasher", argv: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	want := "panic: runtime error: nil map pkg.(*s).f(0x1) /src/f.go:14 +0x73"
	if got := p.crashSummary(); got != want {
		t.Fatalf("crashSummary = %q, want %q", got, want)
	}
}

// TestRestartTargets: every proxy is stopped and started again in place
// (same *target, new process, its own log file), the upstream is left
// alone, and a target that cannot start again is noted and stays stopped.
func TestRestartTargets(t *testing.T) {
	dir := t.TempDir()
	b := &bench{root: dir, sup: &supervisor{logDir: dir}, rep: &report{}, logf: t.Logf}
	defer b.sup.Close()
	sleeper := func(name string) func() (*target, error) {
		return func() (*target, error) {
			p, err := b.sup.start(startSpec{name: b.logName(name), argv: []string{"sleep", "300"}})
			if err != nil {
				return nil, err
			}
			return &target{Name: name, H1Addr: "addr-" + b.logName(name), proc: p}, nil
		}
	}
	up, err := sleeper(targetDirect)()
	if err != nil {
		t.Fatal(err)
	}
	ferry, err := sleeper(targetFerryAuto)()
	if err != nil {
		t.Fatal(err)
	}
	nginx, err := sleeper(targetNginx)()
	if err != nil {
		t.Fatal(err)
	}
	b.targets = []*target{up, ferry, nginx}
	b.starters = map[string]func() (*target, error){
		targetFerryAuto: sleeper(targetFerryAuto),
		targetNginx:     func() (*target, error) { return nil, errors.New("port taken") },
	}
	oldFerry, oldNginx, upPid := ferry.proc, nginx.proc, up.proc.Pid()
	if err := b.restartTargets(context.Background(), "next-case"); err != nil {
		t.Fatal(err)
	}
	if !oldFerry.exited() || ferry.proc == oldFerry || ferry.proc.exited() || ferry.H1Addr != "addr-ferry-auto.2" ||
		!strings.HasSuffix(ferry.proc.logPath, "ferry-auto.2.log") {
		t.Fatalf("ferry not restarted in place: %+v", ferry)
	}
	if !oldNginx.exited() || nginx.proc != oldNginx {
		t.Fatalf("nginx: %+v", nginx)
	}
	if up.proc.exited() || up.proc.Pid() != upPid {
		t.Fatal("the upstream was restarted")
	}
	if len(b.rep.Notes) != 1 || !strings.Contains(b.rep.Notes[0], "nginx could not be restarted before case next-case: port taken") {
		t.Fatalf("notes %q", b.rep.Notes)
	}
}
