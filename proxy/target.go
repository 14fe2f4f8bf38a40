package proxy

import (
	"bytes"
	"strconv"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

// parseTarget splits the request-target into what routing and forwarding
// use: the origin-form path, without any fragment (RFC 9112 3.2.1 has
// none), and for absolute-form the authority, which then replaces Host for
// both routing and the upstream's Host field (RFC 9112 3.2.2: a server
// MUST accept absolute-form and ignore Host for it). Only http and https
// absolute URIs are accepted; userinfo is refused (RFC 9110 4.2.4). It
// reports whether the target is usable.
func (s *stream) parseTarget() bool {
	t := s.req.Bytes(s.req.Target)
	s.authority = nil
	if len(t) > 0 && t[0] != '/' && t[0] != '*' && !s.req.IsConnect() {
		auth, rest, ok := splitAbsolute(t)
		if !ok {
			return false
		}
		s.authority = auth
		t = rest
		if len(t) == 0 || t[0] == '?' {
			s.pathBuf = append(append(s.pathBuf[:0], '/'), t...)
			t = s.pathBuf
		}
	}
	if k := bytes.IndexByte(t, '#'); k >= 0 {
		t = t[:k]
	}
	if o := &s.d.f.opts.Path; o.active() && len(t) > 0 && t[0] == '/' {
		out, ok := normalizePath(s.normBuf[:0], t, o)
		if !ok {
			return false
		}
		if len(out) > 0 && &out[0] != &t[0] {
			s.normBuf = out // rewritten: keep the (possibly grown) buffer
		}
		t = out
	}
	s.path = t
	return true
}

// splitAbsolute splits "scheme://authority/path?query" into the authority
// and the rest.
func splitAbsolute(t []byte) (authority, rest []byte, ok bool) {
	i := bytes.Index(t, []byte("://"))
	if i < 0 {
		return nil, nil, false
	}
	scheme := t[:i]
	if !equalFoldBytes(scheme, "http") && !equalFoldBytes(scheme, "https") {
		return nil, nil, false
	}
	a := t[i+3:]
	end := len(a)
	for j, c := range a {
		if c == '/' || c == '?' || c == '#' {
			end = j
			break
		}
	}
	authority, rest = a[:end], a[end:]
	if len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
		return nil, nil, false
	}
	return authority, rest, true
}

// routeHost is the host the request is routed by: the absolute-form
// authority, else Host.
func (s *stream) routeHost() []byte {
	if s.authority != nil {
		return s.authority
	}
	return s.reqHdrs.host()
}

// maxForwards applies RFC 9110 7.6.2 to OPTIONS and TRACE: with
// Max-Forwards 0 ferry is the final recipient and answers; otherwise the
// value is decremented when forwarded. It returns the phase to go on with
// (parked when the request may be forwarded).
func (s *stream) maxForwards() Phase {
	s.maxFwd = -1
	if !s.req.MethodIs("OPTIONS") && !s.req.MethodIs("TRACE") {
		return parked
	}
	v, ok := s.reqHdrs.Get("max-forwards")
	if !ok {
		return parked
	}
	n, err := strconv.ParseInt(string(trimSpace(v)), 10, 32)
	if err != nil || n < 0 {
		return parked // not a valid value: forwarded unchanged
	}
	if n > 0 {
		s.maxFwd = int(n - 1)
		return parked
	}
	if s.req.MethodIs("TRACE") {
		// Echoing the request back invites cross-site tracing; ferry does not.
		return s.writeReply(405, http1.StatusText(405)+": TRACE is not answered by ferry\n", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n")
	}
	return s.writeReply(200, "", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n")
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
