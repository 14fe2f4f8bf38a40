package proxy

import (
	"net"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/relay"
)

// downstream is the HTTP/1.1 server side of one client connection: the
// terminal read filter of the listener's chain. It parses request heads,
// feeds request bodies to the current stream, and keeps one request in
// flight at a time; pipelined requests wait in gnet's input, bounded by
// MaxPipelinedBytes. Loop only.
type downstream struct {
	f *Factory
	c *conn.Conn
	s *stream
	// h2 serves the connection once it turned out to speak HTTP/2.
	h2 *h2conn

	requests int32
	inRead   bool
	// timerRead tells what t times: the request head or body read timeout
	// (true) or the keep-alive idle timeout (false). They never overlap.
	timerRead bool
	// mCounted is set while the connection counts on its listener's
	// metrics (metrics.go).
	mCounted bool
	// listed is set while the connection is on its loop's list (drain.go).
	listed bool
	t      conn.Timer
	// addr holds the connection's addresses, formatted once for the access
	// log (accesslog.go); nil until then, so that an idle connection of a
	// listener without access log pays one pointer, not two strings.
	addr *connAddrs
	// prev and next link the loop's open connections (drain.go).
	prev, next *downstream
	// tun is set once the connection was upgraded: its bytes and close
	// are the relay's (upgrade.go).
	tun *tunnel
}

// connAddrs are a client connection's local and remote addresses.
type connAddrs struct{ local, remote string }

// InitReadCallbacks implements filterchain.ReadFilter. The connection
// came with the filter (Factory.CreateFilters).
func (d *downstream) InitReadCallbacks(filterchain.ReadCallbacks) {
	d.t.Init(d)
	d.c.SetWatermarkListener(d)
}

// armRead starts the request read timeout (head or body gap).
func (d *downstream) armRead(timeout time.Duration) {
	d.timerRead = true
	d.c.Loop().Schedule(&d.t, timeout)
}

// armIdle starts the keep-alive idle timeout.
func (d *downstream) armIdle() {
	d.timerRead = false
	d.c.Loop().Schedule(&d.t, d.f.idle)
}

// stopTimer stops whichever timeout runs.
func (d *downstream) stopTimer() { d.c.Loop().Stop(&d.t) }

// OnNewConnection implements filterchain.ReadFilter.
func (d *downstream) OnNewConnection() filterchain.Status {
	d.mConnOpen()
	d.link()
	d.armIdle()
	return filterchain.Continue
}

// OnData implements filterchain.ReadFilter: the entry of every request.
func (d *downstream) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	if d.tun != nil {
		d.tun.r.Read(relay.Down, buf)
		return filterchain.Stop
	}
	if d.h2 == nil && d.requests == 0 && d.s == nil && d.f.proto != ProtoHTTP1 && !d.sniff(buf) {
		return filterchain.Stop // a prefix of the HTTP/2 preface: wait for more
	}
	if d.h2 != nil {
		d.h2.onData(buf)
		return filterchain.Stop
	}
	d.inRead = true
	for buf.Len() > 0 && !d.c.Closed() && d.step(buf) {
	}
	if d.s != nil {
		d.s.flushPipes()
	}
	d.inRead = false
	return filterchain.Stop
}

// sniff picks the protocol of a new connection from its first bytes: with
// Http2 every connection is HTTP/2 (a wrong preface is the codec's
// PROTOCOL_ERROR); with Auto the protocol TLS chose by ALPN decides, else
// the HTTP/2 preface (docs/tls.md). It reports false while the bytes are
// a prefix of the preface.
func (d *downstream) sniff(buf filterchain.Buffer) bool {
	isH2, known := true, true
	if d.f.proto == ProtoAuto {
		switch d.c.TLS().ALPN() {
		case "h2": // the preface is due; a wrong one is a PROTOCOL_ERROR
		case "http/1.1":
			isH2 = false
		default:
			isH2, known = h2Sniff(buf.Bytes())
		}
	}
	if !known {
		return false
	}
	if isH2 {
		d.h2 = newH2conn(d)
		d.f.srv.stats.h2Conns.Inc()
	}
	return true
}

// step handles the input in the current state; it reports whether to go
// on with what is left.
func (d *downstream) step(buf filterchain.Buffer) bool {
	s := d.s
	switch {
	case s == nil || s.reqState == stateHead:
		return d.readHead(buf)
	case s.reqState == stateBody:
		return s.readRequestBody(buf)
	default:
		// A pipelined request: it waits in gnet's input until the current
		// response is done. gnet keeps reading, so the wait is bounded.
		if buf.Len() > d.f.opts.MaxPipelinedBytes {
			if s.connect {
				s.connectOverflow() // tunnel bytes: not to be dropped (connect.go)
				return false
			}
			s.respClose = true
			d.f.srv.stats.pipelineOverflow.Inc()
			buf.Drain(buf.Len())
		}
		return false
	}
}

// readHead parses a request head and starts its stream.
func (d *downstream) readHead(buf filterchain.Buffer) bool {
	if d.s == nil {
		d.s = d.f.srv.newStream(d)
		d.armRead(d.f.opts.RequestHeaderTimeout)
	}
	s := d.s
	s.enter()
	defer s.exit()
	data := buf.Bytes()
	n, err := s.req.Parse(data, d.f.opts.Limits)
	if err != nil {
		d.badRequest(err)
		return false
	}
	if n == 0 {
		return false
	}
	s.head = append(s.head[:0], data[:n]...)
	s.req.Raw = s.head
	buf.Drain(n)
	d.stopTimer()
	d.requests++
	s.startRequest()
	return true
}

// badRequest answers a head the codec rejected with the status of its
// verdict, and closes: after a framing error nothing later on the
// connection can be trusted.
func (d *downstream) badRequest(err error) {
	s := d.s
	s.begin()
	s.req.KeepAlive = false
	s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: err}, onEvent)
}

// OnTimer implements conn.TimerHandler for the read and idle timers.
func (d *downstream) OnTimer(*conn.Timer) {
	if d.timerRead {
		d.readTimeout()
		return
	}
	d.idleTimeout()
}

// readTimeout fires when a request head or body is too slow to arrive.
func (d *downstream) readTimeout() {
	s := d.s
	if s == nil {
		return
	}
	s.begin()
	s.fail(Error{Source: Downstream, Kind: KindRequestTimeout, Err: errRequestSlow}, onEvent)
}

// idleTimeout closes a keep-alive connection with no request.
func (d *downstream) idleTimeout() {
	if d.h2 != nil {
		d.h2.idle()
		return
	}
	if d.s == nil {
		d.f.srv.stats.idleClosed.Inc()
		d.c.Close(filterchain.CloseFlush)
	}
}

// streamDone implements front, the stream's End: keep the connection for
// the next request or close it. The stream is recycled by its outermost exit.
func (d *downstream) streamDone(s *stream) {
	srv := d.f.srv
	keep := !s.respClose && s.req.KeepAlive && s.reqState == stateDone && !d.c.Closed() &&
		!srv.draining.Load() && !d.f.drain.on.Load() && (d.f.opts.MaxRequestsPerConn == 0 || int(d.requests) < d.f.opts.MaxRequestsPerConn)
	mode := s.closeMode()
	if d.s == s {
		d.s = nil
	}
	s.life = lifeReleased
	d.stopTimer()
	if !keep {
		d.c.Close(mode)
		return
	}
	d.armIdle()
	if !d.inRead && d.c.InboundBuffered() > 0 {
		d.c.ResumeReading() // a pipelined request is waiting
	}
}

// OnEvent implements filterchain.ConnectionCallbacks: the client went away.
func (d *downstream) OnEvent(ev filterchain.ConnectionEvent) {
	d.mConnClose()
	d.unlink()
	d.stopTimer()
	if d.tun != nil {
		d.tun.r.Closed(relay.Down, ev)
		return
	}
	if d.h2 != nil {
		d.h2.closed()
		return
	}
	if s := d.s; s != nil {
		s.abort()
	}
}

// OnAboveHighWatermark implements conn.WatermarkListener: response bytes now
// queue in the stream's spill queue.
func (d *downstream) OnAboveHighWatermark() { d.f.srv.stats.downstreamStalls.Inc() }

// OnBelowLowWatermark implements conn.WatermarkListener: write what the
// response queued, then let the stream finish if it was waiting for that.
func (d *downstream) OnBelowLowWatermark() {
	if d.h2 != nil {
		d.h2.drainAll()
		return
	}
	s := d.s
	if s == nil {
		return
	}
	s.enter()
	defer s.exit()
	if err := s.respPipe.drain(); err != nil {
		s.responseLost(err)
		return
	}
	s.h2upCredit()
	if s.respSent && s.respState == stateDone && s.respPipe.queued() == 0 {
		s.resume(UpRecvData)
	}
}

// appendPeerIP appends the client's IP address, without allocating.
func (d *downstream) appendPeerIP(dst []byte) []byte {
	if ta, ok := d.c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().AppendTo(dst)
	}
	return append(dst, "unknown"...)
}

var (
	_ filterchain.ReadFilter          = (*downstream)(nil)
	_ filterchain.ConnectionCallbacks = (*downstream)(nil)
	_ conn.WatermarkListener          = (*downstream)(nil)
)
