package eventloop

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// gnet opens its listening sockets itself and has no API to stop
// accepting on them short of Engine.Stop, which closes every connection;
// and an accept(2) error other than EAGAIN, EINTR, ECONNRESET or
// ECONNABORTED stops the whole engine (docs/gnet.md, "Stop accepting,
// keep serving"). So ferry reaches under gnet through the kernel, not
// through gnet's internals: /proc/self/fdinfo of every epoll fd lists
// the fds it watches with their event mask and data word, which is enough
// to remove a listening socket from gnet's poller (EPOLL_CTL_DEL) or to
// put another socket in its place with the same registration.

// pollEntry is one listening socket a gnet poller watches.
type pollEntry struct {
	// listener is the index of the ferry Listener it serves.
	listener int
	// fd is gnet's descriptor number; epfd the epoll that watches it.
	fd, epfd int
	// events and data are its registration, as fdinfo shows them.
	events uint32
	data   uint64
	// ino identifies the socket (dups of one socket share it).
	ino uint64
}

// scanListeners returns the listening sockets gnet polls whose bound
// address is one of want (by listener index). Linux only.
func scanListeners(want []net.Addr) ([]pollEntry, error) {
	dir, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("eventloop: listening sockets: %w", err)
	}
	var out []pollEntry
	for _, de := range dir {
		epfd, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink("/proc/self/fd/" + de.Name())
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		entries, err := epollTargets(epfd)
		if err != nil {
			continue // closed meanwhile: not one of ours
		}
		for _, pe := range entries {
			var st syscall.Stat_t
			if syscall.Fstat(pe.fd, &st) != nil || st.Ino != pe.ino || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
				continue
			}
			if v, err := syscall.GetsockoptInt(pe.fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || v != 1 {
				continue
			}
			addr := sockAddr(pe.fd)
			if addr == nil {
				continue
			}
			for i, w := range want {
				if w != nil && sameAddr(addr, w) {
					pe.listener, pe.epfd = i, epfd
					out = append(out, pe)
					break
				}
			}
		}
	}
	return out, nil
}

// epollTargets parses /proc/self/fdinfo/EPFD: one "tfd: N events: X
// data: Y pos:P ino:I sdev:S" line per watched fd (Linux 3.8+).
func epollTargets(epfd int) ([]pollEntry, error) {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(epfd))
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read only
	var out []pollEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "tfd:" || fields[2] != "events:" || fields[4] != "data:" {
			continue
		}
		var pe pollEntry
		fd, err1 := strconv.Atoi(fields[1])
		ev, err2 := strconv.ParseUint(fields[3], 16, 32)
		data, err3 := strconv.ParseUint(fields[5], 16, 64)
		var ino uint64
		err4 := errors.New("no ino")
		for _, f := range fields[6:] {
			if v, ok := strings.CutPrefix(f, "ino:"); ok {
				ino, err4 = strconv.ParseUint(v, 16, 64)
			}
		}
		if errors.Join(err1, err2, err3, err4) != nil {
			continue
		}
		pe.fd, pe.events, pe.data, pe.ino = fd, uint32(ev), data, ino
		out = append(out, pe)
	}
	return out, sc.Err()
}

// sockAddr is fd's bound TCP address, or nil.
func sockAddr(fd int) *net.TCPAddr {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

func sameAddr(a *net.TCPAddr, b net.Addr) bool {
	t, ok := b.(*net.TCPAddr)
	return ok && t.Port == a.Port && t.IP.Equal(a.IP)
}

// epollDel removes pe from its poller.
func epollDel(pe pollEntry) error {
	return os.NewSyscallError("epoll_ctl del", syscall.EpollCtl(pe.epfd, syscall.EPOLL_CTL_DEL, pe.fd, nil))
}

// epollAdd registers pe.fd with pe's events and data word.
func epollAdd(pe pollEntry) error {
	ev := syscall.EpollEvent{Events: pe.events, Fd: int32(uint32(pe.data)), Pad: int32(uint32(pe.data >> 32))} // the data word's two halves, bit for bit
	return os.NewSyscallError("epoll_ctl add", syscall.EpollCtl(pe.epfd, syscall.EPOLL_CTL_ADD, pe.fd, &ev))
}

// placeholderSocket is what a stopped listener's descriptor number holds
// until gnet closes it: a non-blocking listening unix socket that nobody
// connects to, so that an accept(2) from an event gnet had already taken
// off the poller meets EAGAIN (which gnet ignores) rather than an error
// that would stop the engine.
func placeholderSocket() (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// An empty name binds to a fresh abstract name (Linux's autobind).
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{}); err != nil {
		_ = syscall.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := syscall.Listen(fd, 1); err != nil {
		_ = syscall.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// replaceFD makes number fd refer to src's socket (dup3 with close on
// exec), closing what fd referred to.
func replaceFD(src, fd int) error {
	return os.NewSyscallError("dup3", syscall.Dup3(src, fd, syscall.O_CLOEXEC))
}

// reservePort binds a TCP socket to ip:0 with SO_REUSEADDR and
// SO_REUSEPORT and does not listen: it holds a port that gnet's
// placeholder listeners can bind (they set the same options) and that
// nobody else gets meanwhile. The caller closes it.
func reservePort(ip net.IP) (fd, port int, err error) {
	fd, err = bindTCP(ip, 0, true)
	if err != nil {
		return -1, 0, err
	}
	a := sockAddr(fd)
	if a == nil {
		_ = syscall.Close(fd)
		return -1, 0, os.NewSyscallError("getsockname", syscall.EINVAL)
	}
	return fd, a.Port, nil
}

// bindTCP opens a non-blocking, close-on-exec TCP socket bound to ip:port
// with SO_REUSEADDR (and SO_REUSEPORT with reusePort), as gnet opens its
// own. The caller closes it.
func bindTCP(ip net.IP, port int, reusePort bool) (int, error) {
	family := syscall.AF_INET
	if ip.To4() == nil {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(what string, err error) (int, error) {
		_ = syscall.Close(fd)
		return -1, os.NewSyscallError(what, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if reusePort {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET {
		a := &syscall.SockaddrInet4{Port: port}
		copy(a.Addr[:], ip.To4())
		sa = a
	} else {
		a := &syscall.SockaddrInet6{Port: port}
		copy(a.Addr[:], ip.To16())
		sa = a
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

// soReusePort is SO_REUSEPORT on Linux (the syscall package lacks it).
const soReusePort = 0xf

// isListeningTCP reports whether fd is a listening TCP socket, and its
// address.
func isListeningTCP(fd int) (*net.TCPAddr, error) {
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return nil, os.NewSyscallError("getsockopt", err)
	}
	if v != 1 {
		return nil, errors.New("not a listening socket")
	}
	a := sockAddr(fd)
	if a == nil {
		return nil, errors.New("not a TCP socket")
	}
	return a, nil
}
