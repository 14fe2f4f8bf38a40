package proxy

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/codec/http2"
)

// Protocol is what a listener's clients speak.
type Protocol uint8

// Downstream protocols (MOSN's downstream_protocol).
const (
	// ProtoAuto serves HTTP/2 to a connection that opens with the HTTP/2
	// preface and HTTP/1.1 to any other.
	ProtoAuto Protocol = iota
	// ProtoHTTP1 serves HTTP/1.1 only.
	ProtoHTTP1
	// ProtoHTTP2 serves cleartext HTTP/2 with prior knowledge (h2c) only.
	ProtoHTTP2
)

// ParseProtocol maps a configuration value (Http1, Http2, Auto, empty) to
// a Protocol.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "", "Auto":
		return ProtoAuto, nil
	case "Http1":
		return ProtoHTTP1, nil
	case "Http2":
		return ProtoHTTP2, nil
	}
	return 0, errors.New("proxy: unknown downstream protocol " + strconv.Quote(s) + " (want Http1, Http2 or Auto)")
}

// h2Sniff tells what a new connection's first bytes are: HTTP/2 (the
// preface), HTTP/1 (anything else), or not yet known (a prefix of it).
func h2Sniff(b []byte) (isH2, known bool) {
	n := min(len(b), len(http2.ClientPreface))
	if string(b[:n]) != http2.ClientPreface[:n] {
		return false, true
	}
	return n == len(http2.ClientPreface), n == len(http2.ClientPreface)
}

// h2conn is the HTTP/2 side of one client connection: the downstream hands
// it every byte once the connection turned out to speak HTTP/2. Each HTTP/2
// stream is one proxy stream running the same phase machine as an HTTP/1
// request: its head is re-stated as an HTTP/1.1 head and parsed by the
// HTTP/1 codec (so routing, header rules, limits and filters see one
// representation, and the upstream gets HTTP/1.1), and its response is
// framed by the HTTP/2 codec (h2sink). Loop only.
type h2conn struct {
	d     *downstream
	codec *http2.Conn
	// streams are the proxy streams in flight, by HTTP/2 stream id.
	streams map[uint32]*stream
	// left holds what finished streams could not yet send for lack of
	// flow-control window (a local reply to a peer with a tiny window).
	left   map[uint32][]byte
	fields []http2.Field
	goaway bool
	// requests counts the streams opened, for MaxRequestsPerConn.
	requests int
}

// newH2conn switches d to HTTP/2.
func newH2conn(d *downstream) *h2conn {
	h := &h2conn{d: d, streams: make(map[uint32]*stream)}
	o := d.f.opts.HTTP2
	o.EnableConnectProtocol = d.f.offersExtConnect() // RFC 8441 (h2tunnel.go)
	h.codec = http2.NewConn(h, o)
	return h
}

// onData feeds the client's bytes to the codec. A connection error has
// queued GOAWAY: it is flushed and the connection closed.
func (h *h2conn) onData(buf filterchain.Buffer) {
	d := h.d
	if d.c.OutboundBuffered() > d.c.Loop().Opts.HighWatermark+h2OutboundSlack {
		// The peer keeps sending while not reading what we answer (control
		// frames are not flow-controlled): it is cut off before the
		// backlog grows without bound.
		d.f.srv.stats.h2Abuse.Inc()
		d.c.Close(filterchain.CloseNow)
		buf.Drain(buf.Len())
		return
	}
	n, err := h.codec.Feed(buf.Bytes())
	buf.Drain(n)
	h.flush()
	if err != nil {
		d.f.srv.stats.h2ConnErrors.Inc()
		d.f.srv.log.Debug("http2 connection error", "remote", d.c.RemoteAddr(), "err", err)
		// Every stream ends now (the codec has forgotten them, some without
		// telling: the one whose reset tripped a flood limit), not when the
		// lingering close ends. Lingering: closing with the client's frames
		// unread would send a reset that can destroy the GOAWAY saying why.
		h.closed()
		d.c.Close(filterchain.CloseLinger)
	}
	// What is left is part of one frame, whose size the codec checked
	// from its header: the input stays bounded.
}

// h2OutboundSlack is how far past the high watermark the client's
// outbound backlog may grow with control frames before it is cut off.
const h2OutboundSlack = 1 << 20

// flush implements front: it writes what the codec queued. gnet copies what the socket does not
// take, so the codec's references are released at once. Whoever queues
// DATA that references memory about to change (a spill queue's peeked
// bytes, h2pend) flushes before it changes, even inside Feed; other
// output (acknowledgements, window updates) leaves with the next flush,
// at the latest when Feed returns.
func (h *h2conn) flush() {
	if h.codec.OutLen() == 0 {
		return
	}
	if !h.d.c.Closed() {
		out := h.codec.Out()
		if len(out) == 1 {
			_ = h.d.c.Write(out[0]) // a failed write closed the connection; its close event aborts the streams
		} else {
			_ = h.d.c.Writev(out)
		}
	}
	h.codec.ResetOut()
}

// OnRequest implements http2.Handler: a new stream.
func (h *h2conn) OnRequest(id uint32, r *http2.Request, endStream bool) {
	d := h.d
	srv := d.f.srv
	s := srv.newStream(d)
	s.h2, s.h2id, s.front = h, id, h
	h.streams[id] = s
	d.stopTimer() // the idle timer: the connection is busy
	h.requests++
	if limit := d.f.opts.MaxRequestsPerConn; srv.draining.Load() || d.f.drain.on.Load() || limit > 0 && h.requests >= limit {
		h.goAway() // this stream is served; later ones are refused, and the connection closes once empty
	}
	s.enter()
	defer s.exit()
	s.head = h2Head(s.head[:0], r, endStream)
	n, err := s.req.Parse(s.head, d.f.opts.Limits)
	if err == nil && n != len(s.head) {
		err = &http1.Error{Status: 400, Reason: "the request head is incomplete"}
	}
	if err != nil {
		s.begin()
		s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: err}, onEvent)
		return
	}
	s.req.Raw = s.head
	s.startRequest()
	s.flushPipes()
}

// h2Head re-states an HTTP/2 request as an HTTP/1.1 head: the request
// line, Host from :authority (which wins over a host field, RFC 9113
// 8.3.1), the cookie fields joined (8.2.3), and chunked framing for a body
// of unknown length. The codec already refused fields HTTP/1 cannot carry.
func h2Head(dst []byte, r *http2.Request, endStream bool) []byte {
	if len(r.Protocol) > 0 {
		dst = append(dst, "GET"...) // extended CONNECT: an HTTP/1.1 upgrade (h2tunnel.go)
	} else {
		dst = append(dst, r.Method...)
	}
	dst = append(dst, ' ')
	if len(r.Path) == 0 {
		dst = append(dst, r.Authority...) // a CONNECT (RFC 9113 8.5): authority-form (connect.go)
	}
	dst = append(dst, r.Path...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	if len(r.Authority) > 0 {
		dst = appendField(dst, []byte("Host"), r.Authority)
	}
	cookies := 0
	for _, f := range r.Fields {
		switch string(f.Name) {
		case "host":
			if len(r.Authority) > 0 {
				continue
			}
		case "cookie":
			cookies++
			continue
		case "expect":
			continue // 100-continue means nothing to an HTTP/2 client: the body is sent
		case "sec-websocket-key":
			if len(r.Protocol) > 0 {
				continue // ferry makes its own (appendExtConnect)
			}
		}
		dst = appendField(dst, f.Name, f.Value)
	}
	if cookies > 0 {
		dst = append(dst, "cookie: "...)
		sep := false
		for _, f := range r.Fields {
			if string(f.Name) == "cookie" {
				if sep {
					dst = append(dst, "; "...)
				}
				dst = append(dst, f.Value...)
				sep = true
			}
		}
		dst = append(dst, "\r\n"...)
	}
	switch {
	case len(r.Protocol) > 0:
		dst = appendExtConnect(dst, r)
	case !endStream && r.ContentLength < 0 && len(r.Path) > 0: // a CONNECT's DATA is its tunnel's, not a body
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// OnRequestError implements http2.Handler: a request head past
// MaxHeaderListSize. No stream exists for it, so it is the one failure
// not answered by stream.fail: it builds the same Error, counts it and
// writes its reply here.
func (h *h2conn) OnRequestError(id uint32, status int) {
	srv := h.d.f.srv
	srv.stats.requests.Inc()
	e := Error{Source: Downstream, Kind: KindBadRequest, Err: &http1.Error{Status: status, Reason: "the request head is larger than the limit"}}
	srv.stats.countFailure(e.Kind)
	r := e.reply()
	h.fields = append(h.fields[:0],
		h2TextPlain, http2.Field{Name: h2ContentLength, Value: strconv.AppendInt(nil, int64(len(r.body)), 10)})
	h.codec.WriteHeaders(id, r.status, h.fields, false)
	h.queueLeft(id, []byte(r.body))
	if h.busy() {
		h.d.stopTimer() // a reply waits for window: not idle
	}
}

// OnData implements http2.Handler: request body bytes.
func (h *h2conn) OnData(id uint32, data []byte, endStream bool) {
	s := h.streams[id]
	if s == nil || s.reqState != stateBody {
		if s != nil && (s.h2ext() || s.connect || s.h2tunnel() != nil) && !s.ended() {
			s.h2TunnelData(data, endStream) // h2tunnel.go
			return
		}
		h.codec.Consumed(id, len(data)) // the stream answered already: the bytes are dropped
		return
	}
	s.enter()
	defer s.exit()
	h.armBodyTimer(s) // a gap timeout: each DATA frame restarts it
	s.reqTotal += int64(len(data))
	if limit := s.d.f.opts.MaxRequestBodyBytes; limit > 0 && s.reqTotal > limit {
		h.codec.Consumed(id, len(data))
		s.fail(Error{Source: Downstream, Kind: KindBodyTooLarge, Err: errBodyTooLarge}, onEvent)
		return
	}
	if s.reqLen > 0 {
		s.reqLen -= int64(len(data))
	}
	s.forwardBody(data)
	s.h2held += len(data)
	if endStream && !s.ended() {
		if s.reqLen < 0 && !s.reqDiscard {
			s.requestLost(s.reqPipe.finish(nil))
		}
		s.requestDone()
	}
	_ = s.reqPipe.flush() // data is a slice of this read: it goes now
	s.h2credit()
}

// OnTrailers implements http2.Handler: the request's trailers end its
// body; they reach the upstream when the body is chunked.
func (h *h2conn) OnTrailers(id uint32, fields []http2.Field) {
	s := h.streams[id]
	if s == nil || s.reqState != stateBody {
		return
	}
	s.enter()
	defer s.exit()
	if s.reqLen < 0 && !s.reqDiscard {
		t := s.out[:0:0] // s.out may hold the request head still queued: use fresh memory
		for _, f := range fields {
			t = appendField(t, f.Name, f.Value)
		}
		s.requestLost(s.reqPipe.finish(t))
	}
	s.requestDone()
	_ = s.reqPipe.flush()
}

// OnReset implements http2.Handler: the client cancelled the stream, or the
// codec found it broken.
func (h *h2conn) OnReset(id uint32, _ http2.ErrCode) {
	s := h.streams[id]
	if s == nil {
		if _, ok := h.left[id]; ok {
			delete(h.left, id)
			h.settle()
		}
		return
	}
	h.forget(s)
	s.h2reset = true
	s.abort()
}

// OnWindow implements http2.Handler: a send window grew.
func (h *h2conn) OnWindow(id uint32) {
	if id != 0 {
		h.sendLeft(id)
		if s := h.streams[id]; s != nil {
			s.h2drain()
		}
		return
	}
	h.drainAll()
}

// queueLeft sends b and END_STREAM on a stream the proxy is done with, as
// far as the window allows, and keeps the rest for OnWindow.
func (h *h2conn) queueLeft(id uint32, b []byte) {
	n := h.codec.WriteData(id, b, true)
	if n == len(b) {
		h.flush()
		return
	}
	rest := append([]byte(nil), b[n:]...) // b may change once this returns
	h.flush()
	if h.left == nil {
		h.left = make(map[uint32][]byte)
	}
	h.left[id] = rest
}

// sendLeft sends what a finished stream left, once the window allows.
// The entry goes with its END_STREAM, or with the stream (OnReset,
// closed).
func (h *h2conn) sendLeft(id uint32) {
	rest, ok := h.left[id]
	if !ok {
		return
	}
	n := h.codec.WriteData(id, rest, true)
	h.flush() // before rest moves: the codec references it
	if n == len(rest) {
		delete(h.left, id)
		h.settle()
		return
	}
	h.left[id] = rest[:copy(rest, rest[n:])]
}

// forget implements front: it removes a stream that ended or was aborted,
// and gives back the flow-control window of request bytes it still held.
func (h *h2conn) forget(s *stream) {
	if h.streams[s.h2id] != s {
		return
	}
	delete(h.streams, s.h2id)
	if s.h2held > 0 {
		h.codec.Consumed(s.h2id, s.h2held)
		s.h2held = 0
	}
	h.settle()
}

// streamDone implements front, the End of an HTTP/2 stream: END_STREAM
// (or the trailers) after the last body byte, then the stream is
// forgotten. The stream is recycled by its outermost exit.
func (h *h2conn) streamDone(s *stream) {
	if !s.h2ended && !s.h2reset {
		s.h2ended = true
		switch {
		case len(s.h2pend) > 0:
			h.queueLeft(s.h2id, s.h2pend) // a local reply larger than the window
			s.h2pend = s.h2pend[:0]
		case len(s.respTrailers) > 0:
			h.fields = appendTrailerFields(h.fields[:0], s.respTrailers)
			h.codec.WriteTrailers(s.h2id, h.fields)
		default:
			h.codec.WriteData(s.h2id, nil, true)
		}
	}
	h.flush()
	s.life = lifeReleased
	h.forget(s)
}

// appendTrailerFields splits raw trailer field lines ("name: value\r\n")
// into fields referencing raw.
func appendTrailerFields(dst []http2.Field, raw []byte) []http2.Field {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimRight(line, "\r")
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		dst = append(dst, http2.Field{Name: name, Value: bytes.TrimSpace(value)})
	}
	return dst
}

// goAway tells the client that no new stream will be served; the streams
// in flight go on.
func (h *h2conn) goAway() {
	if !h.goaway {
		h.goaway = true
		h.codec.GoAway(http2.ErrCodeNo, "")
		h.flush()
	}
}

// busy reports whether a stream is in flight or a finished stream's reply
// still waits for window.
func (h *h2conn) busy() bool { return len(h.streams) > 0 || len(h.left) > 0 }

// settle decides, once the connection may have become empty, between
// closing it (after a GOAWAY or during a drain) and its idle timer.
func (h *h2conn) settle() {
	if h.busy() || h.d.c.Closed() {
		return
	}
	if h.goaway || h.d.f.srv.draining.Load() || h.d.f.drain.on.Load() {
		h.shutdown()
		return
	}
	h.d.armIdle()
}

// shutdown sends GOAWAY and closes once no stream is left.
func (h *h2conn) shutdown() {
	h.goAway()
	if !h.busy() {
		h.d.c.Close(filterchain.CloseLinger) // the client may still be sending (WINDOW_UPDATE, PING)
	}
}

// idle closes a connection that had no stream for the idle timeout.
func (h *h2conn) idle() {
	if !h.busy() {
		h.d.f.srv.stats.idleClosed.Inc()
		h.shutdown()
	}
}

// closed aborts every stream of a connection that went away.
func (h *h2conn) closed() {
	for _, s := range h.streams {
		delete(h.streams, s.h2id)
		s.h2held = 0
		s.h2reset = true
		s.abort()
	}
	clear(h.left)
}

// drainAll lets every stream write what it queued: the connection's
// window grew, or the client's socket drained below its low watermark.
func (h *h2conn) drainAll() {
	for lid := range h.left {
		h.sendLeft(lid)
	}
	for _, s := range h.streams {
		s.h2drain()
	}
}

// h2credit returns the flow-control window of request bytes that went on
// towards the upstream: none while they wait in the spill queue, so a slow
// upstream slows the client instead of filling the disk.
func (s *stream) h2credit() {
	if s.h2 == nil || s.h2held == 0 || s.reqPipe.queued() > 0 {
		return
	}
	s.h2.codec.Consumed(s.h2id, s.h2held)
	s.h2held = 0
	s.h2.flush()
}

// h2drain writes what the stream held back for lack of window, then what
// its response pipe queued, and lets the stream finish if that was all it
// waited for.
func (s *stream) h2drain() {
	if s.d.c.Stalled() {
		return // the client's socket is full: drainAll resumes below its low watermark
	}
	s.enter()
	defer s.exit()
	if len(s.h2pend) > 0 {
		n := s.h2.codec.WriteData(s.h2id, s.h2pend, false)
		s.h2.flush() // before h2pend moves: the codec references it
		s.h2pend = s.h2pend[:copy(s.h2pend, s.h2pend[n:])]
		if len(s.h2pend) > 0 {
			return
		}
	}
	if err := s.respPipe.drain(); err != nil {
		s.responseLost(err)
		return
	}
	s.h2upCredit()
	if s.respSent && s.respState == stateDone && s.respQueued() == 0 {
		s.resume(UpRecvData)
	}
}

// h2sink is a stream seen as the destination of its response pipe: body
// bytes become DATA frames, as far as the flow-control windows allow; the
// rest is held in h2pend (one write's worth at most: the sink reports
// itself stalled meanwhile, so the pipe queues further bytes in its spill
// queue).
type h2sink stream

func (k *h2sink) Write(b []byte) error {
	s := (*stream)(k)
	s.h2write(b, s.h2last())
	s.h2.flush()
	return nil
}

func (k *h2sink) Writev(bs [][]byte) error {
	s := (*stream)(k)
	last := s.h2last()
	for i, b := range bs {
		s.h2write(b, last && i == len(bs)-1)
	}
	s.h2.flush()
	return nil
}

// h2last reports whether what the pipe writes now is the end of the
// response, so that END_STREAM rides on its last DATA frame instead of
// costing a frame (and a write) of its own. It is, when the upstream
// response is complete, nothing waits in the spill queue (a write from
// the queue's drain is never the last: the queue still counts it), and no
// trailers follow.
func (s *stream) h2last() bool {
	return s.respState == stateDone && s.respPipe.queued() == 0 && len(s.respTrailers) == 0
}

func (k *h2sink) Closed() bool {
	s := (*stream)(k)
	return s.h2reset || s.d.c.Closed()
}

func (k *h2sink) Stalled() bool {
	s := (*stream)(k)
	return len(s.h2pend) > 0 || s.d.c.Stalled()
}

// h2write frames b, keeping what the window does not allow; end puts
// END_STREAM on its last frame once all of it went.
func (s *stream) h2write(b []byte, end bool) {
	if len(s.h2pend) > 0 {
		s.h2pend = append(s.h2pend, b...)
		return
	}
	n := s.h2.codec.WriteData(s.h2id, b, end)
	if n < len(b) {
		s.h2pend = append(s.h2pend, b[n:]...)
		return
	}
	s.h2ended = s.h2ended || end
}

// respQueued is what the response still has to hand to the client's side:
// the spill queue and, on HTTP/2, what waits for window.
func (s *stream) respQueued() int64 {
	return s.respPipe.queued() + int64(len(s.h2pend))
}

// sendHead implements front: the response head as a HEADERS frame (ending
// the stream when no body follows), then the body pipe.
func (h *h2conn) sendHead(s *stream) Phase {
	fields := s.h2ResponseFields(h.fields[:0])
	h.fields = fields
	// No body follows when the response is complete and nothing of it
	// waits in the spill queue (it may, when UpFilter ran on a worker).
	end := s.respState == stateDone && s.respPipe.queued() == 0
	h.codec.WriteHeaders(s.h2id, s.resp.Status, fields, end)
	s.h2ended = end
	s.respSent = true
	if end {
		h.flush()
		return UpRecvData
	}
	_ = s.respPipe.start((*h2sink)(s), nil) // the HEADERS leave with the first DATA
	return UpRecvData
}

// Field names and values of the responses ferry writes: converting a
// string constant to []byte where it escapes into a field list would
// allocate on every response.
//
//nolint:gochecknoglobals // read-only
var (
	h2ContentLength = []byte("content-length")
	h2Via           = []byte("via")
	h2TextPlain     = http2.Field{Name: []byte("content-type"), Value: []byte("text/plain; charset=utf-8")}
)

// appendH2Fields appends the response fields that appendFields would
// write, as HTTP/2 fields referencing the head, except Content-Length:
// sendHead states the length itself (the codec lowercases names).
func (h *headerMap) appendH2Fields(dst []http2.Field) []http2.Field {
	for i, f := range *h.fields {
		if f.Flags&(http1.FlagHopByHop|http1.FlagContentLength) != 0 || h.deleted(i) {
			continue
		}
		dst = append(dst, http2.Field{Name: h.bytes(f.Name), Value: h.bytes(f.Value)})
	}
	for _, a := range h.add {
		dst = append(dst, http2.Field{Name: []byte(a.name), Value: []byte(a.value)})
	}
	return dst
}

// h2ResponseFields appends the response head as HTTP/2 fields: the kept
// fields, the length when the upstream stated one, and Via. They reference
// the head and s.respOut: nothing is allocated, except a copy of each
// field a filter added (rare; they are strings).
func (s *stream) h2ResponseFields(dst []http2.Field) []http2.Field {
	r := &s.resp
	dst = s.respHdrs.appendH2Fields(dst)
	s.respOut = s.respOut[:0]
	if r.ContentLength >= 0 && r.Status != 204 && !r.Chunked {
		s.respOut = strconv.AppendInt(s.respOut, r.ContentLength, 10)
		dst = append(dst, http2.Field{Name: h2ContentLength, Value: s.respOut})
	}
	if v := s.d.f.viaH2; v != nil {
		dst = append(dst, http2.Field{Name: h2Via, Value: v})
	}
	return dst
}

// reply implements front.
func (h *h2conn) reply(s *stream, status int, body, extra string) Phase {
	s.detachUpstream(false)
	s.out = strconv.AppendInt(s.out[:0], int64(len(body)), 10)
	fields := append(h.fields[:0], h2TextPlain, http2.Field{Name: h2ContentLength, Value: s.out})
	if extra != "" { // "Name: value\r\n" lines (a redirect's Location)
		fields = appendTrailerFields(fields, []byte(extra))
	}
	h.fields = fields
	end := body == "" || s.req.IsHead()
	h.codec.WriteHeaders(s.h2id, status, fields, end)
	s.h2ended = end
	s.respSent = true
	s.respState = stateDone
	if !end {
		s.h2write([]byte(body), true)
	}
	h.flush()
	return End
}

// reset implements front: RST_STREAM resets the stream alone.
func (h *h2conn) reset(s *stream) {
	if !s.h2reset {
		s.h2reset = true
		h.codec.Reset(s.h2id, http2.ErrCodeInternal)
		h.flush()
	}
	s.abort()
}

// armBodyTimer implements front: the stream's request timer times the body
// (the connection's timer is its idle timer), unless a whole-request
// timeout runs there already.
func (h *h2conn) armBodyTimer(s *stream) {
	if o := &s.srv.opts; o.RequestTimeout == 0 {
		s.loop.Schedule(&s.reqTimer, o.RequestBodyTimeout)
	}
}

// requestDone implements front: the request timer is stopped by the
// stream (it also times HTTP/1.1 whole requests).
func (h *h2conn) requestDone(*stream) {}
