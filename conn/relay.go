package conn

import (
	"errors"
	"syscall"
	"unsafe"

	"github.com/ferry-proxy/ferry/filterchain"
)

// Direct socket writes and half-close, for byte relays (internal/relay).
//
// gnet closes a connection as soon as a read returns EOF, so a peer's FIN
// (shutdown(SHUT_WR)) costs the whole socket, and whatever gnet still
// queued for it is written once without waiting and then dropped
// (docs/gnet.md, "Unsent bytes are dropped on close"). A relay must keep
// writing to a peer that only half-closed. So a relay's plain connection
// is written directly (StartDirect): WriteDirect is one write(2) on the
// socket and reports how much the kernel took, and the relay keeps the
// rest itself (its spill queue) rather than in gnet's outbound buffer,
// which therefore stays empty: at the FIN nothing is lost. WaitWritable
// asks the loop sweep to call the relay back (OnWritable) once the socket
// can take bytes again. gnet reports writability only for its own
// outbound buffer, and a descriptor gnet does not know cannot be put in
// its poller (an event for an unknown fd makes gnet delete it, and under
// poll_opt the event's data word is a pointer of gnet's): so the sweep,
// which the ticker runs every 2 ms while any connection of the loop
// waits, asks the kernel about every waiting socket of the loop with one
// ppoll(2) of timeout zero, and calls back only the writable ones. A
// blocked side costs its share of one syscall per sweep, not a write(2)
// each: with 256 blocked sockets on a loop, one sweep's 256-fd ppoll
// takes ~40 µs against ~110-185 µs for 256 write(2)s (EAGAIN), that is
// ~2% of a core at 500 sweeps a second instead of 5-9%
// (BenchmarkBlockedWritersSweep, unix socket pairs; go test -run XXX
// -bench BlockedWriters -benchtime=2000x -count=3 ./conn/). The cost stays
// linear in the blocked sockets; a private epoll per loop would make it
// proportional to the ready ones, at the price of registrations to keep
// in step with gnet's closes.
//
// The descriptor a direct write, ShutdownWrite or the sweep's poll uses
// is read on the loop in the same callback as the syscall: gnet's fd only
// while the connection is open (gnet closes it only after OnClose, on
// this loop, and OnClose marks the connection closed first), the kept
// copy after that, else none (ErrClosed). Nothing is ever written to a
// descriptor number gnet closed (docs/gnet.md, "Writes after close reach
// whoever reuses the fd"; TestDirectWriteAfterCloseNeverReachesTheNextConnection).
//
// On the peer's FIN, KeepWriting (called from the RemoteClose event,
// before gnet closes the descriptor) duplicates the descriptor, so that
// gnet's close does not close the socket: the relay writes the other
// side's remaining bytes into the copy, shuts its write side down
// (ShutdownWrite) and closes it (CloseKept). The copy is counted in the
// loop's Tracker like any socket, and listed on the loop: a relay that
// ends closes it, and the engine closes those left when it stops
// (Loop.CloseKeptSockets), so that no copy outlives the engine.
//
// A TLS connection cannot be written around its record layer: it keeps
// gnet's writes and watermarks, and has no half-close (its FIN is the end
// of the connection).

// WritableListener hears that a connection waiting in WaitWritable may be
// written again. Loop only.
type WritableListener interface {
	OnWritable()
}

// direct is a directly written connection's state.
type direct struct {
	l WritableListener
	// kept is the descriptor kept open past gnet's close (KeepWriting),
	// -1 while gnet owns the socket or once it is closed.
	kept int
	// keptAt is the copy's index in the loop's kept list.
	keptAt int
	wait   bool
	shut   bool // ShutdownWrite ran
}

// ErrNotPlain is returned by StartDirect for a TLS connection.
var ErrNotPlain = errors.New("conn: direct writes need a plain TCP connection")

// StartDirect makes the connection's writes direct from now on: the
// caller writes with WriteDirect only, and hears through l when a write
// that came short may be tried again. It fails for a TLS connection, one
// with network write filters (a direct write would pass them by), one
// not open, or one whose outbound queue holds bytes. Loop only.
func (c *Conn) StartDirect(l WritableListener) error {
	switch {
	case c.dir() != nil:
		return errors.New("conn: direct writes started twice")
	case c.TLS() != nil:
		return ErrNotPlain
	case c.mgr.HasWriteFilters():
		return errors.New("conn: direct writes would bypass the connection's write filters")
	case c.state != stateOpen:
		return ErrClosed
	case c.gc.OutboundBuffered() > 0:
		return errors.New("conn: direct writes need an empty outbound queue")
	}
	x := c.more()
	x.direct, x.isDirect = direct{l: l, kept: -1}, true
	return nil
}

// Direct reports whether StartDirect ran. Loop only.
func (c *Conn) Direct() bool { return c.dir() != nil }

// fd is the descriptor direct writes go to, or -1.
func (c *Conn) fd() int {
	switch {
	case c.dir() == nil:
		return -1
	case c.state == stateOpen:
		return c.gc.Fd()
	default:
		return c.dir().kept
	}
}

// WriteDirect writes p with one write(2) and returns how many bytes the
// socket took: fewer than len(p), possibly none, when its send buffer is
// full (call WaitWritable). An error means the socket is closed or broken.
// Loop only.
func (c *Conn) WriteDirect(p []byte) (int, error) {
	fd := c.fd()
	if fd < 0 || c.dir().shut {
		return 0, ErrClosed
	}
	for {
		n, err := syscall.Write(fd, p)
		switch {
		case err == nil:
			c.countWritten(n)
			return n, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, nil
		default:
			return 0, err
		}
	}
}

// WaitWritable asks the loop sweep to call the listener's OnWritable
// once the socket can take bytes, so that a short WriteDirect is tried
// again. Loop only.
func (c *Conn) WaitWritable() {
	if c.dir() == nil || c.dir().wait {
		return
	}
	c.dir().wait = true
	l := c.loop
	l.writers = append(l.writers, c)
	l.noteWatch()
}

// Waiting reports whether WaitWritable waits for the socket. Loop only.
func (c *Conn) Waiting() bool { return c.dir() != nil && c.dir().wait }

// pollFd is struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// pollOut is POLLOUT; POLLERR and POLLHUP come back unasked.
const pollOut = 0x4

// sweepWriters asks the kernel which waiting sockets can be written (one
// ppoll, no wait) and calls those back; the others keep waiting. A
// socket that errs or hangs up is called back too: its write reports it.
// Called by the sweep. Loop only.
func (l *Loop) sweepWriters() {
	cur := l.writers
	l.writers = l.spareW[:0]
	fds := l.pollFds[:0]
	for _, c := range cur {
		fd := -1
		if c.dir().wait {
			fd = c.fd()
		}
		fds = append(fds, pollFd{fd: int32(fd), events: pollOut})
	}
	l.pollFds = fds
	errno := ppoll(fds)
	for i, c := range cur {
		cur[i] = nil
		d := c.dir()
		switch {
		case !d.wait:
			// No longer waiting (its socket closed): dropped.
		case fds[i].fd >= 0 && fds[i].revents == 0 && errno == 0:
			l.writers = append(l.writers, c) // still full
		default:
			// Writable, broken, closed, or the poll failed: the write
			// says which.
			d.wait = false
			d.l.OnWritable()
		}
	}
	l.spareW = cur[:0]
}

// ppoll asks about fds without waiting; a signal is retried.
func ppoll(fds []pollFd) syscall.Errno {
	for {
		var ts syscall.Timespec // zero: do not wait
		_, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno != syscall.EINTR {
			return errno
		}
	}
}

// keep lists c's kept copy on the loop.
func (l *Loop) keep(c *Conn) {
	c.dir().keptAt = len(l.kept)
	l.kept = append(l.kept, c)
}

// unkeep takes c's copy off the loop's list.
func (l *Loop) unkeep(c *Conn) {
	i, last := c.dir().keptAt, len(l.kept)-1
	l.kept[i] = l.kept[last]
	l.kept[i].dir().keptAt = i
	l.kept[last] = nil
	l.kept = l.kept[:last]
}

// CloseKeptSockets closes, with a reset, every socket KeepWriting kept
// that no relay closed yet, and returns how many. Call it once the engine
// has stopped and its loops no longer run: a relay waiting to write to a
// kept socket would never hear from the loop again, and the copy would
// stay open until the process exits. Not while the loop runs.
func (l *Loop) CloseKeptSockets() int {
	n := len(l.kept)
	for len(l.kept) > 0 {
		l.kept[len(l.kept)-1].CloseKept(true)
	}
	return n
}

// KeptSockets is the number of sockets kept open on the loop. Loop only
// (or once the engine has stopped).
func (l *Loop) KeptSockets() int { return len(l.kept) }

// Linux's TCP states (include/net/tcp_states.h): tcpClose, the socket
// is done (a reset ended it); tcpCloseWait, the peer sent its FIN, we
// have not closed.
const (
	tcpClose     = 7
	tcpCloseWait = 8
)

// tcpState is the TCP state of socket fd (the first byte of struct
// tcp_info), or -1.
func tcpState(fd int) int {
	info, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_INFO)
	if err != nil {
		return -1
	}
	return info & 0xff
}

// PeerReset reports, from the connection's RemoteClose event (gnet has
// not yet closed the descriptor), whether the peer reset the connection
// rather than ending it with a FIN: the socket is in TCP_CLOSE. Only
// while our side has not sent its FIN (ShutdownWrite): after it, the
// peer's FIN takes the socket to TIME_WAIT, whose full socket reads
// TCP_CLOSE too. An HTTP/2 tunnel answers a reset with CONNECT_ERROR.
// Loop only.
func (c *Conn) PeerReset() bool {
	if c.localClose || c.state != stateClosed || c.gc == nil {
		return false
	}
	return tcpState(c.gc.Fd()) == tcpClose
}

// KeepWriting keeps the socket of a directly written connection open for
// writing after gnet closed it for the peer's FIN. Call it from the
// connection's RemoteClose event, when gnet has not yet closed the
// descriptor. It reports whether the socket was kept: not when the peer
// reset or fully closed it (the socket is not in CLOSE_WAIT), ferry
// closed it, or the Tracker has no socket to spare. Loop only.
func (c *Conn) KeepWriting() bool {
	if c.dir() == nil || c.dir().kept >= 0 || c.dir().shut || c.localClose || c.state != stateClosed {
		return false
	}
	fd := c.gc.Fd()
	if tcpState(fd) != tcpCloseWait {
		return false
	}
	if c.loop.Tracker.Acquire(0) != nil {
		return false
	}
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		c.loop.Tracker.Release()
		return false
	}
	c.dir().kept = int(nfd)
	c.loop.keep(c)
	return true
}

// Kept reports whether KeepWriting kept the socket and CloseKept has not
// closed it. Loop only.
func (c *Conn) Kept() bool { return c.dir() != nil && c.dir().kept >= 0 }

// ShutdownWrite sends the peer a FIN (shutdown(SHUT_WR)) on a directly
// written connection, open or kept; the connection still reads. Nothing
// may be written after it. Loop only.
//
// On a connection written through gnet (not under TLS, whose end is a
// close_notify: Close) the FIN goes once gnet's queue is empty: at once,
// or from the sweep that sees the queue drained (finWhenDrained), so
// that it never passes the bytes still queued and the peer's answer
// after it is still read.
func (c *Conn) ShutdownWrite() error {
	if c.dir() == nil {
		switch {
		case c.TLS() != nil:
			return ErrNotPlain
		case c.state != stateOpen:
			return ErrClosed
		case c.gc.OutboundBuffered() > 0:
			c.more().finPending = true
			c.loop.addWatch(c) // the sweep sends the FIN once gnet drained
			return nil
		}
		return syscall.Shutdown(c.gc.Fd(), syscall.SHUT_WR)
	}
	fd := c.fd()
	if fd < 0 {
		return ErrClosed
	}
	if c.dir().shut {
		return nil
	}
	c.dir().shut = true
	return syscall.Shutdown(fd, syscall.SHUT_WR)
}

// finWhenDrained sends the FIN that ShutdownWrite left pending, now that
// gnet's queue is empty (recheck); a failure closes the connection.
func (c *Conn) finWhenDrained() {
	if x := c.x; x == nil || !x.finPending {
		return
	}
	c.x.finPending = false
	if syscall.Shutdown(c.gc.Fd(), syscall.SHUT_WR) != nil {
		c.Close(filterchain.CloseNow)
	}
}

// CloseKept closes the socket KeepWriting kept, with a FIN after what was
// written (or a reset, with reset). Loop only.
func (c *Conn) CloseKept(reset bool) {
	if !c.Kept() {
		return
	}
	fd := c.dir().kept
	c.loop.unkeep(c)
	c.dir().kept = -1
	c.dir().wait = false
	if reset {
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	}
	_ = syscall.Close(fd)
	c.loop.Tracker.Release()
}
