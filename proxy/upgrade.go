package proxy

import (
	"bytes"
	"errors"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/router"
)

// HTTP/1.1 Upgrade (RFC 9110 7.8), WebSocket's handshake (RFC 6455 4.1)
// among them.
//
// A request the codec marks Upgrade (HTTP/1.1, "Connection: upgrade" and
// an Upgrade field) whose first protocol token is allowed (the route's
// router.ClusterAction.Upgrades entry for it, else the listener's
// FactoryConfig.Upgrades: websocket by default; config upgrade_configs,
// Envoy's precedence) is forwarded with its Upgrade field and "Connection:
// upgrade" (appendUpgrade, from encodeRequestHead). A token the listener
// does not allow is dropped with the other hop-by-hop fields and the
// request goes on as plain HTTP, as Envoy does: the upstream answers it
// as such, and a 101 it sends anyway is a bad response (502).
//
// An upstream's 101 to an allowed upgrade ends the HTTP exchange on both
// connections: the client gets the 101 head (its hop-by-hop fields
// dropped, Connection and Upgrade re-stated), and an internal/relay Relay
// carries bytes both ways from then on, with the relay's backpressure
// (spill queues), half-close and the listener's idle timeout (its
// connection_idle_timeout, else timeouts.idle). The downstream's read and
// keep-alive timers and the route timeout stop. The stream stays open for
// the tunnel's life, so the request counts as active and its access log
// line, written when the relay ends, has status 101, the tunnel's bytes
// each way and its whole duration. The upstream connection stays lent out
// of its pool and is closed when the relay ends, never reused. Stream
// filters see the upgrade request, not the 101 head.
//
// Any other answer to an upgrade request is an ordinary response, and its
// connection goes back to the pool when the response says it may.
//
// A CONNECT request is not an upgrade: it is terminated where its route
// allows it (connect.go), after which relayTo carries an HTTP/1.1
// client's bytes as here, and an HTTP/2 client's stream carries them as
// an extended CONNECT's does; elsewhere it is answered 501
// (errConnectMethod). An Upgrade field naming
// "connect" is dropped like a token nobody allows.
//
// An HTTP/2 client's extended CONNECT (RFC 8441, WebSocket over HTTP/2)
// is re-stated as this upgrade (h2Head), refused with 403 after routing
// where it is not allowed, and after the upstream's 101 its stream, not a
// relay, carries the bytes (h2tunnel.go). Not supported: an upgrade over
// an HTTP/2 upstream (upstream_protocol Http2) is forwarded as plain HTTP,
// the Upgrade field dropped, and such a listener does not offer extended
// CONNECT.

// tunnel is an upgraded exchange: the relay and the stream it ends.
// Loop only.
type tunnel struct {
	s *stream
	r *relay.Relay
}

// errUpgradeWithBody is the error of a 101 that came before the request
// body was sent whole: the bytes still due cannot be told from the new
// protocol's.
var errUpgradeWithBody = errors.New("upstream switched protocols before the request body was sent")

// errConnectMethod answers CONNECT: 501, since ferry opens no tunnels to
// authorities a client names.
var errConnectMethod = &http1.Error{Status: 501, Reason: "CONNECT tunnelling is not supported"}

// upgradeToken returns the first protocol of the request's Upgrade field,
// without its version ("websocket" of "WebSocket/13, h2c"), or nil.
func (s *stream) upgradeToken() []byte {
	for _, f := range s.req.Headers {
		if f.Flags&http1.FlagUpgrade == 0 {
			continue
		}
		v := s.req.Bytes(f.Value)
		if i := bytes.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		if i := bytes.IndexByte(v, '/'); i >= 0 {
			v = v[:i]
		}
		return bytes.TrimSpace(v)
	}
	return nil
}

// allowsUpgrade reports whether the stream's upgrade to tok is
// forwarded: the route's entry for tok if it has one (Envoy's
// precedence), else the listener's list.
func (s *stream) allowsUpgrade(tok []byte) bool {
	if len(tok) == 0 {
		return false
	}
	if ca := s.routeAction(); ca != nil {
		for _, u := range ca.Upgrades {
			if len(u.Type) == len(tok) && equalFoldBytes(tok, u.Type) {
				return u.Enabled
			}
		}
	}
	return s.d.f.allowsUpgrade(tok)
}

// routeAction is the route's cluster action, or nil.
func (s *stream) routeAction() *router.ClusterAction {
	if s.route == nil {
		return nil
	}
	return s.route.Cluster()
}

// allowsUpgrade reports whether the listener forwards an upgrade to tok.
func (f *Factory) allowsUpgrade(tok []byte) bool {
	for _, u := range f.upgrades {
		if len(u) == len(tok) && equalFoldBytes(tok, u) {
			return true
		}
	}
	return false
}

// appendUpgrade decides whether the request's upgrade is forwarded and,
// if so, appends its Connection and Upgrade fields to the request head.
// The codec sets Upgrade only for HTTP/1.1 clients; an HTTP/2 upstream
// gets none.
func (s *stream) appendUpgrade(dst []byte) []byte {
	s.upgrade = false
	tok := s.upgradeToken()
	if s.h2 != nil || s.d.f.upH2 || !s.allowsUpgrade(tok) || equalFoldBytes(tok, "connect") {
		return dst // dropped with the hop-by-hop fields: plain HTTP; CONNECT's entry is the method's (connect.go)
	}
	s.upgrade = true
	for _, f := range s.req.Headers {
		if f.Flags&http1.FlagUpgrade != 0 {
			dst = appendField(dst, []byte("Upgrade"), s.req.Bytes(f.Value))
		}
	}
	return append(dst, "Connection: upgrade\r\n"...)
}

// switchProtocols handles the upstream's 101 to a forwarded upgrade: the
// head goes to the client, then both connections belong to a relay. It
// reports false: the input was handed to the relay.
func (s *stream) switchProtocols(buf filterchain.Buffer, n int) bool {
	if s.reqState != stateDone {
		s.fail(Error{Source: Upstream, Kind: KindBadResponse, Err: errUpgradeWithBody}, onEvent)
		return false
	}
	s.respHead = append(s.respHead[:0], buf.Bytes()[:n]...)
	s.resp.Raw = s.respHead
	s.respHdrs.bind(&s.resp.Raw, &s.resp.Headers)
	s.al.mark(&s.al.respHead)
	buf.Drain(n)
	s.respOut = s.encodeSwitch(s.respOut[:0])
	s.relayTo(buf) // the new protocol's first bytes may have come with the 101
	return false
}

// encodeSwitch is the 101 head for the client: the upstream's status line
// and end-to-end fields, with Connection and Upgrade re-stated.
func (s *stream) encodeSwitch(dst []byte) []byte {
	dst = append(dst, "HTTP/1.1 101 "...)
	dst = append(dst, s.resp.Bytes(s.resp.Reason)...)
	dst = append(dst, "\r\n"...)
	for _, f := range s.resp.Headers {
		switch {
		case f.Flags&http1.FlagUpgrade != 0:
			dst = appendField(dst, []byte("Upgrade"), s.resp.Bytes(f.Value))
		case f.Flags&http1.FlagHopByHop == 0:
			dst = appendField(dst, s.resp.Bytes(f.Name), s.resp.Bytes(f.Value))
		}
	}
	return append(dst, "Connection: upgrade\r\n\r\n"...)
}

// OnRelayEnd implements relay.Handler: the tunnel is over, and so is the
// stream (access log, counters; its upstream connection is closed).
func (t *tunnel) OnRelayEnd(r *relay.Relay) {
	s := t.s
	if s.ended() || s.tun != t {
		return
	}
	s.srv.stats.noteTunnelHigh(r.HighMark())
	s.respSent, s.respState = true, stateDone
	s.enter()
	s.end()
	s.exit()
}

// tunnelBytes are the bytes read from the client (the request head, then
// what the tunnel carried) and sent to it (the 101 head, then the
// tunnel's), for the access log.
func (s *stream) tunnelBytes() (in, out uint64) {
	if s.tun == nil {
		return 0, 0
	}
	in = uint64(len(s.head)) + uint64(max(s.tun.r.Bytes(relay.Down), 0))
	out = uint64(len(s.respOut)) + uint64(max(s.tun.r.Bytes(relay.Up), 0))
	return in, out
}

// upgradeList is FactoryConfig.Upgrades with its default.
func upgradeList(c []string) []string {
	if c == nil {
		return []string{"websocket"}
	}
	return c
}

var _ relay.Handler = (*tunnel)(nil)
