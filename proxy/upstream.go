package proxy

import (
	"errors"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/upstream"
)

// upConn is the HTTP/1.1 client side of one pooled upstream connection: the
// read filter that turns its bytes into the current stream's response.
// Loop only.
type upConn struct {
	pc *upstream.PooledConn[*upConn]
	s  *stream
	// inData is set while OnData runs. A stream that ends inside it hands
	// the connection back through release, which waits for OnData to see
	// whether unread bytes are left: a connection with leftover bytes
	// (a body on a HEAD/204/304 reply, bytes past Content-Length) must not
	// be reused, or the next request would read them as its response.
	inData       bool
	releaseWant  bool
	releaseReuse bool
	// mHost is the host's metrics cells while the connection is open
	// (metrics.go).
	mHost *metrics.Host
	// local is ferry's address on the connection, formatted once for the
	// access log (accesslog.go).
	local string
	// tun is set once the connection was upgraded: its bytes and close
	// are the relay's (upgrade.go). releaseAtClose: the stream let the
	// connection go while the relay still flushes it; the pool gets it
	// back at its close event, not with a CloseNow that would cut the
	// flush.
	tun            *tunnel
	releaseAtClose bool
	// h2t is set once the connection carries an HTTP/2 stream's tunnel
	// (h2tunnel.go); the stream stays attached (s).
	h2t *h2tunnel
	// mir is the mirror the connection is lent to (mirror.go), instead of
	// a stream.
	mir *mirror
}

// onUpstreamConnect sets a new upstream connection up and returns its
// handler (PooledConn.Handler); the pool calls it once, on the loop, before
// the connection's first use.
func (srv *Server) onUpstreamConnect(pc *upstream.PooledConn[*upConn]) *upConn {
	u := &upConn{pc: pc}
	pc.C.Filters().AddReadFilter(u)
	pc.C.Filters().InitializeReadFilters()
	pc.C.SetWatermarkListener(u)
	srv.stats.upstreamConns.Inc()
	u.mUpConnOpen(srv.opts.Metrics)
	return u
}

func (u *upConn) attach(s *stream) { u.s = s }

// release detaches the stream and gives the connection back to its pool,
// at once or, inside OnData, once OnData knows what is left unread.
func (u *upConn) release(pc *upstream.PooledConn[*upConn], reusable bool) {
	u.s = nil
	if u.tun != nil && !pc.C.Gone() {
		u.releaseAtClose = true
		return
	}
	if u.inData {
		u.releaseWant, u.releaseReuse = true, reusable
		return
	}
	pc.Release(reusable)
}

// InitReadCallbacks implements filterchain.ReadFilter.
func (u *upConn) InitReadCallbacks(filterchain.ReadCallbacks) {}

// OnNewConnection implements filterchain.ReadFilter.
func (u *upConn) OnNewConnection() filterchain.Status { return filterchain.Continue }

// OnData implements filterchain.ReadFilter. Bytes on an idle connection
// answer no request: the connection cannot be trusted and is closed.
func (u *upConn) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	if u.tun != nil {
		u.tun.r.Read(relay.Up, buf)
		return filterchain.Stop
	}
	if u.h2t != nil {
		u.h2t.upRead(buf) // h2tunnel.go
		return filterchain.Stop
	}
	if u.mir != nil {
		u.mir.onData(buf)
		return filterchain.Stop
	}
	if u.s == nil {
		buf.Drain(buf.Len())
		u.pc.C.Close(filterchain.CloseNow)
		return filterchain.Stop
	}
	u.inData = true
	u.s.onUpstreamData(buf)
	u.inData = false
	if u.releaseWant {
		u.releaseWant = false
		u.pc.Release(u.releaseReuse && buf.Len() == 0)
	}
	return filterchain.Stop
}

// OnEvent implements filterchain.ConnectionCallbacks.
func (u *upConn) OnEvent(ev filterchain.ConnectionEvent) {
	u.mUpConnClose()
	if u.h2t != nil {
		u.h2t.upClosed(ev) // h2tunnel.go
		return
	}
	if u.tun != nil {
		u.tun.r.Closed(relay.Up, ev)
		if u.releaseAtClose {
			u.releaseAtClose = false
			u.pc.Release(false)
		}
		return
	}
	if u.mir != nil {
		u.mir.onClose()
		return
	}
	if s := u.s; s != nil {
		s.enter()
		s.onUpstreamClose()
		s.exit()
	}
}

// OnAboveHighWatermark implements conn.WatermarkListener: request body
// bytes now queue in the stream's spill queue.
func (u *upConn) OnAboveHighWatermark() {}

// OnBelowLowWatermark implements conn.WatermarkListener.
func (u *upConn) OnBelowLowWatermark() {
	if s := u.s; s != nil {
		_ = s.reqPipe.drain() // a failed write closed the connection: OnEvent handles it
		s.h2credit()
		if u.h2t != nil {
			u.h2t.shutUpstream() // a half-close waits for the pipe (h2tunnel.go)
		}
	}
}

// onUpstreamData parses the response and moves its body downstream.
func (s *stream) onUpstreamData(buf filterchain.Buffer) {
	s.enter()
	defer s.exit()
	for buf.Len() > 0 && s.up != nil && !s.ended() {
		switch s.respState {
		case stateHead:
			if !s.readResponseHead(buf) {
				s.flushPipes()
				return
			}
		case stateBody:
			if !s.readResponseBody(buf) {
				s.flushPipes()
				return
			}
		default: // bytes after a complete response: not reusable
			s.upReusable = false
			buf.Drain(buf.Len())
		}
	}
	s.flushPipes()
	s.afterResponseBytes()
}

// afterResponseBytes releases the upstream once the response is complete
// and lets the phase machine finish.
func (s *stream) afterResponseBytes() {
	if s.respState != stateDone || s.ended() {
		return
	}
	// The upstream has answered: its timeout must not fire on a client
	// that is slow to take the response (the client's own limits apply).
	s.loop.Stop(&s.timeout)
	if s.pc != nil {
		s.detachUpstream(s.upReusable && s.reqState == stateDone)
	}
	if s.respSent {
		s.run(UpRecvData)
	}
}

// readResponseHead parses one response head; it reports whether bytes
// were consumed.
func (s *stream) readResponseHead(buf filterchain.Buffer) bool {
	n, err := s.resp.Parse(buf.Bytes(), s.req.IsHead(), s.d.f.opts.Limits)
	if err != nil {
		s.srv.log.Debug("malformed upstream response", "host", s.host.Address(), "err", err)
		s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpstreamMalformed}, onEvent)
		return false
	}
	if n == 0 {
		return false
	}
	if s.resp.Status < 200 {
		return s.informational(buf, n)
	}
	if s.rt.policy != nil && s.retryResponse(s.resp.Status) {
		return false // retried (retry.go): this response and its connection are dropped
	}
	s.host.Outcome(s.loop, s.resp.Status) // outlier detection: a load and a nil check when off
	s.respHead = append(s.respHead[:0], buf.Bytes()[:n]...)
	s.resp.Raw = s.respHead
	s.al.mark(&s.al.respHead)
	buf.Drain(n)
	s.respHdrs.bind(&s.resp.Raw, &s.resp.Headers)
	s.prepareResponseBody()
	s.run(UpFilter)
	return true
}

// informational forwards a 1xx head (100 is dropped: ferry sent its own,
// and 101 switches to a relay when ferry forwarded an upgrade, upgrade.go).
func (s *stream) informational(buf filterchain.Buffer, n int) bool {
	if s.resp.Status == 101 && s.upgrade && s.h2 != nil {
		return s.h2SwitchProtocols(buf, n) // extended CONNECT (h2tunnel.go)
	}
	if s.resp.Status == 101 && s.upgrade {
		return s.switchProtocols(buf, n)
	}
	if s.resp.Status == 101 {
		s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpstreamSwitched}, onEvent)
		return false
	}
	if s.informationalBound(n) {
		return false
	}
	// 100 is dropped: ferry answered Expect itself. Other 1xx go to HTTP/1.1
	// and HTTP/2 clients (RFC 9110 15.2: never to an HTTP/1.0 client).
	switch {
	case s.resp.Status == 100:
	case s.h2 != nil:
		s.h2Informational(s.resp.Status, s.h1InformationalFields()) // upstream_h2.go
	case s.req.Minor == 1:
		s.out = s.encodeInformational(s.out[:0])
		_ = s.d.c.Write(s.out)
	}
	buf.Drain(n)
	s.resp.Reset()
	return true
}

// informationalBound counts a 1xx head of n bytes and fails the stream
// (502) once the request's 1xx heads together pass the listener's
// max_header_bytes, as Go's net/http Transport holds 1xx heads to its
// header limit: each goes to the client at once, whether it reads or not,
// so an upstream sending them without end would grow the client's write
// queue without bound. It reports whether the stream failed.
func (s *stream) informationalBound(n int) bool {
	limit := s.d.f.opts.Limits.MaxHeaderBytes
	if limit <= 0 {
		limit = http1.DefaultLimits().MaxHeaderBytes
	}
	if s.infoBytes += n; s.infoBytes <= limit {
		return false
	}
	s.srv.log.Debug("malformed upstream response", "host", s.host.Address(), "err", errUpstream1xx)
	s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpstream1xx}, onEvent)
	return true
}

// prepareResponseBody picks the response framing for both sides.
func (s *stream) prepareResponseBody() {
	r := &s.resp
	s.respKind = r.Body
	s.upReusable = r.KeepAlive && r.Body != http1.BodyUntilClose
	s.respPipe.enc = encRaw
	switch r.Body {
	case http1.BodyNone:
		s.respState = stateDone
		return
	case http1.BodyLength:
		s.respLen = r.ContentLength
		if s.respLen == 0 {
			s.respState = stateDone
			return
		}
	case http1.BodyChunked:
		s.respDec.Reset()
		if s.req.Minor == 1 {
			s.respPipe.enc = encChunked
		} else {
			s.respClose = true // HTTP/1.0 client: the close delimits the body
		}
	case http1.BodyUntilClose:
		if s.req.Minor == 1 {
			s.respPipe.enc = encChunked
		} else {
			s.respClose = true
		}
	}
	if s.h2 != nil {
		s.respPipe.enc = encRaw // DATA frames delimit the body
	}
	s.respState = stateBody
}

// readResponseBody moves body bytes to the response pipe; it reports
// whether it consumed anything.
func (s *stream) readResponseBody(buf filterchain.Buffer) bool {
	// The route timeout also bounds each gap between response body reads.
	s.loop.Schedule(&s.timeout, s.routeTimeout())
	switch s.respKind {
	case http1.BodyLength:
		b := buf.Bytes()
		n := int(min(int64(len(b)), s.respLen))
		s.responseLost(s.respPipe.add(b[:n]))
		buf.Drain(n)
		if s.respLen -= int64(n); s.respLen == 0 {
			s.respState = stateDone
		}
		return n > 0
	case http1.BodyChunked:
		return s.readChunkedResponse(buf)
	default: // until close
		s.responseLost(s.respPipe.add(buf.Bytes()))
		buf.Drain(buf.Len())
		return true
	}
}

func (s *stream) readChunkedResponse(buf filterchain.Buffer) bool {
	consumed := false
	for buf.Len() > 0 {
		ev, n, data, err := s.respDec.Next(buf.Bytes())
		if err != nil {
			s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpstreamChunked}, onEvent)
			return false
		}
		switch ev {
		case http1.ChunkData:
			s.responseLost(s.respPipe.add(data))
		case http1.ChunkDone:
			s.responseLost(s.respPipe.finish(data))
			if s.h2 != nil {
				s.respTrailers = append(s.respTrailers[:0], data...)
			}
			s.respState = stateDone
		}
		buf.Drain(n)
		consumed = consumed || n > 0
		if ev == http1.ChunkDone || (ev == http1.ChunkNeedMore && n == 0) {
			break
		}
	}
	return consumed
}

// onUpstreamClose handles the upstream closing mid-exchange.
func (s *stream) onUpstreamClose() {
	switch {
	case s.respState == stateBody && s.respKind == http1.BodyUntilClose:
		s.responseLost(s.respPipe.finish(nil))
		s.respState = stateDone
		s.upReusable = false
		s.flushPipes()
		s.afterResponseBytes()
	case s.respState == stateHead:
		s.fail(Error{Source: Upstream, Kind: KindUpstreamReset, Retryable: s.retryable(), Err: errUpstreamClosed}, onEvent)
	case s.respState == stateBody:
		// Mid-body: the client must not take a truncated body for a whole one.
		s.fail(Error{Source: Upstream, Kind: KindUpstreamResetMidBody, Err: errUpstreamMidBody}, onEvent)
	}
}

// retryable reports whether a request that got no response byte may be
// sent again: the connection was reused (the upstream may have closed it
// as we wrote), the request has no body to replay, and its method is
// idempotent (RFC 9110 9.2.2), so a second delivery is harmless.
func (s *stream) retryable() bool {
	return s.pc != nil && s.pc.Reused() && s.retries < s.srv.opts.MaxRetries &&
		!s.hasBody() && s.reqState == stateDone && s.idempotent()
}

// idempotent reports whether the method is idempotent (RFC 9110 9.2.2).
func (s *stream) idempotent() bool {
	switch string(s.req.Bytes(s.req.Method)) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// OnPoolReady implements upstream.PoolClient.
func (s *stream) OnPoolReady(pc *upstream.PooledConn[*upConn]) {
	s.pc = pc
	pc.Host().IncActive()
	s.mUpStart(pc)
	if !s.acquiring {
		s.resume(DownRecvHeader)
	}
}

// OnPoolFailure implements upstream.PoolClient.
func (s *stream) OnPoolFailure(err error) {
	if s.acquiring {
		s.poolErr = err
		return
	}
	s.fail(s.poolError(err), onEvent)
}

// poolError is the failure of a pool that could not give a connection.
func (s *stream) poolError(err error) Error {
	s.pool = nil
	s.mUnpend()
	s.srv.log.Debug("upstream connection failed", "host", s.host.Address(), "err", err)
	if le := (*upstream.LimitError)(nil); errors.As(err, &le) {
		return Error{Source: Upstream, Kind: KindOverflow, Err: le} // names the limit (upstream/breaker.go)
	}
	if errors.Is(err, upstream.ErrPoolOverflow) || errors.Is(err, upstream.ErrDialBusy) {
		return Error{Source: Upstream, Kind: KindOverflow, Err: (*errPoolBusy)(s.cluster)}
	}
	s.mConnectFailed()
	return Error{Source: Upstream, Kind: KindConnectFailed, Err: (*errConnect)(s.cluster)}
}
