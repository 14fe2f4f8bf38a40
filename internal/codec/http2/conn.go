package http2

import "encoding/binary"

// Handler receives what the peer sends. Its methods are called from inside
// Conn.Feed, on the caller's goroutine; they may call the Conn's write
// methods (WriteHeaders, WriteData, Reset, Consumed, ...) but not Feed.
type Handler interface {
	// OnRequest reports a complete, validated request header block
	// (HEADERS + CONTINUATION*) that opened stream id. r and everything it
	// references are only valid during the call; the callee copies what it
	// keeps. endStream means no body follows.
	OnRequest(id uint32, r *Request, endStream bool)

	// OnRequestError reports a request on stream id that cannot be
	// delivered but is answered with an HTTP status; today only 431 when
	// the decoded header list is larger than Options.MaxHeaderListSize.
	// The callee answers it (WriteHeaders with endStream, typically with
	// status) or Resets it. The codec discards any body the peer sends
	// on the stream; OnData and OnTrailers are not called for it.
	OnRequestError(id uint32, status int)

	// OnData delivers request body bytes of stream id, padding removed.
	// data is only valid during the call (it aliases the slice passed to
	// Feed). endStream means the body is complete; an empty data with
	// endStream is possible. The callee calls Conn.Consumed(id, n) once it
	// has forwarded the bytes, which is what reopens the peer's
	// flow-control window.
	OnData(id uint32, data []byte, endStream bool)

	// OnTrailers delivers a trailing header block, which always ends the
	// request body. fields are only valid during the call.
	OnTrailers(id uint32, fields []Field)

	// OnReset reports that stream id is gone: the peer sent RST_STREAM
	// (code is the peer's), or the codec reset it for a stream error (the
	// RST_STREAM is already queued). No callback for id follows. It is
	// called only for streams the handler was told about (OnRequest or
	// OnRequestError), and never for the caller's own Reset.
	OnReset(id uint32, code ErrCode)

	// OnWindow reports that the send window of stream id, or of the
	// connection when id is 0, grew after a WriteData on it was cut short
	// by that window: data held back may now be written. For id 0 the
	// callee retries every stream it holds data for.
	OnWindow(id uint32)
}

// Field is one header field. Decoded fields (Request.Fields, trailers)
// reference the Conn's header buffer and are only valid during the
// callback; their names are lowercase. Fields passed to WriteHeaders and
// WriteTrailers are read during the call only.
//
// Names and values are []byte rather than string so that the proxy can
// pass spans of its HTTP/1 buffers without converting them; the codec
// converts to the strings x/net's HPACK encoder needs through a small
// per-connection intern table.
type Field struct {
	Name, Value []byte
}

// Request is a validated request header block (RFC 9113 8.3).
type Request struct {
	// Pseudo-header fields. For CONNECT (RFC 9113 8.5) Scheme and Path are
	// empty and Authority is set; otherwise Method, Scheme and Path are
	// set and Authority may be empty, in which case a "host" field may be
	// among Fields.
	Method, Scheme, Authority, Path []byte

	// Protocol is :protocol of an extended CONNECT (RFC 8441 4), which
	// has Scheme, Path and Authority too; empty otherwise. Only a Conn
	// with Options.EnableConnectProtocol accepts it.
	Protocol []byte

	// Fields are the regular fields in order, names lowercase. Cookie
	// fields may be split in several (RFC 9113 8.2.3); the caller joins
	// them with "; " when it forwards to HTTP/1.
	Fields []Field

	// ContentLength is the value of the content-length field, -1 if
	// absent. The codec checks it against the DATA received: a mismatch is
	// a stream error PROTOCOL_ERROR (RFC 9113 8.1.1).
	ContentLength int64
}

// Header returns the value of the first regular field named name (which
// must be lowercase) and whether there is one.
func (r *Request) Header(name string) ([]byte, bool) {
	for _, f := range r.Fields {
		if string(f.Name) == name {
			return f.Value, true
		}
	}
	return nil, false
}

// stream is the state of one client-initiated stream. A stream is in
// Conn.streams while it is open or half-closed (remote); it is removed as
// soon as it is closed (both END_STREAMs, or a reset either way).
type stream struct {
	flow          // cl: the request's content-length; remoteClosed: half-closed (remote)
	known    bool // the handler was told (OnRequest or OnRequestError)
	rejected bool // answered through OnRequestError: body discarded
}

type blockKind uint8

const (
	blockRequest  blockKind = iota // a request header block opening a stream
	blockTrailers                  // trailers of an open stream
	blockDiscard                   // decoded for HPACK state only
)

// block is the header block being received (HEADERS, CONTINUATION*).
type block struct {
	open      bool // END_HEADERS not yet seen
	kind      blockKind
	id        uint32
	endStream bool
	bytes     int  // encoded bytes so far
	listSize  int  // decoded header list size so far
	tooLarge  bool // listSize passed MaxHeaderListSize; emit disabled
	reset     bool // discard: reset the stream with code at END_HEADERS
	counted   bool // that reset counts toward MaxResetsPerWindow
	code      ErrCode
}

// span locates one decoded field in Conn.hbuf: name is hbuf[ns:vs], value
// hbuf[vs:ve].
type span struct{ ns, vs, ve int }

// appendWriter is the io.Writer the HPACK encoder writes into.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Conn is the server side of one HTTP/2 connection: a non-blocking state
// machine fed with the bytes read from the connection (Feed) and asked
// for the bytes to write (Out). It is not safe for concurrent use; it
// starts no goroutines and holds no locks.
type Conn struct {
	connCore
	h Handler

	settingsAcked bool
	prefaceDone   bool

	streams      map[uint32]*stream
	free         []*stream
	goAwayLastID uint32
	goAwayCode   ErrCode

	recent  [recentlyResetCount]uint32 // ring of ids we reset
	recentN int

	req Request

	// Abuse accounting (count windows).
	winStreams, winResets int
}

// NewConn returns a Conn for a freshly accepted connection and queues the
// server preface (SETTINGS, and a WINDOW_UPDATE raising the connection
// window to Options.ConnWindowSize) in its output.
func NewConn(h Handler, o Options) *Conn {
	c := &Conn{h: h}
	c.opt = o.withDefaults()
	c.init()
	c.streams = make(map[uint32]*stream)
	// Until the peer acknowledges our SETTINGS it may use the RFC's
	// default table size; a larger advertised size may be used at once.
	if c.opt.HeaderTableSize > defaultTableSize {
		c.dec.SetAllowedMaxDynamicTableSize(c.opt.HeaderTableSize)
	}
	c.dec.SetMaxStringLength(int(c.opt.MaxHeaderListSize))
	c.req.ContentLength = -1

	var s [6 * 6]byte
	n := 0
	put := func(id uint16, v uint32) {
		binary.BigEndian.PutUint16(s[n:], id)
		binary.BigEndian.PutUint32(s[n+2:], v)
		n += 6
	}
	put(settingMaxConcurrentStreams, c.opt.MaxConcurrentStreams)
	put(settingInitialWindowSize, c.opt.InitialWindowSize)
	put(settingMaxFrameSize, c.opt.MaxFrameSize)
	put(settingMaxHeaderListSize, c.opt.MaxHeaderListSize)
	if c.opt.HeaderTableSize != defaultTableSize {
		put(settingHeaderTableSize, c.opt.HeaderTableSize)
	}
	if c.opt.EnableConnectProtocol {
		put(settingEnableConnectProtocol, 1)
	}
	c.writeSettings(s[:n])
	return c
}

// Feed processes bytes read from the connection: first the client preface,
// then whole frames. It returns how many bytes it consumed; the bytes of
// an incomplete frame (or preface) are left to the caller, who calls Feed
// again with them and more bytes appended. Handler callbacks run inside
// Feed. A connection error returns a *ConnError after a GOAWAY has been
// queued; the caller writes Out and closes, and later Feeds return the
// same error.
func (c *Conn) Feed(b []byte) (int, error) { return runFeed(c, b, "Conn") }

func (c *Conn) feedFrames(b []byte) (int, error) {
	n := 0
	if !c.prefaceDone {
		k := min(len(b), len(ClientPreface))
		if string(b[:k]) != ClientPreface[:k] {
			return 0, c.fail(ErrCodeProtocol, "invalid client preface")
		}
		if k < len(ClientPreface) {
			return 0, nil
		}
		n = k
		c.prefaceDone = true
	}
	return feedFrames(c, b, n)
}

func (c *Conn) processPushPromise(frameHeader, []byte) error {
	return c.fail(ErrCodeProtocol, "PUSH_PROMISE from a client")
}

func (c *Conn) processPing(fh frameHeader, p []byte) error {
	_, err := c.pingFrame(fh, p)
	return err
}

func (c *Conn) processGoAway(fh frameHeader, p []byte) error {
	_, code, err := c.goAwayFrame(fh, p)
	if err == nil {
		c.goAwayRecv, c.goAwayCode = true, code
	}
	return err
}

// idle reports whether id names a stream that was never opened: client
// streams above the highest seen, and every even (server) id since we
// never push.
func (c *Conn) idle(id uint32) bool {
	return id > c.lastStreamID || id%2 == 0
}

// dataClosed implements frameProcessor.
func (c *Conn) dataClosed(st sideStream) ErrCode {
	if st.flowOf().remoteClosed {
		return ErrCodeStreamClosed
	}
	return ErrCodeNo
}

// dataUntracked implements frameProcessor: DATA sent before the peer saw
// our RST_STREAM is discarded; on another closed stream it is a stream
// error.
func (c *Conn) dataUntracked(id uint32) error {
	if c.recentlyReset(id) {
		return nil
	}
	return c.resetUntracked(id, ErrCodeStreamClosed)
}

// deliverData implements frameProcessor: the body of a stream whose
// request was rejected is dropped.
func (c *Conn) deliverData(ss sideStream, length int64, data []byte, endStream bool) error {
	st := ss.(*stream)
	if st.rejected {
		c.creditConn(length)
		st.remoteClosed = st.remoteClosed || endStream
		return nil
	}
	if !c.recvBody(&st.flow, length, data, endStream) {
		return c.streamError(st.id, ErrCodeProtocol, true)
	}
	if len(data) > 0 || endStream {
		c.h.OnData(st.id, data, endStream)
	}
	return nil
}

// classifyBlock implements frameProcessor.
func (c *Conn) classifyBlock(id uint32, selfDep bool) error {
	b := &c.blk
	if st := c.streams[id]; st != nil {
		switch {
		case st.remoteClosed:
			b.kind, b.reset, b.code, b.counted = blockDiscard, true, ErrCodeStreamClosed, true
		case selfDep:
			b.kind, b.reset, b.code, b.counted = blockDiscard, true, ErrCodeProtocol, true
		case st.rejected:
			b.kind = blockDiscard
			if b.endStream {
				st.remoteClosed = true
			}
		default:
			b.kind = blockTrailers
		}
	} else if !c.idle(id) {
		if !c.recentlyReset(id) {
			// A new stream must have a larger id than any before it
			// (RFC 9113 5.1.1); a closed one takes no more headers.
			return c.fail(ErrCodeProtocol, "HEADERS on a closed stream or a decreasing stream id")
		}
		b.kind = blockDiscard // trailers sent before the peer saw our RST_STREAM
	} else {
		c.lastStreamID = id
		c.winStreams++
		if c.winStreams > c.opt.ResetWindow {
			c.winStreams, c.winResets = 1, 0
		}
		switch {
		case c.goAwaySent:
			b.kind, b.reset, b.code = blockDiscard, true, ErrCodeRefusedStream
		case len(c.streams) >= int(c.opt.MaxConcurrentStreams):
			b.kind, b.reset, b.code, b.counted = blockDiscard, true, ErrCodeRefusedStream, true
		case selfDep:
			b.kind, b.reset, b.code, b.counted = blockDiscard, true, ErrCodeProtocol, true
		default:
			b.kind = blockRequest
			c.newStream(id)
		}
	}
	return nil
}

// finishBlock implements frameProcessor.
func (c *Conn) finishBlock(b block) error {
	var err error
	switch b.kind {
	case blockDiscard:
		if b.reset {
			err = c.streamError(b.id, b.code, b.counted)
		}
	case blockRequest:
		err = c.finishRequest(&b)
	case blockTrailers:
		err = c.finishTrailers(&b)
	}
	c.req = Request{ContentLength: -1}
	return err
}

func (c *Conn) finishRequest(b *block) error {
	st := c.streams[b.id]
	if b.tooLarge {
		st.known, st.rejected = true, true
		st.remoteClosed = b.endStream
		c.h.OnRequestError(b.id, 431)
		return nil
	}
	if !c.buildRequest(b.endStream) {
		return c.streamError(b.id, ErrCodeProtocol, true)
	}
	st.cl = c.req.ContentLength
	st.known = true
	st.remoteClosed = b.endStream
	c.h.OnRequest(b.id, &c.req, b.endStream)
	return nil
}

func (c *Conn) finishTrailers(b *block) error {
	st := c.streams[b.id]
	if st == nil {
		return nil
	}
	if b.tooLarge || !b.endStream || !c.buildTrailers() || st.cl >= 0 && st.recvd != st.cl {
		return c.streamError(b.id, ErrCodeProtocol, true)
	}
	st.remoteClosed = true
	c.h.OnTrailers(b.id, c.fields)
	return nil
}

func (c *Conn) processPriority(fh frameHeader, p []byte) error {
	if fh.id == 0 {
		return c.fail(ErrCodeProtocol, "PRIORITY on stream 0")
	}
	if len(p) != 5 {
		return c.fail(ErrCodeFrameSize, "PRIORITY length is not 5")
	}
	if binary.BigEndian.Uint32(p)&streamIDMask != fh.id {
		return nil // priorities are parsed and ignored (RFC 9113 5.3.2)
	}
	if _, ok := c.streams[fh.id]; ok {
		return c.streamError(fh.id, ErrCodeProtocol, true)
	}
	return c.fail(ErrCodeProtocol, "stream depends on itself")
}

// peerReset implements frameProcessor.
func (c *Conn) peerReset(ss sideStream, code ErrCode) error {
	st := ss.(*stream)
	id, known := st.id, st.known
	c.removeStream(st)
	if err := c.noteReset(); err != nil {
		return err
	}
	if known {
		c.h.OnReset(id, code)
	}
	return nil
}

// lookup implements frameProcessor.
func (c *Conn) lookup(id uint32) (sideStream, bool) {
	if st := c.streams[id]; st != nil {
		return st, st.known
	}
	return nil, false
}

// resetStream implements frameProcessor.
func (c *Conn) resetStream(st sideStream, code ErrCode) error {
	return c.streamError(st.flowOf().id, code, true)
}

// onWindow implements frameProcessor.
func (c *Conn) onWindow(id uint32) { c.h.OnWindow(id) }

func (c *Conn) processSettings(fh frameHeader, p []byte) error {
	ack, err := applySettings(&c.connCore, c.streams, fh, p)
	if err != nil {
		return err
	}
	if ack {
		c.onSettingsAck()
		return nil
	}
	for _, id := range c.ids {
		if _, ok := c.streams[id]; ok && c.err == nil {
			c.h.OnWindow(id)
		}
	}
	return nil
}

// onSettingsAck applies what waited for the peer to acknowledge our
// SETTINGS: a table size or stream window smaller than the RFC defaults.
func (c *Conn) onSettingsAck() {
	if c.settingsAcked {
		return
	}
	c.settingsAcked = true
	if c.opt.HeaderTableSize < defaultTableSize {
		c.dec.SetAllowedMaxDynamicTableSize(c.opt.HeaderTableSize)
	}
	if c.opt.InitialWindowSize < defaultWindow {
		delta := int64(c.opt.InitialWindowSize) - defaultWindow
		for _, st := range c.streams {
			st.recvAvail += delta
		}
	}
}

// recvInit is the receive window a new stream starts with: the larger of
// ours and the RFC default until the peer acknowledged our SETTINGS.
func (c *Conn) recvInit() int64 {
	if c.settingsAcked {
		return int64(c.opt.InitialWindowSize)
	}
	return max(int64(c.opt.InitialWindowSize), defaultWindow)
}

// noteReset counts a stream that ended early by a reset.
func (c *Conn) noteReset() error {
	c.winResets++
	if c.winResets > c.opt.MaxResetsPerWindow {
		return c.fail(ErrCodeEnhanceYourCalm, "too many stream resets")
	}
	return nil
}

func (c *Conn) newStream(id uint32) *stream {
	st := openStream(c.streams, &c.free, id)
	*st = stream{flow: flow{id: id, sendWin: c.peerInitWin, recvAvail: c.recvInit(), cl: -1}}
	return st
}

// removeStream forgets a stream that is closed (closeStream).
func (c *Conn) removeStream(st *stream) { closeStream(&c.connCore, c.streams, &c.free, &st.flow, st) }

// streamError ends stream id with RST_STREAM(code) (RFC 9113 5.4.2).
func (c *Conn) streamError(id uint32, code ErrCode, counted bool) error {
	known := false
	if st := c.streams[id]; st != nil {
		known = st.known
		c.removeStream(st)
	}
	c.remember(id)
	if err := c.sendReset(id, code, counted); err != nil {
		return err
	}
	if known {
		c.h.OnReset(id, code)
	}
	return nil
}

// resetUntracked answers a frame on a stream we no longer track.
func (c *Conn) resetUntracked(id uint32, code ErrCode) error {
	return c.sendReset(id, code, true)
}

// sendReset queues a RST_STREAM in reply to the peer.
func (c *Conn) sendReset(id uint32, code ErrCode, counted bool) error {
	if err := c.reserveControl(frameHeaderLen + 4); err != nil {
		return err
	}
	c.writeRSTStream(id, code)
	if counted {
		return c.noteReset()
	}
	return nil
}

// remember records id as reset by us: frames the peer sent before it saw
// the RST_STREAM are discarded instead of treated as errors.
func (c *Conn) remember(id uint32) {
	c.recent[c.recentN%recentlyResetCount] = id
	c.recentN++
}

func (c *Conn) recentlyReset(id uint32) bool {
	for _, r := range c.recent {
		if r == id && id != 0 {
			return true
		}
	}
	return false
}

// creditStream is creditConn for a stream's window; a stream whose
// request body is complete (or discarded) gets no more window.
func (c *Conn) creditStream(st *stream, n int64) {
	if st.rejected {
		return
	}
	c.creditFlow(&st.flow, n)
}
