package http2

import "bytes"

// Request and trailer validation (RFC 9113 8.2, 8.3; RFC 9110 5.5).

// Character classes, one bit each.
const (
	clsNameLower = 1 << iota // tchar other than uppercase: a legal field name byte
	clsToken                 // tchar (RFC 9110 5.6.2)
	clsAuthority             // unreserved / pct-encoded / sub-delims / ":" / "[" / "]" / "@"
	clsScheme                // ALPHA / DIGIT / "+" / "-" / "."
	clsPath                  // visible ASCII
)

var charClass = func() (t [256]uint8) { //nolint:gochecknoglobals // read-only, built once
	for c := 0x21; c < 0x7f; c++ {
		t[c] |= clsPath
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") {
		t[c] |= clsNameLower | clsToken
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= clsToken
	}
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]@") {
		t[c] |= clsAuthority
	}
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") {
		t[c] |= clsScheme
	}
	return t
}()

func allIn(b []byte, cls uint8) bool {
	for _, c := range b {
		if charClass[c]&cls == 0 {
			return false
		}
	}
	return true
}

// validName: a non-empty lowercase token (RFC 9113 8.2.1 forbids
// uppercase; RFC 9110 5.1 makes names tokens).
func validName(b []byte) bool {
	return len(b) > 0 && allIn(b, clsNameLower)
}

// validValue: no NUL, CR or LF (RFC 9113 8.2.1) nor any other control
// byte but HTAB, nor DEL (RFC 9110 5.5), and no leading or trailing SP or
// HTAB (RFC 9113 8.2.1).
func validValue(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if isWS(b[0]) || isWS(b[len(b)-1]) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isWS(c byte) bool { return c == ' ' || c == '\t' }

// connectionSpecific reports the fields RFC 9113 8.2.2 forbids.
func connectionSpecific(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseContentLength parses 1*DIGIT without overflow.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

const (
	pseudoMethod = 1 << iota
	pseudoScheme
	pseudoAuthority
	pseudoPath
	pseudoProtocol
)

// buildRequest turns the decoded fields into c.req and validates it; false
// means malformed (RFC 9113 8.1.1), a stream error PROTOCOL_ERROR.
func (c *Conn) buildRequest(endStream bool) bool {
	r := &c.req
	*r = Request{Fields: c.fields[:0], ContentLength: -1}
	have, regular := 0, false
	var host []byte
	hosts := 0
	for _, s := range c.spans {
		name, value := c.hbuf[s.ns:s.vs], c.hbuf[s.vs:s.ve]
		if !validValue(value) {
			return false
		}
		if len(name) > 0 && name[0] == ':' {
			if regular {
				return false // pseudo-header after a regular field
			}
			var bit int
			var dst *[]byte
			switch string(name) {
			case ":method":
				bit, dst = pseudoMethod, &r.Method
			case ":scheme":
				bit, dst = pseudoScheme, &r.Scheme
			case ":authority":
				bit, dst = pseudoAuthority, &r.Authority
			case ":path":
				bit, dst = pseudoPath, &r.Path
			case ":protocol":
				if !c.opt.EnableConnectProtocol {
					return false // RFC 8441 3: only once advertised
				}
				bit, dst = pseudoProtocol, &r.Protocol
			default:
				return false // unknown or response pseudo-header
			}
			if have&bit != 0 {
				return false
			}
			have |= bit
			*dst = value
			continue
		}
		regular = true
		if !validName(name) || connectionSpecific(name) {
			return false
		}
		switch string(name) {
		case "te":
			if !equalFold(value, "trailers") {
				return false
			}
		case "content-length":
			n, ok := parseContentLength(value)
			if !ok || r.ContentLength >= 0 && r.ContentLength != n {
				return false
			}
			r.ContentLength = n
		case "host":
			hosts++
			host = value
		}
		r.Fields = append(r.Fields, Field{Name: name, Value: value})
	}
	c.fields = r.Fields
	if have&pseudoMethod == 0 || !allIn(r.Method, clsToken) || len(r.Method) == 0 {
		return false
	}
	if have&pseudoProtocol != 0 {
		// RFC 8441 4: extended CONNECT, with :scheme, :path and
		// :authority; validated below as any request with them.
		if string(r.Method) != "CONNECT" || len(r.Protocol) == 0 || !allIn(r.Protocol, clsToken) ||
			have&pseudoAuthority == 0 || len(r.Authority) == 0 {
			return false
		}
	}
	if string(r.Method) == "CONNECT" && have&pseudoProtocol == 0 {
		// RFC 9113 8.5: only :method and :authority.
		if have != pseudoMethod|pseudoAuthority || len(r.Authority) == 0 || !allIn(r.Authority, clsAuthority) {
			return false
		}
	} else {
		if have&(pseudoScheme|pseudoPath) != pseudoScheme|pseudoPath {
			return false
		}
		if len(r.Scheme) == 0 || !allIn(r.Scheme, clsScheme) || !isAlpha(r.Scheme[0]) {
			return false
		}
		web := equalFold(r.Scheme, "http") || equalFold(r.Scheme, "https")
		if len(r.Path) == 0 || !allIn(r.Path, clsPath) {
			return false
		}
		if string(r.Path) == "*" {
			if string(r.Method) != "OPTIONS" {
				return false
			}
		} else if web && r.Path[0] != '/' {
			return false
		}
		if have&pseudoAuthority != 0 {
			if !allIn(r.Authority, clsAuthority) {
				return false
			}
			if web && (len(r.Authority) == 0 || bytes.IndexByte(r.Authority, '@') >= 0) {
				return false // empty host or deprecated userinfo
			}
		}
	}
	if hosts > 1 {
		return false
	}
	if hosts == 1 {
		if !allIn(host, clsAuthority) || bytes.IndexByte(host, '@') >= 0 {
			return false
		}
		if len(r.Authority) > 0 && !equalFold(host, string(r.Authority)) {
			return false // RFC 9113 8.3.1: host must agree with :authority
		}
	}
	if endStream && r.ContentLength > 0 {
		return false
	}
	return true
}

func isAlpha(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
