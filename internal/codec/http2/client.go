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
func (c *ClientConn) Feed(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.feeding {
		panic("http2: ClientConn.Feed called from a ClientHandler callback")
	}
	c.feeding = true
	defer func() { c.feeding = false }()
	n := 0
	for len(b)-n >= frameHeaderLen {
		fh := parseFrameHeader(b[n:])
		if fh.length > c.opt.MaxFrameSize {
			return n, c.fail(ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
		}
		end := n + frameHeaderLen + int(fh.length)
		if end > len(b) {
			break
		}
		err := c.processFrame(fh, b[n+frameHeaderLen:end])
		n = end
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *ClientConn) processFrame(fh frameHeader, p []byte) error {
	if !c.frameFast(fh) {
		if err := c.frameCheck(fh); err != nil {
			return err
		}
	}
	switch fh.typ {
	case frameData:
		return c.processData(fh, p)
	case frameHeaders:
		return c.processHeaders(fh, p)
	case framePriority:
		if len(p) != 5 {
			return c.fail(ErrCodeFrameSize, "PRIORITY length is not 5")
		}
		return nil
	case frameRSTStream:
		return c.processRSTStream(fh, p)
	case frameSettings:
		return c.processSettings(fh, p)
	case framePushPromise:
		return c.fail(ErrCodeProtocol, "PUSH_PROMISE with push disabled")
	case framePing:
		ack, err := c.pingFrame(fh, p)
		if ack {
			c.h.OnPingAck(binary.BigEndian.Uint64(p))
		}
		return err
	case frameGoAway:
		return c.processGoAway(fh, p)
	case frameWindowUpdate:
		return c.processWindowUpdate(fh, p)
	case frameContinuation:
		if err := c.continuation(fh); err != nil {
			return err
		}
		return c.blockFragment(p, len(p), fh.flags&flagEndHeaders != 0)
	}
	return nil
}

// idle reports whether id was never opened by us (server ids are even:
// the server never opens a stream, push being disabled).
func (c *ClientConn) idle(id uint32) bool { return id >= c.nextID || id%2 == 0 }

func (c *ClientConn) processData(fh frameHeader, p []byte) error {
	data := p
	if !c.dataFast(fh) {
		var err error
		if data, err = c.dataFrameSlow(fh, p); err != nil {
			return err
		}
	}
	length := int64(fh.length)
	endStream := fh.flags&flagEndStream != 0
	st := c.streams[fh.id]
	if st == nil {
		c.creditConn(length)
		if c.idle(fh.id) {
			return c.fail(ErrCodeProtocol, "DATA on an idle stream")
		}
		return nil // a stream we reset or closed: discarded
	}
	if st.remoteClosed || !st.final {
		c.creditConn(length)
		return c.streamError(st, ErrCodeProtocol)
	}
	if length > st.recvAvail {
		c.creditConn(length)
		return c.streamError(st, ErrCodeFlowControl)
	}
	st.recvAvail -= length
	if len(data) == 0 && !endStream {
		if err := c.noteEmpty(); err != nil {
			return err
		}
	}
	st.recvd += int64(len(data))
	if st.cl >= 0 && (st.recvd > st.cl || endStream && st.recvd != st.cl) {
		c.creditConn(length)
		return c.streamError(st, ErrCodeProtocol)
	}
	if pad := length - int64(len(data)); pad > 0 {
		c.creditConn(pad)
		c.creditStream(st, pad)
	}
	st.held += int64(len(data))
	if endStream {
		c.remoteEnd(st)
	}
	if len(data) > 0 || endStream {
		c.h.OnData(fh.id, data, endStream)
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

func (c *ClientConn) processHeaders(fh frameHeader, p []byte) error {
	id := fh.id
	frag, _, err := c.headersFrame(fh, p)
	if err != nil {
		return err
	}
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
	c.hbuf = c.hbuf[:0]
	c.spans = c.spans[:0]
	c.dec.SetEmitEnabled(b.kind != blockDiscard)
	return c.blockFragment(frag, len(p), fh.flags&flagEndHeaders != 0)
}

func (c *ClientConn) blockFragment(frag []byte, frameLen int, endHeaders bool) error {
	if err := c.decodeFragment(frag, frameLen, endHeaders); err != nil || !endHeaders {
		return err
	}
	return c.finishBlock()
}

func (c *ClientConn) finishBlock() error {
	b := c.blk
	if err := c.endBlock(); err != nil {
		return err
	}
	var err error
	st := c.streams[b.id]
	switch b.kind {
	case blockDiscard:
		if b.reset && st != nil {
			err = c.streamError(st, b.code)
		}
	case blockRequest:
		err = c.finishResponse(st, &b)
	case blockTrailers:
		if b.tooLarge || !b.endStream || !c.buildTrailers() || st.cl >= 0 && st.recvd != st.cl {
			err = c.streamError(st, ErrCodeProtocol)
			break
		}
		c.remoteEnd(st)
		c.h.OnTrailers(b.id, c.fields)
	}
	if cap(c.hbuf) > maxKeptHeaderBuf {
		c.hbuf, c.spans, c.fields = nil, nil, nil
	}
	return err
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

func (c *ClientConn) processRSTStream(fh frameHeader, p []byte) error {
	if err := c.rstStreamFrame(fh, p); err != nil {
		return err
	}
	st := c.streams[fh.id]
	if st == nil {
		if c.idle(fh.id) {
			return c.fail(ErrCodeProtocol, "RST_STREAM on an idle stream")
		}
		return nil
	}
	c.removeStream(st)
	c.h.OnReset(fh.id, ErrCode(binary.BigEndian.Uint32(p)))
	return nil
}

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

func (c *ClientConn) processWindowUpdate(fh frameHeader, p []byte) error {
	inc, opened, err := c.windowUpdateFrame(fh, p)
	if err != nil || fh.id == 0 {
		if opened {
			c.h.OnWindow(0)
		}
		return err
	}
	st := c.streams[fh.id]
	if st == nil {
		if c.idle(fh.id) {
			return c.fail(ErrCodeProtocol, "WINDOW_UPDATE on an idle stream")
		}
		return nil
	}
	code, opened := st.growSendWin(inc, true)
	if code != ErrCodeNo {
		return c.streamError(st, code)
	}
	if opened {
		c.h.OnWindow(fh.id)
	}
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

func (c *ClientConn) removeStream(st *clientStream) {
	delete(c.streams, st.id)
	if st.held > 0 {
		c.creditConn(st.held)
	}
	*st = clientStream{}
	c.free = append(c.free, st)
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
	var st *clientStream
	if k := len(c.free); k > 0 {
		st = c.free[k-1]
		c.free[k-1] = nil
		c.free = c.free[:k-1]
	} else {
		st = new(clientStream)
	}
	*st = clientStream{flow: flow{id: id, sendWin: c.peerInitWin, recvAvail: int64(c.opt.InitialWindowSize), cl: -1},
		head: string(h.Method) == "HEAD"}
	c.streams[id] = st
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
