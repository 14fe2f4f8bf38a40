package proxy

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/codec/http2"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/upstream"
)

// HTTP/2 to upstream hosts (upstream_protocol: Http2, h2c with prior
// knowledge). One h2up is the client side of one multiplexed upstream
// connection (upstream.MuxConn); each proxy stream takes one HTTP/2
// stream on it. The proxy stream keeps its HTTP/1 representation: the
// request head is encoded as for an HTTP/1.1 upstream (every header rule
// applies once) and re-stated as HTTP/2 fields; the response HEADERS are
// re-stated as an HTTP/1.1 head and parsed by the HTTP/1 codec, so
// UpFilter, the response pipe and both fronts are unchanged. Loop only.
type h2up struct {
	mc    *upstream.MuxConn[*h2up]
	srv   *Server
	codec *http2.ClientConn
	// streams are the proxy streams on the connection, by HTTP/2 id.
	streams map[uint32]*stream
	fields  []http2.Field
	ids     []uint32
	// heads are the streams whose response head waits in their pipe's
	// batch for the first DATA of the same read, so that head and body
	// leave in one write (as from an HTTP/1.1 upstream); what is left
	// is flushed at the end of the read.
	heads []pendingHead
	pings uint64
	// scheme is :scheme, http (h2c) or https (h2 over TLS).
	scheme []byte
	local  string
	mHost  *metrics.Host
}

// pendingHead is a stream with a response head not yet flushed, and the
// generation it had then (the stream may end and be recycled meanwhile).
type pendingHead struct {
	s   *stream
	gen uint64
}

// h2upState is a stream's HTTP/2 upstream state (requestState.hu).
type h2upState struct {
	pool *upstream.MuxPool[*h2up]
	mc   *upstream.MuxConn[*h2up]
	// id is the HTTP/2 stream id; 0 once the stream is gone upstream.
	id uint32
	// sent counts request body bytes of a Content-Length body framed so
	// far, to put END_STREAM on the last one.
	sent int64
	// pendEnd: END_STREAM goes with the last of pend; trailers wait for
	// pend (upstream flow control) to drain.
	pendEnd   bool
	trailers  bool
	ended     bool // our END_STREAM went (or the stream is gone)
	respBytes int  // response bytes delivered and not yet Consumed
	// dec decodes the request pipe's canonical chunks back into DATA and
	// trailers (h2upBody).
	dec http1.ChunkedDecoder
}

//nolint:gochecknoglobals // read-only
var (
	errUpstreamReset   = errors.New("upstream reset the stream before the response")
	errH2RequestChunk  = errors.New("the request body could not be framed for the HTTP/2 upstream")
	errH2NotNegotiated = errors.New("TLS to the upstream did not negotiate h2 by ALPN")
	h2TE               = []byte("te")
	h2Trailers         = []byte("trailers")
)

// h2upMaxStreams caps the streams one upstream connection carries, even
// when the server states no limit: beyond it, a new connection opens.
const h2upMaxStreams = 1000

// newMuxManager builds the pools of HTTP/2 upstream connections.
func (srv *Server) newMuxManager(d conn.Dialer) error {
	m, err := upstream.NewMuxManager(upstream.MuxManagerOptions[*h2up]{
		Loops: srv.opts.Loops, Dialer: d, OnConnect: srv.onH2UpstreamConnect, Clusters: srv.opts.Clusters,
		PingInterval: srv.opts.H2PingInterval, PingTimeout: srv.opts.H2PingTimeout,
	})
	srv.mux = m
	return err
}

// onH2UpstreamConnect sets up a new HTTP/2 upstream connection: its read
// filter, and the client preface, which leaves at once. One stream may
// go before the server's SETTINGS arrive; OnSettings opens the rest.
//
// A TLS dialer plugs in here: when the negotiated ALPN is "h2" the
// connection gets an h2up, otherwise an upConn in the HTTP/1.1 pool.
func (srv *Server) onH2UpstreamConnect(mc *upstream.MuxConn[*h2up]) *h2up {
	u := &h2up{mc: mc, srv: srv, scheme: h2SchemeHTTP}
	if t := mc.C.TLS(); t != nil {
		// h2 over TLS only when ALPN chose it (RFC 9113 3.2); anything
		// else fails the requests rather than guess the protocol.
		if t.ALPN() != "h2" {
			mc.Refuse(errH2NotNegotiated)
			return u
		}
		u.scheme = h2SchemeHTTPS
	}
	u.streams = make(map[uint32]*stream)
	u.codec = http2.NewClientConn(u, srv.opts.H2Upstream)
	mc.C.Filters().AddReadFilter((*h2upRead)(u))
	mc.C.Filters().InitializeReadFilters()
	mc.C.Filters().AddConnectionCallbacks((*h2upClose)(u))
	mc.C.SetWatermarkListener(u)
	srv.stats.upstreamConns.Inc()
	if r := srv.opts.Metrics; r != nil {
		sh := r.Shard(mc.C.Loop().Index)
		u.mHost = sh.Host(metrics.ID(mc.Host().MetricsID()))
		u.mHost.ActiveConnections.Inc()
	}
	u.flush()
	return u
}

// flush writes what the codec queued (gnet copies what the socket does
// not take, so the codec's references are released at once).
func (u *h2up) flush() {
	if u.codec.OutLen() == 0 {
		return
	}
	if c := u.mc.C; !c.Closed() {
		if out := u.codec.Out(); len(out) == 1 {
			_ = c.Write(out[0]) // a failed write closed the connection: its close event fails the streams
		} else {
			_ = c.Writev(out)
		}
	}
	u.codec.ResetOut()
}

// Ping implements upstream.MuxHandler.
func (u *h2up) Ping() {
	u.pings++
	u.codec.Ping(u.pings)
	u.flush()
}

// h2upRead is the connection's read filter (a conversion of the h2up:
// its OnData would clash with the codec handler's).
type h2upRead h2up

// InitReadCallbacks implements filterchain.ReadFilter.
func (*h2upRead) InitReadCallbacks(filterchain.ReadCallbacks) {}

// OnNewConnection implements filterchain.ReadFilter.
func (*h2upRead) OnNewConnection() filterchain.Status { return filterchain.Continue }

// OnData implements filterchain.ReadFilter: the server's frames. A
// connection error has queued GOAWAY; the close fails every stream.
func (k *h2upRead) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	u := (*h2up)(k)
	if c := u.mc.C; c.OutboundBuffered() > c.Loop().Opts.HighWatermark+h2OutboundSlack {
		// The upstream keeps sending while not reading what we send
		// (control frames are not flow-controlled): cut off, as a client
		// would be (h2conn.onData).
		buf.Drain(buf.Len())
		c.Close(filterchain.CloseNow)
		return filterchain.Stop
	}
	n, err := u.codec.Feed(buf.Bytes())
	buf.Drain(n)
	u.flushHeads()
	u.flush()
	if err != nil {
		u.srv.log.Debug("http2 upstream connection error", "host", u.mc.Host().Address(), "err", err)
		buf.Drain(buf.Len())
		u.mc.C.Close(filterchain.CloseFlush)
	}
	return filterchain.Stop
}

// h2upClose is the connection's close callback: every stream on it fails.
type h2upClose h2up

// OnEvent implements filterchain.ConnectionCallbacks.
func (k *h2upClose) OnEvent(filterchain.ConnectionEvent) {
	u := (*h2up)(k)
	if u.mHost != nil {
		u.mHost.ActiveConnections.Dec()
		u.mHost = nil
	}
	u.failAll(0, false)
}

// failAll fails the streams above last (all of them for 0): the
// connection closed, or a GOAWAY said they were not processed.
func (u *h2up) failAll(last uint32, unprocessed bool) {
	// A list of its own: failing a stream may write, and a failed write
	// re-enters (OnWindow, this), which would reuse u.ids. Failures only.
	var ids []uint32
	for id := range u.streams {
		if id > last {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		s := u.streams[id]
		if s == nil {
			continue
		}
		delete(u.streams, id)
		s.hu.id, s.hu.ended = 0, true
		s.enter()
		s.h2upLost(unprocessed, errUpstreamClosed)
		s.exit()
	}
}

// OnAboveHighWatermark implements conn.WatermarkListener.
func (u *h2up) OnAboveHighWatermark() {}

// OnBelowLowWatermark implements conn.WatermarkListener: request bodies
// held back go on.
func (u *h2up) OnBelowLowWatermark() { u.OnWindow(0) }

// OnResponse implements http2.ClientHandler: the response head, re-stated
// as HTTP/1.1 and parsed by the HTTP/1 codec, unless the route's retry
// policy retries its status. A 1xx head goes to informational.
func (u *h2up) OnResponse(id uint32, r *http2.Response, endStream bool) {
	s := u.streams[id]
	if s == nil || s.respState != stateHead {
		return
	}
	if r.Status < 200 {
		s.h2upInformational(r)
		return
	}
	s.enter()
	defer s.exit()
	if s.rt.policy != nil && s.retryResponse(r.Status) {
		return // retried (retry.go): the Retry phase's detach reset this stream
	}
	s.host.Outcome(s.loop, r.Status) // outlier detection: a load and a nil check when off
	h := appendH2Head(s.respHead[:0], r)
	if endStream && r.ContentLength < 0 && r.Status != 204 && r.Status != 304 {
		h = append(h, "content-length: 0\r\n"...) // no body: say so to an HTTP/1.1 client
	}
	h = append(h, "\r\n"...)
	s.respHead = h
	n, err := s.resp.Parse(h, s.req.IsHead(), s.d.f.opts.Limits)
	if err != nil || n != len(h) {
		s.srv.log.Debug("malformed upstream response", "host", s.host.Address(), "err", err)
		s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpstreamMalformed}, onEvent)
		return
	}
	s.resp.Raw = s.respHead
	s.al.mark(&s.al.respHead)
	s.respHdrs.bind(&s.resp.Raw, &s.resp.Headers)
	s.prepareResponseBody()
	if endStream {
		s.respState = stateDone
	}
	s.run(UpFilter)
	if s.respState != stateDone && !s.ended() {
		u.heads = append(u.heads, pendingHead{s: s, gen: s.gen.Load()}) // leaves with the first DATA
		return
	}
	s.flushPipes()
	s.h2upAfterResponse()
}

// appendH2Head appends r's status line and fields as HTTP/1.1 (an HTTP/2
// response has no connection-specific field: the codec refuses them),
// without the blank line that ends the head.
func appendH2Head(h []byte, r *http2.Response) []byte {
	h = append(h, "HTTP/1.1 "...)
	h = strconv.AppendInt(h, int64(r.Status), 10)
	h = append(h, ' ')
	h = append(h, http1.StatusText(r.Status)...)
	h = append(h, "\r\n"...)
	for _, f := range r.Fields {
		h = appendField(h, f.Name, f.Value)
	}
	return h
}

// h2HeadSize is the size of r's head re-stated as HTTP/1.1
// (appendH2Head, and the blank line after it).
func h2HeadSize(r *http2.Response) int {
	n := len("HTTP/1.1 000 \r\n\r\n") + len(http1.StatusText(r.Status))
	for _, f := range r.Fields {
		n += len(f.Name) + len(": \r\n") + len(f.Value)
	}
	return n
}

// h2upInformational forwards a 1xx head as the HTTP/1.1 path does
// (upstream.go: informational): 100 is dropped, since ferry answered the
// client's Expect itself when the upstream stream opened (h2upSend); any
// other (103 Early Hints) goes at once to an HTTP/1.1 client or an
// HTTP/2 one (h2Informational), never to an HTTP/1.0 client (RFC 9110
// 15.2). 101 never arrives: the codec refuses it (RFC 9113 8.6).
// Their sum is bounded as over HTTP/1.1 (informationalBound).
func (s *stream) h2upInformational(r *http2.Response) {
	s.enter()
	defer s.exit()
	if s.informationalBound(h2HeadSize(r)) || r.Status == 100 || s.h2 == nil && s.req.Minor != 1 {
		return
	}
	if s.h2 != nil {
		s.h2Informational(r.Status, r.Fields)
		return
	}
	s.out = append(appendH2Head(s.out[:0], r), "\r\n"...)
	_ = s.d.c.Write(s.out) // a failed write closed the client: its close event ends the stream
}

// h2Informational sends a 1xx head to an HTTP/2 client, from either
// upstream protocol: a HEADERS frame without END_STREAM before the final
// one (RFC 9113 8.1), with the upstream's fields (the codec drops the
// connection-specific ones).
func (s *stream) h2Informational(status int, fields []http2.Field) {
	h := s.h2
	h.codec.WriteHeaders(s.h2id, status, fields, false)
	h.flush()
}

// h1InformationalFields are the end-to-end fields of an HTTP/1.1
// upstream's 1xx head (s.resp), as HTTP/2 fields referencing it, in the
// HTTP/2 front's scratch list.
func (s *stream) h1InformationalFields() []http2.Field {
	fields := s.h2.fields[:0]
	for _, f := range s.resp.Headers {
		if f.Flags&http1.FlagHopByHop == 0 {
			fields = append(fields, http2.Field{Name: s.resp.Bytes(f.Name), Value: s.resp.Bytes(f.Value)})
		}
	}
	s.h2.fields = fields
	return fields
}

// flushHeads writes the response heads that no DATA of the same read
// took along (a long poll, a slow first byte).
func (u *h2up) flushHeads() {
	for i, ph := range u.heads {
		if s := ph.s; s.gen.Load() == ph.gen && !s.ended() {
			s.enter()
			s.flushPipes()
			s.exit()
		}
		u.heads[i] = pendingHead{}
	}
	u.heads = u.heads[:0]
}

// OnData implements http2.ClientHandler: response body bytes.
func (u *h2up) OnData(id uint32, data []byte, endStream bool) {
	s := u.streams[id]
	if s == nil || s.respState != stateBody {
		u.codec.Consumed(id, len(data))
		return
	}
	s.enter()
	defer s.exit()
	s.loop.Schedule(&s.timeout, s.routeTimeout()) // also bounds each gap between response reads
	s.hu.respBytes += len(data)
	switch s.respKind {
	case http1.BodyLength:
		n := int(min(int64(len(data)), s.respLen))
		s.responseLost(s.respPipe.add(data[:n]))
		if s.respLen -= int64(n); s.respLen == 0 {
			s.respState = stateDone
		}
	case http1.BodyNone:
	default:
		s.responseLost(s.respPipe.add(data))
	}
	if endStream && s.respState == stateBody {
		s.responseLost(s.respPipe.finish(nil))
		s.respState = stateDone
	}
	s.flushPipes()
	s.h2upCredit()
	s.h2upAfterResponse()
}

// OnTrailers implements http2.ClientHandler: the response trailers. They
// reach an HTTP/2 client as trailers (gRPC's status lives there) and an
// HTTP/1.1 client in the last chunk of a chunked body; a body with a
// Content-Length cannot carry them to HTTP/1.1.
func (u *h2up) OnTrailers(id uint32, fields []http2.Field) {
	s := u.streams[id]
	if s == nil || s.respState == stateDone {
		return
	}
	s.enter()
	defer s.exit()
	t := s.respTrailers[:0]
	for _, f := range fields {
		t = appendField(t, f.Name, f.Value)
	}
	s.respTrailers = t
	switch {
	case s.respState == stateHead:
		// Trailers before any head: the codec refuses that. Nothing to do.
	case s.h2 != nil:
		s.respState = stateDone
	default:
		s.responseLost(s.respPipe.finish(t))
		s.respTrailers = s.respTrailers[:0] // sent in the body: not again
		s.respState = stateDone
	}
	s.flushPipes()
	s.h2upAfterResponse()
}

// OnReset implements http2.ClientHandler: the server reset the stream
// (or the codec found its response malformed).
func (u *h2up) OnReset(id uint32, code http2.ErrCode) {
	s := u.streams[id]
	if s == nil {
		return
	}
	delete(u.streams, id)
	s.hu.id, s.hu.ended = 0, true
	s.enter()
	defer s.exit()
	if s.respState == stateDone {
		s.reqDiscard = true // an early complete response: the rest of the request has nowhere to go
		return
	}
	s.srv.log.Debug("upstream reset the stream", "host", s.host.Address(), "code", code)
	s.h2upLost(code == http2.ErrCodeRefusedStream, errUpstreamReset)
}

// OnWindow implements http2.ClientHandler: request bodies held back for
// lack of window go on.
func (u *h2up) OnWindow(id uint32) {
	if id != 0 {
		if s := u.streams[id]; s != nil {
			s.h2upDrain()
		}
		return
	}
	u.ids = u.ids[:0]
	for id := range u.streams {
		u.ids = append(u.ids, id)
	}
	for _, id := range u.ids {
		if s := u.streams[id]; s != nil {
			s.h2upDrain()
		}
	}
}

// OnGoAway implements http2.ClientHandler: the connection takes no new
// stream and closes when its last stream ends; the streams the server
// did not process are sent again on another connection.
func (u *h2up) OnGoAway(last uint32, code http2.ErrCode) {
	u.srv.log.Debug("upstream GOAWAY", "host", u.mc.Host().Address(), "last", last, "code", code)
	u.mc.Drain()
	u.failAll(last, true)
}

// OnSettings implements http2.ClientHandler: the server's stream limit.
func (u *h2up) OnSettings() {
	u.mc.SetLimit(int(min(u.codec.MaxStreams(), h2upMaxStreams)), true)
}

// OnPingAck implements http2.ClientHandler.
func (u *h2up) OnPingAck(uint64) { u.mc.PingAcked() }

// h2upLost fails a stream whose upstream stream is gone before the
// response ended. It is retried when no response byte came and the
// request can be sent again: no body, read whole, and either not
// processed by the server (GOAWAY, REFUSED_STREAM) or idempotent; or
// when the route's retry_policy covers a reset (retry.go: wantRetry,
// which replays a kept body).
func (s *stream) h2upLost(unprocessed bool, err error) {
	if s.ended() {
		return
	}
	if s.respState == stateHead {
		retry := s.retries < s.srv.opts.MaxRetries && !s.hasBody() && s.reqState == stateDone &&
			(unprocessed || s.idempotent())
		s.fail(Error{Source: Upstream, Kind: KindUpstreamReset, Retryable: retry, Err: err}, onEvent)
		return
	}
	if s.respState == stateBody {
		s.fail(Error{Source: Upstream, Kind: KindUpstreamResetMidBody, Err: errUpstreamMidBody}, onEvent)
	}
}

// h2upHeader is DownRecvHeader for an HTTP/2 upstream: a stream slot from
// the mux pool of (host, loop), then the request head.
func (s *stream) h2upHeader() Phase {
	if s.hu.mc == nil {
		if !s.timeout.Armed() && s.reqState == stateDone {
			s.loop.Schedule(&s.timeout, s.routeTimeout())
		}
		s.hu.pool = s.srv.mux.Pool(s.loop, s.cluster, s.host)
		s.acquiring = true
		s.hu.pool.Acquire(s)
		s.acquiring = false
		if s.poolErr != nil {
			err := s.poolErr
			s.poolErr = nil
			s.hu.pool = nil
			return s.fail(s.poolError(err), inPhase)
		}
		if s.hu.mc == nil {
			s.mPending()
			return parked // OnMuxReady resumes here
		}
	}
	return s.h2upSend()
}

// OnMuxReady implements upstream.MuxClient.
func (s *stream) OnMuxReady(mc *upstream.MuxConn[*h2up]) {
	s.hu.mc = mc
	mc.Host().IncActive()
	s.mUpStartH2(mc)
	if !s.acquiring {
		s.resume(DownRecvHeader)
	}
}

// OnMuxFailure implements upstream.MuxClient.
func (s *stream) OnMuxFailure(err error) {
	if s.acquiring {
		s.poolErr = err
		return
	}
	s.hu.pool = nil
	s.fail(s.poolError(err), onEvent)
}

// h2upSend opens the HTTP/2 stream with the request head and starts the
// request body pipe towards it.
func (s *stream) h2upSend() Phase {
	u := s.hu.mc.Handler
	s.out = s.encodeRequestHead(s.out[:0])
	var rh http2.RequestHead
	u.fields = h2RequestFields(u.fields[:0], s.out, &rh)
	rh.Scheme = u.scheme
	for _, f := range s.req.Headers {
		// Hop-by-hop in HTTP/1.1, end to end here: te: trailers (gRPC asks
		// for it) and the trailer names a chunked body declares.
		switch name := s.req.Bytes(f.Name); {
		case f.Flags&http1.FlagTE != 0 && bytes.Contains(s.req.Bytes(f.Value), h2Trailers):
			u.fields = append(u.fields, http2.Field{Name: h2TE, Value: h2Trailers})
		case s.req.Chunked && len(name) == 7 && equalFoldBytes(name, "trailer"):
			u.fields = append(u.fields, http2.Field{Name: name, Value: s.req.Bytes(f.Value)})
		}
	}
	end := !s.hasBody()
	id := u.codec.WriteRequest(&rh, u.fields, end)
	clear(u.fields)
	if id == 0 {
		// The connection stopped taking streams after the pool lent the
		// slot (a GOAWAY in the same read): nothing was sent.
		// This retry re-sends the head only: a body already queued would
		// be lost, so only a body-less request goes again (a retry_policy
		// covering reset replays a kept body: retry.go).
		return s.fail(Error{Source: Upstream, Kind: KindUpstreamReset, Retryable: s.retries < s.srv.opts.MaxRetries && !s.hasBody(),
			Err: errUpstreamClosed}, inPhase)
	}
	s.hu.id, s.hu.ended = id, end
	u.streams[id] = s
	s.headSent = true
	if !s.al.start.IsZero() {
		s.al.headSent = time.Since(s.al.start)
		s.al.upLocal = u.localAddr()
	}
	if end {
		u.flush()
	} else if err := s.reqPipe.start((*h2upSink)(s), nil); err != nil {
		return parked
	}
	if s.rt.policy != nil {
		s.attemptStarted() // a retry's kept body follows the head (retry.go)
		_ = s.reqPipe.flush()
		if s.ended() {
			return parked
		}
	}
	u.flush()
	s.h2credit()
	if s.expect && s.reqState != stateDone {
		s.expect = false
		_ = s.d.c.Write(continue100)
	}
	return DownRecvData
}

// h2SchemeHTTP is the :scheme of h2c requests; a TLS upstream sends
// "https".
//
//nolint:gochecknoglobals // read-only
var (
	h2SchemeHTTP  = []byte("http")
	h2SchemeHTTPS = []byte("https")
)

// h2RequestFields splits an encoded HTTP/1.1 request head into the HTTP/2
// pseudo-headers and fields, referencing head: Host becomes :authority,
// and the codec drops the connection-specific fields.
func h2RequestFields(dst []http2.Field, head []byte, rh *http2.RequestHead) []http2.Field {
	line, rest, _ := bytes.Cut(head, crlf)
	method, line, _ := bytes.Cut(line, []byte{' '})
	path, _, _ := bytes.Cut(line, []byte{' '})
	rh.Method, rh.Path = method, path
	for len(rest) > 2 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		value = bytes.TrimLeft(value, " \t")
		if len(name) == 4 && equalFoldBytes(name, "host") {
			rh.Authority = value
			continue
		}
		dst = append(dst, http2.Field{Name: name, Value: value})
	}
	return dst
}

// localAddr is ferry's address on the connection, formatted once.
func (u *h2up) localAddr() string {
	if u.local == "" {
		u.local = u.mc.C.SocketLocalAddr()
	}
	return u.local
}

// h2upSink is a stream seen as the destination of its request pipe: the
// body becomes DATA frames on its HTTP/2 stream, as far as the
// flow-control windows allow; the rest waits in hupPend and the sink
// reports itself stalled, so the pipe queues further bytes (and the
// client's window is not returned, h2credit).
type h2upSink stream

func (k *h2upSink) Write(b []byte) error {
	s := (*stream)(k)
	s.h2upBody(b)
	s.hu.mc.Handler.flush()
	return nil
}

func (k *h2upSink) Writev(bs [][]byte) error {
	s := (*stream)(k)
	for _, b := range bs {
		s.h2upBody(b)
	}
	s.hu.mc.Handler.flush()
	return nil
}

func (k *h2upSink) Closed() bool {
	s := (*stream)(k)
	return s.hu.mc == nil || s.hu.ended || s.hu.mc.C.Closed()
}

func (k *h2upSink) Stalled() bool {
	s := (*stream)(k)
	return len(s.hupPend) > 0 || s.hupTrailers != nil || s.hu.mc.C.Stalled()
}

// h2upBody frames request body bytes from the pipe: a Content-Length body
// as it is, a chunked one (the pipe re-encodes chunks canonically, and
// may have queued them before the upstream was known) decoded back into
// data and trailers. A partial chunk line waits in hupCarry.
func (s *stream) h2upBody(b []byte) {
	if s.hu.ended {
		return
	}
	if !s.req.Chunked {
		s.hu.sent += int64(len(b))
		s.h2upData(b, s.hu.sent >= s.req.ContentLength)
		return
	}
	in := b
	if len(s.hupCarry) > 0 {
		s.hupCarry = append(s.hupCarry, b...)
		in = s.hupCarry
	}
	for len(in) > 0 && !s.hu.ended {
		ev, n, data, err := s.hu.dec.Next(in)
		if err != nil {
			s.h2upReset()
			return
		}
		in = in[n:]
		switch ev {
		case http1.ChunkData:
			s.h2upData(data, false)
		case http1.ChunkDone:
			s.h2upTrailers(data)
			return
		}
		if ev == http1.ChunkNeedMore && n == 0 {
			break
		}
	}
	// What is left is a partial size line or trailer section: kept for
	// the next write, after the codec's references into it were written.
	s.hu.mc.Handler.flush()
	if len(s.hupCarry) > 0 {
		s.hupCarry = s.hupCarry[:copy(s.hupCarry, in)]
	} else {
		s.hupCarry = append(s.hupCarry, in...)
	}
}

// h2upData writes DATA as far as the windows allow and keeps the rest.
func (s *stream) h2upData(b []byte, end bool) {
	if len(s.hupPend) > 0 {
		s.hupPend = append(s.hupPend, b...)
		s.hu.pendEnd = s.hu.pendEnd || end
		return
	}
	u := s.hu.mc.Handler
	n := u.codec.WriteData(s.hu.id, b, end)
	if n < len(b) {
		s.hupPend = append(s.hupPend, b[n:]...)
		s.hu.pendEnd = end
		return
	}
	s.hu.ended = s.hu.ended || end
}

// h2upTrailers ends the request: trailers (raw field lines) or an empty
// DATA with END_STREAM, once held-back DATA went.
func (s *stream) h2upTrailers(raw []byte) {
	if len(s.hupPend) > 0 {
		s.hupTrailers = append(s.hupTrailers[:0], raw...)
		s.hu.trailers = true
		return
	}
	u := s.hu.mc.Handler
	u.fields = appendTrailerFields(u.fields[:0], raw)
	u.codec.WriteTrailers(s.hu.id, u.fields)
	clear(u.fields)
	s.hu.ended = true
}

// h2upDrain writes what the windows held back, then what the request
// pipe queued, and returns the client's window for what went.
func (s *stream) h2upDrain() {
	if s.hu.mc == nil || s.hu.id == 0 {
		return
	}
	s.enter()
	defer s.exit()
	u := s.hu.mc.Handler
	if len(s.hupPend) > 0 {
		n := u.codec.WriteData(s.hu.id, s.hupPend, s.hu.pendEnd)
		u.flush() // before hupPend moves: the codec references it
		s.hupPend = s.hupPend[:copy(s.hupPend, s.hupPend[n:])]
		if len(s.hupPend) > 0 {
			return
		}
		s.hu.ended = s.hu.ended || s.hu.pendEnd
		if s.hu.trailers {
			s.hu.trailers = false
			s.h2upTrailers(s.hupTrailers)
			s.hupTrailers = s.hupTrailers[:0]
			u.flush()
		}
	}
	_ = s.reqPipe.drain()
	s.h2credit()
}

// h2upReset resets the stream upstream (a request body ferry could not
// frame) and fails it.
func (s *stream) h2upReset() {
	s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: errH2RequestChunk}, onEvent)
}

// h2upCredit returns the upstream's flow-control window for response
// bytes that went on towards the client: none while the client's side is
// stalled or the response pipe has queued bytes. So a slow client holds
// the upstream at one stream window (Options.H2Upstream.InitialWindowSize)
// of buffered bytes, instead of ferry buffering an unbounded stream.
func (s *stream) h2upCredit() {
	if s.hu.respBytes == 0 || s.hu.id == 0 || s.respQueued() > 0 || s.frontStalled() {
		return
	}
	u := s.hu.mc.Handler
	u.codec.Consumed(s.hu.id, s.hu.respBytes)
	s.hu.respBytes = 0
	u.flush()
}

// frontStalled reports whether the client's socket is above its high
// watermark.
func (s *stream) frontStalled() bool { return s.d.c.Stalled() }

// h2upAfterResponse lets the stream finish once the response is complete:
// the route timeout stops and the stream slot goes back to the pool.
func (s *stream) h2upAfterResponse() {
	if s.respState != stateDone || s.ended() {
		return
	}
	s.loop.Stop(&s.timeout)
	s.detachUpstream(true)
	if s.respSent {
		s.run(UpRecvData)
	}
}

// h2upDetach gives the stream slot back (resetting the HTTP/2 stream if
// it is still open either way), or withdraws the stream from the pool's
// queue.
func (s *stream) h2upDetach() {
	if s.hu.mc == nil {
		if s.hu.pool != nil {
			s.hu.pool.Cancel(s)
		}
		s.hu = h2upState{}
		s.mUnpend()
		return
	}
	if s.reqState != stateDone {
		s.reqDiscard = true
	}
	_ = s.reqPipe.flush()
	s.reqPipe.reset()
	s.h2credit()
	mc := s.hu.mc
	u := mc.Handler
	if id := s.hu.id; id != 0 {
		delete(u.streams, id)
		u.codec.Reset(id, http2.ErrCodeCancel) // a no-op once both sides ended it
		u.flush()
	}
	s.hupPend = s.hupPend[:0]
	s.hupCarry = s.hupCarry[:0]
	s.hupTrailers = s.hupTrailers[:0]
	s.hu = h2upState{}
	s.mUpEnd()
	mc.Host().DecActive()
	mc.Done()
}

var (
	_ http2.ClientHandler             = (*h2up)(nil)
	_ upstream.MuxHandler             = (*h2up)(nil)
	_ upstream.MuxClient[*h2up]       = (*stream)(nil)
	_ filterchain.ReadFilter          = (*h2upRead)(nil)
	_ conn.WatermarkListener          = (*h2up)(nil)
	_ filterchain.ConnectionCallbacks = (*h2upClose)(nil)
	_ sink                            = (*h2upSink)(nil)
)
