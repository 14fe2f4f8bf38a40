package eventloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/conn"
)

// Listener is one address ferry accepts connections on.
type Listener struct {
	// Name identifies the listener in logs and stats.
	Name string
	// Address is "host:port"; port 0 picks a free port (see Engine.Addrs).
	Address string
	// Filters build each new connection's network filter chain, in order.
	Filters []conn.FilterFactory
	// TLS, when set, terminates TLS on the listener's connections: the
	// filters see plain text, and their OnNewConnection waits for the
	// handshake (docs/tls.md).
	TLS *conn.TLSServer

	ip   net.IP
	port int
	// chain is what each accepted connection gets: Filters and TLS as New
	// found them, until SetChain replaces them (a reload).
	chain atomic.Pointer[Chain]
	// removed is set once Engine.StopListener closed its sockets.
	removed atomic.Bool
	// spare is set while the listener is an unused spare slot
	// (spare_linux.go).
	spare atomic.Bool
}

// Spare reports whether the listener is a spare slot no reload has used
// yet (Options.Spare): it has no name, address or chain and accepts
// nothing. Any goroutine.
func (l *Listener) Spare() bool { return l.spare.Load() }

// Removed reports whether Engine.StopListener closed the listener's
// sockets (a hot reload removed it). Any goroutine.
func (l *Listener) Removed() bool { return l.removed.Load() }

// Chain is what a listener gives each connection it accepts: its network
// filter factories and its TLS. Immutable once set: a hot reload swaps a
// whole Chain (Listener.SetChain), so a connection is built from one
// snapshot, read once at accept, and keeps the filters it was built with
// until it closes (docs/operations.md, "Hot reload").
type Chain struct {
	// Filters and TLS are as in Listener.
	Filters []conn.FilterFactory
	TLS     *conn.TLSServer
}

// Chain is the snapshot new connections get. Any goroutine, after New.
func (l *Listener) Chain() *Chain { return l.chain.Load() }

// SetChain makes c what connections accepted from now on get; those open
// keep theirs. Any goroutine, after New.
func (l *Listener) SetChain(c *Chain) { l.chain.Store(c) }

// MaxLoops is the most event loops gnet runs: asked for more, it runs
// this many without a word, so New refuses more.
const MaxLoops = 256

// Options configures an Engine.
type Options struct {
	// Loops is the number of event loops; zero means GOMAXPROCS. At most
	// MaxLoops.
	Loops int
	// ReusePort gives each loop its own SO_REUSEPORT listener.
	ReusePort bool
	// Conn holds the per-connection limits.
	Conn conn.Options
	// Tracker is the connection budget shared with the upstream dialer.
	Tracker *conn.Tracker
	// MaxDownstream is the most client connections open at once (the
	// max_connections budget); 0 means only the Tracker's socket budget
	// applies. Upstream sockets do not count against it.
	MaxDownstream int64
	// Logger receives engine events; nil means slog.Default().
	Logger *slog.Logger
	// Spare is how many listeners a hot reload may add while the engine
	// runs (AddListener; spare_linux.go): each reserves a slot under
	// gnet's pollers at start, and Listeners lists the slots after the
	// configured listeners.
	Spare int
	// Inherit, when set, holds for each listener (by index) the listening
	// sockets a running ferry handed over (internal/upgrade): the engine
	// serves them instead of binding its own. New takes its own copies:
	// the caller closes these. See adopt_linux.go.
	Inherit [][]int
}

// ErrStopped is reported by Err when the engine stopped unexpectedly.
var ErrStopped = errors.New("eventloop: engine stopped unexpectedly")

// Engine is ferry's gnet engine.
type Engine struct {
	gnet.BuiltinEventEngine

	listeners []*Listener
	// nConf is how many listeners New was given; the spare slots follow.
	nConf    int
	opts     Options
	connOpts *conn.Options
	log      *slog.Logger
	glog     *gnetLogger

	mu       sync.Mutex
	loops    map[gnet.EventLoop]*conn.Loop
	loopList atomic.Pointer[[]*conn.Loop]
	eng      gnet.Engine
	addrs    []net.Addr

	booted   chan struct{}
	done     chan struct{}
	err      error
	stopping atomic.Bool
	draining atomic.Bool
	// maxDown is Options.MaxDownstream, which SetMaxDownstream changes.
	maxDown atomic.Int64

	// ticked is closed by the first OnTick: gnet starts its ticker once
	// every loop polls its listeners.
	ticked     chan struct{}
	tickedOnce atomic.Bool
	// adopt is the state of a start over inherited sockets (adopt.go).
	adopt *adoption
	// pollers are the epoll descriptors of the engine's loops (mu).
	pollers map[int]bool
	// spares are the spare slots' registrations (mu); spareFDs hold
	// their placeholder ports until Start has the slots (spare_linux.go).
	spares   []spareSlot
	spareFDs []int
	// swapFD puts a socket in a registration's place under its poller
	// (swapIn; tests make it fail, spare_linux.go).
	swapFD func(fd int, pe pollEntry) error
}

// New checks the listeners and returns an engine ready to Start.
func New(listeners []*Listener, opts Options) (*Engine, error) {
	if len(listeners) == 0 {
		return nil, errors.New("eventloop: no listener")
	}
	for i, l := range listeners {
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			return nil, fmt.Errorf("eventloop: listener %d (%s): address %q: %w", i, l.Name, l.Address, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("eventloop: listener %d (%s): bad port %q", i, l.Name, port)
		}
		if p == 0 && opts.ReusePort && opts.Inherit == nil { // inherited: the placeholders share one reserved port
			return nil, fmt.Errorf("eventloop: listener %d (%s): port 0 cannot be used with reuse_port", i, l.Name)
		}
		l.port = p
		l.ip = net.ParseIP(host)
		if l.chain.Load() == nil {
			l.chain.Store(&Chain{Filters: l.Filters, TLS: l.TLS})
		}
	}
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)
	}
	if opts.Loops > MaxLoops {
		// gnet would run 256 and say nothing (docs/gnet.md).
		return nil, fmt.Errorf("eventloop: %d event loops: gnet runs at most %d", opts.Loops, MaxLoops)
	}
	if opts.Tracker == nil {
		opts.Tracker = conn.NewTracker(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{
		listeners: spareListeners(listeners, max(opts.Spare, 0)), nConf: len(listeners), opts: opts, connOpts: conn.DefaultOptions(opts.Conn),
		log: opts.Logger, loops: map[gnet.EventLoop]*conn.Loop{},
		booted: make(chan struct{}), done: make(chan struct{}), ticked: make(chan struct{}), swapFD: swapIn,
	}
	if opts.Inherit != nil {
		if err := e.prepareAdoption(opts.Inherit); err != nil {
			return nil, err
		}
	}
	e.maxDown.Store(opts.MaxDownstream)
	e.glog = &gnetLogger{log: opts.Logger}
	empty := []*conn.Loop{}
	e.loopList.Store(&empty)
	return e, nil
}

// Start runs the engine and returns once it listens, or with the reason it
// could not. Any goroutine.
func (e *Engine) Start() error {
	addrs := make([]string, e.nConf)
	for i, l := range e.listeners[:e.nConf] {
		addrs[i] = "tcp://" + l.Address
	}
	if e.adopt != nil {
		var err error
		if addrs, err = e.adopt.placeholders(e.listeners[:e.nConf]); err != nil {
			e.adopt.release()
			return err
		}
	}
	addrs, err := e.reserveSpares(addrs)
	if err != nil {
		// A reload cannot add listeners then (AddListener says so); ferry
		// serves on.
		e.log.Warn("eventloop: no spare listener slots; a reload cannot add listeners", "err", err)
		e.listeners = e.listeners[:e.nConf]
		addrs = addrs[:e.nConf]
	}
	go func() {
		err := gnet.Rotate(e, addrs,
			gnet.WithNumEventLoop(e.opts.Loops),
			gnet.WithReusePort(e.opts.ReusePort),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true),
			gnet.WithLogger(e.glog))
		e.finish(err)
	}()
	select {
	case <-e.booted:
	case <-e.done:
		if e.adopt != nil {
			e.adopt.release()
		}
		e.releaseSpares()
		return e.err
	}
	// Every loop polls its listeners once the ticker runs.
	select {
	case <-e.ticked:
	case <-e.done:
		if e.adopt != nil {
			e.adopt.release()
		}
		e.releaseSpares()
		return e.err
	}
	if e.adopt != nil {
		err := e.finishAdoption()
		e.adopt.release()
		if err != nil {
			_ = e.Stop(context.Background()) // nothing was served: the placeholders took no client
			return err
		}
	}
	if err := e.recordPollers(); err != nil {
		// Only StopAccepting and ListenerFiles need them; they say so.
		e.log.Warn("eventloop: listening sockets not found under gnet's pollers; stopping will close connections "+
			"that arrive during a drain, and a smooth upgrade is off", "err", err)
	}
	if err := e.deadenSpares(); err != nil {
		// AddListener then says no slot is left; a slot's loopback
		// placeholder accepts and closes.
		e.mu.Lock()
		e.spares = nil
		e.mu.Unlock()
		e.log.Warn("eventloop: spare listener slots unusable; a reload cannot add listeners", "err", err)
	}
	return nil
}

// finish records why Rotate returned and closes Done.
func (e *Engine) finish(err error) {
	if !e.stopping.Load() {
		last := e.glog.lastError()
		switch {
		case err != nil:
			err = fmt.Errorf("%w: %w", ErrStopped, err)
		case last != "":
			err = fmt.Errorf("%w: %s", ErrStopped, last)
		default:
			err = ErrStopped
		}
		e.err = err
	}
	close(e.done)
}

// Done is closed when the engine has stopped. Any goroutine.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Err is nil after a requested Stop, else why the engine stopped. Valid once
// Done is closed. Any goroutine.
func (e *Engine) Err() error {
	<-e.done
	return e.err
}

// Addrs returns the bound address of each listener, in order (port 0
// resolved). Any goroutine, after Start.
func (e *Engine) Addrs() []net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]net.Addr(nil), e.addrs...)
}

// Listeners are the engine's listeners: those New was given, in order,
// then the spare slots (Options.Spare). Any goroutine.
func (e *Engine) Listeners() []*Listener { return e.listeners }

// Loops returns the loops that have had a connection so far. Any goroutine.
func (e *Engine) Loops() []*conn.Loop { return *e.loopList.Load() }

// NumLoops is the configured number of loops.
func (e *Engine) NumLoops() int { return e.opts.Loops }

// Tracker is the connection budget.
func (e *Engine) Tracker() *conn.Tracker { return e.opts.Tracker }

// SetMaxDownstream changes the most client connections open at once (a
// hot reload of ferry.max_connections): connections above a lowered limit
// stay open, and new ones are refused until the count falls below it. Any
// goroutine.
func (e *Engine) SetMaxDownstream(n int64) { e.maxDown.Store(n) }

// SetDraining makes the engine refuse new connections. Any goroutine.
func (e *Engine) SetDraining() { e.draining.Store(true) }

// Stop closes every connection and stops the loops. gnet does not drain:
// the caller drains first. Any goroutine.
func (e *Engine) Stop(ctx context.Context) error {
	if e.stopping.Swap(true) {
		<-e.done
		return nil
	}
	select {
	case <-e.booted:
	case <-e.done:
		return nil
	}
	err := e.eng.Stop(ctx)
	select {
	case <-e.done:
	case <-ctx.Done():
		return fmt.Errorf("eventloop: stop: %w", ctx.Err())
	}
	for _, l := range e.Loops() {
		l.CloseKeptSockets() // the loops are done: no relay will close them (conn/relay.go)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("eventloop: stop: %w", err)
	}
	return nil
}

// OnBoot records the engine and the bound addresses.
func (e *Engine) OnBoot(eng gnet.Engine) gnet.Action {
	addrs := make([]net.Addr, len(e.listeners))
	for i, l := range e.listeners {
		addrs[i] = boundAddr(eng, l)
	}
	e.mu.Lock()
	e.eng = eng
	e.addrs = addrs
	if e.adopt != nil {
		copy(e.addrs, e.adopt.real) // the inherited sockets' addresses, not the placeholders'
	}
	e.mu.Unlock()
	close(e.booted)
	return gnet.None
}

// boundAddr learns a listener's real address from a dup of its socket.
func boundAddr(eng gnet.Engine, l *Listener) net.Addr {
	fallback := &net.TCPAddr{IP: l.ip, Port: l.port}
	fd, err := eng.DupListener("tcp", l.Address)
	if err != nil {
		return fallback
	}
	defer syscall.Close(fd) //nolint:errcheck // a dup we only read from
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fallback
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return fallback
}

// loopOf returns ferry's state for gnet loop el, creating it on first use.
func (e *Engine) loopOf(el gnet.EventLoop) *conn.Loop {
	for _, l := range *e.loopList.Load() {
		if l.EL == el {
			return l
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.loops[el]; ok {
		return l
	}
	old := *e.loopList.Load()
	l := conn.NewLoop(el, len(old), e.opts.Tracker, e.connOpts)
	e.loops[el] = l
	list := append(append([]*conn.Loop(nil), old...), l)
	e.loopList.Store(&list)
	return l
}

// LoopFor returns the state of the loop gc runs on. Loop only.
func (e *Engine) LoopFor(el gnet.EventLoop) *conn.Loop { return e.loopOf(el) }

// tickInterval is the sweep period: timeouts are seconds, so a sweep every
// 100ms is precise enough and keeps the ticker from waking busy loops;
// stalled writers are checked every 2ms while there are any.
const (
	tickInterval    = 100 * time.Millisecond
	tickWhenWatched = 2 * time.Millisecond
)

// OnTick asks every loop to sweep. It runs on gnet's ticker goroutine.
func (e *Engine) OnTick() (time.Duration, gnet.Action) {
	if !e.tickedOnce.Load() && !e.tickedOnce.Swap(true) {
		close(e.ticked)
	}
	delay := tickInterval
	for _, l := range *e.loopList.Load() {
		if l.Watching() {
			delay = tickWhenWatched
		}
		_ = l.TriggerSweep() // fails only while the engine shuts down
	}
	return delay, gnet.None
}
