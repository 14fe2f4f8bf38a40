package router

// maxDomainLen bounds configured domains and the stack buffer that Match
// lower-cases hosts into. DNS names are at most 253 bytes.
const maxDomainLen = 255

// lowerASCII returns c lower-cased if it is an ASCII upper-case letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// lowerInto lower-cases s into dst and returns dst[:len(s)]. len(s) must
// not exceed len(dst).
func lowerInto(dst, s []byte) []byte {
	dst = dst[:len(s)]
	for i, c := range s {
		dst[i] = lowerASCII(c)
	}
	return dst
}

// equalFoldASCII reports whether b and s are equal under ASCII case folding.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

// hostWithoutPort returns the length of host with its ":port" removed, or
// len(host) when it has no port. Handles bracketed IPv6 literals
// ("[::1]:8080" → "[::1]"); an unbracketed value with several colons is
// taken as having no port. An empty port ("example.com:") is removed too
// (RFC 3986 allows it).
func hostWithoutPort(host []byte) int {
	i := len(host) - 1
	for i >= 0 && '0' <= host[i] && host[i] <= '9' {
		i--
	}
	if i < 0 || host[i] != ':' {
		return len(host)
	}
	if len(host) > 0 && host[0] == '[' {
		if i > 0 && host[i-1] == ']' {
			return i
		}
		return len(host)
	}
	for j := range i {
		if host[j] == ':' {
			return len(host)
		}
	}
	return i
}

// splitPath returns the length of the path part of an origin-form target,
// i.e. the index of the first '?' or '#', or len(target).
func splitPath(target []byte) int {
	for i, c := range target {
		if c == '?' || c == '#' {
			return i
		}
	}
	return len(target)
}

// hasDefaultPort reports whether host ends in the default port of scheme
// (":80" for http, ":443" for https), and returns the host without it.
func hasDefaultPort(host []byte, scheme string) ([]byte, bool) {
	n := hostWithoutPort(host)
	if n == len(host) {
		return host, false
	}
	port := string(host[n+1:])
	switch {
	case scheme == "http" && port == "80", scheme == "https" && port == "443":
		return host[:n], true
	}
	return host, false
}
