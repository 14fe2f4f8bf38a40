package proxy

import (
	"errors"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/router"
)

// CONNECT termination (RFC 9110 9.3.6), where configured: Envoy's
// upgrade_configs entry CONNECT and route match connect_matcher.
//
// A CONNECT whose request-target is authority-form (host:port) and that
// carries no body is routed by that authority to the routes of
// its virtual host that match CONNECT (router.Table.MatchConnect); path
// routes never take one. The tunnel needs CONNECT allowed: the route's
// Upgrades entry for it, else the listener's (allowsUpgrade, Envoy's
// precedence). ferry terminates the CONNECT: the route's cluster picks
// the host, and the authority the client named is never dialled (a proxy
// that dials what clients name is an open proxy). Once a pooled upstream
// connection is lent (downRecvHeader, as for any request), no head goes
// upstream: an HTTP/1.1 client gets connectEstablished and relayTo hands
// both connections to an internal/relay Relay, with the bytes the client
// sent after its head (they waited in gnet's input, bounded by
// max_pipelined_bytes) first. The access log line, written when the relay
// ends, says 200 with the tunnel's bytes each way and its whole duration;
// downstream_rq_connect_tunnel counts the tunnels opened.
//
// An HTTP/2 client's CONNECT (RFC 9113 8.5: :method and :authority only)
// is re-stated with its authority as the target and no body framing
// (h2Head), and runs the same way until the connection is lent; then
// startH2Tunnel answers ":status 200" without END_STREAM and the stream
// carries the bytes, under the HTTP/2 windows (h2tunnel.go). DATA before
// the 200 is answered 400 (h2.go's OnData sends it to h2TunnelData).
//
// Before the 200 a CONNECT is an ordinary request: no route is a 404, no
// healthy host or a failed connect a 503 (fail, the usual kinds and
// counters), a direct_response route answers. Every answer but the 200
// closes the connection: bytes the client sent for the tunnel must not
// be read as a request (HTTP/1.1; an HTTP/2 answer ends its stream
// alone). An HTTP/1.1 client's FIN before the 200 ends the CONNECT like
// any request's (gnet closes a socket at its EOF: docs/gnet.md); after
// the 200 it is the relay's half-close. A CONNECT where nothing allows it is answered 501
// (errConnectMethod), as is one on a listener with an HTTP/2 upstream.

// connectEstablished is the head of a CONNECT's 200: no framing fields,
// the tunnel's bytes follow (RFC 9110 9.3.6).
const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// connectToken is CONNECT's upgrade_configs entry (config: upgrade_type
// CONNECT, lower-cased by the listener's list).
//
//nolint:gochecknoglobals // read-only
var connectToken = []byte("connect")

var (
	errConnectTarget = &http1.Error{Status: 400, Reason: "CONNECT target is not authority-form: host:port, port 1 to 65535 (RFC 9110 9.3.6)"}
	errConnectBody   = &http1.Error{Status: 400, Reason: "a CONNECT request has no body"}
	// errConnectEarly: the client sent more than max_pipelined_bytes
	// before its CONNECT was answered.
	errConnectEarly = errors.New("more tunnel bytes than max_pipelined_bytes before the CONNECT was answered")
)

// startConnect checks a CONNECT request; it reports false when the
// request was answered, true when it goes on as a CONNECT to terminate
// (the caller marks the stream so: stream.connect).
func (s *stream) startConnect() bool {
	var err *http1.Error
	switch {
	case s.hasBody():
		err = errConnectBody
	case !authorityForm(s.path):
		err = errConnectTarget
	}
	if s.h2 == nil {
		s.respClose = true // whatever the answer, no request follows on the connection
	}
	if err != nil {
		s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: err}, onEvent)
		return false
	}
	s.authority = s.path // routeHost: the virtual host is the authority's
	return true
}

// matchConnect sets s.route for a CONNECT: nil when no route matches,
// unless nothing allows CONNECT, which is answered 501, as is a route
// forwarding to a cluster without CONNECT allowed. It returns parked or
// the reply's phase.
func (s *stream) matchConnect(tbl *router.Table) Phase {
	s.route = tbl.MatchConnect(s.authority, (*routeHeaders)(s))
	switch {
	case s.route == nil && (tbl.HasConnect() || s.d.f.allowsUpgrade(connectToken)):
		return parked // 404
	case s.route == nil, s.route.Cluster() != nil && (s.d.f.upH2 || !s.allowsUpgrade(connectToken)):
		return s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: errConnectMethod}, inPhase)
	}
	return parked
}

// openTunnel answers a CONNECT whose upstream connection is up: 200, and
// the relay (relayTo). Instead of sendHead's request head.
func (s *stream) openTunnel() Phase {
	s.al.sent(s)
	s.al.mark(&s.al.respHead)
	s.resp.Status = 200
	s.srv.stats.connectTunnels.Inc()
	if s.h2 != nil {
		s.startH2Tunnel(nil) // the stream carries the bytes (h2tunnel.go)
		return parked
	}
	s.respOut = append(s.respOut[:0], connectEstablished...)
	s.relayTo(nil)
	return parked
}

// relayTo (upgrade.go's switchProtocols, and openTunnel) ends the HTTP exchange on both connections: the client gets
// s.respOut (the 101 head, or a CONNECT's 200), then a relay carries
// the bytes both ways, first what the upstream sent after its head (in
// up, nil for none) and what the client sent after its request head
// (waiting in gnet's input). The stream's timers stop; it ends with the
// relay (OnRelayEnd).
func (s *stream) relayTo(up filterchain.Buffer) {
	s.loop.Stop(&s.timeout)
	s.loop.Stop(&s.reqTimer)
	s.d.stopTimer()
	s.respClose = true

	d, u := s.d, s.up
	t := &tunnel{s: s}
	s.tun, d.tun, u.tun = t, t, t
	u.s = nil // the upstream's bytes are the relay's now; s.pc stays lent out until End
	t.r = relay.New(s.loop, &d.f.tunnel, t)
	if err := t.r.Attach(relay.Down, d.c); err != nil {
		t.r.Abort(err, true)
		return
	}
	if t.r.Write(relay.Down, s.respOut) != nil {
		return
	}
	if err := t.r.Attach(relay.Up, s.pc.C); err != nil {
		t.r.Abort(err, true)
		return
	}
	if up != nil && up.Len() > 0 {
		t.r.Read(relay.Up, up)
	}
	if d.c.InboundBuffered() > 0 {
		d.c.ResumeReading() // the client's first bytes wait in gnet's input
	}
}

// connectOverflow fails a CONNECT whose client sent more than
// max_pipelined_bytes before the answer: they cannot be kept, and
// dropping them would corrupt the tunnel.
func (s *stream) connectOverflow() {
	s.enter()
	defer s.exit()
	s.fail(Error{Source: Downstream, Kind: KindOverflow, Err: errConnectEarly}, onEvent)
}

// authorityForm reports whether t is host:port (RFC 9112 3.2.3): a
// reg-name, IPv4 address or bracketed IPv6 literal, and a port of 1 to
// 65535. No userinfo, path, query or fragment.
func authorityForm(t []byte) bool {
	i := len(t) - 1
	for i >= 0 && t[i] >= '0' && t[i] <= '9' {
		i--
	}
	port, host := t[i+1:], t[:max(i, 0)]
	if i < 1 || t[i] != ':' || len(port) == 0 || len(port) > 5 || port[0] == '0' {
		return false
	}
	if p := atoiDigits(port); p > 65535 {
		return false
	}
	if host[0] == '[' {
		return len(host) > 2 && host[len(host)-1] == ']' && allBytes(host[1:len(host)-1], isIPv6Byte)
	}
	return allBytes(host, isRegNameByte)
}

func atoiDigits(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

func allBytes(b []byte, ok func(byte) bool) bool {
	for _, c := range b {
		if !ok(c) {
			return false
		}
	}
	return true
}

// isRegNameByte: unreserved, pct-encoded's '%' and sub-delims (RFC 3986
// 3.2.2).
func isRegNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '!' || c == '$' ||
		c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '='
}

func isIPv6Byte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.'
}
