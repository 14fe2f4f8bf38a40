package accesslog

import (
	"strconv"
	"time"
)

// text is what escaping reads: a string or a byte slice, without
// converting one into the other (which could allocate).
type text interface{ ~string | ~[]byte }

const hexDigits = "0123456789abcdef"

// appendEscaped appends s for the text encoding: a byte outside printable
// ASCII (0x20-0x7e), '"' or '\' becomes \xHH, as in nginx's access log, so
// a value never ends the line or breaks a quoted field.
func appendEscaped[T text](dst []byte, s T) []byte {
	start := 0
	for i := range len(s) {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendJSONString appends s as a JSON string (RFC 8259): '"', '\' and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and
// U+2028 and U+2029 escaped as encoding/json does.
func appendJSONString[T text](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is written as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= 0x80 {
			n := utf8Len(s, i)
			isSep := n == 3 && c == 0xe2 && s[i+1] == 0x80 && s[i+2]&0xfe == 0xa8
			if n > 0 && !isSep {
				i += n
				continue
			}
			dst = append(dst, s[start:i]...)
			if n == 0 {
				dst = append(dst, `\ufffd`...)
				i++
			} else {
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xf])
				i += 3
			}
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default: // the other control characters and DEL
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// utf8Len returns the length of the valid UTF-8 sequence starting at
// s[i] (a byte >= 0x80), or 0 when it is not valid (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
func utf8Len[T text](s T, i int) int {
	c := s[i]
	n, lo, hi := 0, byte(0x80), byte(0xbf) // the length, and the range of the second byte
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0 // no overlong form
	case c == 0xed:
		n, hi = 3, 0x9f // no surrogate
	case c >= 0xe1 && c <= 0xef:
		n = 3
	case c == 0xf0:
		n, lo = 4, 0x90 // no overlong form
	case c == 0xf4:
		n, hi = 4, 0x8f // nothing above U+10FFFF
	case c >= 0xf1 && c <= 0xf3:
		n = 4
	default:
		return 0
	}
	if i+n > len(s) || s[i+1] < lo || s[i+1] > hi {
		return 0
	}
	for j := i + 2; j < i+n; j++ {
		if s[j] < 0x80 || s[j] > 0xbf {
			return 0
		}
	}
	return n
}

// appendStartTime appends t in StartTimeLayout, as t.AppendFormat would,
// at half its cost (go test -run=NONE -bench=StartTime ./internal/accesslog/).
func appendStartTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 { // outside the layout's four digits
		return t.AppendFormat(dst, StartTimeLayout)
	}
	dst = appendDigits(dst, year/100)
	dst = appendDigits(dst, year%100)
	dst = append(dst, '/')
	dst = appendDigits(dst, int(month))
	dst = append(dst, '/')
	dst = appendDigits(dst, day)
	dst = append(dst, ' ')
	dst = appendDigits(dst, hour)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec)
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// appendDigits appends v (0-99) as two digits.
func appendDigits(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendDuration appends d as time.Duration.String writes it ("1.5ms",
// "2m0.25s"), which MOSN's durations use, without the string String
// allocates.
func appendDuration(dst []byte, d time.Duration) []byte {
	if d == 0 {
		return append(dst, '0', 's')
	}
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u // the magnitude, math.MinInt64's included
	}
	switch {
	case u < uint64(time.Microsecond):
		dst = strconv.AppendUint(dst, u, 10)
		return append(dst, 'n', 's')
	case u < uint64(time.Millisecond):
		dst = appendFrac(dst, u, 3)
		return append(dst, "µs"...)
	case u < uint64(time.Second):
		dst = appendFrac(dst, u, 6)
		return append(dst, 'm', 's')
	}
	h := u / uint64(time.Hour)
	u -= h * uint64(time.Hour)
	m := u / uint64(time.Minute)
	u -= m * uint64(time.Minute)
	if h > 0 {
		dst = strconv.AppendUint(dst, h, 10)
		dst = append(dst, 'h')
	}
	if h > 0 || m > 0 {
		dst = strconv.AppendUint(dst, m, 10)
		dst = append(dst, 'm')
	}
	dst = appendFrac(dst, u, 9)
	return append(dst, 's')
}

// appendFrac appends v / 10^prec with its fraction, trailing zeros (and a
// bare '.') dropped.
func appendFrac(dst []byte, v uint64, prec int) []byte {
	pow := uint64(1)
	for range prec {
		pow *= 10
	}
	dst = strconv.AppendUint(dst, v/pow, 10)
	f := v % pow
	if f == 0 {
		return dst
	}
	for f%10 == 0 {
		f /= 10
		prec--
	}
	dst = append(dst, '.')
	var digits [9]byte
	for i := prec - 1; i >= 0; i-- {
		digits[i] = byte('0' + f%10)
		f /= 10
	}
	return append(dst, digits[:prec]...)
}
