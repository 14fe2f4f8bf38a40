package http2

import (
	"strconv"

	"golang.org/x/net/http2/hpack"
)

// Bounds of the per-connection intern table that turns field names and
// values into the strings the HPACK encoder keeps.
const (
	maxInterned  = 128
	maxInternLen = 128
)

// writable returns the stream if the caller may still send on it: the
// handler knows it and our END_STREAM has not been sent.
func (c *Conn) writable(id uint32) *stream {
	if c.err != nil {
		return nil
	}
	st := c.streams[id]
	if st == nil || !st.known {
		return nil
	}
	return st
}

// WriteHeaders queues the response header block of stream id: :status,
// then fields. It is HPACK-encoded and split into HEADERS and CONTINUATION
// frames by the peer's SETTINGS_MAX_FRAME_SIZE. Field names are lowercased;
// pseudo-headers, connection-specific fields (connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade) and fields whose value
// holds NUL, CR or LF are dropped. A 1xx status is informational: it never
// ends the stream and a final status must follow. endStream ends the
// response (see WriteData for what happens to an unfinished request).
// Calls on a stream that is not open are ignored.
func (c *Conn) WriteHeaders(id uint32, status int, fields []Field, endStream bool) {
	st := c.writable(id)
	if st == nil {
		return
	}
	if status >= 100 && status < 200 {
		endStream = false
	}
	c.encw.buf = c.encw.buf[:0]
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	c.encodeFields(fields, false)
	c.writeBlock(id, c.encw.buf, endStream)
	c.trimEncBuf()
	if endStream {
		c.endLocal(st)
	}
}

// WriteTrailers queues a trailing header block that ends the response
// (HEADERS with END_STREAM); fields are filtered like WriteHeaders'. With
// no field left, an empty DATA frame with END_STREAM is sent instead.
func (c *Conn) WriteTrailers(id uint32, fields []Field) {
	st := c.writable(id)
	if st == nil {
		return
	}
	c.writeTrailers(id, fields, false)
	c.endLocal(st)
}

// WriteData queues as much of b as the stream's and the connection's send
// windows allow, in DATA frames no larger than the peer's
// SETTINGS_MAX_FRAME_SIZE, and returns the number of bytes taken. The
// payload is referenced by Out, not copied: b must stay unchanged until
// the caller has written Out and called ResetOut. When it returns less
// than len(b) the caller holds the rest and retries after OnWindow (for
// this stream or for the connection); endStream is then not sent yet. An
// empty b with endStream sends an empty DATA frame with END_STREAM, even
// with no window. The response headers must have been written first.
//
// Ending the response (endStream here, in WriteHeaders or WriteTrailers)
// while the request body is still arriving resets the stream with
// RST_STREAM(NO_ERROR) as RFC 9113 8.1 allows; later DATA from the peer is
// discarded. Either way the stream is then forgotten. Calls on a stream
// that is not open return 0.
func (c *Conn) WriteData(id uint32, b []byte, endStream bool) int {
	st := c.writable(id)
	if st == nil {
		return 0
	}
	n, ended := c.writeData(&st.flow, b, endStream)
	if ended {
		c.endLocal(st)
	}
	return n
}

// SendWindow returns how many DATA bytes stream id could send now: the
// smaller of its send window and the connection's, 0 if the stream is not
// open (or a window is negative).
func (c *Conn) SendWindow(id uint32) int {
	st := c.writable(id)
	if st == nil {
		return 0
	}
	return c.sendWindow(&st.flow)
}

// Reset queues RST_STREAM(code) for stream id and forgets it: no
// callback follows, not even OnReset, and frames the peer had already sent
// on it are discarded. Unknown or closed streams are ignored.
func (c *Conn) Reset(id uint32, code ErrCode) {
	st := c.writable(id)
	if st == nil {
		return
	}
	c.removeStream(st)
	c.remember(id)
	c.writeRSTStream(id, code)
}

// GoAway queues a GOAWAY frame: the last stream id is the highest the
// peer opened so far, and streams it opens later are refused
// (RST_STREAM(REFUSED_STREAM), safe for it to retry elsewhere). Streams
// already open carry on; Closed reports true once they are all done.
// debug (at most 256 bytes are sent) is the GOAWAY's debug data. Calling
// it again sends another GOAWAY with the same last stream id.
func (c *Conn) GoAway(code ErrCode, debug string) {
	if c.err != nil {
		return
	}
	if !c.goAwaySent {
		c.goAwaySent = true
		c.goAwayLastID = c.lastStreamID
	}
	c.writeGoAway(c.goAwayLastID, code, debug)
}

// Consumed returns n bytes of stream id's request body, delivered by
// OnData, to the flow-control windows. A WINDOW_UPDATE is queued for the
// stream and for the connection once at least half of the respective
// window is owed, not per DATA frame. Bytes of a stream that is closed
// (or reset) were already returned to the connection when it closed, so
// calls for it are ignored; so is the part of n beyond what was delivered.
func (c *Conn) Consumed(id uint32, n int) {
	if c.err != nil || n <= 0 {
		return
	}
	st := c.streams[id]
	if st == nil {
		return
	}
	c.creditStream(st, c.consume(&st.flow, n))
}

// RemoteClosed reports whether the peer's END_STREAM on stream id
// arrived (half-closed (remote)); false for a stream that is not open.
func (c *Conn) RemoteClosed(id uint32) bool {
	st := c.streams[id]
	return st != nil && st.remoteClosed
}

// ActiveStreams returns the number of streams open or half-closed: those
// counted against MaxConcurrentStreams.
func (c *Conn) ActiveStreams() int { return len(c.streams) }

// Closed reports whether the connection is finished: after a connection
// error, or once a GOAWAY was sent or received and no stream is left. The
// caller writes Out and closes the socket.
func (c *Conn) Closed() bool {
	if c.err != nil {
		return true
	}
	return (c.goAwaySent || c.goAwayRecv) && len(c.streams) == 0 && !c.blk.open
}

// SettingsAcked reports whether the peer acknowledged our SETTINGS. The
// caller may enforce a timeout (RFC 9113 6.5.3) with
// GoAway(ErrCodeSettingsTimeout, ...) if it stays false.
func (c *Conn) SettingsAcked() bool { return c.settingsAcked }

// GoAwayReceived reports whether the peer sent GOAWAY, and its error code.
func (c *Conn) GoAwayReceived() (ErrCode, bool) { return c.goAwayCode, c.goAwayRecv }

// endLocal handles our END_STREAM: the stream closes, with
// RST_STREAM(NO_ERROR) if the request was not complete (RFC 9113 8.1).
func (c *Conn) endLocal(st *stream) {
	if !st.remoteClosed {
		c.remember(st.id)
		c.writeRSTStream(st.id, ErrCodeNo)
	}
	c.removeStream(st)
}

func statusString(status int) string {
	switch status {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 431:
		return "431"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	}
	return strconv.Itoa(status)
}
