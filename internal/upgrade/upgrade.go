package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's file name in uds_dir (MOSN's).
const SocketName = "reconfig.sock"

// MaxFDs bounds the descriptors one handover carries.
const MaxFDs = 4096

// Timeouts of the exchange. The new process needs ReadyTimeout to build
// and start itself between receiving the sockets and saying it is ready.
const (
	// AnswerTimeout bounds each answer of the old process.
	AnswerTimeout = 10 * time.Second
	// ReadyTimeout bounds how long the old process waits for "ready".
	ReadyTimeout = 2 * time.Minute
)

// answerTimeout is AnswerTimeout; tests shorten it.
var answerTimeout = AnswerTimeout //nolint:gochecknoglobals // a constant that tests shorten

// ErrNoPeer is returned by Dial when no ferry serves the socket.
var ErrNoPeer = errors.New("upgrade: no running ferry")

// Listener is one listener's sockets as handed over.
type Listener struct {
	// Name and Address are the listener's, as configured in the process
	// that sends them.
	Name    string `json:"name"`
	Address string `json:"address"`
	// FDs are the descriptors; in messages, only their count travels.
	FDs []int `json:"-"`
	// N is len(FDs) on the wire.
	N int `json:"fds"`
}

type message struct {
	Op        string     `json:"op"`
	Pid       int        `json:"pid"`
	Listeners []Listener `json:"listeners,omitempty"`
	Err       string     `json:"error,omitempty"`
	// Config is the asking process's config file (absolute path), so
	// that a ferry never takes over one that runs another config.
	Config string `json:"config,omitempty"`
}

// Path is the socket path for uds_dir dir (empty: the directory of
// configPath; both empty: the working directory).
func Path(dir, configPath string) string {
	if dir == "" && configPath != "" {
		dir = filepath.Dir(configPath)
	}
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, SocketName)
}

// ServeOptions configures Serve.
type ServeOptions struct {
	// Listeners returns duplicates of the listening sockets, by
	// listener; Serve closes them once sent.
	Listeners func() ([]Listener, error)
	// Handover runs when the new process is ready: it must stop accepting
	// (the new process accepts from the same sockets from now on). Its
	// error is reported to the new process, which exits: the old one
	// then keeps its sockets (it has not stopped accepting if Handover
	// failed before doing so).
	Handover func() error
	// Logger receives the exchange's events; nil means slog.Default().
	Logger *slog.Logger
	// Config is this process's config file (absolute path). A peer that
	// names another one is refused: two ferries whose config files share
	// a directory (uds_dir's default) share reconfig.sock, and a smooth
	// upgrade is for the same config. Empty accepts any peer.
	Config string
}

// Server answers upgrade requests on reconfig.sock.
type Server struct {
	o    ServeOptions
	ln   *net.UnixListener
	done chan struct{} // closed after a handover
	wg   sync.WaitGroup
	once sync.Once
	// mu guards cur, the exchange in progress, which Close cuts short.
	mu     sync.Mutex
	cur    *net.UnixConn
	closed bool
}

// Serve listens on path. A stale socket file nobody listens on is
// replaced; one a live process answers on is an error.
func Serve(path string, o ServeOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	addr := &net.UnixAddr{Name: path, Net: "unixpacket"}
	ln, err := net.ListenUnix("unixpacket", addr)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) {
		c, derr := net.DialTimeout("unixpacket", path, time.Second)
		if derr == nil {
			_ = c.Close()
			return nil, fmt.Errorf("upgrade: %s: another process serves it (a ferry with the same uds_dir?)", path)
		}
		if rerr := os.Remove(path); rerr != nil {
			return nil, fmt.Errorf("upgrade: %s: removing the stale socket: %w", path, rerr)
		}
		ln, err = net.ListenUnix("unixpacket", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	_ = os.Chmod(path, 0o600) // only ferry's user may take its sockets
	s := &Server{o: o, ln: ln, done: make(chan struct{})}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// HandedOver is closed once a new process took the listeners over.
func (s *Server) HandedOver() <-chan struct{} { return s.done }

// Close stops serving and removes the socket file; an exchange in
// progress ends (before "ready", the old process has changed nothing; the
// new one then serves without its confirmation). Idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() { err = s.ln.Close() })
	s.mu.Lock()
	s.closed = true
	if s.cur != nil {
		_ = s.cur.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) loop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.cur = c
		s.mu.Unlock()
		handed := s.answer(c)
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		_ = c.Close()
		if handed {
			return
		}
	}
}

// answer runs one exchange and reports whether the listeners were handed
// over.
func (s *Server) answer(c *net.UnixConn) bool {
	log := s.o.Logger
	_ = c.SetDeadline(time.Now().Add(AnswerTimeout))
	req, _, err := readMsg(c)
	if err != nil || req.Op != "listeners" {
		log.Warn("upgrade: a peer on reconfig.sock did not ask for the listeners", "op", req.Op, "err", err)
		return false
	}
	log.Info("upgrade: a new ferry asks for the listeners", "pid", req.Pid)
	if s.o.Config != "" && req.Config != "" && req.Config != s.o.Config {
		msg := fmt.Sprintf("the ferry on this reconfig.sock (pid %d) runs %s, not %s: a smooth upgrade takes over a ferry "+
			"of the same config file; give each its own uds_dir, or disable_upgrade", os.Getpid(), s.o.Config, req.Config)
		_ = writeMsg(c, message{Op: "error", Pid: os.Getpid(), Err: msg}, nil)
		log.Warn("upgrade: refused a ferry of another config", "pid", req.Pid, "config", req.Config)
		return false
	}
	ls, err := s.o.Listeners()
	if err != nil {
		_ = writeMsg(c, message{Op: "error", Pid: os.Getpid(), Err: err.Error()}, nil)
		log.Error("upgrade: cannot hand the listeners over; serving on", "err", err)
		return false
	}
	var fds []int
	for i := range ls {
		ls[i].N = len(ls[i].FDs)
		fds = append(fds, ls[i].FDs...)
	}
	err = writeMsg(c, message{Op: "listeners", Pid: os.Getpid(), Listeners: ls}, fds)
	for _, fd := range fds {
		_ = syscall.Close(fd) // the peer holds its own copies now
	}
	if err != nil {
		log.Error("upgrade: sending the listeners failed; serving on", "err", err)
		return false
	}
	_ = c.SetDeadline(time.Now().Add(ReadyTimeout))
	ready, _, err := readMsg(c)
	if err != nil || ready.Op != "ready" {
		log.Warn("upgrade: the new ferry did not start; serving on", "pid", req.Pid, "err", err, "op", ready.Op)
		return false
	}
	if err := s.o.Handover(); err != nil {
		_ = writeMsg(c, message{Op: "error", Pid: os.Getpid(), Err: err.Error()}, nil)
		log.Error("upgrade: stopping accepting failed", "err", err)
		return false
	}
	// The socket file goes before "done", so that the new process can
	// serve its own at the same path.
	s.once.Do(func() { _ = s.ln.Close() })
	_ = c.SetDeadline(time.Now().Add(AnswerTimeout))
	if err := writeMsg(c, message{Op: "done", Pid: os.Getpid()}, nil); err != nil {
		log.Warn("upgrade: confirming the handover", "err", err)
	}
	log.Info("upgrade: listeners handed over; draining", "pid", req.Pid)
	close(s.done)
	return true
}

// Handover is the new process's side of an exchange in progress.
type Handover struct {
	c *net.UnixConn
	// Pid is the old process's.
	Pid int
	// Listeners are the sockets received; the caller owns the
	// descriptors.
	Listeners []Listener
}

// Dial asks the ferry serving path for its listeners. ErrNoPeer means
// no ferry serves it (no file, or nobody listening); any other error
// means one may but did not answer.
func Dial(path string) (*Handover, error) { return DialConfig(path, "") }

// DialConfig is Dial from a process running config (absolute path): the
// running ferry refuses it unless it runs the same file.
func DialConfig(path, config string) (*Handover, error) {
	c, err := net.DialTimeout("unixpacket", path, answerTimeout)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNoPeer
		}
		return nil, fmt.Errorf("upgrade: %s: %w", path, err)
	}
	uc := c.(*net.UnixConn)
	fail := func(err error) (*Handover, error) {
		_ = uc.Close()
		return nil, fmt.Errorf("upgrade: %s: the running ferry did not hand its listeners over: %w", path, err)
	}
	_ = uc.SetDeadline(time.Now().Add(answerTimeout))
	if err := writeMsg(uc, message{Op: "listeners", Pid: os.Getpid(), Config: config}, nil); err != nil {
		return fail(err)
	}
	m, fds, err := readMsg(uc)
	if err != nil {
		return fail(err)
	}
	closeFDs := func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}
	switch {
	case m.Op == "error":
		closeFDs()
		return fail(errors.New(m.Err))
	case m.Op != "listeners":
		closeFDs()
		return fail(fmt.Errorf("unexpected answer %q", m.Op))
	}
	total := 0
	for _, l := range m.Listeners {
		total += l.N
	}
	if total != len(fds) {
		closeFDs()
		return fail(fmt.Errorf("%d descriptors announced, %d received", total, len(fds)))
	}
	for i := range m.Listeners {
		n := m.Listeners[i].N
		m.Listeners[i].FDs, fds = fds[:n:n], fds[n:]
	}
	return &Handover{c: uc, Pid: m.Pid, Listeners: m.Listeners}, nil
}

// Ready tells the old process that this one serves the sockets, and
// waits until it stopped accepting and released reconfig.sock.
func (h *Handover) Ready() error {
	defer h.c.Close() //nolint:errcheck // the exchange is over
	_ = h.c.SetDeadline(time.Now().Add(answerTimeout))
	if err := writeMsg(h.c, message{Op: "ready", Pid: os.Getpid()}, nil); err != nil {
		return fmt.Errorf("upgrade: telling the old ferry (pid %d): %w", h.Pid, err)
	}
	m, fds, err := readMsg(h.c)
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("upgrade: the old ferry (pid %d) did not confirm: %w", h.Pid, err)
	}
	if m.Op != "done" {
		return fmt.Errorf("upgrade: the old ferry (pid %d) answered %q: %s", h.Pid, m.Op, m.Err)
	}
	return nil
}

// Abort ends the exchange without taking over: the old process serves
// on. It closes the descriptors the caller has not taken (set to -1).
func (h *Handover) Abort() {
	for _, l := range h.Listeners {
		for _, fd := range l.FDs {
			if fd >= 0 {
				_ = syscall.Close(fd)
			}
		}
	}
	_ = h.c.Close()
}

func writeMsg(c *net.UnixConn, m message, fds []int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// readMsg reads one packet and the descriptors that came with it (close
// on exec).
func readMsg(c *net.UnixConn) (message, []int, error) {
	var m message
	buf := make([]byte, 1<<16)
	oob := make([]byte, syscall.CmsgSpace(4*MaxFDs))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return m, nil, err
	}
	var fds []int
	if oobn > 0 {
		cms, perr := syscall.ParseSocketControlMessage(oob[:oobn])
		if perr != nil {
			return m, nil, perr
		}
		for _, cm := range cms {
			got, rerr := syscall.ParseUnixRights(&cm)
			if rerr == nil {
				fds = append(fds, got...)
			}
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		closeAll()
		return m, nil, errors.New("upgrade: message truncated")
	}
	if n == 0 {
		closeAll()
		return m, nil, errors.New("upgrade: the peer closed the socket")
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll()
		return m, nil, fmt.Errorf("upgrade: bad message: %w", err)
	}
	return m, fds, nil
}
