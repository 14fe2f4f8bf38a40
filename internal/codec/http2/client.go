package http2

import (
	"encoding/binary"

	"golang.org/x/net/http2/hpack"
)

// ClientHandler receives what an upstream server sends on a ClientConn.
// Its methods are called from inside ClientConn.Feed, on the caller's
// goroutine; they may call the ClientConn's write methods but not Feed.
type ClientHandler interface {
	// OnResponse reports a complete, validated response header block on
	// stream id: an informational (1xx) one, which never ends the stream
	// and is followed by another, or the final one. r and what it
	// references are valid during the call only. endStream means no body
	// follows.
	OnResponse(id uint32, r *Response, endStream bool)

	// OnData delivers response body bytes, padding removed; data is valid
	// during the call only. The callee returns them to the flow-control
	// windows with ClientConn.Consumed once it forwarded them: until then
	// the server cannot send more than the windows allow.
	OnData(id uint32, data []byte, endStream bool)

	// OnTrailers delivers the trailing header block, which ends the
	// response.
	OnTrailers(id uint32, fields []Field)

	// OnReset reports that stream id is gone: the server sent RST_STREAM
	// (with its code) or the codec reset it for a stream error (a
	// malformed response; the RST_STREAM is queued). No callback for id
	// follows. Never called for the caller's own Reset.
	OnReset(id uint32, code ErrCode)

	// OnWindow reports that the send window of stream id, or of the
	// connection when id is 0, grew after a WriteData on it was cut short.
	OnWindow(id uint32)

	// OnGoAway reports a GOAWAY from the server. Streams above lastID
	// were not processed (RFC 9113 6.8): the codec has forgotten them,
	// without OnReset, and the caller may send them again on another
	// connection. No new stream can be opened on this connection.
	OnGoAway(lastID uint32, code ErrCode)

	// OnSettings reports that the server's SETTINGS were applied (the
	// first ones are the server's preface): MaxStreams may have changed.
	OnSettings()

	// OnPingAck reports the acknowledgement of a Ping.
	OnPingAck(data uint64)
}

// Response is a validated response header block (RFC 9113 8.3.2).
type Response struct {
	// Status is the :status code.
	Status int
	// Fields are the regular fields in order, names lowercase.
	Fields []Field
	// ContentLength is the content-length field's value, -1 if absent.
	ContentLength int64
}

// clientStream is one stream we opened. It stays in ClientConn.streams
// until both sides ended it, or a reset either way.
type clientStream struct {
	flow             // cl: the response's content-length to check
	head        bool // the request is HEAD: content-length is not checked
	final       bool // the final response head arrived
	localClosed bool // our END_STREAM was sent
}

// ClientConn is the client side of one HTTP/2 connection (to an
// upstream): the mirror of Conn, with the same contract (Feed, Out,
// ResetOut; no goroutines, no locks, no clock). It opens streams with
// WriteRequest, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS, and
// receives responses. Server push is refused (SETTINGS_ENABLE_PUSH 0).
//
// Receive flow control is the caller's lever against a slow downstream:
// every DATA byte counts against the stream's and the connection's windows
// until the caller calls Consumed, so a caller that consumes only what it
// delivered downstream holds at most InitialWindowSize bytes per stream
// and ConnWindowSize per connection.
type ClientConn struct {
	connCore
	h ClientHandler

	streams    map[uint32]*clientStream
	free       []*clientStream
	nextID     uint32
	goAwayLast uint32

	resp Response
}

// maxClientStreamID is the largest stream id a client may use.
const maxClientStreamID = 1<<31 - 1

// NewClientConn returns a ClientConn and queues the client preface: the
// magic, SETTINGS (push disabled, our windows and limits) and a
// WINDOW_UPDATE raising the connection window to Options.ConnWindowSize.
// MaxConcurrentStreams in o is advertised only (the server opens no
// streams); the server's value limits ours.
func NewClientConn(h ClientHandler, o Options) *ClientConn {
	c := &ClientConn{h: h, nextID: 1}
	c.opt = o.withDefaults()
	c.client = true
	c.init()
	c.peerMaxStreams = 1 // until the server's SETTINGS say otherwise (see MaxStreams)
	c.streams = make(map[uint32]*clientStream)
	c.dec.SetMaxStringLength(int(c.opt.MaxHeaderListSize))

	c.out.writeString(ClientPreface)
	var s [6 * 4]byte
	n := 0
	put := func(id uint16, v uint32) {
		binary.BigEndian.PutUint16(s[n:], id)
		binary.BigEndian.PutUint32(s[n+2:], v)
		n += 6
	}
	put(settingEnablePush, 0)
	put(settingInitialWindowSize, c.opt.InitialWindowSize)
	put(settingMaxFrameSize, c.opt.MaxFrameSize)
	put(settingMaxHeaderListSize, c.opt.MaxHeaderListSize)
	c.writeSettings(s[:n])
	return c
}

// Feed processes bytes read from the connection, whole frames only, and
// returns how many it consumed (see Conn.Feed). The server's first frame
// must be SETTINGS.
func (c *ClientConn) Feed(b []byte) (int, error) { return runFeed(c, b, "ClientConn") }

func (c *ClientConn) feedFrames(b []byte) (int, error) { return feedFrames(c, b, 0) }

func (c *ClientConn) processPriority(_ frameHeader, p []byte) error {
	if len(p) != 5 {
		return c.fail(ErrCodeFrameSize, "PRIORITY length is not 5")
	}
	return nil
}

func (c *ClientConn) processPushPromise(frameHeader, []byte) error {
	return c.fail(ErrCodeProtocol, "PUSH_PROMISE with push disabled")
}

func (c *ClientConn) processPing(fh frameHeader, p []byte) error {
	ack, err := c.pingFrame(fh, p)
	if ack {
		c.h.OnPingAck(binary.BigEndian.Uint64(p))
	}
	return err
}

// idle reports whether id was never opened by us (server ids are even:
// the server never opens a stream, push being disabled).
func (c *ClientConn) idle(id uint32) bool { return id >= c.nextID || id%2 == 0 }

// dataClosed implements frameProcessor: DATA before the response head,
// or after its end, is a stream error.
func (c *ClientConn) dataClosed(ss sideStream) ErrCode {
	if st := ss.(*clientStream); st.remoteClosed || !st.final {
		return ErrCodeProtocol
	}
	return ErrCodeNo
}

// dataUntracked implements frameProcessor: DATA of a stream we reset or
// closed is discarded.
func (c *ClientConn) dataUntracked(uint32) error { return nil }

// deliverData implements frameProcessor.
func (c *ClientConn) deliverData(ss sideStream, length int64, data []byte, endStream bool) error {
	st := ss.(*clientStream)
	id := st.id
	if !c.recvBody(&st.flow, length, data, endStream) {
		return c.streamError(st, ErrCodeProtocol)
	}
	if endStream {
		c.remoteEnd(st)
	}
	if len(data) > 0 || endStream {
		c.h.OnData(id, data, endStream)
	}
	return nil
}

// remoteEnd records the server's END_STREAM; the stream closes if ours
// went too. Its window shares are kept until then: Consumed may still
// come for the bytes just delivered.
func (c *ClientConn) remoteEnd(st *clientStream) {
	st.remoteClosed = true
	if st.localClosed {
		c.removeStream(st)
	}
}

// classifyBlock implements frameProcessor.
func (c *ClientConn) classifyBlock(id uint32, _ bool) error {
	b := &c.blk
	st := c.streams[id]
	switch {
	case st != nil && st.remoteClosed:
		b.kind, b.reset, b.code = blockDiscard, true, ErrCodeStreamClosed
	case st != nil && st.final:
		b.kind = blockTrailers
	case st != nil:
		b.kind = blockRequest // a response head, here
	case c.idle(id):
		return c.fail(ErrCodeProtocol, "HEADERS on a stream the client did not open")
	default:
		b.kind = blockDiscard // a stream we reset or closed: decoded for HPACK state only
	}
	return nil
}

// finishBlock implements frameProcessor.
func (c *ClientConn) finishBlock(b block) error {
	st := c.streams[b.id]
	switch b.kind {
	case blockDiscard:
		if b.reset && st != nil {
			return c.streamError(st, b.code)
		}
	case blockRequest:
		return c.finishResponse(st, &b)
	case blockTrailers:
		if b.tooLarge || !b.endStream || !c.buildTrailers() || st.cl >= 0 && st.recvd != st.cl {
			return c.streamError(st, ErrCodeProtocol)
		}
		c.remoteEnd(st)
		c.h.OnTrailers(b.id, c.fields)
	}
	return nil
}

func (c *ClientConn) finishResponse(st *clientStream, b *block) error {
	if b.tooLarge || !c.buildResponse() {
		return c.streamError(st, ErrCodeProtocol)
	}
	r := &c.resp
	if r.Status < 200 {
		if b.endStream || r.Status == 101 {
			return c.streamError(st, ErrCodeProtocol) // 1xx never ends a stream; 101 is not HTTP/2
		}
		c.h.OnResponse(st.id, r, false)
		return nil
	}
	st.final = true
	st.cl = -1
	if !st.head && r.Status != 204 && r.Status != 304 {
		st.cl = r.ContentLength
	}
	if b.endStream && st.cl > 0 {
		return c.streamError(st, ErrCodeProtocol)
	}
	if b.endStream {
		c.remoteEnd(st)
	}
	c.h.OnResponse(b.id, r, b.endStream)
	return nil
}

// buildResponse turns the decoded fields into c.resp; false means
// malformed (RFC 9113 8.1.1, 8.3.2).
func (c *ClientConn) buildResponse() bool {
	r := &c.resp
	*r = Response{Fields: c.fields[:0], ContentLength: -1}
	haveStatus, regular := false, false
	for _, s := range c.spans {
		name, value := c.hbuf[s.ns:s.vs], c.hbuf[s.vs:s.ve]
		if !validValue(value) {
			return false
		}
		if len(name) > 0 && name[0] == ':' {
			if regular || haveStatus || string(name) != ":status" || len(value) != 3 {
				return false
			}
			st := 0
			for _, d := range value {
				if d < '0' || d > '9' {
					return false
				}
				st = st*10 + int(d-'0')
			}
			if st < 100 {
				return false
			}
			r.Status, haveStatus = st, true
			continue
		}
		regular = true
		if !validName(name) || connectionSpecific(name) {
			return false
		}
		if string(name) == "content-length" {
			n, ok := parseContentLength(value)
			if !ok || r.ContentLength >= 0 && r.ContentLength != n {
				return false
			}
			r.ContentLength = n
		}
		r.Fields = append(r.Fields, Field{Name: name, Value: value})
	}
	c.fields = r.Fields
	return haveStatus
}

// peerReset implements frameProcessor.
func (c *ClientConn) peerReset(ss sideStream, code ErrCode) error {
	st := ss.(*clientStream)
	id := st.id
	c.removeStream(st)
	c.h.OnReset(id, code)
	return nil
}

// lookup implements frameProcessor.
func (c *ClientConn) lookup(id uint32) (sideStream, bool) {
	if st := c.streams[id]; st != nil {
		return st, true
	}
	return nil, false
}

// resetStream implements frameProcessor.
func (c *ClientConn) resetStream(st sideStream, code ErrCode) error {
	return c.streamError(st.(*clientStream), code)
}

// onWindow implements frameProcessor.
func (c *ClientConn) onWindow(id uint32) { c.h.OnWindow(id) }

func (c *ClientConn) processSettings(fh frameHeader, p []byte) error {
	ack, err := applySettings(&c.connCore, c.streams, fh, p)
	if err != nil || ack {
		return err
	}
	for _, id := range c.ids {
		if _, ok := c.streams[id]; ok && c.err == nil {
			c.h.OnWindow(id)
		}
	}
	c.h.OnSettings()
	return nil
}

func (c *ClientConn) processGoAway(fh frameHeader, p []byte) error {
	last, code, err := c.goAwayFrame(fh, p)
	if err != nil {
		return err
	}
	if c.goAwayRecv && last > c.goAwayLast {
		last = c.goAwayLast // a later GOAWAY may only lower it (RFC 9113 6.8)
	}
	c.goAwayRecv, c.goAwayLast = true, last
	for id, st := range c.streams {
		if id > last {
			c.removeStream(st)
		}
	}
	c.h.OnGoAway(last, code)
	return nil
}

// streamError resets st (RFC 9113 5.4.2) and tells the handler.
func (c *ClientConn) streamError(st *clientStream, code ErrCode) error {
	id := st.id
	c.removeStream(st)
	c.writeRSTStream(id, code)
	c.h.OnReset(id, code)
	return nil
}

// removeStream forgets a stream that is closed (closeStream).
func (c *ClientConn) removeStream(st *clientStream) {
	closeStream(&c.connCore, c.streams, &c.free, &st.flow, st)
}

func (c *ClientConn) creditStream(st *clientStream, n int64) { c.creditFlow(&st.flow, n) }

// CanOpen reports whether WriteRequest may open a stream now: no
// connection error, no GOAWAY either way, fewer streams than the server
// allows, stream ids left.
func (c *ClientConn) CanOpen() bool {
	return c.err == nil && !c.goAwayRecv && !c.goAwaySent && uint32(len(c.streams)) < c.peerMaxStreams &&
		c.nextID <= maxClientStreamID
}

// MaxStreams is the server's SETTINGS_MAX_CONCURRENT_STREAMS: 1 until
// its SETTINGS arrived (a conservative assumption: one request may go
// before the server's limits are known), unlimited (2^31-1) when it
// states none.
func (c *ClientConn) MaxStreams() uint32 { return c.peerMaxStreams }

// Ready reports whether the server's SETTINGS arrived.
func (c *ClientConn) Ready() bool { return c.gotSettings }

// RequestHead is the pseudo-header part of a request (RFC 9113 8.3.1).
type RequestHead struct {
	Method, Scheme, Authority, Path []byte
}

// WriteRequest opens a stream with the request header block: the
// pseudo-headers of h, then fields. Field names are lowercased;
// pseudo-headers among fields, connection-specific fields, te other than
// "trailers", host (h.Authority carries it) and values with NUL, CR or
// LF are dropped. endStream means no body follows. It returns the new
// stream's id, or 0 when no stream can be opened (CanOpen).
func (c *ClientConn) WriteRequest(h *RequestHead, fields []Field, endStream bool) uint32 {
	if !c.CanOpen() {
		return 0
	}
	id := c.nextID
	c.nextID += 2
	st := openStream(c.streams, &c.free, id)
	*st = clientStream{flow: flow{id: id, sendWin: c.peerInitWin, recvAvail: int64(c.opt.InitialWindowSize), cl: -1},
		head: string(h.Method) == "HEAD"}
	c.encw.buf = c.encw.buf[:0]
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: c.intern(h.Method)})
	if len(h.Scheme) > 0 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: c.intern(h.Scheme)})
	}
	if len(h.Authority) > 0 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: c.intern(h.Authority)})
	}
	if len(h.Path) > 0 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: c.intern(h.Path)})
	}
	c.encodeFields(fields, true)
	c.writeBlock(id, c.encw.buf, endStream)
	c.trimEncBuf()
	if endStream {
		st.localClosed = true
	}
	return id
}

func (c *ClientConn) writable(id uint32) *clientStream {
	if c.err != nil {
		return nil
	}
	st := c.streams[id]
	if st == nil || st.localClosed {
		return nil
	}
	return st
}

// WriteData queues as much of b as the windows allow and returns the
// count, as Conn.WriteData does (b is referenced until ResetOut). An empty
// b with endStream ends the request.
func (c *ClientConn) WriteData(id uint32, b []byte, endStream bool) int {
	st := c.writable(id)
	if st == nil {
		return 0
	}
	n, ended := c.writeData(&st.flow, b, endStream)
	if ended {
		c.localEnd(st)
	}
	return n
}

// WriteTrailers ends the request with a trailing header block (fields
// filtered as WriteRequest's), or an empty DATA with END_STREAM when no
// field is left.
func (c *ClientConn) WriteTrailers(id uint32, fields []Field) {
	st := c.writable(id)
	if st == nil {
		return
	}
	c.writeTrailers(id, fields, true)
	c.localEnd(st)
}

func (c *ClientConn) localEnd(st *clientStream) {
	st.localClosed = true
	if st.remoteClosed {
		c.removeStream(st)
	}
}

// SendWindow is how many DATA bytes stream id could send now.
func (c *ClientConn) SendWindow(id uint32) int {
	st := c.writable(id)
	if st == nil {
		return 0
	}
	return c.sendWindow(&st.flow)
}

// Reset queues RST_STREAM(code) for stream id and forgets it; no
// callback follows. Unknown or closed streams are ignored.
func (c *ClientConn) Reset(id uint32, code ErrCode) {
	if c.err != nil {
		return
	}
	st := c.streams[id]
	if st == nil {
		return
	}
	c.removeStream(st)
	c.writeRSTStream(id, code)
}

// Consumed returns n response body bytes of stream id to the windows: a
// WINDOW_UPDATE is queued once half a window is owed.
func (c *ClientConn) Consumed(id uint32, n int) {
	if c.err != nil || n <= 0 {
		return
	}
	st := c.streams[id]
	if st == nil {
		return
	}
	c.creditStream(st, c.consume(&st.flow, n))
}

// Ping queues a PING carrying data; OnPingAck reports its answer.
func (c *ClientConn) Ping(data uint64) {
	if c.err != nil {
		return
	}
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], data)
	c.out.frameHeader(8, framePing, 0, 0)
	c.out.write(p[:])
}

// GoAway queues a GOAWAY (last stream id 0: the server opens none); no
// stream can be opened afterwards.
func (c *ClientConn) GoAway(code ErrCode, debug string) {
	if c.err != nil {
		return
	}
	c.goAwaySent = true
	c.writeGoAway(0, code, debug)
}

// ActiveStreams returns the number of streams not yet closed.
func (c *ClientConn) ActiveStreams() int { return len(c.streams) }

// GoAwayReceived reports whether the server sent GOAWAY, and the last
// stream id it processes.
func (c *ClientConn) GoAwayReceived() (uint32, bool) { return c.goAwayLast, c.goAwayRecv }
