package conn

import (
	"errors"
	"syscall"
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
// asks the loop sweep to call the relay back (OnWritable) to try again:
// every sweep while it waits, which the ticker runs every 2 ms while any
// connection of the loop is watched (gnet reports writability only for
// its own outbound buffer). On the peer's FIN, KeepWriting (called from
// the RemoteClose event, before gnet closes the descriptor) duplicates the
// descriptor, so that gnet's close does not close the socket: the relay
// writes the other side's remaining bytes into the copy, shuts its write
// side down (ShutdownWrite) and closes it (CloseKept). The copy is counted
// in the loop's Tracker like any socket.
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
	wait bool
	shut bool // ShutdownWrite ran
}

// ErrNotPlain is returned by StartDirect for a TLS connection.
var ErrNotPlain = errors.New("conn: direct writes need a plain TCP connection")

// StartDirect makes the connection's writes direct from now on: the
// caller writes with WriteDirect only, and hears through l when a write
// that came short may be tried again. It fails for a TLS connection, one
// not open, or one whose outbound queue holds bytes. Loop only.
func (c *Conn) StartDirect(l WritableListener) error {
	switch {
	case c.TLS() != nil:
		return ErrNotPlain
	case c.state != stateOpen:
		return ErrClosed
	case c.gc.OutboundBuffered() > 0:
		return errors.New("conn: direct writes need an empty outbound queue")
	}
	c.direct = &direct{l: l, kept: -1}
	return nil
}

// Direct reports whether StartDirect ran. Loop only.
func (c *Conn) Direct() bool { return c.direct != nil }

// fd is the descriptor direct writes go to, or -1.
func (c *Conn) fd() int {
	switch {
	case c.direct == nil:
		return -1
	case c.state == stateOpen:
		return c.gc.Fd()
	default:
		return c.direct.kept
	}
}

// WriteDirect writes p with one write(2) and returns how many bytes the
// socket took: fewer than len(p), possibly none, when its send buffer is
// full (call WaitWritable). An error means the socket is closed or broken.
// Loop only.
func (c *Conn) WriteDirect(p []byte) (int, error) {
	fd := c.fd()
	if fd < 0 || c.direct.shut {
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

// WaitWritable asks the loop sweep to call the listener's OnWritable, so
// that a short WriteDirect is tried again. Loop only.
func (c *Conn) WaitWritable() {
	if c.direct == nil || c.direct.wait {
		return
	}
	c.direct.wait = true
	c.loop.addWatch(c)
}

// recheckDirect runs the listener of a connection waiting in
// WaitWritable; called by the sweep.
func (c *Conn) recheckDirect() {
	if c.direct == nil || !c.direct.wait {
		return
	}
	c.direct.wait = false
	c.direct.l.OnWritable()
}

// tcpCloseWait is Linux's TCP_CLOSE_WAIT: the peer sent its FIN, we have
// not closed.
const tcpCloseWait = 8

// KeepWriting keeps the socket of a directly written connection open for
// writing after gnet closed it for the peer's FIN. Call it from the
// connection's RemoteClose event, when gnet has not yet closed the
// descriptor. It reports whether the socket was kept: not when the peer
// reset or fully closed it (the socket is not in CLOSE_WAIT), ferry
// closed it, or the Tracker has no socket to spare. Loop only.
func (c *Conn) KeepWriting() bool {
	if c.direct == nil || c.direct.kept >= 0 || c.direct.shut || c.localClose || c.state != stateClosed {
		return false
	}
	fd := c.gc.Fd()
	// The first byte of struct tcp_info is the socket's state.
	info, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_INFO)
	if err != nil || info&0xff != tcpCloseWait {
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
	c.direct.kept = int(nfd)
	return true
}

// Kept reports whether KeepWriting kept the socket and CloseKept has not
// closed it. Loop only.
func (c *Conn) Kept() bool { return c.direct != nil && c.direct.kept >= 0 }

// ShutdownWrite sends the peer a FIN (shutdown(SHUT_WR)) on a directly
// written connection, open or kept; the connection still reads. Nothing
// may be written after it. Loop only.
func (c *Conn) ShutdownWrite() error {
	fd := c.fd()
	if fd < 0 {
		return ErrClosed
	}
	if c.direct.shut {
		return nil
	}
	c.direct.shut = true
	return syscall.Shutdown(fd, syscall.SHUT_WR)
}

// CloseKept closes the socket KeepWriting kept, with a FIN after what was
// written (or a reset, with reset). Loop only.
func (c *Conn) CloseKept(reset bool) {
	if !c.Kept() {
		return
	}
	fd := c.direct.kept
	c.direct.kept = -1
	c.direct.wait = false
	if reset {
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	}
	_ = syscall.Close(fd)
	c.loop.Tracker.Release()
}
