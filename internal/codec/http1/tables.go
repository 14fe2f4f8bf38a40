package http1

// Character classes used by the scanners. Each table is built once at
// package initialisation by a pure function and never written afterwards.

// tokenTable marks tchar (RFC 9110 5.6.2): the bytes allowed in a method,
// a field name, a transfer coding and a connection option.
var tokenTable = buildTable(isTchar) //nolint:gochecknoglobals // read-only

// valueTable marks field-vchar, SP and HTAB (RFC 9110 5.5): the bytes allowed
// inside a field value and a reason phrase. obs-text (0x80-0xFF) is allowed;
// NUL, CR, LF, the other CTLs and DEL are not.
var valueTable = buildTable(func(c byte) bool { //nolint:gochecknoglobals // read-only
	return c == '\t' || (c >= 0x20 && c != 0x7f)
})

// targetTable marks the bytes allowed in a request-target: visible US-ASCII
// (0x21-0x7E). CTLs, SP, DEL and non-ASCII bytes are rejected, as RFC 3986
// (cited by RFC 9112 3.2) has no raw non-ASCII characters.
var targetTable = buildTable(func(c byte) bool { //nolint:gochecknoglobals // read-only
	return c > 0x20 && c < 0x7f
})

// hostTable marks the bytes allowed in a Host value or an authority-form
// target: RFC 3986 reg-name / IP-literal / IPv4address plus ":" port, that is
// unreserved, sub-delims, "%", ":", "[" and "]".
var hostTable = buildTable(func(c byte) bool { //nolint:gochecknoglobals // read-only
	if isAlnum(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', // sub-delims
		'%', ':', '[', ']':
		return true
	}
	return false
})

// qdtextTable marks qdtext (RFC 9110 5.6.4) for chunk extension values.
var qdtextTable = buildTable(func(c byte) bool { //nolint:gochecknoglobals // read-only
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
		(c >= 0x5d && c <= 0x7e) || c >= 0x80
})

// hexTable maps a HEXDIG to its value and every other byte to 0xff.
var hexTable = buildHex() //nolint:gochecknoglobals // read-only

func buildTable(in func(c byte) bool) [256]bool {
	var t [256]bool
	for i := range t {
		t[i] = in(byte(i))
	}
	return t
}

func buildHex() [256]byte {
	var t [256]byte
	for i := range t {
		c := byte(i)
		switch {
		case c >= '0' && c <= '9':
			t[i] = c - '0'
		case c >= 'a' && c <= 'f':
			t[i] = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			t[i] = c - 'A' + 10
		default:
			t[i] = 0xff
		}
	}
	return t
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isTchar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// lower folds an ASCII upper-case letter to lower case.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(s) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextElement returns the list element of v that starts at i (RFC 9110
// 5.6.1 #rule), with OWS trimmed, and the index after its comma. Empty
// elements are returned as empty slices; callers skip or reject them.
func nextElement(v []byte, i int) (elem []byte, next int) {
	j := i
	for j < len(v) && v[j] != ',' {
		j++
	}
	next = j
	if j < len(v) {
		next = j + 1
	}
	return trimOWS(v[i:j]), next
}

// IsToken reports whether s is a non-empty RFC 9110 token (5.6.2): a
// method, a field name, a transfer coding. Any goroutine.
func IsToken[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := range len(s) {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}
