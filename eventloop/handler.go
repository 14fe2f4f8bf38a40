package eventloop

import (
	"net"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// OnOpen wraps a new socket: an enrolled upstream is handed to its dialler,
// an accepted one gets its listener's filter chain.
func (e *Engine) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	l := e.loopOf(gc.EventLoop())
	l.Refresh()
	if ob, ok := gc.Context().(conn.Outbound); ok {
		return nil, ob.Open(gc, l)
	}
	if e.draining.Load() {
		return nil, gnet.Close
	}
	var ch *Chain // one atomic load per accepted connection: the snapshot it keeps
	if lst := e.listenerFor(gc.LocalAddr()); lst != nil {
		if ch = lst.chain.Load(); ch == nil {
			return nil, gnet.Close // an unused spare slot's placeholder (spare_linux.go)
		}
	}
	if !e.admit() {
		e.opts.Tracker.Refused.Add(1)
		return nil, gnet.Close
	}
	var sock gnet.Conn = gc
	var tc *conn.TLSConn
	if ch != nil && ch.TLS != nil {
		tc = conn.NewTLS(gc, ch.TLS)
		sock = tc
	}
	c := conn.New(sock, l, false)
	if ch != nil {
		for _, f := range ch.Filters {
			f.CreateFilters(c)
		}
	}
	if !c.Filters().InitializeReadFilters() {
		c.Close(filterchain.CloseNow)
	}
	if tc != nil {
		// The filters hear of the connection once the handshake is done.
		return nil, c.RunInCallback(func() { tc.Start(c) })
	}
	return nil, c.Open()
}

// admit reserves a socket for a new client: within max_connections
// (clients only) and within the process's socket budget (all sockets, so
// accept never meets EMFILE).
func (e *Engine) admit() bool {
	t := e.opts.Tracker
	if n, most := t.Downstream.Add(1), e.maxDown.Load(); most > 0 && n > most {
		t.Downstream.Add(-1)
		return false
	}
	if t.Acquire(0) != nil {
		t.Downstream.Add(-1)
		return false
	}
	return true
}

// listenerFor finds the listener a connection arrived on by its local port
// (and address, when two listeners share a port); a listener configured
// with port 0 matches any port, after those whose port is the one.
// No allocation.
func (e *Engine) listenerFor(a net.Addr) *Listener {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return nil
	}
	var byPort, byZeroIP, byZero *Listener
	for _, l := range e.listeners {
		exact := l.port == ta.Port
		if !exact && l.port != 0 {
			continue
		}
		ipMatch := l.ip != nil && !l.ip.IsUnspecified() && l.ip.Equal(ta.IP)
		switch {
		case exact && ipMatch:
			return l
		case exact && byPort == nil:
			byPort = l
		case !exact && ipMatch && byZeroIP == nil:
			byZeroIP = l
		case !exact && byZero == nil:
			byZero = l
		}
	}
	switch {
	case byPort != nil:
		return byPort
	case byZeroIP != nil:
		return byZeroIP
	case byZero != nil:
		return byZero
	case e.nConf == 1:
		return e.listeners[0] // port 0: the only listener
	}
	return nil
}

// OnTraffic hands a read event to the connection.
func (e *Engine) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn.Conn)
	if !ok {
		return gnet.Close
	}
	c.Loop().Refresh()
	if t := c.TLS(); t != nil {
		return t.OnTraffic()
	}
	return c.OnTraffic()
}

// OnClose tells the connection it is gone.
func (e *Engine) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*conn.Conn)
	if !ok {
		return gnet.None
	}
	c.Loop().Refresh()
	if !c.Upstream() && !c.Gone() {
		e.opts.Tracker.Downstream.Add(-1)
	}
	c.OnClose()
	if t := c.TLS(); t != nil {
		t.OnClose()
	}
	return gnet.None
}
