package proxy

import "bytes"

// EscapedSlashes is what path normalisation does with %2F and %5C.
type EscapedSlashes uint8

// Escaped-slash actions.
const (
	// EscapedKeep forwards %2F and %5C as they are (never decoded).
	EscapedKeep EscapedSlashes = iota
	// EscapedReject answers 400.
	EscapedReject
	// EscapedDecode decodes them before routing and forwarding.
	EscapedDecode
)

// PathOptions configure path normalisation (RFC 3986 6.2.2), applied
// before routing so that a route cannot be bypassed with an equivalent
// spelling of a path.
type PathOptions struct {
	// Normalize decodes percent-encoded unreserved characters, upper-cases
	// the hex digits of the rest, and removes dot segments. A path that
	// climbs above the root, or a malformed escape, is rejected.
	Normalize bool
	// MergeSlashes collapses runs of '/'.
	MergeSlashes bool
	// EscapedSlashes is the action for %2F and %5C.
	EscapedSlashes EscapedSlashes
}

func (o *PathOptions) active() bool {
	return o.Normalize || o.MergeSlashes || o.EscapedSlashes != EscapedKeep
}

// normalizePath returns path (origin-form, possibly with ?query) normalised
// per o, appended to dst, or ok=false when it must be rejected. When
// nothing needs changing it returns path itself and allocates nothing.
func normalizePath(dst, path []byte, o *PathOptions) (out []byte, ok bool) {
	p, query := path, []byte(nil)
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		p, query = path[:i], path[i:]
	}
	if !needsWork(p, o) {
		return path, true
	}
	start := len(dst)
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			var good bool
			if dst, i, good = appendEscape(dst, p, i, o); !good {
				return nil, false
			}
			continue
		}
		dst = append(dst, p[i])
	}
	if o.MergeSlashes { // after decoding, so a decoded %2F merges too
		dst = mergeSlashes(dst, start)
	}
	if o.Normalize {
		var good bool
		if dst, good = removeDotSegments(dst, start); !good {
			return nil, false
		}
	}
	return append(dst, query...), true
}

// mergeSlashes collapses runs of '/' in dst[start:] in place.
func mergeSlashes(dst []byte, start int) []byte {
	out := dst[:start]
	for i := start; i < len(dst); i++ {
		if dst[i] == '/' && len(out) > start && out[len(out)-1] == '/' {
			continue
		}
		out = append(out, dst[i])
	}
	return out
}

// needsWork reports whether p has anything o would change.
func needsWork(p []byte, o *PathOptions) bool {
	if bytes.IndexByte(p, '%') >= 0 {
		return true
	}
	if o.MergeSlashes && bytes.Contains(p, []byte("//")) {
		return true
	}
	return o.Normalize && bytes.Contains(p, []byte("/."))
}

// appendEscape handles the escape at p[i] ('%'): decoded when it is an
// unreserved character (Normalize) or an escaped slash to decode, kept
// upper-cased otherwise. It returns the index of its last byte.
func appendEscape(dst, p []byte, i int, o *PathOptions) ([]byte, int, bool) {
	if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
		if o.Normalize {
			return dst, i, false // a malformed escape: rejected when normalising
		}
		return append(dst, '%'), i, true
	}
	b := byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
	switch {
	case b == '/' || b == '\\':
		switch o.EscapedSlashes {
		case EscapedReject:
			return dst, i, false
		case EscapedDecode:
			return append(dst, b), i + 2, true
		}
	case o.Normalize && isUnreserved(b):
		return append(dst, b), i + 2, true
	}
	if !o.Normalize {
		return append(dst, p[i:i+3]...), i + 2, true
	}
	return append(dst, '%', upperHex(p[i+1]), upperHex(p[i+2])), i + 2, true
}

// removeDotSegments applies RFC 3986 5.2.4 to dst[start:] in place. A ".."
// above the root is refused rather than clamped, as nginx does.
func removeDotSegments(dst []byte, start int) ([]byte, bool) {
	in := dst[start:]
	out := dst[:start]
	for len(in) > 0 {
		seg := in[1:]
		end := bytes.IndexByte(seg, '/')
		if end < 0 {
			end = len(seg)
		}
		name := seg[:end]
		last := end == len(seg)
		switch {
		case len(name) == 1 && name[0] == '.':
			if last {
				out = append(out, '/')
			}
		case len(name) == 2 && name[0] == '.' && name[1] == '.':
			j := bytes.LastIndexByte(out[start:], '/')
			if j < 0 {
				return nil, false
			}
			out = out[:start+j]
			if last {
				out = append(out, '/')
			}
		default:
			out = append(out, '/')
			out = append(out, name...)
		}
		in = seg[end:]
	}
	if len(out) == start {
		out = append(out, '/')
	}
	return out, true
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
