package accesslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultFormat is the format of an access log whose log_format is empty:
// MOSN's default (pkg/types DefaultAccessLogFormat, response_code twice
// included), so that a MOSN configuration writes the columns its users
// already parse. docs/operations.md ("Access log") shows a line.
const DefaultFormat = "%start_time% %request_received_duration% %response_received_duration% %bytes_sent%" +
	" %bytes_received% %protocol% %response_code% %duration% %response_flag% %response_code% %upstream_local_address%" +
	" %downstream_local_address% %downstream_remote_address% %upstream_host%"

// StartTimeLayout is how start_time is written (MOSN's layout), in the
// location of Entry.Start (the proxy's is local time).
const StartTimeLayout = "2006/01/02 15:04:05.000"

// Encoding is how a line is written.
type Encoding uint8

// Encodings.
const (
	// Text writes the format as it is, each %variable% replaced by its
	// value ("-" when not known). Bytes outside printable ASCII, '"' and
	// '\' in a value are written \xHH (as nginx does), so a value can
	// neither end a line nor forge a field.
	Text Encoding = iota
	// JSON writes one object per line whose keys are the format's
	// variable names, in order (a repeated name once; the text between
	// variables is not written): bytes_sent, bytes_received and
	// response_code are numbers, response_flag a boolean, the rest
	// strings, null when not known.
	JSON
)

// String names the encoding as the configuration does. Any goroutine.
func (e Encoding) String() string {
	if e == JSON {
		return "json"
	}
	return "text"
}

// ParseEncoding reads a configured encoding: "text" (or empty) or "json".
// Any goroutine.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "text":
		return Text, nil
	case "json":
		return JSON, nil
	}
	return Text, fmt.Errorf("unknown encoding %q: text or json", s)
}

// Format is a compiled log format: a list of segments, built once when the
// configuration is loaded. Immutable, so any goroutine may use it.
type Format struct {
	src  string
	enc  Encoding
	segs []segment
}

// segment is literal text (v == varNone) or one variable. In JSON, text
// is the key with its punctuation (`{"name":` or `,"name":`).
type segment struct {
	v      variable
	text   string
	header string // the header name of request_header_NAME and response_header_NAME
}

// Errors of Compile, wrapped with where they happened.
var (
	errUnclosed = errors.New("unclosed %variable%")
	errEmpty    = errors.New("empty variable name (%%); a literal % is written \\%")
)

// Compile parses format (DefaultFormat when empty) for enc: text
// alternates with %variable% names, and \% is a literal %. An unknown
// name is an error listing the known ones, as is an unclosed or empty
// %…%, a header variable without a valid header name, or a control
// character other than tab in the text. Any goroutine.
func Compile(format string, enc Encoding) (*Format, error) {
	if format == "" {
		format = DefaultFormat
	}
	f := &Format{src: format, enc: enc}
	var text []byte
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format) && format[i+1] == '%':
			text = append(text, '%')
			i++
		case c == '%':
			end := strings.IndexByte(format[i+1:], '%')
			if end < 0 {
				return nil, fmt.Errorf("byte %d: %w", i, errUnclosed)
			}
			name := format[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf("byte %d: %w", i, errEmpty)
			}
			seg, err := variableSegment(name)
			if err != nil {
				return nil, err
			}
			f.addText(text)
			text = text[:0]
			f.addVariable(seg, name)
			i += end + 1
		case (c < 0x20 && c != '\t') || c == 0x7f:
			return nil, fmt.Errorf("byte %d: control character 0x%02x in the text (a line ends only after the format)", i, c)
		default:
			text = append(text, c)
		}
	}
	f.addText(text)
	return f, nil
}

// variableSegment resolves %name%.
func variableSegment(name string) (segment, error) {
	v, header, ok := lookup(name)
	if !ok {
		return segment{}, fmt.Errorf("unknown variable %%%s%%; known: %s (a name ending in _ takes a header name)",
			name, strings.Join(KnownVariables(), ", "))
	}
	if v == varRequestHeader || v == varResponseHeader {
		if header == "" || !isToken(header) {
			return segment{}, fmt.Errorf("variable %%%s%%: %q is not a header name", name, header)
		}
	}
	return segment{v: v, header: header}, nil
}

// addText adds literal text (text encoding only).
func (f *Format) addText(text []byte) {
	if len(text) == 0 || f.enc == JSON {
		return
	}
	f.segs = append(f.segs, segment{text: string(text)})
}

// addVariable adds a variable; in JSON its key comes first, and a name
// already present is not repeated.
func (f *Format) addVariable(seg segment, name string) {
	if f.enc == JSON {
		key := appendJSONString(nil, name)
		for _, s := range f.segs {
			if strings.HasSuffix(s.text, string(key)+":") {
				return
			}
		}
		sep := ","
		if len(f.segs) == 0 {
			sep = "{"
		}
		seg.text = sep + string(key) + ":"
	}
	f.segs = append(f.segs, seg)
}

// String returns the format as configured (DefaultFormat for an empty
// one). Any goroutine.
func (f *Format) String() string { return f.src }

// Encoding returns how lines are written. Any goroutine.
func (f *Format) Encoding() Encoding { return f.enc }

// Append appends e's line, with its trailing newline, to dst and returns
// it. It allocates nothing when dst has room. Any goroutine.
func (f *Format) Append(dst []byte, e *Entry) []byte {
	if f.enc == JSON {
		for i := range f.segs {
			dst = append(dst, f.segs[i].text...)
			dst = appendJSONValue(dst, &f.segs[i], e)
		}
		if len(f.segs) == 0 {
			dst = append(dst, '{')
		}
		return append(dst, '}', '\n')
	}
	for i := range f.segs {
		s := &f.segs[i]
		if s.v == varNone {
			dst = append(dst, s.text...)
			continue
		}
		dst = appendTextValue(dst, s, e)
	}
	return append(dst, '\n')
}

// appendTextValue appends the value of s's variable, "-" when not known.
func appendTextValue(dst []byte, s *segment, e *Entry) []byte {
	switch s.v {
	case varStartTime:
		if e.Start.IsZero() {
			return append(dst, '-')
		}
		return appendStartTime(dst, e.Start)
	case varRequestReceivedDuration, varResponseReceivedDuration, varRequestFinishedDuration, varDuration:
		d := durationOf(s.v, e)
		if d == 0 {
			return append(dst, '-')
		}
		return appendDuration(dst, d)
	case varBytesSent:
		return strconv.AppendUint(dst, e.BytesSent, 10)
	case varBytesReceived:
		return strconv.AppendUint(dst, e.BytesReceived, 10)
	case varResponseCode:
		if e.ResponseCode == 0 {
			return append(dst, '-')
		}
		return strconv.AppendInt(dst, int64(e.ResponseCode), 10)
	case varResponseFlag:
		return strconv.AppendBool(dst, e.Failure != "")
	case varRequestMethod, varRequestURI, varRequestPath, varRequestArg, varRequestHeader, varResponseHeader:
		b, ok := bytesOf(s, e)
		if !ok {
			return append(dst, '-')
		}
		return appendEscaped(dst, b)
	default:
		v := stringOf(s.v, e)
		if v == "" {
			return append(dst, '-')
		}
		return appendEscaped(dst, v)
	}
}

// appendJSONValue appends the JSON value of s's variable, null when not
// known.
func appendJSONValue(dst []byte, s *segment, e *Entry) []byte {
	switch s.v {
	case varBytesSent, varBytesReceived:
		return appendTextValue(dst, s, e)
	case varResponseCode:
		if e.ResponseCode == 0 {
			return append(dst, "null"...)
		}
		return strconv.AppendInt(dst, int64(e.ResponseCode), 10)
	case varResponseFlag:
		return strconv.AppendBool(dst, e.Failure != "")
	case varStartTime:
		if e.Start.IsZero() {
			return append(dst, "null"...)
		}
		dst = append(dst, '"')
		dst = appendStartTime(dst, e.Start)
		return append(dst, '"')
	case varRequestReceivedDuration, varResponseReceivedDuration, varRequestFinishedDuration, varDuration:
		d := durationOf(s.v, e)
		if d == 0 {
			return append(dst, "null"...)
		}
		dst = append(dst, '"')
		dst = appendDuration(dst, d)
		return append(dst, '"')
	case varRequestMethod, varRequestURI, varRequestPath, varRequestArg, varRequestHeader, varResponseHeader:
		b, ok := bytesOf(s, e)
		if !ok {
			return append(dst, "null"...)
		}
		return appendJSONString(dst, b)
	default:
		v := stringOf(s.v, e)
		if v == "" {
			return append(dst, "null"...)
		}
		return appendJSONString(dst, v)
	}
}

// durationOf returns the duration variable v of e.
func durationOf(v variable, e *Entry) time.Duration {
	switch v {
	case varRequestReceivedDuration:
		return e.RequestReceived
	case varResponseReceivedDuration:
		return e.ResponseReceived
	case varRequestFinishedDuration:
		return e.RequestFinished
	default:
		return e.Duration
	}
}

// stringOf returns the string variable v of e.
func stringOf(v variable, e *Entry) string {
	switch v {
	case varProtocol:
		return e.Protocol
	case varUpstreamLocalAddress:
		return e.UpstreamLocalAddress
	case varDownstreamLocalAddress:
		return e.DownstreamLocalAddress
	case varDownstreamRemoteAddress:
		return e.DownstreamRemoteAddress
	case varUpstreamHost:
		return e.UpstreamHost
	case varUpstreamFailure:
		return e.Failure
	case varUpstreamCluster:
		return e.UpstreamCluster
	}
	return ""
}

// bytesOf returns the request-line or header variable of s from e, and
// whether it is known (present and not empty).
func bytesOf(s *segment, e *Entry) ([]byte, bool) {
	var b []byte
	switch s.v {
	case varRequestMethod:
		b = e.Method
	case varRequestURI:
		b = e.URI
	case varRequestPath:
		b = e.URI
		if q := indexByte(b, '?'); q >= 0 {
			b = b[:q]
		}
	case varRequestArg:
		q := indexByte(e.URI, '?')
		if q < 0 {
			return nil, false
		}
		b = e.URI[q+1:]
	case varRequestHeader, varResponseHeader:
		h := e.RequestHeaders
		if s.v == varResponseHeader {
			h = e.ResponseHeaders
		}
		if h == nil {
			return nil, false
		}
		v, ok := h.Get(s.header)
		if !ok {
			return nil, false
		}
		b = v
	}
	return b, len(b) > 0
}

// indexByte is bytes.IndexByte without the import.
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// isToken reports whether s is an RFC 9110 token (a header name).
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return s != ""
}
