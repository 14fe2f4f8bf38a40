package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/filterchain"
)

// TLS to upstreams (docs/tls.md, "Upstream TLS"). A TLSDialer connects and
// enrolls through its TCPDialer, and when the socket opens on the loop it
// wraps it in a TLSConn before the Conn is built over it, as a TLS
// listener does for accepted sockets (tls.go). The client handshake then
// runs as the server's does: crypto/tls on a worker over the in-memory
// transport that the loop feeds, bounded by a timer; once it is done the
// record layer runs on the loop and no goroutine is held. Only then does
// the DialHandler hear OnDialed; a handshake that fails, times out or
// loses its socket ends in OnDialFailed, after the socket is closed (so
// its place in the Tracker is given back, as the Dialer contract says).

// TLSDialerOptions configures a TLSDialer: one cluster's TLS.
type TLSDialerOptions struct {
	// Config is the handshake's configuration: roots, client certificate,
	// versions, suites, curves, ALPN, InsecureSkipVerify. An empty
	// ServerName means each host's own: the host part of its address,
	// which crypto/tls sends as SNI when it is a name and verifies as an
	// IP SAN when it is an IP address (RFC 6066 sends no IP in SNI).
	// The dialer gives it a ClientSessionCache when it has none. Required.
	Config *tls.Config
	// TCP connects and enrolls the sockets; the TLS dialer shares its
	// in-flight count, so TCP.Quiesce covers both. Required.
	TCP *TCPDialer
	// Submit runs a handshake on a worker of a bounded pool and fails at
	// once when the pool is full (the dial then fails). Required.
	Submit func(func()) error
	// MaxPlaintext bounds the decrypted input held for the connection's
	// filters, as TLSServer.MaxPlaintext. Zero means 64 KiB.
	MaxPlaintext int
	// H2 lets H2Dialer offer ALPN "h2" (the cluster's configuration
	// allows it); without it H2Dialer's dials fail with ErrH2NotOffered.
	H2 bool
	// OnHandshakeError, when set, hears every dial whose handshake failed,
	// with the host's address and the reason, on the loop. It must not
	// block.
	OnHandshakeError func(addr string, err error)
}

// DefaultSessionCacheSize is the per-dialer (per-cluster) session cache's
// capacity when the Config brings none.
const DefaultSessionCacheSize = 256

// ErrH2NotNegotiated is the reason of an H2Dialer dial whose host did not
// choose h2 by ALPN: HTTP/2 over TLS needs it (RFC 9113, 3.2).
var ErrH2NotNegotiated = errors.New("conn: the upstream did not agree to h2 by ALPN")

// ErrH2NotOffered is the reason of an H2Dialer dial of a dialer whose
// configuration does not offer h2 (a cluster's alpn without it).
var ErrH2NotOffered = errors.New("conn: h2 is not among the ALPN protocols this cluster may offer")

// ErrTLSHandshakeTimeout is the reason of a dial whose handshake did not
// finish before the dial's timeout (connect plus handshake).
var ErrTLSHandshakeTimeout = errors.New("conn: TLS handshake timed out")

// TLSDialer is the Dialer of a cluster with TLS. Safe for any goroutine.
type TLSDialer struct {
	tcp     *TCPDialer
	onError func(addr string, err error)
	// srv carries what TLSConn reads from its TLSServer on both sides:
	// the limits, the buffer pools, Submit and the counters (Stats).
	srv TLSServer
	// cfgs is the handshake configuration new dials take; SetConfig
	// replaces it.
	cfgs atomic.Pointer[clientConfigs]
	h2   bool // H2Dialer may offer h2
}

// clientConfigs is one generation of a TLSDialer's configuration: the
// base one, the HTTP/2 one, and their copies naming each host.
type clientConfigs struct {
	base *tls.Config
	// h2 is base offering ALPN "h2" alone (H2Dialer), sharing its session
	// cache; nil when h2 is not offered.
	h2     *tls.Config
	mu     sync.Mutex
	byAddr [2]map[string]*tls.Config // base, h2: with the host's ServerName
}

// newClientConfigs clones cfg and gives it a session cache of its own
// when it brings none, and the HTTP/2 copy when h2.
func newClientConfigs(cfg *tls.Config, h2 bool) *clientConfigs {
	cfg = cfg.Clone()
	if cfg.ClientSessionCache == nil {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(DefaultSessionCacheSize)
	}
	cs := &clientConfigs{base: cfg, byAddr: [2]map[string]*tls.Config{{}, {}}}
	if h2 {
		cs.h2 = cfg.Clone()
		cs.h2.NextProtos = []string{"h2"}
	}
	return cs
}

// NewTLSDialer returns a TLSDialer, or an error naming the missing option.
func NewTLSDialer(o TLSDialerOptions) (*TLSDialer, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("conn: TLSDialerOptions.Config is required")
	case o.TCP == nil:
		return nil, errors.New("conn: TLSDialerOptions.TCP is required")
	case o.Submit == nil:
		return nil, errors.New("conn: TLSDialerOptions.Submit is required")
	}
	d := &TLSDialer{tcp: o.TCP, onError: o.OnHandshakeError, h2: o.H2}
	d.cfgs.Store(newClientConfigs(o.Config, o.H2))
	d.srv.Submit = o.Submit
	d.srv.MaxPlaintext = o.MaxPlaintext
	return d, nil
}

// Stats are the dialer's TLS counters: handshakes (resumed among them),
// handshake errors and timeouts, handshakes shed for want of a worker,
// and record errors after the handshake. Any goroutine.
func (d *TLSDialer) Stats() *TLSStats { return &d.srv.Stats }

// Dial implements Dialer. timeout bounds the connect and the handshake
// together.
func (d *TLSDialer) Dial(l *Loop, addr string, timeout time.Duration, h DialHandler) error {
	return d.dial(l, addr, timeout, h, false)
}

func (d *TLSDialer) dial(l *Loop, addr string, timeout time.Duration, h DialHandler, h2 bool) error {
	cfg, err := d.configFor(addr, h2)
	if err != nil {
		return err
	}
	return d.tcp.start(l, addr, timeout, h, &tlsDial{d: d, cfg: cfg, h2: h2, deadline: Now() + int64(timeout)})
}

// H2Capable is a Dialer that also dials for HTTP/2 over TLS: TLSDialer,
// or a dialer built on one (upstream's multiplexed pool asks for it).
type H2Capable interface {
	// H2Dialer returns the Dialer of the HTTP/2 connections.
	H2Dialer() Dialer
}

// H2Dialer returns the Dialer of the cluster's HTTP/2 connections (RFC
// 9113, 3.2): d's, with ALPN offering "h2" alone. A host that does not
// choose h2 fails the dial with ErrH2NotNegotiated, after a close_notify;
// a dialer without TLSDialerOptions.H2 fails every dial with
// ErrH2NotOffered. Same session cache, counters and Quiesce as d.
func (d *TLSDialer) H2Dialer() Dialer { return (*tlsH2Dialer)(d) }

// tlsH2Dialer is TLSDialer.H2Dialer's.
type tlsH2Dialer TLSDialer

// Dial implements Dialer.
func (d *tlsH2Dialer) Dial(l *Loop, addr string, timeout time.Duration, h DialHandler) error {
	if !d.h2 {
		return fmt.Errorf("%w (dial %s)", ErrH2NotOffered, addr)
	}
	return (*TLSDialer)(d).dial(l, addr, timeout, h, true)
}

// Quiesce implements Dialer.
func (d *tlsH2Dialer) Quiesce(ctx context.Context) error { return d.tcp.Quiesce(ctx) }

// Quiesce implements Dialer: the TCP dialer's dials in flight, this
// dialer's among them.
func (d *TLSDialer) Quiesce(ctx context.Context) error { return d.tcp.Quiesce(ctx) }

// SetConfig replaces the handshake configuration of the dials that start
// from now on: a cluster whose CA, client certificate or key files
// changed (docs/tls.md, "Upstream TLS"). cfg is taken as NewTLSDialer
// takes it; without a ClientSessionCache of its own it gets a new one, so
// that no session made under the old roots or client certificate is
// resumed (a resumed session is not verified again). Dials under way and
// open connections keep the configuration they started with. Any
// goroutine.
func (d *TLSDialer) SetConfig(cfg *tls.Config) { d.cfgs.Store(newClientConfigs(cfg, d.h2)) }

// Config is the configuration new dials take (tests). Any goroutine.
func (d *TLSDialer) Config() *tls.Config { return d.cfgs.Load().base }

// configFor returns the handshake configuration for addr, the HTTP/2 one
// when h2: as it is when it names the server, else a copy naming the
// host, made once.
func (d *TLSDialer) configFor(addr string, h2 bool) (*tls.Config, error) {
	cs := d.cfgs.Load()
	base, i := cs.base, 0
	if h2 {
		base, i = cs.h2, 1
	}
	if base.ServerName != "" {
		return base, nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cfg := cs.byAddr[i][addr]; cfg != nil {
		return cfg, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("conn: dial %s: %w", addr, err)
	}
	cfg := base.Clone() // shares the session cache
	cfg.ServerName = host
	cs.byAddr[i][addr] = cfg
	return cfg, nil
}

// tlsDial is the TLS part of one dial: set at Dial, then the loop's.
type tlsDial struct {
	d        *TLSDialer
	cfg      *tls.Config
	h2       bool  // an H2Dialer's: the host must choose h2
	deadline int64 // Now() at Dial plus the timeout
	addr     string
	h        DialHandler
	// err is why ferry gave up on the handshake (timeout, no worker, the
	// handshake's error), nil while it runs. Loop only.
	err error
	// delivered is set once the handler heard OnDialed or OnDialFailed.
	// Loop only.
	delivered bool
	// closed is set, under the transport's lock, when the socket closed
	// while the worker still ran the handshake: the worker then delivers
	// the failure, with the handshake's own reason.
	closed bool
}

// open wraps the socket the TCP dialer enrolled, on the loop, and starts
// the client handshake.
func (td *tlsDial) open(gc gnet.Conn, l *Loop, addr string, h DialHandler) gnet.Action {
	td.addr, td.h = addr, h
	t := NewTLS(gc, &td.d.srv)
	t.dial = td
	c := New(t, l, true)
	t.c = c
	t.timer.Init(t)
	return c.RunInCallback(func() {
		l.Schedule(&t.timer, time.Duration(max(td.deadline-l.now, 0)))
		t.tr.hs = true
		t.tc = tls.Client(&t.tr, td.cfg)
		t.phase = phaseHandshake
		if err := td.d.srv.Submit(t.handshake); err != nil {
			td.d.srv.Stats.Shed.Add(1)
			td.err = fmt.Errorf("%w: TLS handshake: %w", ErrDialerBusy, err)
			t.tr.mu.Lock()
			t.tr.done = true // no worker will run
			t.tr.mu.Unlock()
			t.phase = phaseRefused
			t.tr.fail(err)
			c.Close(filterchain.CloseNow)
		}
	})
}

// dialDone hands the connection over once the handshake succeeded, from
// handshaking on the loop.
func (t *TLSConn) dialDone() gnet.Action {
	td := t.dial
	if td.h2 && t.alpn != "h2" {
		// HTTP/2 over TLS only where ALPN chose it: the dial fails once
		// the socket is gone (dialClosed), after a close_notify.
		td.err = fmt.Errorf("%w (it chose %q)", ErrH2NotNegotiated, t.alpn)
		return t.c.RunInCallback(func() { t.c.Close(filterchain.CloseFlush) })
	}
	td.delivered = true
	return t.c.RunInCallback(func() { td.h.OnDialed(t.c) })
}

// dialHandshakeFailed closes the socket of a handshake that returned err;
// the failure is delivered when it is gone (dialClosed).
func (t *TLSConn) dialHandshakeFailed(err error) {
	t.dial.err = fmt.Errorf("TLS handshake: %w", err)
	t.phase = phaseRefused
	t.c.Close(filterchain.CloseFlush) // after the alert crypto/tls wrote
}

// dialTimedOut fails the handshake at the dial's deadline.
func (t *TLSConn) dialTimedOut() {
	t.dial.err = ErrTLSHandshakeTimeout
	t.tr.fail(ErrTLSHandshakeTimeout)
	t.c.Close(filterchain.CloseNow)
}

// dialClosed runs in OnClose: a dial not handed over fails, now if no
// worker runs its handshake, else when the worker returns.
func (t *TLSConn) dialClosed() {
	td := t.dial
	if td.delivered {
		return
	}
	t.tr.mu.Lock()
	done := t.tr.done
	if !done {
		td.closed = true
	}
	t.tr.mu.Unlock()
	if done {
		t.dialFailed()
	}
}

// handshakeEnded runs on the handshake's worker once it returned: a
// socket that closed meanwhile hears of it on the loop. Its caller holds
// the transport's lock.
func (t *TLSConn) handshakeEnded() {
	if t.dial != nil && t.dial.closed {
		_ = t.c.loop.Execute(t.dialFailed) // fails only when the engine stops: nobody waits then
	}
}

// dialFailed tells the handler the dial failed, once, with the best reason
// known: ferry's own (timeout, no worker), the handshake's, or the socket
// closing. The socket is closed. Loop only.
func (t *TLSConn) dialFailed() {
	td := t.dial
	if td.delivered {
		return
	}
	td.delivered = true
	err := td.err
	if err == nil {
		t.tr.mu.Lock()
		hsErr := t.tr.hsErr
		t.tr.mu.Unlock()
		switch {
		case hsErr != nil && !errors.Is(hsErr, errConnClosed):
			err = fmt.Errorf("TLS handshake: %w", hsErr)
		default:
			err = errConnClosed
		}
	}
	if !errors.Is(err, ErrTLSHandshakeTimeout) && !errors.Is(err, ErrDialerBusy) {
		td.d.srv.Stats.HandshakeErrors.Add(1)
	}
	if td.d.onError != nil {
		td.d.onError(td.addr, err)
	}
	td.h.OnDialFailed(err)
}

var _ Dialer = (*TLSDialer)(nil)
