package http1

import (
	"bytes"
	"math"
)

// phase is where a head scan stands.
type phase uint8

const (
	phaseStart  phase = iota // before the start line (empty lines allowed)
	phaseFields              // start line parsed, reading field lines
)

// headState is the resumable scan state shared by Request and Response.
// Offsets are relative to the first byte of the buffer given to Parse.
type headState struct {
	active bool  // a head is partly parsed; the next Parse resumes it
	phase  phase // what the next complete line is
	lead   uint8 // empty lines skipped before the start line
	line   int   // offset of the current line's first byte
	scan   int   // offset where the LF search resumes
	fields int   // field lines seen
	fr     framing
}

// framing accumulates what the field lines say about framing and
// connection management while they are parsed.
type framing struct {
	hasCL, hasTE   bool
	cl             int64
	chunked        int  // "chunked" codings seen
	chunkedNotLast bool // a coding followed "chunked"
	otherCoding    bool // a coding other than chunked
	connClose      bool
	connKeepAlive  bool
	connUpgrade    bool
	connOther      bool // an option that names a field
	hasUpgrade     bool
	hosts          int
	host           Span
	expect100      bool
	expectOther    bool
}

// nextLine returns the next complete line as buf[start:end], CRLF excluded.
// ok is false with a nil error when the line is not complete yet. Limits
// are checked before the line's content so that the same error is reported
// however the bytes are split across calls.
func (s *headState) nextLine(buf []byte, lim *Limits, sd side) (start, end int, ok bool, err error) {
	i := bytes.IndexByte(buf[s.scan:], '\n')
	if i < 0 {
		s.scan = len(buf)
		return 0, 0, false, s.checkPartial(buf, lim, sd)
	}
	lf := s.scan + i
	start, end = s.line, lf
	if end > start && buf[end-1] == '\r' {
		end--
	}
	if s.phase == phaseStart && end-start > lim.MaxRequestLine {
		return 0, 0, false, lineTooLong(sd)
	}
	if lf+1 > lim.MaxHeaderBytes {
		return 0, 0, false, fail(sd, 431, "header section too large")
	}
	if end == lf {
		return 0, 0, false, fail(sd, 400, "bare LF in header section")
	}
	s.scan, s.line = lf+1, lf+1
	return start, end, true, nil
}

// checkPartial enforces the limits on an incomplete line, so that an
// attacker cannot make us buffer past them by withholding the LF.
func (s *headState) checkPartial(buf []byte, lim *Limits, sd side) error {
	if s.phase == phaseStart {
		content := len(buf) - s.line
		if content > 0 && buf[len(buf)-1] == '\r' {
			content--
		}
		if content > lim.MaxRequestLine {
			return lineTooLong(sd)
		}
	}
	if len(buf) >= lim.MaxHeaderBytes {
		return fail(sd, 431, "header section too large")
	}
	return nil
}

func lineTooLong(sd side) error {
	if sd == sideResponse {
		return fail(sd, 502, "status line too long")
	}
	return fail(sd, 414, "request line too long")
}

// skipEmpty consumes an empty line before the start line (RFC 9112 2.2).
func (s *headState) skipEmpty(sd side) error {
	if s.lead == maxLeadingEmptyLines {
		return fail(sd, 400, "too many empty lines before start line")
	}
	s.lead++
	return nil
}

// parseField parses the field line buf[start:end] (RFC 9112 5).
func parseField(buf []byte, start, end int, sd side) (Header, error) {
	if start == end {
		return Header{}, fail(sd, 400, "empty field line")
	}
	if isOWS(buf[start]) {
		return Header{}, fail(sd, 400, "obs-fold or whitespace at start of field line")
	}
	i := start
	for i < end && tokenTable[buf[i]] {
		i++
	}
	switch {
	case i == end:
		return Header{}, fail(sd, 400, "field line without colon")
	case buf[i] == ':':
	case isOWS(buf[i]):
		return Header{}, fail(sd, 400, "whitespace between field name and colon")
	case buf[i] == '\r':
		return Header{}, fail(sd, 400, "bare CR in header section")
	default:
		return Header{}, fail(sd, 400, "invalid character in field name")
	}
	if i == start {
		return Header{}, fail(sd, 400, "empty field name")
	}
	name := span(start, i)
	vs, ve, err := fieldValue(buf, i+1, end, sd)
	if err != nil {
		return Header{}, err
	}
	return Header{Name: name, Value: span(vs, ve)}, nil
}

// fieldValue validates buf[i:end] as OWS field-value OWS and returns the
// bounds of the value without the OWS.
func fieldValue(buf []byte, i, end int, sd side) (vs, ve int, err error) {
	for i < end && isOWS(buf[i]) {
		i++
	}
	vs = i
	for ; i < end; i++ {
		if c := buf[i]; !valueTable[c] {
			return 0, 0, badValueByte(sd, c)
		}
	}
	ve = end
	for ve > vs && isOWS(buf[ve-1]) {
		ve--
	}
	return vs, ve, nil
}

func badValueByte(sd side, c byte) error {
	switch c {
	case '\r':
		return fail(sd, 400, "bare CR in header section")
	case 0:
		return fail(sd, 400, "NUL in field value")
	}
	return fail(sd, 400, "invalid character in field value")
}

// fieldKind identifies the fields the parser interprets.
type fieldKind uint8

const (
	kindOther fieldKind = iota
	kindHost
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindExpect
	kindUpgrade
	kindHop // hop-by-hop without further meaning to the parser
)

// classify returns the kind and flags of a field name.
func classify(name []byte) (fieldKind, HeaderFlags) {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kindHop, FlagHopByHop | FlagTE
		}
	case 4:
		if equalFold(name, "host") {
			return kindHost, FlagHost
		}
	case 6:
		if equalFold(name, "expect") {
			return kindExpect, 0
		}
	case 7:
		if equalFold(name, "upgrade") {
			return kindUpgrade, FlagHopByHop | FlagUpgrade
		}
		if equalFold(name, "trailer") {
			return kindHop, FlagHopByHop
		}
	case 10:
		if equalFold(name, "connection") {
			return kindConnection, FlagHopByHop | FlagConnection
		}
		if equalFold(name, "keep-alive") {
			return kindHop, FlagHopByHop
		}
	case 14:
		if equalFold(name, "content-length") {
			return kindContentLength, FlagContentLength
		}
	default:
		return classifyLong(name)
	}
	return kindOther, 0
}

func classifyLong(name []byte) (fieldKind, HeaderFlags) {
	switch {
	case len(name) == 17 && equalFold(name, "transfer-encoding"):
		return kindTransferEncoding, FlagHopByHop | FlagTransferEncoding
	case len(name) == 16 && equalFold(name, "proxy-connection"),
		len(name) == 18 && equalFold(name, "proxy-authenticate"),
		len(name) == 19 && equalFold(name, "proxy-authorization"):
		return kindHop, FlagHopByHop
	}
	return kindOther, 0
}

// note records what field h means for framing and connection management.
func (f *framing) note(kind fieldKind, v []byte, vs Span, sd side) error {
	if sd == sideResponse && (kind == kindHost || kind == kindExpect) {
		return nil // request-only fields
	}
	switch kind {
	case kindHost:
		return f.noteHost(v, vs, sd)
	case kindContentLength:
		return f.noteContentLength(v, sd)
	case kindTransferEncoding:
		return f.noteTransferEncoding(v, sd)
	case kindConnection:
		return f.noteConnection(v, sd)
	case kindExpect:
		f.noteExpect(v)
	case kindUpgrade:
		f.hasUpgrade = true
	}
	return nil
}

// noteHost checks a Host field (RFC 9112 3.2, RFC 9110 7.2). An empty value
// is allowed (RFC 9112 3.2: targets without an authority send one).
func (f *framing) noteHost(v []byte, vs Span, sd side) error {
	f.hosts++
	if f.hosts > 1 {
		return fail(sd, 400, "multiple Host fields")
	}
	for _, c := range v {
		if !hostTable[c] {
			return fail(sd, 400, "invalid character in Host")
		}
	}
	f.host = vs
	return nil
}

// noteContentLength parses a Content-Length field. A list of identical
// values is accepted (RFC 9110 8.6); differing values are rejected.
func (f *framing) noteContentLength(v []byte, sd side) error {
	if len(v) == 0 {
		return fail(sd, 400, "empty Content-Length")
	}
	if v[len(v)-1] == ',' {
		return fail(sd, 400, "invalid Content-Length") // a trailing empty element
	}
	for i := 0; i < len(v); {
		var e []byte
		e, i = nextElement(v, i)
		n, ok := parseDecimal(e)
		if !ok {
			return fail(sd, 400, "invalid Content-Length")
		}
		if f.hasCL && n != f.cl {
			return fail(sd, 400, "conflicting Content-Length values")
		}
		f.hasCL, f.cl = true, n
	}
	return nil
}

// parseDecimal parses 1*DIGIT into an int64 without overflow.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// noteTransferEncoding records the codings of a Transfer-Encoding field
// (RFC 9112 6.1). Whether they are acceptable is decided once the whole
// head is known, since the status depends on the side and the version.
func (f *framing) noteTransferEncoding(v []byte, sd side) error {
	f.hasTE = true
	for i := 0; i < len(v); {
		var e []byte
		e, i = nextElement(v, i)
		if len(e) == 0 {
			continue // RFC 9110 5.6.1: empty list elements do not count
		}
		name, params := e, false
		if j := bytes.IndexByte(e, ';'); j >= 0 {
			name, params = trimOWS(e[:j]), true
		}
		if !IsToken(name) {
			return fail(sd, 400, "invalid transfer coding")
		}
		if f.chunked > 0 {
			f.chunkedNotLast = true
		}
		if !equalFold(name, "chunked") {
			f.otherCoding = true
			continue
		}
		if params {
			return fail(sd, 400, "parameters on chunked transfer coding")
		}
		f.chunked++
	}
	return nil
}

// noteConnection records the options of a Connection field (RFC 9110 7.6.1).
func (f *framing) noteConnection(v []byte, sd side) error {
	for i := 0; i < len(v); {
		var e []byte
		e, i = nextElement(v, i)
		switch {
		case len(e) == 0:
		case !IsToken(e):
			return fail(sd, 400, "invalid Connection option")
		case equalFold(e, "close"):
			f.connClose = true
		case equalFold(e, "keep-alive"):
			f.connKeepAlive = true
		case equalFold(e, "upgrade"):
			f.connUpgrade = true
		default:
			f.connOther = true
		}
	}
	return nil
}

// noteExpect records an Expect field (RFC 9110 10.1.1). Empty values are
// ignored, as Go's net/http does.
func (f *framing) noteExpect(v []byte) {
	for i := 0; i < len(v); {
		var e []byte
		e, i = nextElement(v, i)
		switch {
		case len(e) == 0:
		case equalFold(e, "100-continue"):
			f.expect100 = true
		default:
			f.expectOther = true
		}
	}
}

// keepAlive applies the persistence rules of RFC 9112 9.3.
func (f *framing) keepAlive(minor uint8) bool {
	if f.connClose {
		return false
	}
	return minor == 1 || f.connKeepAlive
}

// markConnectionOptions flags every field named by a Connection option as
// hop-by-hop. Host, Content-Length and Transfer-Encoding are never marked
// through this path: a sender must not name end-to-end fields (RFC 9110
// 7.6.1) and letting a client strip Host or the framing fields would hand
// it control over what the upstream sees.
func markConnectionOptions(raw []byte, hs []Header) {
	for i := range hs {
		if hs[i].Flags&FlagConnection == 0 {
			continue
		}
		v := bytesOf(raw, hs[i].Value)
		for k := 0; k < len(v); {
			var e []byte
			e, k = nextElement(v, k)
			if len(e) > 0 {
				markNamed(raw, hs, e)
			}
		}
	}
}

func markNamed(raw []byte, hs []Header, opt []byte) {
	const protected = FlagHost | FlagContentLength | FlagTransferEncoding
	for j := range hs {
		h := &hs[j]
		if h.Flags&protected != 0 || int(h.Name.Len) != len(opt) {
			continue
		}
		if equalFoldBytes(bytesOf(raw, h.Name), opt) {
			h.Flags |= FlagHopByHop | FlagConnectionOption
		}
	}
}

func equalFoldBytes(a, b []byte) bool {
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

// getHeader returns the value of the first field named name.
func getHeader(raw []byte, hs []Header, name string) ([]byte, bool) {
	for i := range hs {
		h := &hs[i]
		if int(h.Name.Len) == len(name) && equalFold(bytesOf(raw, h.Name), name) {
			return bytesOf(raw, h.Value), true
		}
	}
	return nil, false
}

// addField parses the field line buf[start:end], appends it to *hs and
// records its meaning in f.
func addField(buf []byte, start, end int, hs *[]Header, f *framing, sd side) error {
	h, err := parseField(buf, start, end, sd)
	if err != nil {
		return err
	}
	kind, flags := classify(bytesOf(buf, h.Name))
	h.Flags = flags
	*hs = append(*hs, h)
	if kind == kindOther {
		return nil
	}
	return f.note(kind, bytesOf(buf, h.Value), h.Value, sd)
}

// bodyFields sets a head's Content-Length (left alone when absent) and
// its chunked flag once the whole head is read, with the verdict of
// checkTransferEncoding on its Transfer-Encoding.
func (f *framing) bodyFields(minor uint8, sd side, contentLength *int64, chunked *bool) error {
	if f.hasCL {
		*contentLength = f.cl
	}
	if f.hasTE {
		if err := f.checkTransferEncoding(minor, sd); err != nil {
			return err
		}
		*chunked = true
	}
	return nil
}

// checkTransferEncoding is the Transfer-Encoding verdict shared by both
// sides (RFC 9112 6.1, 6.3): a request gets 400 (501 for a coding ferry
// does not implement), a response 502. For a response it is stricter than
// RFC 9112 6.3 rule 4: a final coding other than chunked, or
// Transfer-Encoding in HTTP/1.0, is a 502 rather than a close-delimited
// body, as nginx does. A proxy cannot forward a hop-by-hop coding it does
// not decode, and both are signs of a confused or hostile upstream.
func (f *framing) checkTransferEncoding(minor uint8, sd side) error {
	status := func(req int) int {
		if sd == sideResponse {
			return 502
		}
		return req
	}
	msg := "request"
	if sd == sideResponse {
		msg = "response"
	}
	switch {
	case minor == 0:
		return fail(sd, status(400), "Transfer-Encoding in HTTP/1.0 "+msg)
	case f.hasCL:
		return fail(sd, status(400), "both Content-Length and Transfer-Encoding")
	case f.chunked > 1:
		return fail(sd, status(400), "chunked applied more than once")
	case f.chunkedNotLast:
		return fail(sd, status(400), "chunked is not the final transfer coding")
	case f.otherCoding:
		return fail(sd, status(501), "unsupported transfer coding")
	case f.chunked == 0:
		return fail(sd, status(400), "empty Transfer-Encoding")
	}
	return nil
}

// message is what scanHead needs from a Request or a Response.
type message interface {
	startLine(buf []byte, start, end int) error
	finishHead() error
}

// scanHead is the line loop shared by requests and responses: optional
// empty lines, the start line, field lines up to the empty line, then the
// message's framing verdict. It resumes from s on every call. tooMany is
// the status for too many field lines (431 for a request, 502 for a
// response).
func scanHead(s *headState, m message, buf []byte, lim *Limits, sd side, fields *[]Header, tooMany int) (int, error) {
	for {
		start, end, ok, err := s.nextLine(buf, lim, sd)
		if !ok {
			return 0, err
		}
		switch {
		case s.phase == phaseFields && start == end:
			if err = m.finishHead(); err != nil {
				return 0, err
			}
			return s.line, nil
		case s.phase == phaseFields:
			s.fields++
			if s.fields > lim.MaxHeaders {
				return 0, fail(sd, tooMany, "too many header fields")
			}
			err = addField(buf, start, end, fields, &s.fr, sd)
		case start == end:
			err = s.skipEmpty(sd)
		default:
			err = m.startLine(buf, start, end)
			s.phase = phaseFields
		}
		if err != nil {
			return 0, err
		}
	}
}
