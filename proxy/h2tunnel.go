package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/codec/http2"
)

// WebSocket over HTTP/2 (RFC 8441, extended CONNECT), in the manner of
// Envoy's: an HTTP/2 client's stream tunnelled to an HTTP/1.1 upgrade.
//
// A listener whose clients may upgrade to websocket (FactoryConfig.Upgrades,
// websocket by default) and whose upstreams speak HTTP/1.1 advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL (offersExtConnect); its HTTP/2 codec
// then accepts :protocol on a CONNECT with :scheme, :path and :authority
// (internal/codec/http2, Options.EnableConnectProtocol). Elsewhere
// :protocol is a malformed request (RST_STREAM PROTOCOL_ERROR). A listener
// that turns websocket off advertises it too when a route of its table
// turns it on (router.Table.RouteEnables, looked up per connection: the
// setting goes out before any request); its other routes answer 403.
//
// h2Head re-states such a request as the HTTP/1.1 upgrade it stands for:
// "GET <:path>", Host from :authority, the client's fields
// (sec-websocket-version, -protocol, -extensions among them), "Upgrade:
// <:protocol>", "Connection: upgrade" and, for websocket, a
// Sec-WebSocket-Key ferry makes (16 random bytes, base64: RFC 8441 has
// none, HTTP/1.1 servers require it; a client's own is dropped). From
// there the request runs the phases as an HTTP/1.1 upgrade does
// (upgrade.go): routing, filters, the upstream pool. After the route is
// chosen, an upgrade the route (or else the listener) does not allow, or
// one with :protocol connect (CONNECT's upgrade_configs entry is for the
// method: connect.go), is answered 403, as Envoy answers a WebSocket on a route without it
// (downstream_rq_ws_on_non_ws_route), and one for a listener with
// upstream_protocol Http2 is answered 501 (extended CONNECT to an HTTP/2
// upstream is not built); both count in local_reply_bad_request. A DATA
// frame before the tunnel's 200 is answered 400 (errTunnelEarlyData): the
// upstream has not switched protocols yet, and its connection is not to
// carry bytes it might read as HTTP.
//
// The upstream's 101 (switchProtocols, then h2SwitchProtocols) is checked:
// Sec-WebSocket-Accept must be the one the generated key calls for (RFC
// 6455 4.2.2), else the reply is 502 upstream_bad_response. It becomes
// ":status 200" on the stream, without END_STREAM, with the 101's
// end-to-end fields (hop-by-hop ones and Sec-WebSocket-Accept dropped),
// and startH2Tunnel turns the stream into a tunnel. Any other status is
// an ordinary response, which ends the stream.
//
// # The tunnel
//
// The stream's DATA and the lent upstream connection's bytes are carried
// by the stream's own pipes, on the loop, with the flow control of a
// request and a response body:
//
//   - client to upstream: each DATA payload goes to the request pipe
//     (raw), whose destination is the upstream connection; the stream and
//     connection windows are returned (h2credit) only when the pipe has
//     nothing queued, that is when the bytes went to the socket or to
//     conn's outbound queue under its high watermark. Past it the pipe
//     queues, and the client stops at its stream window: what ferry holds
//     for this direction is bounded by the connection's high watermark plus
//     the stream window (TestH2WebSocketFlowControl).
//   - upstream to client: each read goes to the response pipe, whose
//     destination is the stream (h2sink): DATA within the client's send
//     windows, the rest held (h2pend, one write) and then queued in the
//     pipe's spill queue, memory first then a temp file, as for a response
//     body, because gnet cannot stop reading a socket (docs/gnet.md, "No
//     read pause"). WINDOW_UPDATE from the client (OnWindow) and the
//     client socket's low watermark (drainAll) write the rest.
//
// Half-close: the client's END_STREAM shuts the upstream's write side
// (shutdown(SHUT_WR)) once every byte before it left ferry, conn's queue
// included (conn.Conn.ShutdownWrite waits for it to drain), so that the
// upstream's answer after the FIN still comes back; if the upstream
// connection is TLS (whose end is a close_notify), the connection is
// closed after them (CloseFlush) instead. The upstream's FIN becomes END_STREAM after its last bytes. A
// client's RST_STREAM closes the upstream connection; an upstream reset
// (conn.Conn.PeerReset) or a close ferry made of the upstream connection
// (a failed write) resets the stream with CONNECT_ERROR (RFC 9113 8.5),
// unless the client's END_STREAM went first: after ferry's FIN the
// socket cannot tell a reset from the upstream's FIN, and the stream
// ends with END_STREAM either way. The listener's idle timeout (its
// connection_idle_timeout, else timeouts.idle), with no byte moved either
// way, resets the stream with CANCEL and closes the upstream connection.
// The stream stays open for the tunnel's life, so it counts as active;
// the other streams of the connection go on. Its access log line, written
// when it ends, has the upstream's status, 101, as Envoy logs it (the
// client saw 200), the DATA bytes each way and the whole duration. The
// upstream connection stays lent out of its pool and is closed at the
// end, never reused.
//
// # Plain CONNECT
//
// startH2Tunnel is the entry point for any HTTP/2 stream to be carried
// as raw bytes to an upstream connection of the HTTP/1.1 pool: an HTTP/2
// CONNECT (RFC 9113 8.5) once its upstream connection is lent calls it
// with the fields of its 200, instead of sendHead's request head (the
// request pipe is then started on the connection with no head). The
// stream must hold the connection (s.pc, s.up) and have reqState
// stateDone (a CONNECT has no body), so that its DATA, not taken by the
// body path, comes to h2TunnelData once the tunnel is up. DATA before
// it is the caller's to refuse: an extended CONNECT's, and a CONNECT's
// (stream.connect, h2.go's OnData), is answered 400 (h2TunnelData), any
// other stream's is dropped as after an answer.

// Extended CONNECT's refusals and failures.
var (
	errExtConnectForbidden = &http1.Error{Status: 403, Reason: "the route does not allow this upgrade"}
	errExtConnectH2Up      = &http1.Error{Status: 501, Reason: "extended CONNECT to an HTTP/2 upstream is not supported"}
	errTunnelEarlyData     = &http1.Error{Status: 400, Reason: "DATA before the tunnel was established"}
	errWebSocketAccept     = errors.New("upstream's Sec-WebSocket-Accept does not match the key")
)

// wsGUID is the WebSocket handshake's GUID (RFC 6455 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// h2tunnel is an HTTP/2 stream carried as raw bytes to its upstream
// connection (upConn.h2t). Loop only.
type h2tunnel struct {
	s *stream
	// shut: the client's END_STREAM came; the upstream gets a FIN once
	// the request pipe is empty (shutUpstream), and then fin is set.
	shut, fin bool
}

// appendExtConnect ends the HTTP/1.1 head of an extended CONNECT: its
// Upgrade, Connection and, for websocket, a new Sec-WebSocket-Key.
func appendExtConnect(dst []byte, r *http2.Request) []byte {
	dst = appendField(dst, []byte("Upgrade"), r.Protocol)
	dst = append(dst, "Connection: upgrade\r\n"...)
	if equalFoldBytes(r.Protocol, "websocket") {
		var key [16]byte
		_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (Go 1.24)
		dst = append(dst, "Sec-WebSocket-Key: "...)
		dst = base64.StdEncoding.AppendEncode(dst, key[:])
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// offersExtConnect reports whether a new HTTP/2 connection of the
// listener advertises SETTINGS_ENABLE_CONNECT_PROTOCOL: its upstreams
// speak HTTP/1.1 and its list, or a route of its current table, enables
// websocket.
func (f *Factory) offersExtConnect() bool {
	if f.extConnect {
		return true
	}
	t := f.routes()
	return !f.upH2 && t != nil && t.RouteEnables("websocket")
}

// h2ext reports whether s is an HTTP/2 client's extended CONNECT: the
// codec refuses Upgrade and Connection fields, so only h2Head's
// re-statement of one carries an upgrade.
func (s *stream) h2ext() bool { return s.h2 != nil && s.req.Upgrade }

// h2tunnel is the stream's HTTP/2 tunnel, or nil.
func (s *stream) h2tunnel() *h2tunnel {
	if s.up == nil {
		return nil
	}
	return s.up.h2t
}

// extConnectRefusal is the error an extended CONNECT is refused with once
// its route is known, or nil.
func (s *stream) extConnectRefusal() error {
	switch tok := s.upgradeToken(); {
	case s.d.f.upH2:
		return errExtConnectH2Up
	case !s.allowsUpgrade(tok), equalFoldBytes(tok, "connect"): // CONNECT's entry is the method's (connect.go)
		return errExtConnectForbidden
	}
	return nil
}

// appendExtUpgrade is appendUpgrade for an extended CONNECT: its Upgrade
// and Connection for the HTTP/1.1 upstream, when allowed (a refused one
// was answered after routing: extConnectRefusal).
func (s *stream) appendExtUpgrade(dst []byte) []byte {
	tok := s.upgradeToken()
	if s.upgrade = s.extConnectRefusal() == nil; !s.upgrade {
		return dst
	}
	dst = appendField(dst, []byte("Upgrade"), tok)
	return append(dst, "Connection: upgrade\r\n"...)
}

// h2SwitchProtocols handles the upstream's 101 (its head n bytes of buf)
// to an extended CONNECT: the accept check, the 200, the tunnel. It
// reports false: the input was handled.
func (s *stream) h2SwitchProtocols(buf filterchain.Buffer, n int) bool {
	s.respHead = append(s.respHead[:0], buf.Bytes()[:n]...)
	s.resp.Raw = s.respHead
	s.respHdrs.bind(&s.resp.Raw, &s.resp.Headers)
	s.al.mark(&s.al.respHead)
	buf.Drain(n)
	if equalFoldBytes(s.upgradeToken(), "websocket") && !s.wsAcceptMatches() {
		s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errWebSocketAccept}, onEvent)
		return false
	}
	h := s.h2
	fields := s.h2ResponseFields(h.fields[:0])
	fields = dropField(fields, "sec-websocket-accept")
	h.fields = fields
	t := s.startH2Tunnel(fields)
	if buf.Len() > 0 {
		t.upRead(buf) // the new protocol's first bytes came with the 101
	}
	return false
}

// wsAcceptMatches reports whether the 101's Sec-WebSocket-Accept is the
// one the request's key calls for (RFC 6455 4.2.2).
func (s *stream) wsAcceptMatches() bool {
	key, _ := s.reqHdrs.Get("Sec-WebSocket-Key")
	got, ok := s.respHdrs.Get("Sec-WebSocket-Accept")
	if !ok || len(key) == 0 {
		return false
	}
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	var sum [sha1.Size]byte
	var want [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(want[:], h.Sum(sum[:0]))
	return bytes.Equal(bytes.TrimSpace(got), want[:])
}

// dropField removes the fields named name (any case) from fs.
func dropField(fs []http2.Field, name string) []http2.Field {
	out := fs[:0]
	for _, f := range fs {
		if !equalFoldBytes(f.Name, name) {
			out = append(out, f)
		}
	}
	return out
}

// startH2Tunnel answers the HTTP/2 stream s with ":status 200" and fields
// (no END_STREAM) and carries its DATA to and from its upstream
// connection from now on (see the overview above). Loop only.
func (s *stream) startH2Tunnel(fields []http2.Field) *h2tunnel {
	h := s.h2
	if !s.reqPipe.open {
		_ = s.reqPipe.start(s.pc.C, nil) // no head went upstream (a CONNECT): nothing to write
	}
	h.codec.WriteHeaders(s.h2id, 200, fields, false)
	s.respSent = true
	t := &h2tunnel{s: s}
	s.up.h2t = t // the upstream's reads and close come to t; s.up.s stays s (its low watermark drains reqPipe)
	s.upReusable = false
	s.respKind, s.respState = http1.BodyUntilClose, stateBody
	s.respPipe.enc = encRaw
	s.loop.Stop(&s.reqTimer)
	// The route timeout stops; the idle timeout runs from now (touch).
	s.loop.Stop(&s.timeout)
	_ = s.respPipe.start((*h2sink)(s), nil) // nothing queued yet: no write
	t.touch()
	h.flush()
	if h.codec.RemoteClosed(s.h2id) {
		t.shut = true // END_STREAM came with the request
		t.shutUpstream()
	}
	return t
}

// touch restarts the tunnel's idle timer (the stream's route timer, whose
// OnTimer calls idle).
func (t *h2tunnel) touch() {
	s := t.s
	if idle := s.d.f.idle; idle > 0 {
		s.loop.Schedule(&s.timeout, idle)
	}
}

// h2TunnelData handles DATA on an extended CONNECT stream: refused before
// the tunnel, written to the upstream within it, dropped once the
// answer went out without a tunnel or the upstream closed (the stream
// still writes what the upstream sent: upClosed).
func (s *stream) h2TunnelData(data []byte, end bool) {
	s.enter()
	defer s.exit()
	t := s.h2tunnel()
	if t == nil {
		s.h2.codec.Consumed(s.h2id, len(data))
		if !s.respSent {
			s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: errTunnelEarlyData}, onEvent)
		}
		return
	}
	t.touch()
	s.reqTotal += int64(len(data))
	s.requestLost(s.reqPipe.add(data))
	s.h2held += len(data)
	_ = s.reqPipe.flush() // data is a slice of this read: it goes now
	s.h2credit()
	if end && !s.ended() {
		t.shut = true
		t.shutUpstream()
	}
}

// shutUpstream forwards the client's END_STREAM as a FIN once the request
// pipe is empty: shutdown(SHUT_WR) after what conn queues
// (conn.Conn.ShutdownWrite), or, under TLS, a close after it. Called
// again from the upstream's low watermark while the pipe holds bytes;
// once is enough (fin).
func (t *h2tunnel) shutUpstream() {
	s := t.s
	if !t.shut || t.fin || s.pc == nil || s.reqPipe.queued() > 0 {
		return
	}
	t.fin = true
	c := s.pc.C
	if c.ShutdownWrite() != nil {
		c.Close(filterchain.CloseFlush)
	}
}

// upRead moves the upstream's bytes to the stream's response pipe.
func (t *h2tunnel) upRead(buf filterchain.Buffer) {
	s := t.s
	if s.ended() || s.h2tunnel() != t {
		buf.Drain(buf.Len())
		return
	}
	s.enter()
	defer s.exit()
	t.touch()
	s.responseLost(s.respPipe.add(buf.Bytes()))
	buf.Drain(buf.Len())
	s.flushPipes()
}

// upClosed ends the tunnel when the upstream connection closed:
// END_STREAM once the client has the bytes before it, or a reset with
// CONNECT_ERROR when ferry closed it for a failure.
func (t *h2tunnel) upClosed(ev filterchain.ConnectionEvent) {
	s := t.s
	if s.ended() || s.h2tunnel() != t {
		return // the stream let the connection go (detachUpstream)
	}
	s.enter()
	defer s.exit()
	if !t.shut && (ev != filterchain.RemoteClose || s.pc.C.PeerReset()) {
		t.reset(http2.ErrCodeConnect) // RFC 9113 8.5: the TCP connection failed
		return
	}
	s.respState = stateDone
	s.flushPipes()
	s.afterResponseBytes() // END_STREAM once the pipe drained (upRecvData)
}

// idle ends a tunnel that moved no byte for the idle timeout.
func (t *h2tunnel) idle() {
	t.s.srv.stats.idleClosed.Inc()
	t.reset(http2.ErrCodeCancel)
}

// reset resets the tunnel's stream with code; the abort closes the
// upstream connection.
func (t *h2tunnel) reset(code http2.ErrCode) {
	s := t.s
	if !s.h2reset {
		s.h2reset = true
		s.h2.codec.Reset(s.h2id, code)
		s.h2.flush()
	}
	s.abort()
}
