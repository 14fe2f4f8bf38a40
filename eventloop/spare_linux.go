package eventloop

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Spare listener slots: how a hot reload opens a listener the running
// engine did not start with (docs/operations.md, "Hot reload"). gnet binds
// its listeners only when Rotate starts and has no API to add one, so an
// engine with Options.Spare > 0 starts that many extra listeners, each on
// a loopback port reserved for the purpose (as adopt_linux.go does for
// inherited sockets), and once every loop polls them puts a dead socket
// (a listening unix socket nobody can reach) in each one's place under
// the pollers, keeping its registration. AddListener later binds the new
// listener's address itself and puts the socket in a free slot's place
// the same way (EPOLL_CTL_DEL, dup3 onto gnet's descriptor number,
// EPOLL_CTL_ADD with the slot's very registration): gnet then accepts
// from it as from any listener, and the connections get the slot
// listener's Chain. A slot is used once; a listener a reload removes
// keeps its slot until exit.

// spareSlot is one spare listener's registrations under the pollers.
type spareSlot struct {
	entries []pollEntry
	used    bool
}

// spareListeners adds n spare slots to ls, unused until AddListener.
func spareListeners(ls []*Listener, n int) []*Listener {
	out := append(make([]*Listener, 0, len(ls)+n), ls...)
	for range n {
		l := &Listener{}
		l.spare.Store(true)
		out = append(out, l)
	}
	return out
}

// reserveSpares reserves a loopback port for each spare slot and returns
// addrs with the addresses gnet binds for them, setting the slots'
// matching fields (listenerFor); Start runs without slots when it fails.
// Start only.
func (e *Engine) reserveSpares(addrs []string) ([]string, error) {
	for _, l := range e.listeners[e.nConf:] {
		fd, port, err := reservePort(net.IPv4(127, 0, 0, 1))
		if err != nil {
			e.releaseSpares()
			return addrs, fmt.Errorf("eventloop: spare listener: %w", err)
		}
		e.spareFDs = append(e.spareFDs, fd)
		l.ip, l.port = net.IPv4(127, 0, 0, 1), port
		l.Address = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		addrs = append(addrs, "tcp://"+l.Address)
	}
	return addrs, nil
}

// releaseSpares closes the port reservations.
func (e *Engine) releaseSpares() {
	for _, fd := range e.spareFDs {
		_ = syscall.Close(fd)
	}
	e.spareFDs = nil
}

// deadenSpares puts a dead socket in place of every spare slot's
// placeholder under the pollers, keeping the registrations for
// AddListener. Start only, once every loop polls.
func (e *Engine) deadenSpares() error {
	defer e.releaseSpares()
	n := len(e.listeners) - e.nConf
	if n == 0 {
		return nil
	}
	want := make([]net.Addr, n)
	for j, l := range e.listeners[e.nConf:] {
		want[j] = &net.TCPAddr{IP: l.ip, Port: l.port}
	}
	entries, err := scanListeners(want)
	if err != nil {
		return err
	}
	dead, err := placeholderSocket()
	if err != nil {
		return err
	}
	defer syscall.Close(dead) //nolint:errcheck // our own socket
	e.spares = make([]spareSlot, n)
	for _, pe := range entries {
		if err := swapIn(dead, pe); err != nil {
			return fmt.Errorf("eventloop: spare listener: %w", err)
		}
		e.spares[pe.listener].entries = append(e.spares[pe.listener].entries, pe)
	}
	for j, s := range e.spares {
		if len(s.entries) == 0 {
			return fmt.Errorf("eventloop: spare listener %d: gnet's placeholder not found", j)
		}
	}
	return nil
}

// AddListener opens l on a free spare slot while the engine runs:
// PrepareListener, then Open. Control goroutine.
func (e *Engine) AddListener(l *Listener) (*Listener, int, error) {
	p, err := e.PrepareListener(l)
	if err != nil {
		return nil, 0, err
	}
	return p.Open()
}

// PendingListener is a listener bound on a reserved spare slot, not yet
// polled: Open puts it under gnet's pollers, Cancel gives the slot and
// the address back.
type PendingListener struct {
	e    *Engine
	l    *Listener
	j    int
	fds  []int
	addr net.Addr
}

// PrepareListener binds l's address (l: Name, Address, and Filters and
// TLS or a Chain set with SetChain) and reserves a free spare slot for it,
// failing, with nothing changed, when no slot is left or the address
// cannot be bound. Control goroutine, one at a time.
func (e *Engine) PrepareListener(l *Listener) (*PendingListener, error) {
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		return nil, fmt.Errorf("eventloop: listener %s: address %q: %w", l.Name, l.Address, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("eventloop: listener %s: bad port %q", l.Name, port)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ip = net.IPv6zero // "" or a name: every interface, as gnet binds it
	}
	e.mu.Lock()
	j := -1
	for k := range e.spares {
		if !e.spares[k].used {
			j = k
			break
		}
	}
	if j < 0 {
		e.mu.Unlock()
		return nil, fmt.Errorf("eventloop: listener %s: no spare listener slot left (%d were reserved at start)",
			l.Name, len(e.listeners)-e.nConf)
	}
	e.spares[j].used = true
	n := len(e.spares[j].entries)
	e.mu.Unlock()
	fds, addr, err := bindListening(ip, p, n, e.opts.ReusePort)
	if err != nil {
		e.mu.Lock()
		e.spares[j].used = false
		e.mu.Unlock()
		return nil, fmt.Errorf("eventloop: listener %s: %w", l.Name, err)
	}
	return &PendingListener{e: e, l: l, j: j, fds: fds, addr: addr}, nil
}

// swapIn puts socket fd in pe's place under pe's poller, with pe's
// registration: EPOLL_CTL_DEL, dup3 onto pe's descriptor number,
// EPOLL_CTL_ADD.
func swapIn(fd int, pe pollEntry) error {
	return errors.Join(epollDel(pe), replaceFD(fd, pe.fd), epollAdd(pe))
}

// deaden puts a dead socket back in the place of entries whose swap to a
// listener's socket began (Open failed part-way), so that none of them
// accepts for a listener that did not open. An entry the failed swap
// already took off its poller is added back: its EPOLL_CTL_DEL error is
// not one.
func (e *Engine) deaden(entries []pollEntry) error {
	dead, err := placeholderSocket()
	if err != nil {
		return err
	}
	defer syscall.Close(dead) //nolint:errcheck // our own socket
	var errs []error
	for _, pe := range entries {
		if err := epollDel(pe); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, err)
		}
		errs = append(errs, replaceFD(dead, pe.fd), epollAdd(pe))
	}
	return errors.Join(errs...)
}

// Addr is the address the pending listener is bound to.
func (p *PendingListener) Addr() net.Addr { return p.addr }

// Cancel closes the pending listener's sockets and frees its slot.
func (p *PendingListener) Cancel() {
	p.closeFDs()
	p.e.mu.Lock()
	p.e.spares[p.j].used = false
	p.e.mu.Unlock()
}

func (p *PendingListener) closeFDs() {
	for _, fd := range p.fds {
		_ = syscall.Close(fd)
	}
	p.fds = nil
}

// Open puts the pending listener's sockets in its slot's place under the
// pollers and returns the slot's Listener, which stands for it from then
// on (SetChain, StopListener by its index, Addrs, ListenerFiles).
func (p *PendingListener) Open() (*Listener, int, error) {
	e := p.e
	defer p.closeFDs() // gnet's descriptor numbers hold the sockets now
	entries := e.spares[p.j].entries
	for k, pe := range entries {
		if err := e.swapFD(p.fds[k%len(p.fds)], pe); err != nil {
			err = fmt.Errorf("eventloop: listener %s: %w", p.l.Name, err)
			if rerr := e.deaden(entries[:k+1]); rerr != nil {
				// The slot's registrations are in an unknown state: it is
				// not lent again (its connections are closed at OnOpen).
				return nil, 0, fmt.Errorf("%w; putting the spare slot back failed too, so it is not used again: %w", err, rerr)
			}
			e.mu.Lock()
			e.spares[p.j].used = false
			e.mu.Unlock()
			return nil, 0, err
		}
	}
	i := e.nConf + p.j
	sl := e.listeners[i]
	sl.Name, sl.Address = p.l.Name, p.l.Address
	if ch := p.l.chain.Load(); ch != nil {
		sl.chain.Store(ch)
	} else {
		sl.chain.Store(&Chain{Filters: p.l.Filters, TLS: p.l.TLS})
	}
	e.mu.Lock()
	e.addrs[i] = p.addr
	e.mu.Unlock()
	sl.spare.Store(false) // after Name and Address: readers check it first
	return sl, i, nil
}

// bindListening opens n listening TCP sockets on ip:port (n > 1 only
// with reusePort; port 0 picks one port for all).
func bindListening(ip net.IP, port, n int, reusePort bool) ([]int, net.Addr, error) {
	if !reusePort {
		n = 1
	}
	var fds []int
	var bound *net.TCPAddr
	for range n {
		fd, err := bindTCP(ip, port, reusePort)
		if err == nil {
			fds = append(fds, fd)
			err = os.NewSyscallError("listen", syscall.Listen(fd, syscall.SOMAXCONN))
		}
		if err != nil {
			for _, fd := range fds {
				_ = syscall.Close(fd)
			}
			return nil, nil, err
		}
		if bound == nil {
			bound = sockAddr(fd)
			port = bound.Port // the others share the port 0 picked
		}
	}
	return fds, bound, nil
}
