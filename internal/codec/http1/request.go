package http1

import "bytes"

// Request is a parsed request head. Spans point into Raw. A Request is
// reused across messages: Reset keeps the Headers array.
type Request struct {
	// Raw holds the bytes the spans point into: the slice given to Parse.
	// The caller may copy Raw[:n] into storage it owns and set Raw to the
	// copy; the spans stay valid.
	Raw           []byte
	Method        Span
	Target        Span
	Minor         uint8 // 0 or 1: HTTP/1.0 or HTTP/1.1
	Headers       []Header
	Host          Span
	HasHost       bool
	ContentLength int64 // -1 when absent
	Chunked       bool
	KeepAlive     bool // RFC 9112 9.3: version default and Connection options
	Expect100     bool // Expect: 100-continue on HTTP/1.1
	Upgrade       bool // Connection: upgrade with an Upgrade field, HTTP/1.1

	st headState
}

// Reset clears r for a new message and keeps the Headers array.
func (r *Request) Reset() {
	*r = Request{Headers: r.Headers[:0], ContentLength: -1}
}

// Parse parses the request head at the start of buf.
//
// It returns n > 0 once the head is complete: n is its length, final CRLF
// included, and the fields of r are set. It returns n == 0 with a nil error
// when more bytes are needed: call Parse again with a longer slice that
// starts at the same byte; the scan resumes where it stopped. Any error is
// an *Error whose Status is the one to answer with. After a complete head
// or an error, the next Parse starts a new message (it calls Reset).
func (r *Request) Parse(buf []byte, lim Limits) (n int, err error) {
	if !r.st.active || r.st.scan > len(buf) {
		r.Reset()
		r.st.active = true
	}
	r.Raw = buf
	lim = lim.norm()
	n, err = r.scan(buf, &lim)
	if n > 0 || err != nil {
		r.st.active = false
	}
	return n, err
}

func (r *Request) scan(buf []byte, lim *Limits) (int, error) {
	return scanHead(&r.st, r, buf, lim, sideRequest, &r.Headers, 431)
}

// startLine implements message.
func (r *Request) startLine(buf []byte, start, end int) error {
	return r.parseRequestLine(buf, start, end)
}

// finishHead implements message.
func (r *Request) finishHead() error { return r.finish() }

// parseRequestLine parses method SP request-target SP HTTP-version
// (RFC 9112 3).
func (r *Request) parseRequestLine(buf []byte, start, end int) error {
	i := start
	for i < end && tokenTable[buf[i]] {
		i++
	}
	if i == start || i == end || buf[i] != ' ' {
		return fail(sideRequest, 400, "invalid method")
	}
	r.Method = span(start, i)
	ts := i + 1
	i = ts
	for i < end && targetTable[buf[i]] {
		i++
	}
	if i == ts {
		return fail(sideRequest, 400, "empty request target")
	}
	if i == end || buf[i] != ' ' {
		return fail(sideRequest, 400, "invalid character in request target")
	}
	r.Target = span(ts, i)
	if err := r.checkTargetForm(buf[ts:i]); err != nil {
		return err
	}
	minor, err := parseVersion(buf[i+1:end], sideRequest)
	r.Minor = minor
	return err
}

// checkTargetForm matches the target's form to the method (RFC 9112 3.2):
// authority-form only and always for CONNECT, asterisk-form only for
// OPTIONS, otherwise origin-form or absolute-form.
func (r *Request) checkTargetForm(t []byte) error {
	if r.MethodIs("CONNECT") {
		if t[0] == '/' || bytes.IndexByte(t, ':') < 0 || !allHost(t) {
			return fail(sideRequest, 400, "CONNECT target is not authority-form")
		}
		return nil
	}
	switch {
	case t[0] == '/':
		return nil
	case len(t) == 1 && t[0] == '*':
		if !r.MethodIs("OPTIONS") {
			return fail(sideRequest, 400, "asterisk-form target without OPTIONS")
		}
		return nil
	case isAbsoluteForm(t):
		return nil
	}
	return fail(sideRequest, 400, "invalid request target form")
}

func allHost(b []byte) bool {
	for _, c := range b {
		if !hostTable[c] {
			return false
		}
	}
	return true
}

// isAbsoluteForm reports whether t starts with scheme ":" (RFC 3986 3.1).
func isAbsoluteForm(t []byte) bool {
	if !isAlpha(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		switch {
		case c == ':':
			return true
		case isAlnum(c) || c == '+' || c == '-' || c == '.':
		default:
			return false
		}
	}
	return false
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// parseVersion parses HTTP-version (RFC 9112 2.3). Only 1.0 and 1.1 are
// served; another well-formed version is 505 on requests.
func parseVersion(v []byte, sd side) (uint8, error) {
	const prefix = "HTTP/1."
	if len(v) == 8 && string(v[:7]) == prefix && (v[7] == '0' || v[7] == '1') {
		return v[7] - '0', nil
	}
	if len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
		return 0, fail(sd, 505, "unsupported HTTP version")
	}
	return 0, fail(sd, 400, "malformed HTTP version")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// finish applies the rules that need the whole head.
func (r *Request) finish() error {
	f := &r.st.fr
	if f.hosts == 1 {
		r.Host, r.HasHost = f.host, true
	} else if r.Minor == 1 {
		return fail(sideRequest, 400, "missing Host in HTTP/1.1 request") // RFC 9112 3.2
	}
	if err := f.bodyFields(r.Minor, sideRequest, &r.ContentLength, &r.Chunked); err != nil {
		return err
	}
	if f.expectOther {
		return fail(sideRequest, 417, "unsupported expectation")
	}
	r.Expect100 = f.expect100 && r.Minor == 1 // RFC 9110 10.1.1
	r.KeepAlive = f.keepAlive(r.Minor)
	r.Upgrade = f.connUpgrade && f.hasUpgrade && r.Minor == 1 // RFC 9110 7.8
	if f.connOther {
		markConnectionOptions(r.Raw, r.Headers)
	}
	return nil
}

// Bytes returns the bytes of s in r.Raw.
func (r *Request) Bytes(s Span) []byte { return bytesOf(r.Raw, s) }

// Get returns the value of the first field named name, ignoring case.
func (r *Request) Get(name string) ([]byte, bool) { return getHeader(r.Raw, r.Headers, name) }

// MethodIs reports whether the method is exactly m (methods are
// case-sensitive, RFC 9110 9.1).
func (r *Request) MethodIs(m string) bool { return string(r.Bytes(r.Method)) == m }

// IsHead reports whether the method is HEAD: the response has no body.
func (r *Request) IsHead() bool { return r.MethodIs("HEAD") }

// IsConnect reports whether the method is CONNECT.
func (r *Request) IsConnect() bool { return r.MethodIs("CONNECT") }
