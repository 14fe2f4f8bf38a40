package http1

// Response is a parsed response head. Spans point into Raw. A Response is
// reused across messages: Reset keeps the Headers array.
type Response struct {
	// Raw holds the bytes the spans point into (see Request.Raw).
	Raw     []byte
	Minor   uint8 // 0 or 1: HTTP/1.0 or HTTP/1.1
	Status  int
	Reason  Span
	Headers []Header
	// ContentLength is the Content-Length value, or -1 when absent. It is
	// set even when Body is BodyNone (a HEAD or 304 response may carry one).
	ContentLength int64
	Chunked       bool // Transfer-Encoding: chunked
	KeepAlive     bool // the connection may be reused after this response
	Body          BodyKind

	st headState
	// headRequest is Parse's argument, kept for finishHead.
	headRequest bool
}

// Reset clears r for a new message and keeps the Headers array.
func (r *Response) Reset() {
	*r = Response{Headers: r.Headers[:0], ContentLength: -1}
}

// Parse parses the response head at the start of buf, with the same
// contract as Request.Parse. headRequest says the request was HEAD, so the
// response has no body whatever its fields say. Every error is an *Error
// with Status 502. A 1xx head is complete in itself: parse the final
// response after it with the next Parse. The caller handles a 2xx answer
// to CONNECT (a tunnel), which the parser cannot tell apart.
func (r *Response) Parse(buf []byte, headRequest bool, lim Limits) (n int, err error) {
	if !r.st.active || r.st.scan > len(buf) {
		r.Reset()
		r.st.active = true
	}
	r.Raw = buf
	lim = lim.norm()
	n, err = r.scan(buf, headRequest, &lim)
	if n > 0 || err != nil {
		r.st.active = false
	}
	return n, err
}

func (r *Response) scan(buf []byte, headRequest bool, lim *Limits) (int, error) {
	r.headRequest = headRequest
	return scanHead(&r.st, r, buf, lim, sideResponse, &r.Headers, 502)
}

// startLine implements message.
func (r *Response) startLine(buf []byte, start, end int) error {
	return r.parseStatusLine(buf, start, end)
}

// finishHead implements message.
func (r *Response) finishHead() error { return r.finish(r.headRequest) }

// parseStatusLine parses HTTP-version SP status-code SP [reason-phrase]
// (RFC 9112 4). For interoperability the SP after the code may be missing
// when the reason is empty ("HTTP/1.1 200"), as Go and nginx accept.
func (r *Response) parseStatusLine(buf []byte, start, end int) error {
	line := buf[start:end]
	if len(line) < 12 || line[8] != ' ' {
		return fail(sideResponse, 502, "malformed status line")
	}
	minor, err := parseVersion(line[:8], sideResponse)
	if err != nil {
		return err
	}
	r.Minor = minor
	c0, c1, c2 := line[9], line[10], line[11]
	if !isDigit(c0) || !isDigit(c1) || !isDigit(c2) {
		return fail(sideResponse, 502, "malformed status code")
	}
	r.Status = int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')
	if r.Status < 100 || r.Status > 599 { // RFC 9110 15
		return fail(sideResponse, 502, "status code out of range")
	}
	rs := start + 12
	if len(line) > 12 {
		if line[12] != ' ' {
			return fail(sideResponse, 502, "malformed status line")
		}
		rs++
	}
	for i := rs; i < end; i++ {
		if !valueTable[buf[i]] {
			return badReasonByte(buf[i])
		}
	}
	r.Reason = span(rs, end)
	return nil
}

func badReasonByte(c byte) error {
	if c == '\r' {
		return fail(sideResponse, 502, "bare CR in header section")
	}
	return fail(sideResponse, 502, "invalid character in reason phrase")
}

// finish decides the framing (RFC 9112 6.3) once the head is complete.
func (r *Response) finish(headRequest bool) error {
	f := &r.st.fr
	if err := f.bodyFields(r.Minor, sideResponse, &r.ContentLength, &r.Chunked); err != nil {
		return err
	}
	r.KeepAlive = f.keepAlive(r.Minor)
	switch {
	case r.Status == 101:
		r.Body, r.KeepAlive = BodyNone, false // the connection now speaks another protocol
	case headRequest || r.Status < 200 || r.Status == 204 || r.Status == 304:
		r.Body = BodyNone
	case r.Chunked:
		r.Body = BodyChunked
	case f.hasCL:
		r.Body = BodyLength
	default:
		r.Body, r.KeepAlive = BodyUntilClose, false
	}
	if f.connOther {
		markConnectionOptions(r.Raw, r.Headers)
	}
	return nil
}

// Bytes returns the bytes of s in r.Raw.
func (r *Response) Bytes(s Span) []byte { return bytesOf(r.Raw, s) }

// Get returns the value of the first field named name, ignoring case.
func (r *Response) Get(name string) ([]byte, bool) { return getHeader(r.Raw, r.Headers, name) }
