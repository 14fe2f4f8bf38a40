package eventloop

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// Serving inherited sockets (docs/upgrade.md). gnet binds its listeners
// from addresses and cannot be given a descriptor, so a ferry started
// over inherited sockets lets gnet bind placeholders on a loopback port
// reserved for the purpose, waits until every loop polls them, and then,
// under each loop's poller, puts an inherited socket in each
// placeholder's place: EPOLL_CTL_DEL of the placeholder, dup3 of the
// inherited socket onto the placeholder's descriptor number, and
// EPOLL_CTL_ADD with the placeholder's very registration (event mask and
// data word). gnet goes on accepting on "its" descriptor, which now is
// the socket the old process listened on, with its accept queue: nothing
// in the queue is lost and the port was never closed.
//
// The placeholders bind 127.0.0.1 (or ::1) only, for the few
// milliseconds between gnet's bind and the swap.

// adoption is the state of a start over inherited sockets.
type adoption struct {
	// inherit are the inherited descriptors, by listener.
	inherit [][]int
	// real are their bound addresses, by listener.
	real []net.Addr
	// reserved are the sockets holding the placeholder ports.
	reserved []int
	// ports are the placeholder ports, by listener.
	ports []int
}

// prepareAdoption checks the inherited descriptors: one list per
// listener, every one a listening TCP socket, all of a listener's bound
// to the same address.
func (e *Engine) prepareAdoption(inherit [][]int) error {
	if len(inherit) != e.nConf {
		return fmt.Errorf("eventloop: %d listeners inherited for %d configured", len(inherit), e.nConf)
	}
	a := &adoption{real: make([]net.Addr, len(inherit))}
	for i, fds := range inherit {
		l := e.listeners[i]
		if len(fds) == 0 {
			return fmt.Errorf("eventloop: listener %d (%s): no socket inherited", i, l.Name)
		}
		for _, fd := range fds {
			addr, err := isListeningTCP(fd)
			if err != nil {
				return fmt.Errorf("eventloop: listener %d (%s): inherited descriptor %d: %w", i, l.Name, fd, err)
			}
			if a.real[i] == nil {
				a.real[i] = addr
			} else if !sameAddr(addr, a.real[i]) {
				return fmt.Errorf("eventloop: listener %d (%s): inherited sockets bound to %s and %s", i, l.Name, a.real[i], addr)
			}
		}
		if l.port != 0 && l.port != a.real[i].(*net.TCPAddr).Port {
			return fmt.Errorf("eventloop: listener %d (%s): the running ferry listens on %s, this one is configured for %s",
				i, l.Name, a.real[i], l.Address)
		}
	}
	// Copies the engine owns, whatever the caller does with its own.
	a.inherit = make([][]int, len(inherit))
	for i, fds := range inherit {
		for _, fd := range fds {
			syscall.ForkLock.RLock()
			c, err := syscall.Dup(fd)
			if err == nil {
				syscall.CloseOnExec(c)
			}
			syscall.ForkLock.RUnlock()
			if err != nil {
				closeAll(a.inherit)
				return fmt.Errorf("eventloop: inherited descriptor %d: %w", fd, err)
			}
			a.inherit[i] = append(a.inherit[i], c)
		}
	}
	e.adopt = a
	return nil
}

// placeholders reserves a loopback port per listener and returns the
// addresses gnet binds instead of the configured ones. The listeners'
// matching fields (listenerFor) take the placeholders' address: gnet
// reports the listener's address as every connection's LocalAddr.
func (a *adoption) placeholders(ls []*Listener) ([]string, error) {
	addrs := make([]string, len(ls))
	for i, l := range ls {
		ip := net.IPv4(127, 0, 0, 1)
		if a.real[i].(*net.TCPAddr).IP.To4() == nil {
			ip = net.IPv6loopback
		}
		fd, port, err := reservePort(ip)
		if err != nil {
			return nil, fmt.Errorf("eventloop: listener %d (%s): placeholder: %w", i, l.Name, err)
		}
		a.reserved = append(a.reserved, fd)
		a.ports = append(a.ports, port)
		addrs[i] = "tcp://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
		l.ip, l.port = ip, port
	}
	return addrs, nil
}

// finishAdoption swaps every placeholder for an inherited socket. A
// listener with more loops than inherited sockets polls some of them from
// two loops (each accept is still one connection); one with fewer is
// refused: a socket nobody polls would hold its queue until exit.
func (e *Engine) finishAdoption() error {
	a := e.adopt
	want := make([]net.Addr, len(a.ports))
	for i, l := range e.listeners[:len(a.ports)] {
		want[i] = &net.TCPAddr{IP: l.ip, Port: a.ports[i]}
	}
	entries, err := scanListeners(want)
	if err != nil {
		return err
	}
	byListener := make([][]pollEntry, len(want))
	for _, pe := range entries {
		byListener[pe.listener] = append(byListener[pe.listener], pe)
	}
	for i, pes := range byListener {
		l := e.listeners[i]
		if len(pes) == 0 {
			return fmt.Errorf("eventloop: listener %d (%s): gnet's placeholder listener not found", i, l.Name)
		}
		if n := len(a.inherit[i]); n > len(pes) {
			return fmt.Errorf("eventloop: listener %d (%s): the running ferry hands over %d sockets (one per event loop "+
				"with reuse_port) and this one polls %d: run it with as many event loops", i, l.Name, n, len(pes))
		}
		for j, pe := range pes {
			src := a.inherit[i][j%len(a.inherit[i])]
			if err := errors.Join(epollDel(pe), replaceFD(src, pe.fd), epollAdd(pe)); err != nil {
				return fmt.Errorf("eventloop: listener %d (%s): adopting an inherited socket: %w", i, l.Name, err)
			}
		}
	}
	return nil
}

// release closes the reservations and the inherited descriptors (the
// adopted sockets live on under gnet's descriptor numbers).
func (a *adoption) release() {
	for _, fd := range a.reserved {
		_ = syscall.Close(fd)
	}
	a.reserved = nil
	closeAll(a.inherit)
	a.inherit = nil
}

func closeAll(fds [][]int) {
	for _, l := range fds {
		for _, fd := range l {
			_ = syscall.Close(fd)
		}
	}
}

// StopAccepting takes every listening socket off gnet's pollers and
// closes the engine's reference to it, while every connection goes on
// being served: the way to stop accepting that gnet lacks (docs/gnet.md,
// "Stop accepting, keep serving"). If another process holds the same
// sockets (a smooth upgrade), they stay open and it accepts everything,
// including what waits in their accept queues; otherwise the kernel
// closes them, refusing new connections and resetting those that
// finished their handshake since the loop's last accept. It returns how
// many sockets it took off. Idempotent; any goroutine.
func (e *Engine) StopAccepting() (int, error) {
	return e.stopSockets(-1)
}

// StopListener takes listener i's sockets off gnet's pollers and closes
// them as StopAccepting does for all (a hot reload removed the listener),
// and marks it removed: ListenerFiles leaves it out. Its connections go on
// being served; the caller drains them. Any goroutine.
func (e *Engine) StopListener(i int) (int, error) {
	if i < 0 || i >= len(e.listeners) {
		return 0, fmt.Errorf("eventloop: stop listener %d: no such listener", i)
	}
	n, err := e.stopSockets(i)
	if err == nil {
		e.listeners[i].removed.Store(true)
	}
	return n, err
}

// stopSockets takes listener only's sockets (all with only -1) off the
// pollers.
func (e *Engine) stopSockets(only int) (int, error) {
	select {
	case <-e.booted:
	default:
		return 0, errors.New("eventloop: stop accepting: the engine is not running")
	}
	select {
	case <-e.done:
		return 0, nil
	default:
	}
	entries, err := e.ownListeners()
	if err != nil {
		return 0, err
	}
	if only >= 0 {
		mine := entries[:0]
		for _, pe := range entries {
			if pe.listener == only {
				mine = append(mine, pe)
			}
		}
		entries = mine
	}
	if len(entries) == 0 {
		return 0, nil
	}
	dummy, err := placeholderSocket()
	if err != nil {
		return 0, fmt.Errorf("eventloop: stop accepting: %w", err)
	}
	defer syscall.Close(dummy) //nolint:errcheck // our own socket
	n := 0
	var errs []error
	for _, pe := range entries {
		// The loop may still hold an event it took before the delete: its
		// accept then meets the placeholder and EAGAIN, never an error
		// that would stop the engine.
		if err := errors.Join(epollDel(pe), replaceFD(dummy, pe.fd)); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("eventloop: stop accepting: %w", err)
	}
	return n, nil
}

// ListenerFiles returns a duplicate of each listening socket the engine
// polls, by listener index (one per loop with reuse_port, else one; none
// for a listener StopListener removed), for handing over to another
// process (internal/upgrade). The caller closes them. Any goroutine,
// after Start.
func (e *Engine) ListenerFiles() ([][]int, error) {
	entries, err := e.ownListeners()
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(e.listeners))
	seen := map[uint64]bool{}
	for _, pe := range entries {
		if seen[pe.ino] {
			continue // one socket polled by two loops: send it once
		}
		seen[pe.ino] = true
		syscall.ForkLock.RLock()
		fd, err := syscall.Dup(pe.fd)
		if err == nil {
			syscall.CloseOnExec(fd)
		}
		syscall.ForkLock.RUnlock()
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("eventloop: listener sockets: %w", err)
		}
		out[pe.listener] = append(out[pe.listener], fd)
	}
	for i, fds := range out {
		if l := e.listeners[i]; len(fds) == 0 && !l.Removed() && !l.Spare() {
			closeAll(out)
			return nil, fmt.Errorf("eventloop: listener %d (%s): no listening socket found", i, e.listeners[i].Name)
		}
	}
	return out, nil
}

// recordPollers notes which epoll descriptors poll the engine's
// listeners, so that ownListeners never touches another engine's (tests
// run several in one process, and an adopted socket has the same address
// in both). Called by Start once every loop polls.
func (e *Engine) recordPollers() error {
	entries, err := scanListeners(e.Addrs())
	if err != nil {
		return err
	}
	set := make(map[int]bool, len(entries))
	for _, pe := range entries {
		set[pe.epfd] = true
	}
	e.mu.Lock()
	e.pollers = set
	e.mu.Unlock()
	return nil
}

// ownListeners are the listening sockets the engine's own pollers watch.
func (e *Engine) ownListeners() ([]pollEntry, error) {
	e.mu.Lock()
	set := e.pollers
	e.mu.Unlock()
	if set == nil {
		return nil, errors.New("eventloop: the engine's pollers are unknown (is /proc mounted?)")
	}
	entries, err := scanListeners(e.Addrs())
	if err != nil {
		return nil, err
	}
	own := entries[:0]
	for _, pe := range entries {
		if set[pe.epfd] {
			own = append(own, pe)
		}
	}
	return own, nil
}
