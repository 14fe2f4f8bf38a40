package proxy

import (
	"strconv"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

// headerMap is the mutable view stream filters get of a parsed head. It
// changes nothing in the parsed bytes: deletions are marks and additions a
// list, both applied when the head is encoded for the other side. With no
// filter it is never modified and costs nothing.
//
// Goroutines: the stream's owner only (its loop, or the worker running its
// filter phases); a filter uses it during the callback it was passed to.
type headerMap struct {
	raw    *[]byte
	fields *[]http1.Header
	del    []bool
	add    []addedField
}

type addedField struct{ name, value string }

func (h *headerMap) bind(raw *[]byte, fields *[]http1.Header) {
	h.raw, h.fields = raw, fields
	h.del = h.del[:0]
	h.add = h.add[:0]
}

func (h *headerMap) reset() {
	h.raw, h.fields = nil, nil
	h.del = h.del[:0]
	for i := range h.add {
		h.add[i] = addedField{}
	}
	h.add = h.add[:0]
}

func (h *headerMap) deleted(i int) bool { return i < len(h.del) && h.del[i] }

func (h *headerMap) bytes(s http1.Span) []byte { return (*h.raw)[s.Off : s.Off+s.Len] }

// Get implements filterchain.HeaderMap and router.HeaderGetter. Owner
// only.
func (h *headerMap) Get(name string) ([]byte, bool) {
	for i := len(h.add) - 1; i >= 0; i-- {
		if equalFold(h.add[i].name, name) {
			return []byte(h.add[i].value), true
		}
	}
	for i, f := range *h.fields {
		if !h.deleted(i) && equalFoldBytes(h.bytes(f.Name), name) {
			return h.bytes(f.Value), true
		}
	}
	return nil, false
}

// routeHeaders is what route matching reads of a request: its header
// fields, and the pseudo-header ":method" (Envoy's way to match a method).
type routeHeaders stream

// Get implements router.HeaderGetter. Owner only.
func (r *routeHeaders) Get(name string) ([]byte, bool) {
	s := (*stream)(r)
	if name == ":method" {
		return s.req.Bytes(s.req.Method), true
	}
	return s.reqHdrs.Get(name)
}

// Set implements filterchain.HeaderMap. Owner only.
func (h *headerMap) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Add implements filterchain.HeaderMap. Owner only.
func (h *headerMap) Add(name, value string) {
	h.add = append(h.add, addedField{name: name, value: value})
}

// Del implements filterchain.HeaderMap. Owner only.
func (h *headerMap) Del(name string) {
	for i, f := range *h.fields {
		if equalFoldBytes(h.bytes(f.Name), name) {
			for len(h.del) < len(*h.fields) {
				h.del = append(h.del, false)
			}
			h.del[i] = true
		}
	}
	kept := h.add[:0]
	for _, a := range h.add {
		if !equalFold(a.name, name) {
			kept = append(kept, a)
		}
	}
	h.add = kept
}

// Range implements filterchain.HeaderMap. Owner only.
func (h *headerMap) Range(fn func(name, value []byte) bool) {
	for i, f := range *h.fields {
		if !h.deleted(i) && !fn(h.bytes(f.Name), h.bytes(f.Value)) {
			return
		}
	}
	for _, a := range h.add {
		if !fn([]byte(a.name), []byte(a.value)) {
			return
		}
	}
}

// modified reports whether a filter changed the map.
func (h *headerMap) modified() bool { return len(h.del) > 0 || len(h.add) > 0 }

// host is the request's Host value, as a filter may have changed it.
func (h *headerMap) host() []byte {
	if h.modified() {
		v, _ := h.Get("host")
		return v
	}
	for _, f := range *h.fields {
		if f.Flags&http1.FlagHost != 0 {
			return h.bytes(f.Value)
		}
	}
	return nil
}

// appendFields writes the kept fields: hop-by-hop ones, deleted ones and
// those skip rejects are left out.
func (h *headerMap) appendFields(dst []byte, skip func(name []byte, f http1.Header) bool) []byte {
	for i, f := range *h.fields {
		if f.Flags&http1.FlagHopByHop != 0 || h.deleted(i) {
			continue
		}
		name := h.bytes(f.Name)
		if skip != nil && skip(name, f) {
			continue
		}
		dst = appendField(dst, name, h.bytes(f.Value))
	}
	for _, a := range h.add {
		dst = append(dst, a.name...)
		dst = append(dst, ": "...)
		dst = append(dst, a.value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// encodeRequestHead builds the head sent upstream: HTTP/1.1 request line
// in origin-form with the route's path rewrite, the end-to-end fields,
// framing re-stated from what was parsed (one Content-Length, or chunked),
// and the X-Forwarded-* and Via fields.
func (s *stream) encodeRequestHead(dst []byte) []byte {
	o := &s.srv.opts
	dst = append(dst, s.req.Bytes(s.req.Method)...)
	dst = append(dst, ' ')
	ca := s.route.Cluster()
	if s.route.Rewrites() {
		dst = s.route.RewritePath(dst, s.path)
	} else {
		dst = append(dst, s.path...)
	}
	dst = append(dst, " HTTP/1.1\r\n"...)
	replaceHost := ca.HostRewrite != "" || ca.AutoHostRewrite || s.authority != nil
	var sawXFF, sawXFH bool
	dst = s.reqHdrs.appendFields(dst, func(name []byte, f http1.Header) bool {
		switch {
		case f.Flags&http1.FlagHost != 0:
			return replaceHost
		case f.Flags&http1.FlagContentLength != 0:
			return true // re-stated below from the parsed value
		case len(name) == 6 && equalFoldBytes(name, "expect"):
			return true // ferry answers 100 Continue itself
		case len(name) == 12 && s.maxFwd >= 0 && equalFoldBytes(name, "max-forwards"):
			return true // decremented below (RFC 9110 7.6.2)
		case len(name) == 15 && equalFoldBytes(name, "x-forwarded-for"):
			sawXFF = true
			return o.XFF != XFFOff
		case len(name) == 16 && equalFoldBytes(name, "x-forwarded-host"):
			sawXFH = true
		case len(name) == 17 && equalFoldBytes(name, "x-forwarded-proto"):
			return true // set below from what ferry saw
		}
		return false
	})
	switch {
	case ca.HostRewrite != "":
		dst = appendField(dst, []byte("Host"), []byte(ca.HostRewrite))
	case ca.AutoHostRewrite:
		dst = appendField(dst, []byte("Host"), []byte(s.host.Address()))
	case s.authority != nil:
		dst = appendField(dst, []byte("Host"), s.authority)
	case !s.req.HasHost:
		dst = appendField(dst, []byte("Host"), []byte(s.host.Address()))
	}
	switch {
	case s.reqLen < 0:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case s.req.ContentLength >= 0 && (s.req.ContentLength > 0 || !s.req.MethodIs("GET") && !s.req.IsHead()):
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, s.req.ContentLength, 10)
		dst = append(dst, "\r\n"...)
	}
	if s.maxFwd >= 0 {
		dst = append(dst, "Max-Forwards: "...)
		dst = strconv.AppendInt(dst, int64(s.maxFwd), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = s.appendXFF(dst, sawXFF)
	switch {
	case s.req.Upgrade && s.h2 != nil:
		dst = s.appendExtUpgrade(dst) // h2tunnel.go
	case s.req.Upgrade:
		dst = s.appendUpgrade(dst) // upgrade.go
	}
	if t := s.d.c.TLS(); t != nil && t.Encrypted() { // docs/tls.md
		dst = append(dst, "X-Forwarded-Proto: https\r\n"...)
	} else {
		dst = append(dst, "X-Forwarded-Proto: http\r\n"...)
	}
	if h := s.routeHost(); !sawXFH && len(h) > 0 {
		dst = appendField(dst, []byte("X-Forwarded-Host"), h)
	}
	if o.Via != "" {
		if s.h2 != nil {
			dst = append(dst, "Via: 2 "...)
		} else {
			dst = append(dst, "Via: 1."...)
			dst = strconv.AppendInt(dst, int64(s.req.Minor), 10)
			dst = append(dst, ' ')
		}
		dst = append(dst, o.Via...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendXFF writes X-Forwarded-For: the client's values (all fields,
// joined) followed by the peer address, or only the peer address.
func (s *stream) appendXFF(dst []byte, saw bool) []byte {
	mode := s.d.f.opts.XFF
	if mode == XFFOff {
		return dst
	}
	dst = append(dst, "X-Forwarded-For: "...)
	if saw && mode == XFFAppend {
		for _, f := range s.req.Headers {
			if name := s.req.Bytes(f.Name); len(name) == 15 && equalFoldBytes(name, "x-forwarded-for") {
				dst = append(dst, s.req.Bytes(f.Value)...)
				dst = append(dst, ", "...)
			}
		}
	}
	dst = s.d.appendPeerIP(dst)
	return append(dst, "\r\n"...)
}

// encodeResponseHead builds the head sent downstream, framing re-stated:
// one Content-Length from the parsed value (never on 1xx/204, RFC 9110
// 8.6), or chunked when ferry re-chunks the body.
func (s *stream) encodeResponseHead(dst []byte) []byte {
	r := &s.resp
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	if reason := r.Bytes(r.Reason); len(reason) > 0 {
		dst = append(dst, reason...)
	} else {
		dst = append(dst, http1.StatusText(r.Status)...)
	}
	dst = append(dst, "\r\n"...)
	dst = s.respHdrs.appendFields(dst, func(_ []byte, f http1.Header) bool {
		return f.Flags&http1.FlagContentLength != 0
	})
	switch {
	case s.respPipe.enc == encChunked || (s.req.IsHead() && r.Chunked && s.req.Minor == 1):
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case r.ContentLength >= 0 && r.Status != 204 && !r.Chunked:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, r.ContentLength, 10)
		dst = append(dst, "\r\n"...)
	}
	dst = s.appendConnection(dst)
	if s.d.f.opts.Via != "" {
		dst = append(dst, "Via: 1.1 "...)
		dst = append(dst, s.d.f.opts.Via...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// encodeInformational builds a 1xx head (other than 100) for the client.
func (s *stream) encodeInformational(dst []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(s.resp.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, s.resp.Bytes(s.resp.Reason)...)
	dst = append(dst, "\r\n"...)
	for _, f := range s.resp.Headers {
		if f.Flags&http1.FlagHopByHop == 0 {
			dst = appendField(dst, s.resp.Bytes(f.Name), s.resp.Bytes(f.Value))
		}
	}
	return append(dst, "\r\n"...)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func equalFoldBytes(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
