package http2

import (
	"encoding/binary"

	"golang.org/x/net/http2/hpack"
)

// connCore is the part of an HTTP/2 connection that does not depend on its
// side: the output, the peer's settings and our windows, HPACK state, the
// abuse counters, and the frame handling that is the same for Conn (server)
// and ClientConn. Both embed it by value, so its fields and methods cost
// what their own did; what differs between the sides (stream types,
// handlers, which settings matter) stays in Conn and ClientConn, which call
// these helpers and act on what they return.
type connCore struct {
	opt Options

	out        outBuf
	ctrlQueued int // control bytes queued in reply to the peer since ResetOut

	err         *ConnError
	feeding     bool
	gotSettings bool
	client      bool // ClientConn: which settings apply differs

	// Peer settings and our send windows.
	peerMaxFrame   uint32
	peerInitWin    int64
	peerMaxStreams uint32 // client only: the server's SETTINGS_MAX_CONCURRENT_STREAMS
	connSendWin    int64
	connBlocked    bool

	// Our receive window of the connection.
	connRecvAvail int64
	connUnacked   int64
	connThresh    int64
	streamThresh  int64

	// lastStreamID is the highest stream id the peer opened (server only;
	// 0 on a client, where the peer opens none): GOAWAY names it.
	lastStreamID uint32
	goAwaySent   bool
	goAwayRecv   bool

	// Header decoding.
	blk    block
	dec    *hpack.Decoder
	hbuf   []byte
	spans  []span
	fields []Field

	// Header encoding.
	enc   *hpack.Encoder
	encw  appendWriter
	strs  map[string]string
	lower []byte

	// Abuse accounting (count windows).
	winFrames, winEmpty int

	ids []uint32 // scratch for OnWindow notifications
}

// flow is the per-stream flow-control and body accounting both sides keep.
type flow struct {
	id           uint32
	sendWin      int64 // our send window (may go negative, RFC 9113 6.9.2)
	recvAvail    int64 // bytes the peer may still send before a WINDOW_UPDATE
	unacked      int64 // consumed, not yet returned by a WINDOW_UPDATE
	held         int64 // delivered by OnData and not yet Consumed
	cl           int64 // content-length to check, -1 if absent
	recvd        int64 // DATA payload received
	remoteClosed bool  // the peer's END_STREAM arrived
	blocked      bool  // a WriteData was cut short by sendWin
}

// flowOf gives generic code (applySettings) a stream's flow.
func (f *flow) flowOf() *flow { return f }

// sideStream is a stream of either side (*stream, *clientStream) to the
// shared frame handling, which reads its flow; the side's own methods
// take it back by type assertion (no allocation: a pointer).
type sideStream interface{ flowOf() *flow }

// openStream tracks a stream for id in streams, one of free (as it was
// left) or a new one, which the caller sets up. S is either side's
// stream type.
func openStream[S any](streams map[uint32]*S, free *[]*S, id uint32) *S {
	var st *S
	if k := len(*free); k > 0 {
		st = (*free)[k-1]
		(*free)[k-1] = nil
		*free = (*free)[:k-1]
	} else {
		st = new(S)
	}
	streams[id] = st
	return st
}

// closeStream forgets st, whose flow is f, and keeps it zeroed in free;
// the connection-window share of the bytes the handler did not consume
// yet is returned at once.
func closeStream[S any](c *connCore, streams map[uint32]*S, free *[]*S, f *flow, st *S) {
	delete(streams, f.id)
	if f.held > 0 {
		c.creditConn(f.held)
	}
	var zero S
	*st = zero
	*free = append(*free, st)
}

// init sets the windows and the HPACK codec from c.opt (already
// defaulted); onField is the decoder's emit function.
func (c *connCore) init() {
	c.peerMaxFrame = minMaxFrameSize
	c.peerInitWin = defaultWindow
	c.connSendWin = defaultWindow
	c.connRecvAvail = int64(c.opt.ConnWindowSize)
	c.connThresh = max(1, int64(c.opt.ConnWindowSize/2))
	c.streamThresh = max(1, int64(c.opt.InitialWindowSize/2))
	c.dec = hpack.NewDecoder(defaultTableSize, c.onField)
	c.enc = hpack.NewEncoder(&c.encw)
}

// writeSettings queues a SETTINGS frame of the given (id, value) pairs and
// the WINDOW_UPDATE raising the connection window to ConnWindowSize.
func (c *connCore) writeSettings(s []byte) {
	c.out.frameHeader(len(s), frameSettings, 0, 0)
	c.out.write(s)
	if inc := c.opt.ConnWindowSize - defaultWindow; inc > 0 {
		c.writeWindowUpdate(0, inc)
	}
}

// fail records a connection error and queues its GOAWAY.
func (c *connCore) fail(code ErrCode, reason string) error {
	if c.err == nil {
		c.err = &ConnError{Code: code, Reason: reason}
		c.writeGoAway(c.lastStreamID, code, reason)
	}
	return c.err
}

// frameProcessor is a connection side as the frame loop sees it: what
// Conn and ClientConn each do with the frames whose handling differs.
type frameProcessor interface {
	core() *connCore
	// feedFrames is the side's Feed once guarded (runFeed): the server
	// checks the client preface first.
	feedFrames(b []byte) (int, error)
	// dataClosed is the code to reset st with for DATA it takes no more
	// of (ErrCodeNo when it takes DATA); dataUntracked answers DATA on a
	// closed stream the side no longer tracks; deliverData takes DATA
	// that passed the windows on st.
	dataClosed(st sideStream) ErrCode
	dataUntracked(id uint32) error
	deliverData(st sideStream, length int64, data []byte, endStream bool) error
	// classifyBlock sets the kind of the header block starting on stream
	// id (c.blk), or returns a connection error; selfDep: its priority
	// names the stream itself.
	classifyBlock(id uint32, selfDep bool) error
	processPriority(fh frameHeader, p []byte) error
	processSettings(fh frameHeader, p []byte) error
	processPushPromise(fh frameHeader, p []byte) error
	processPing(fh frameHeader, p []byte) error
	processGoAway(fh frameHeader, p []byte) error
	// finishBlock acts on a complete header block b (processHeaders set
	// its kind), decoded into c.hbuf and c.spans unless discarded.
	finishBlock(b block) error
	// idle reports whether stream id was never opened (RFC 9113 5.1).
	idle(id uint32) bool
	// lookup is stream id, nil when the side does not track it (closed,
	// reset); notify says whether its handler knows the stream (OnWindow
	// and OnReset are for streams it knows).
	lookup(id uint32) (st sideStream, notify bool)
	// resetStream ends tracked stream st with RST_STREAM(code), a stream
	// error of the peer's (RFC 9113 5.4.2); peerReset forgets one the
	// peer reset with code. Both tell the handler.
	resetStream(st sideStream, code ErrCode) error
	peerReset(st sideStream, code ErrCode) error
	// onWindow is the handler's OnWindow.
	onWindow(id uint32)
}

func (c *connCore) core() *connCore { return c }

// frameHandlers dispatch a frame by type (RFC 9113 section 6) to its
// side's handling; unknown types are ignored (RFC 9113 4.1, 5.5).
//
//nolint:gochecknoglobals // read-only dispatch table
var frameHandlers = [...]func(frameProcessor, frameHeader, []byte) error{
	frameData:         processData,
	frameHeaders:      processHeaders,
	framePriority:     frameProcessor.processPriority,
	frameRSTStream:    processRSTStream,
	frameSettings:     frameProcessor.processSettings,
	framePushPromise:  frameProcessor.processPushPromise,
	framePing:         frameProcessor.processPing,
	frameGoAway:       frameProcessor.processGoAway,
	frameWindowUpdate: processWindowUpdate,
	frameContinuation: processContinuation,
}

// processRSTStream forgets the stream the peer reset (RFC 9113 6.4); one
// already closed is ignored.
func processRSTStream(pr frameProcessor, fh frameHeader, p []byte) error {
	if err := pr.core().rstStreamFrame(fh, p); err != nil {
		return err
	}
	st, _ := pr.lookup(fh.id)
	if st == nil {
		return untracked(pr, fh.id, "RST_STREAM")
	}
	return pr.peerReset(st, ErrCode(binary.BigEndian.Uint32(p)))
}

// processWindowUpdate grows the connection's or a stream's send window
// (RFC 9113 6.9) and tells the handler of a window a write was cut short
// by; one of a closed stream is ignored.
func processWindowUpdate(pr frameProcessor, fh frameHeader, p []byte) error {
	inc, opened, err := pr.core().windowUpdateFrame(fh, p)
	if err != nil || fh.id == 0 {
		if opened {
			pr.onWindow(0)
		}
		return err
	}
	st, notify := pr.lookup(fh.id)
	if st == nil {
		return untracked(pr, fh.id, "WINDOW_UPDATE")
	}
	code, opened := st.flowOf().growSendWin(inc, notify)
	if code != ErrCodeNo {
		return pr.resetStream(st, code)
	}
	if opened {
		pr.onWindow(fh.id)
	}
	return nil
}

// untracked answers a frame of type what on a stream the side does not
// track: ignored when the stream was closed, a connection error when it
// was never opened.
func untracked(pr frameProcessor, id uint32, what string) error {
	if pr.idle(id) {
		return pr.core().fail(ErrCodeProtocol, what+" on an idle stream")
	}
	return nil
}

func processContinuation(pr frameProcessor, fh frameHeader, p []byte) error {
	if err := pr.core().continuation(fh); err != nil {
		return err
	}
	return blockFragment(pr, p, len(p), fh.flags&flagEndHeaders != 0)
}

// processHeaders starts a header block (RFC 9113 6.2): the side says
// what it is, and its first fragment is decoded (a discarded block only
// for the HPACK state).
func processHeaders(pr frameProcessor, fh frameHeader, p []byte) error {
	c := pr.core()
	frag, selfDep, err := c.headersFrame(fh, p)
	if err != nil {
		return err
	}
	if err := pr.classifyBlock(fh.id, selfDep); err != nil {
		return err
	}
	c.hbuf = c.hbuf[:0]
	c.spans = c.spans[:0]
	c.dec.SetEmitEnabled(c.blk.kind != blockDiscard)
	return blockFragment(pr, frag, len(p), fh.flags&flagEndHeaders != 0)
}

// blockFragment feeds one fragment of the header block to the decoder
// and, at endHeaders, hands the block to the side; a decoding buffer
// grown past maxKeptHeaderBuf is dropped after.
func blockFragment(pr frameProcessor, frag []byte, frameLen int, endHeaders bool) error {
	c := pr.core()
	if err := c.decodeFragment(frag, frameLen, endHeaders); err != nil || !endHeaders {
		return err
	}
	b := c.blk
	if err := c.endBlock(); err != nil {
		return err
	}
	err := pr.finishBlock(b)
	if cap(c.hbuf) > maxKeptHeaderBuf {
		c.hbuf, c.spans, c.fields = nil, nil, nil
	}
	return err
}

const maxKeptHeaderBuf = 16 << 10

// runFeed is Feed for either side: a connection that failed returns its
// error; a Feed from inside one of its own handler callbacks is a bug of
// the caller's (the codec is not re-entrant), and panics.
func runFeed(pr frameProcessor, b []byte, who string) (int, error) {
	c := pr.core()
	if c.err != nil {
		return 0, c.err
	}
	if c.feeding {
		panic("http2: " + who + ".Feed called from a handler callback")
	}
	c.feeding = true
	defer func() { c.feeding = false }()
	return pr.feedFrames(b)
}

// feedFrames processes the whole frames of b from offset n on and
// returns the offset of the first byte not consumed (the rest of an
// incomplete frame, left to the caller's next Feed). A frame larger than
// our SETTINGS_MAX_FRAME_SIZE, or an error processing one, stops it.
func feedFrames(pr frameProcessor, b []byte, n int) (int, error) {
	c := pr.core()
	for len(b)-n >= frameHeaderLen {
		fh := parseFrameHeader(b[n:])
		if fh.length > c.opt.MaxFrameSize {
			return n, c.fail(ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
		}
		end := n + frameHeaderLen + int(fh.length)
		if end > len(b) {
			break
		}
		var err error
		if !c.frameFast(fh) {
			err = c.frameCheck(fh)
		}
		if err == nil && int(fh.typ) < len(frameHandlers) {
			err = frameHandlers[fh.typ](pr, fh, b[n+frameHeaderLen:end])
		}
		n = end
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// processData takes a DATA frame (RFC 9113 6.1): checked, padding
// removed, counted against the windows (all of its length) on a stream
// that takes DATA, then delivered by the side.
func processData(pr frameProcessor, fh frameHeader, p []byte) error {
	c := pr.core()
	data := p
	if !c.dataFast(fh) {
		var err error
		if data, err = c.dataFrameSlow(fh, p); err != nil {
			return err
		}
	}
	length := int64(fh.length)
	endStream := fh.flags&flagEndStream != 0
	st, _ := pr.lookup(fh.id)
	if st == nil {
		c.creditConn(length) // no one will consume it
		if err := untracked(pr, fh.id, "DATA"); err != nil {
			return err
		}
		return pr.dataUntracked(fh.id)
	}
	f := st.flowOf()
	code := pr.dataClosed(st)
	if code == ErrCodeNo && length > f.recvAvail {
		code = ErrCodeFlowControl
	}
	if code != ErrCodeNo {
		c.creditConn(length)
		return pr.resetStream(st, code)
	}
	f.recvAvail -= length
	if len(data) == 0 && !endStream {
		if err := c.noteEmpty(); err != nil {
			return err
		}
	}
	return pr.deliverData(st, length, data, endStream)
}

// recvBody counts data (of a frame of length bytes) against f's
// content-length; false, with the frame's bytes returned to the
// connection window, when the body passed it or ended short of it
// (RFC 9113 8.1.1). Otherwise it notes END_STREAM, returns the padding
// to both windows and holds data until Consumed.
func (c *connCore) recvBody(f *flow, length int64, data []byte, endStream bool) bool {
	f.recvd += int64(len(data))
	if f.cl >= 0 && (f.recvd > f.cl || endStream && f.recvd != f.cl) {
		c.creditConn(length)
		return false
	}
	f.remoteClosed = f.remoteClosed || endStream
	if pad := length - int64(len(data)); pad > 0 {
		c.creditConn(pad)
		c.creditFlow(f, pad)
	}
	f.held += int64(len(data))
	return true
}

// frameFast is the per-frame check every frame goes through, small
// enough to inline: it counts the frame toward the empty-frame window and
// reports true, or false when frameCheck must decide (before the peer's
// SETTINGS, inside a header block, at the end of the window).
func (c *connCore) frameFast(fh frameHeader) bool {
	if !c.gotSettings || c.blk.open && fh.typ != frameContinuation || c.winFrames >= c.opt.EmptyFrameWindow {
		return false
	}
	c.winFrames++
	return true
}

// frameCheck is frameFast's slow path: SETTINGS must come first, nothing
// may interrupt a header block, and the frame counts toward the
// empty-frame window.
func (c *connCore) frameCheck(fh frameHeader) error {
	if !c.gotSettings && (fh.typ != frameSettings || fh.flags&flagAck != 0) {
		return c.fail(ErrCodeProtocol, "first frame is not SETTINGS")
	}
	if c.blk.open && fh.typ != frameContinuation {
		return c.fail(ErrCodeProtocol, "frame other than CONTINUATION inside a header block")
	}
	c.winFrames++
	if c.winFrames > c.opt.EmptyFrameWindow {
		c.winFrames, c.winEmpty = 1, 0
	}
	return nil
}

// dataFast takes a plain DATA frame (not padded, not on stream 0, within
// the connection's receive window) from the window, inlined; false
// leaves the frame to dataFrameSlow.
func (c *connCore) dataFast(fh frameHeader) bool {
	if fh.id == 0 || fh.flags&flagPadded != 0 || int64(fh.length) > c.connRecvAvail {
		return false
	}
	c.connRecvAvail -= int64(fh.length)
	return true
}

// dataFrameSlow checks a DATA frame that dataFast did not take against
// stream 0 and the connection's receive window, takes its length (padding
// included) from the window and returns the body without the padding.
func (c *connCore) dataFrameSlow(fh frameHeader, p []byte) ([]byte, error) {
	if fh.id == 0 {
		return nil, c.fail(ErrCodeProtocol, "DATA on stream 0")
	}
	length := int64(fh.length)
	if length > c.connRecvAvail {
		return nil, c.fail(ErrCodeFlowControl, "DATA beyond the connection window")
	}
	c.connRecvAvail -= length
	if fh.flags&flagPadded != 0 {
		if len(p) == 0 {
			return nil, c.fail(ErrCodeFrameSize, "padded DATA without pad length")
		}
		if int(p[0]) >= len(p) {
			return nil, c.fail(ErrCodeProtocol, "DATA padding longer than the payload")
		}
		return p[1 : len(p)-int(p[0])], nil
	}
	return p, nil
}

// headersFrame checks a HEADERS frame (on a server: also that a client
// opened an odd stream id), strips padding and priority, and opens c.blk
// for its stream. It returns the block fragment and whether the priority
// made the stream depend on itself.
func (c *connCore) headersFrame(fh frameHeader, p []byte) (frag []byte, selfDep bool, err error) {
	id := fh.id
	if id == 0 {
		return nil, false, c.fail(ErrCodeProtocol, "HEADERS on stream 0")
	}
	if !c.client && id%2 == 0 {
		return nil, false, c.fail(ErrCodeProtocol, "HEADERS on a server stream id")
	}
	frag = p
	padLen := 0
	if fh.flags&flagPadded != 0 {
		if len(frag) == 0 {
			return nil, false, c.fail(ErrCodeFrameSize, "padded HEADERS without pad length")
		}
		padLen = int(frag[0])
		frag = frag[1:]
	}
	if fh.flags&flagPriority != 0 {
		if len(frag) < 5 {
			return nil, false, c.fail(ErrCodeFrameSize, "HEADERS too short for its priority")
		}
		selfDep = binary.BigEndian.Uint32(frag)&streamIDMask == id
		frag = frag[5:]
	}
	if padLen > len(frag) {
		return nil, false, c.fail(ErrCodeProtocol, "HEADERS padding longer than the payload")
	}
	c.blk = block{open: true, id: id, endStream: fh.flags&flagEndStream != 0}
	return frag[:len(frag)-padLen], selfDep, nil
}

// endBlock closes the header block that END_HEADERS ended; the caller
// then acts on the fields (and on a copy of c.blk taken before).
func (c *connCore) endBlock() error {
	c.blk.open = false
	if err := c.dec.Close(); err != nil {
		return c.fail(ErrCodeCompression, "truncated header block")
	}
	c.dec.SetEmitEnabled(true)
	return nil
}

// continuation checks that a CONTINUATION frame continues the open block.
func (c *connCore) continuation(fh frameHeader) error {
	if !c.blk.open || fh.id != c.blk.id {
		return c.fail(ErrCodeProtocol, "CONTINUATION without a preceding HEADERS on its stream")
	}
	return nil
}

// decodeFragment feeds one fragment of the header block to the decoder;
// frameLen (padding included) counts toward MaxHeaderBlockBytes. The
// caller finishes the block when endHeaders.
func (c *connCore) decodeFragment(frag []byte, frameLen int, endHeaders bool) error {
	c.blk.bytes += frameLen
	if c.blk.bytes > c.opt.MaxHeaderBlockBytes {
		return c.fail(ErrCodeEnhanceYourCalm, "header block larger than the limit")
	}
	if len(frag) == 0 && !endHeaders {
		if err := c.noteEmpty(); err != nil {
			return err
		}
	}
	if _, err := c.dec.Write(frag); err != nil {
		return c.fail(ErrCodeCompression, "HPACK decoding failed")
	}
	return nil
}

// onField is the HPACK decoder's emit function.
func (c *connCore) onField(f hpack.HeaderField) {
	b := &c.blk
	b.listSize += len(f.Name) + len(f.Value) + 32
	if b.listSize > int(c.opt.MaxHeaderListSize) {
		b.tooLarge = true
		c.dec.SetEmitEnabled(false)
		return
	}
	ns := len(c.hbuf)
	c.hbuf = append(c.hbuf, f.Name...)
	vs := len(c.hbuf)
	c.hbuf = append(c.hbuf, f.Value...)
	c.spans = append(c.spans, span{ns, vs, len(c.hbuf)})
}

// buildTrailers puts the decoded trailer fields into c.fields; false means
// malformed: a pseudo-header, a bad name or value, or a
// connection-specific field.
func (c *connCore) buildTrailers() bool {
	fs := c.fields[:0]
	for _, s := range c.spans {
		name, value := c.hbuf[s.ns:s.vs], c.hbuf[s.vs:s.ve]
		if !validName(name) || connectionSpecific(name) || !validValue(value) {
			return false
		}
		fs = append(fs, Field{Name: name, Value: value})
	}
	c.fields = fs
	return true
}

// rstStreamFrame checks a RST_STREAM frame's stream and length.
func (c *connCore) rstStreamFrame(fh frameHeader, p []byte) error {
	if fh.id == 0 {
		return c.fail(ErrCodeProtocol, "RST_STREAM on stream 0")
	}
	if len(p) != 4 {
		return c.fail(ErrCodeFrameSize, "RST_STREAM length is not 4")
	}
	return nil
}

// applySettings handles a SETTINGS frame for either side: it reports an
// ACK for the caller to act on; otherwise it applies the peer's values
// (on a client also SETTINGS_MAX_CONCURRENT_STREAMS; on a server it checks
// SETTINGS_ENABLE_CONNECT_PROTOCOL), shifts every stream's send window by
// a change of SETTINGS_INITIAL_WINDOW_SIZE, queues our ACK and leaves in
// c.ids the streams the change unblocked, for the caller's OnWindow.
func applySettings[S interface{ flowOf() *flow }](c *connCore, streams map[uint32]S, fh frameHeader, p []byte) (ack bool, err error) {
	if fh.id != 0 {
		return false, c.fail(ErrCodeProtocol, "SETTINGS on a stream")
	}
	if fh.flags&flagAck != 0 {
		if len(p) != 0 {
			return false, c.fail(ErrCodeFrameSize, "SETTINGS ACK with a payload")
		}
		return true, nil
	}
	if len(p)%6 != 0 {
		return false, c.fail(ErrCodeFrameSize, "SETTINGS length not a multiple of 6")
	}
	if c.client && !c.gotSettings {
		c.peerMaxStreams = 1<<31 - 1 // RFC 9113 6.5.2: unlimited unless stated
	}
	c.gotSettings = true
	newWin, winSet := int64(0), false
	for i := 0; i < len(p); i += 6 {
		v := binary.BigEndian.Uint32(p[i+2:])
		switch binary.BigEndian.Uint16(p[i:]) {
		case settingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(v)
		case settingEnablePush:
			if v > 1 {
				return false, c.fail(ErrCodeProtocol, "SETTINGS_ENABLE_PUSH not 0 or 1")
			}
		case settingMaxConcurrentStreams:
			// On a server it limits pushes we never make.
			if c.client {
				c.peerMaxStreams = v
			}
		case settingInitialWindowSize:
			if v > maxWindow {
				return false, c.fail(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
			}
			newWin, winSet = int64(v), true
		case settingMaxFrameSize:
			if v < minMaxFrameSize || v > maxMaxFrameSize {
				return false, c.fail(ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE out of range")
			}
			c.peerMaxFrame = v
		case settingEnableConnectProtocol:
			if !c.client && v > 1 {
				return false, c.fail(ErrCodeProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1")
			}
		}
		// MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
	}
	delta := int64(0)
	if winSet {
		delta = newWin - c.peerInitWin
		c.peerInitWin = newWin
		for _, st := range streams {
			f := st.flowOf()
			f.sendWin += delta
			if f.sendWin > maxWindow {
				return false, c.fail(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window")
			}
		}
	}
	if err := c.reserveControl(frameHeaderLen); err != nil {
		return false, err
	}
	c.out.frameHeader(0, frameSettings, flagAck, 0)
	c.ids = c.ids[:0]
	if delta > 0 {
		for id, st := range streams {
			if f := st.flowOf(); f.blocked && f.sendWin > 0 {
				f.blocked = false
				c.ids = append(c.ids, id)
			}
		}
	}
	return false, nil
}

// pingFrame answers a PING; an ACK (a reply to ours) is reported instead.
func (c *connCore) pingFrame(fh frameHeader, p []byte) (ack bool, err error) {
	if fh.id != 0 {
		return false, c.fail(ErrCodeProtocol, "PING on a stream")
	}
	if len(p) != 8 {
		return false, c.fail(ErrCodeFrameSize, "PING length is not 8")
	}
	if fh.flags&flagAck != 0 {
		return true, nil
	}
	if err := c.reserveControl(frameHeaderLen + 8); err != nil {
		return false, err
	}
	c.out.frameHeader(8, framePing, flagAck, 0)
	c.out.write(p)
	return false, nil
}

// goAwayFrame checks a GOAWAY frame and returns its last stream id and
// code; the caller records it.
func (c *connCore) goAwayFrame(fh frameHeader, p []byte) (last uint32, code ErrCode, err error) {
	if fh.id != 0 {
		return 0, 0, c.fail(ErrCodeProtocol, "GOAWAY on a stream")
	}
	if len(p) < 8 {
		return 0, 0, c.fail(ErrCodeFrameSize, "GOAWAY shorter than 8")
	}
	return binary.BigEndian.Uint32(p) & streamIDMask, ErrCode(binary.BigEndian.Uint32(p[4:])), nil
}

// windowUpdateFrame checks a WINDOW_UPDATE and applies it to the
// connection window when it is for stream 0 (opened reports that
// OnWindow(0) is due). For a stream it returns the increment; the caller
// finds the stream and calls growSendWin.
func (c *connCore) windowUpdateFrame(fh frameHeader, p []byte) (inc int64, opened bool, err error) {
	if len(p) != 4 {
		return 0, false, c.fail(ErrCodeFrameSize, "WINDOW_UPDATE length is not 4")
	}
	inc = int64(binary.BigEndian.Uint32(p) & streamIDMask)
	if fh.id != 0 {
		return inc, false, nil
	}
	if inc == 0 {
		return 0, false, c.fail(ErrCodeProtocol, "WINDOW_UPDATE with increment 0")
	}
	c.connSendWin += inc
	if c.connSendWin > maxWindow {
		return 0, false, c.fail(ErrCodeFlowControl, "connection window above 2^31-1")
	}
	if c.connBlocked && c.connSendWin > 0 {
		c.connBlocked = false
		return 0, true, nil
	}
	return 0, false, nil
}

// growSendWin adds a WINDOW_UPDATE increment to the stream's send window.
// A non-zero code is a stream error; opened reports that OnWindow(id) is
// due (only when notify: the handler knows the stream).
func (f *flow) growSendWin(inc int64, notify bool) (code ErrCode, opened bool) {
	if inc == 0 {
		return ErrCodeProtocol, false
	}
	f.sendWin += inc
	if f.sendWin > maxWindow {
		return ErrCodeFlowControl, false
	}
	if f.blocked && f.sendWin > 0 && notify {
		f.blocked = false
		return ErrCodeNo, true
	}
	return ErrCodeNo, false
}

// noteEmpty counts a frame that carries nothing.
func (c *connCore) noteEmpty() error {
	c.winEmpty++
	if c.winEmpty > c.opt.MaxEmptyFramesPerWindow {
		return c.fail(ErrCodeEnhanceYourCalm, "too many empty frames")
	}
	return nil
}

// reserveControl accounts for n bytes of a control frame queued in reply
// to the peer (Options.MaxControlBytes): a peer that floods PINGs or
// SETTINGS while not reading gets a connection error.
func (c *connCore) reserveControl(n int) error {
	if c.ctrlQueued+n > c.opt.MaxControlBytes {
		return c.fail(ErrCodeEnhanceYourCalm, "peer does not read control responses")
	}
	c.ctrlQueued += n
	return nil
}

// creditConn returns n bytes of the connection's receive window, with a
// WINDOW_UPDATE once at least half of the window is owed.
func (c *connCore) creditConn(n int64) {
	c.connUnacked += n
	if c.connUnacked >= c.connThresh && c.err == nil {
		c.writeWindowUpdate(0, uint32(c.connUnacked))
		c.connRecvAvail += c.connUnacked
		c.connUnacked = 0
	}
}

// creditFlow is creditConn for a stream's window; a stream whose body is
// complete gets no more window.
func (c *connCore) creditFlow(f *flow, n int64) {
	if f.remoteClosed || c.err != nil {
		return
	}
	f.unacked += n
	if f.unacked >= c.streamThresh {
		c.writeWindowUpdate(f.id, uint32(f.unacked))
		f.recvAvail += f.unacked
		f.unacked = 0
	}
}

// consume takes up to n delivered bytes off f.held for Consumed and
// returns them to both windows.
func (c *connCore) consume(f *flow, n int) int64 {
	m := min(int64(n), f.held)
	f.held -= m
	c.creditConn(m)
	return m
}

// writeData queues as much of b as the windows allow in DATA frames on
// f's stream (see Conn.WriteData) and returns the count and whether our
// END_STREAM went out, after which the caller ends the stream locally.
func (c *connCore) writeData(f *flow, b []byte, endStream bool) (int, bool) {
	if len(b) == 0 {
		if endStream {
			c.out.frameHeader(0, frameData, flagEndStream, f.id)
		}
		return 0, endStream
	}
	taken := 0
	for taken < len(b) {
		n := min(int64(len(b)-taken), int64(c.peerMaxFrame), f.sendWin, c.connSendWin)
		if n <= 0 {
			break
		}
		var flags uint8
		if endStream && taken+int(n) == len(b) {
			flags = flagEndStream
		}
		c.out.frameHeader(int(n), frameData, flags, f.id)
		c.out.ref(b[taken : taken+int(n)])
		f.sendWin -= n
		c.connSendWin -= n
		taken += int(n)
	}
	if taken < len(b) {
		if f.sendWin <= 0 {
			f.blocked = true
		}
		if c.connSendWin <= 0 {
			c.connBlocked = true
		}
		return taken, false
	}
	return taken, endStream
}

// sendWindow is how many DATA bytes f's stream could send now.
func (c *connCore) sendWindow(f *flow) int {
	return int(max(0, min(f.sendWin, c.connSendWin)))
}

// Out returns the bytes to write, in order, as a gather list for writev.
// Slices of it reference the connection's buffers and the payloads passed
// to WriteData; they stay valid until ResetOut. The list itself may be
// reallocated by later calls, so call Out again after writing more.
func (c *connCore) Out() [][]byte { return c.out.vec }

// OutLen returns the number of bytes in Out.
func (c *connCore) OutLen() int { return c.out.n }

// ResetOut tells the connection that everything in Out was written: the
// list is emptied, its buffers are reused and references to WriteData
// payloads are dropped. It also ends the control-output accounting period
// of Options.MaxControlBytes, so a caller whose transport buffers what the
// socket does not take should call it only once that backlog is small.
func (c *connCore) ResetOut() {
	c.out.reset()
	c.ctrlQueued = 0
}

// Err returns the connection error, if one occurred.
func (c *connCore) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// writeBlock splits an encoded header block into HEADERS and CONTINUATION.
func (c *connCore) writeBlock(id uint32, block []byte, endStream bool) {
	typ := uint8(frameHeaders)
	var flags uint8
	if endStream {
		flags = flagEndStream
	}
	for {
		n := min(len(block), int(c.peerMaxFrame))
		if n == len(block) {
			flags |= flagEndHeaders
		}
		c.out.frameHeader(n, typ, flags, id)
		c.out.write(block[:n])
		block = block[n:]
		if len(block) == 0 {
			return
		}
		typ, flags = frameContinuation, 0
	}
}

// writeTrailers queues a trailing header block with END_STREAM, or an
// empty DATA frame with END_STREAM when encodeFields leaves no field.
func (c *connCore) writeTrailers(id uint32, fields []Field, request bool) {
	c.encw.buf = c.encw.buf[:0]
	c.encodeFields(fields, request)
	if len(c.encw.buf) == 0 {
		c.out.frameHeader(0, frameData, flagEndStream, id)
		return
	}
	c.writeBlock(id, c.encw.buf, true)
	c.trimEncBuf()
}

// trimEncBuf drops an encoding buffer that an unusually large header
// block grew, so an idle connection keeps little memory.
func (c *connCore) trimEncBuf() {
	if cap(c.encw.buf) > maxKeptHeaderBuf {
		c.encw.buf = nil
	}
}

// encodeFields HPACK-encodes the fields a message may carry: names are
// lowercased; pseudo-headers, connection-specific fields and values with
// NUL, CR or LF are dropped. A request (ClientConn) also drops host (it
// is :authority) and keeps te only as "trailers".
func (c *connCore) encodeFields(fields []Field, request bool) {
	for i := range fields {
		f := &fields[i]
		if len(f.Name) == 0 || f.Name[0] == ':' || !safeValue(f.Value) {
			continue
		}
		name := c.fieldName(f.Name)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue
		case "host":
			if request {
				continue
			}
		case "te":
			if request {
				if equalFold(f.Value, "trailers") {
					_ = c.enc.WriteField(hpack.HeaderField{Name: name, Value: "trailers"})
				}
				continue
			}
		}
		_ = c.enc.WriteField(hpack.HeaderField{Name: name, Value: c.intern(f.Value)})
	}
}

// safeValue rejects the bytes that would break the framing of the peer's
// HTTP/1 conversions.
func safeValue(b []byte) bool {
	for _, x := range b {
		if x == 0 || x == '\r' || x == '\n' {
			return false
		}
	}
	return true
}

// fieldName returns the lowercase name as a string.
func (c *connCore) fieldName(b []byte) string {
	for i, x := range b {
		if 'A' <= x && x <= 'Z' {
			c.lower = append(c.lower[:0], b...)
			for j := i; j < len(c.lower); j++ {
				if y := c.lower[j]; 'A' <= y && y <= 'Z' {
					c.lower[j] = y + 'a' - 'A'
				}
			}
			return c.intern(c.lower)
		}
	}
	return c.intern(b)
}

// intern returns b as a string, from a small per-connection table when it
// was seen recently, so repeated names and values do not allocate. The
// HPACK encoder may keep the string in its dynamic table, which is why it
// must be a copy and not an alias of the caller's bytes.
func (c *connCore) intern(b []byte) string {
	if s, ok := c.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInternLen {
		if c.strs == nil {
			c.strs = make(map[string]string) // grows with use: a size hint would cost every idle connection
		}
		if len(c.strs) >= maxInterned {
			clear(c.strs)
		}
		c.strs[s] = s
	}
	return s
}

func (c *connCore) writeRSTStream(id uint32, code ErrCode) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(code))
	c.out.frameHeader(4, frameRSTStream, 0, id)
	c.out.write(p[:])
}

func (c *connCore) writeWindowUpdate(id uint32, inc uint32) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], inc)
	c.out.frameHeader(4, frameWindowUpdate, 0, id)
	c.out.write(p[:])
}

func (c *connCore) writeGoAway(last uint32, code ErrCode, debug string) {
	if len(debug) > maxDebugData {
		debug = debug[:maxDebugData]
	}
	var p [8]byte
	binary.BigEndian.PutUint32(p[:], last)
	binary.BigEndian.PutUint32(p[4:], uint32(code))
	c.out.frameHeader(8+len(debug), frameGoAway, 0, 0)
	c.out.write(p[:])
	c.out.writeString(debug)
}
