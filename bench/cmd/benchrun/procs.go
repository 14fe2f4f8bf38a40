package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process gets after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// process is a child started by the supervisor, in its own process group
// so that stopping it also stops its children (nginx workers).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stdin   io.WriteCloser // nil unless requested
	done    chan struct{}  // closed when the process has exited
	waitErr error          // valid after done
}

// Pid returns the process ID. Any goroutine.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended. Any goroutine.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last lines of the process's combined output.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.TrimSpace(string(b))
}

// crashSummary returns the panic or fatal-error line of a Go crash in the
// process's log, with the first frame of the panicking goroutine, or the
// last lines of the log when there is no such line.
func (p *process) crashSummary() string {
	lines := strings.Split(p.logTail(), "\n")
	b, err := os.ReadFile(p.logPath)
	if err == nil {
		lines = strings.Split(string(b), "\n")
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			out := []string{l}
			for j := i + 1; j < len(lines) && j < i+8; j++ {
				if strings.HasPrefix(lines[j], "goroutine ") && j+2 < len(lines) {
					out = append(out, strings.TrimSpace(lines[j+1]), strings.TrimSpace(lines[j+2]))
					break
				}
			}
			return strings.Join(out, " ")
		}
	}
	return lastLines(strings.Join(lines, "\n"), 3)
}

// supervisor starts processes and stops every one of them, by process
// group ID, on Close, whatever happened in between.
type supervisor struct {
	logDir string
	mu     sync.Mutex
	procs  []*process
}

// startSpec says how to start one process.
type startSpec struct {
	name   string
	argv   []string
	dir    string            // working directory; "" = inherit
	onLine func(line string) // called for each stdout line; may be nil
	stdin  bool              // keep a pipe to stdin (closing it signals EOF)
}

// start launches spec. Stdout and stderr go to LOGDIR/NAME.log.
func (s *supervisor) start(spec startSpec) (*process, error) {
	logPath := filepath.Join(s.logDir, spec.name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	if spec.onLine != nil {
		cmd.Stdout = io.MultiWriter(logFile, &lineWriter{fn: spec.onLine})
	}
	// Own process group: signals go to the whole tree; Pdeathsig: the
	// child dies with the harness even on SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &process{name: spec.name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	if spec.stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			_ = logFile.Close() // nothing was written yet
			return nil, fmt.Errorf("start %s: %w", spec.name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close() // nothing was written yet
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, spec.argv[0], err)
	}
	s.procs = append(s.procs, p)
	go func() {
		p.waitErr = cmd.Wait() // also waits for the stdout copy into logFile
		_ = logFile.Close()    // the log is only read back for error messages
		close(p.done)
	}()
	return p, nil
}

// stop ends p's process group: SIGTERM, then SIGKILL after stopGrace.
func (s *supervisor) stop(p *process) error {
	if p.stdin != nil {
		_ = p.stdin.Close() // EOF asks well-behaved children to exit
	}
	pgid := p.Pid()
	if !p.exited() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // ESRCH: already gone
	}
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // last resort
		<-p.done
	}
	// Children that outlived the leader (e.g. orphaned workers) share its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH when none are left
	return nil
}

// Close stops every process started, newest first.
func (s *supervisor) Close() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = s.stop(procs[i]) // stop never fails; it escalates to SIGKILL
	}
}

// lineWriter calls fn for every complete line written to it.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
}

// freePort returns a port that was free a moment ago on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// errNotReady means a server did not answer GET / with 200 in time.
var errNotReady = errors.New("benchrun: server not ready")

// waitHTTPReady polls addr with "GET /" until it answers 200, the process
// exits, or the deadline passes. The error carries the process's log tail.
func waitHTTPReady(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = probeHTTP(addr); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s exited (%v); log tail:\n%s", errNotReady, p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%w: %s at %s after %v: %v; log tail:\n%s", errNotReady, p.name, addr, timeout, last, p.logTail())
		case <-tick.C:
		}
	}
}

// probeHTTP sends one "GET /" on a fresh connection and checks for a 200.
func probeHTTP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck // probe connection
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read status line: %w", err)
	}
	if f := strings.Fields(line); len(f) < 2 || f[1] != "200" {
		return fmt.Errorf("status line %q", strings.TrimSpace(line))
	}
	return nil
}
