package http2

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// TestProtocolErrors drives each violation after a completed preface and
// checks the GOAWAY (connection errors) or RST_STREAM (stream errors) in
// the output, and the OnReset callback for streams the handler knew.
func TestProtocolErrors(t *testing.T) {
	open := func(cl *client) { cl.headers(1, false, getReq("/")...) }
	halfClosed := func(cl *client) { cl.headers(1, true, getReq("/")...) }
	settings := func(id http2.SettingID, v uint32) func(cl *client) {
		return func(cl *client) { cl.settings(http2.Setting{ID: id, Val: v}) }
	}
	tests := []struct {
		name  string
		opt   Options
		run   func(cl *client)
		conn  ErrCode // connection error expected when stream is 0
		rst   ErrCode // else RST_STREAM(stream, rst)
		strm  uint32
		reset bool // OnReset(stream, rst) expected
	}{
		// Frames on stream 0 that need a stream, and vice versa.
		{name: "DATA on stream 0", run: func(cl *client) { cl.data(0, false, "x") }, conn: ErrCodeProtocol},
		{name: "HEADERS on stream 0", run: func(cl *client) { cl.headers(0, true, getReq("/")...) }, conn: ErrCodeProtocol},
		{name: "PRIORITY on stream 0", run: func(cl *client) { cl.raw(http2.FramePriority, 0, 0, make([]byte, 5)) }, conn: ErrCodeProtocol},
		{name: "RST_STREAM on stream 0", run: func(cl *client) { cl.raw(http2.FrameRSTStream, 0, 0, u32(0)) }, conn: ErrCodeProtocol},
		{name: "SETTINGS on a stream", run: func(cl *client) { cl.raw(http2.FrameSettings, 0, 1, nil) }, conn: ErrCodeProtocol},
		{name: "PING on a stream", run: func(cl *client) { cl.raw(http2.FramePing, 0, 1, make([]byte, 8)) }, conn: ErrCodeProtocol},
		{name: "GOAWAY on a stream", run: func(cl *client) { cl.raw(http2.FrameGoAway, 0, 1, make([]byte, 8)) }, conn: ErrCodeProtocol},

		// Stream ids and states.
		{name: "DATA on an idle stream", run: func(cl *client) { cl.data(1, false, "x") }, conn: ErrCodeProtocol},
		{name: "DATA on an even stream", run: func(cl *client) { open(cl); cl.data(2, false, "x") }, conn: ErrCodeProtocol},
		{name: "HEADERS on an even stream", run: func(cl *client) { cl.headers(2, true, getReq("/")...) }, conn: ErrCodeProtocol},
		{name: "decreasing stream id", run: func(cl *client) { cl.headers(5, true, getReq("/")...).headers(3, true, getReq("/")...) }, conn: ErrCodeProtocol},
		{name: "RST_STREAM on an idle stream", run: func(cl *client) { cl.raw(http2.FrameRSTStream, 0, 1, u32(0)) }, conn: ErrCodeProtocol},
		{name: "WINDOW_UPDATE on an idle stream", run: func(cl *client) { must(cl.fr.WriteWindowUpdate(3, 1)) }, conn: ErrCodeProtocol},
		{name: "PUSH_PROMISE", run: func(cl *client) {
			open(cl)
			cl.raw(http2.FramePushPromise, http2.FlagPushPromiseEndHeaders, 1, u32(2))
		}, conn: ErrCodeProtocol},
		{name: "DATA after END_STREAM", run: func(cl *client) { halfClosed(cl); cl.data(1, false, "x") },
			rst: ErrCodeStreamClosed, strm: 1, reset: true},
		{name: "HEADERS after END_STREAM", run: func(cl *client) { halfClosed(cl); cl.headers(1, true, "x", "y") },
			rst: ErrCodeStreamClosed, strm: 1, reset: true},

		// Frame sizes.
		{name: "frame above MAX_FRAME_SIZE", run: func(cl *client) { open(cl); cl.raw(http2.FrameData, 0, 1, make([]byte, 16385)) }, conn: ErrCodeFrameSize},
		{name: "unknown frame above MAX_FRAME_SIZE", run: func(cl *client) { cl.raw(0x77, 0, 0, make([]byte, 1<<20)) }, conn: ErrCodeFrameSize},
		{name: "PRIORITY length 4", run: func(cl *client) { cl.raw(http2.FramePriority, 0, 1, make([]byte, 4)) }, conn: ErrCodeFrameSize},
		{name: "RST_STREAM length 3", run: func(cl *client) { open(cl); cl.raw(http2.FrameRSTStream, 0, 1, make([]byte, 3)) }, conn: ErrCodeFrameSize},
		{name: "SETTINGS length 5", run: func(cl *client) { cl.raw(http2.FrameSettings, 0, 0, make([]byte, 5)) }, conn: ErrCodeFrameSize},
		{name: "SETTINGS ACK with payload", run: func(cl *client) { cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, make([]byte, 6)) }, conn: ErrCodeFrameSize},
		{name: "PING length 7", run: func(cl *client) { cl.raw(http2.FramePing, 0, 0, make([]byte, 7)) }, conn: ErrCodeFrameSize},
		{name: "GOAWAY length 7", run: func(cl *client) { cl.raw(http2.FrameGoAway, 0, 0, make([]byte, 7)) }, conn: ErrCodeFrameSize},
		{name: "WINDOW_UPDATE length 3", run: func(cl *client) { cl.raw(http2.FrameWindowUpdate, 0, 0, make([]byte, 3)) }, conn: ErrCodeFrameSize},
		{name: "padded DATA without pad length", run: func(cl *client) { open(cl); cl.raw(http2.FrameData, http2.FlagDataPadded, 1, nil) }, conn: ErrCodeFrameSize},
		{name: "HEADERS too short for priority", run: func(cl *client) {
			cl.raw(http2.FrameHeaders, http2.FlagHeadersPriority|http2.FlagHeadersEndHeaders, 1, make([]byte, 4))
		}, conn: ErrCodeFrameSize},

		// Padding.
		{name: "DATA padding too long", run: func(cl *client) { open(cl); cl.raw(http2.FrameData, http2.FlagDataPadded, 1, []byte{4, 'a', 'b', 'c'}) }, conn: ErrCodeProtocol},
		{name: "HEADERS padding too long", run: func(cl *client) {
			cl.raw(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, append([]byte{200}, cl.block(getReq("/")...)...))
		}, conn: ErrCodeProtocol},

		// SETTINGS values.
		{name: "ENABLE_PUSH 2", run: settings(http2.SettingEnablePush, 2), conn: ErrCodeProtocol},
		{name: "INITIAL_WINDOW_SIZE 2^31", run: settings(http2.SettingInitialWindowSize, 1<<31), conn: ErrCodeFlowControl},
		{name: "MAX_FRAME_SIZE 16383", run: settings(http2.SettingMaxFrameSize, 16383), conn: ErrCodeProtocol},
		{name: "MAX_FRAME_SIZE 2^24", run: settings(http2.SettingMaxFrameSize, 1<<24), conn: ErrCodeProtocol},
		{name: "ENABLE_CONNECT_PROTOCOL 2", run: settings(0x8, 2), conn: ErrCodeProtocol},

		// Flow control.
		{name: "WINDOW_UPDATE 0 on the connection", run: func(cl *client) { must(cl.fr.WriteWindowUpdate(0, 0)) }, conn: ErrCodeProtocol},
		{name: "connection window overflow", run: func(cl *client) { must(cl.fr.WriteWindowUpdate(0, 1<<31-1-65535+1)) }, conn: ErrCodeFlowControl},
		{name: "WINDOW_UPDATE 0 on a stream", run: func(cl *client) { open(cl); must(cl.fr.WriteWindowUpdate(1, 0)) },
			rst: ErrCodeProtocol, strm: 1, reset: true},
		{name: "stream window overflow", run: func(cl *client) { open(cl); must(cl.fr.WriteWindowUpdate(1, 1<<31-1-65535+1)) },
			rst: ErrCodeFlowControl, strm: 1, reset: true},
		{name: "DATA beyond the stream window", opt: Options{InitialWindowSize: 20000}, run: func(cl *client) {
			open(cl)
			cl.data(1, false, strings.Repeat("x", 16384)).data(1, false, strings.Repeat("x", 16384))
		}, rst: ErrCodeFlowControl, strm: 1, reset: true},
		{name: "DATA beyond the connection window", opt: Options{ConnWindowSize: 65535, InitialWindowSize: 1 << 20}, run: func(cl *client) {
			open(cl)
			for range 4 {
				cl.data(1, false, strings.Repeat("x", 16384))
			}
		}, conn: ErrCodeFlowControl},

		// Priority.
		{name: "PRIORITY self-dependency on an open stream", run: func(cl *client) {
			open(cl)
			must(cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 1}))
		}, rst: ErrCodeProtocol, strm: 1, reset: true},
		{name: "PRIORITY self-dependency on an idle stream", run: func(cl *client) { must(cl.fr.WritePriority(7, http2.PriorityParam{StreamDep: 7})) }, conn: ErrCodeProtocol},
		{name: "HEADERS self-dependency", run: func(cl *client) {
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(getReq("/")...), EndHeaders: true,
				Priority: http2.PriorityParam{StreamDep: 1}}))
		}, rst: ErrCodeProtocol, strm: 1},

		// Header blocks.
		{name: "CONTINUATION without HEADERS", run: func(cl *client) { must(cl.fr.WriteContinuation(1, true, cl.block(getReq("/")...))) }, conn: ErrCodeProtocol},
		{name: "CONTINUATION on another stream", run: func(cl *client) {
			b := cl.block(getReq("/")...)
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]}))
			must(cl.fr.WriteContinuation(3, true, b[3:]))
		}, conn: ErrCodeProtocol},
		{name: "DATA inside a header block", run: func(cl *client) {
			b := cl.block(getReq("/")...)
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]}))
			cl.data(1, false, "x")
		}, conn: ErrCodeProtocol},
		{name: "PING inside a header block", run: func(cl *client) {
			b := cl.block(getReq("/")...)
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]}))
			must(cl.fr.WritePing(false, [8]byte{}))
		}, conn: ErrCodeProtocol},
		{name: "HPACK invalid index", run: func(cl *client) {
			cl.raw(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, []byte{0xff, 0x7f})
		}, conn: ErrCodeCompression},
		{name: "HPACK truncated block", run: func(cl *client) {
			b := cl.block(getReq("/", "x-long", "some value")...)
			cl.raw(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, b[:len(b)-3])
		}, conn: ErrCodeCompression},
		{name: "HPACK string longer than the header list", opt: Options{MaxHeaderListSize: 100}, run: func(cl *client) {
			cl.headers(1, true, getReq("/", "x-long", strings.Repeat("a", 200))...)
		}, conn: ErrCodeCompression},
		{name: "trailers without END_STREAM", run: func(cl *client) { open(cl); cl.headers(1, false, "x", "y") },
			rst: ErrCodeProtocol, strm: 1, reset: true},
		{name: "trailers with a pseudo-header", run: func(cl *client) { open(cl); cl.headers(1, true, ":path", "/") },
			rst: ErrCodeProtocol, strm: 1, reset: true},
		{name: "trailers with an uppercase name", run: func(cl *client) { open(cl); cl.headers(1, true, "X-Up", "1") },
			rst: ErrCodeProtocol, strm: 1, reset: true},
		{name: "trailers with a connection field", run: func(cl *client) { open(cl); cl.headers(1, true, "connection", "close") },
			rst: ErrCodeProtocol, strm: 1, reset: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opt)
			h.start()
			tc.run(h.cl)
			h.feed()
			if tc.conn != 0 {
				h.wantConnError(tc.conn)
				return
			}
			if h.err != nil {
				t.Fatalf("connection error %v, want a stream error", h.err)
			}
			fs := h.frames()
			last := fs[len(fs)-1]
			if last.typ != http2.FrameRSTStream || last.id != tc.strm || ErrCode(last.code) != tc.rst {
				t.Fatalf("frames:\n%s\nwant RST_STREAM %d %v", framesString(fs), tc.strm, tc.rst)
			}
			ev := h.h.take()
			gotReset := len(ev) > 0 && ev[len(ev)-1].kind == "reset"
			if gotReset != tc.reset || gotReset && (ev[len(ev)-1].id != tc.strm || ev[len(ev)-1].code != tc.rst) {
				t.Fatalf("events:\n%s", eventsString(ev))
			}
			if h.c.ActiveStreams() != 0 {
				t.Fatalf("%d streams left", h.c.ActiveStreams())
			}
			// The connection carries on with the HPACK state intact.
			h.cl.headers(101, true, getReq("/after")...)
			h.feed()
			if ev := h.h.take(); len(ev) != 1 || ev[0].path != "/after" {
				t.Fatalf("after the stream error: %v (err %v)", ev, h.err)
			}
		})
	}
}

// TestClosedStreamFrames: frames for a stream that ended normally.
func TestClosedStreamFrames(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	h.c.WriteHeaders(1, 200, nil, true)
	h.frames()
	h.h.take()
	// WINDOW_UPDATE, RST_STREAM and PRIORITY are fine after our END_STREAM.
	must(h.cl.fr.WriteWindowUpdate(1, 10))
	h.cl.raw(http2.FrameRSTStream, 0, 1, u32(0))
	must(h.cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 0, Weight: 1}))
	h.feed()
	if fs := h.frames(); len(fs) != 0 || h.err != nil {
		t.Fatalf("frames:\n%s", framesString(fs))
	}
	// DATA is a stream error STREAM_CLOSED, with no callback.
	h.cl.data(1, false, "late")
	h.feed()
	if got := framesString(h.frames()); got != "RST_STREAM 1 STREAM_CLOSED" {
		t.Fatalf("frames:\n%s", got)
	}
	if ev := h.h.take(); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
	// HEADERS is a connection error.
	h.cl.headers(1, true, "x", "y")
	h.feed()
	h.wantConnError(ErrCodeProtocol)
}

// validationCase is one request of a validation table: its fields and
// whether the codec delivers it.
type validationCase struct {
	name string
	kv   []string
	ok   bool
}

func TestRequestValidation(t *testing.T) {
	base := func(extra ...string) []string { return getReq("/", extra...) }
	tests := []validationCase{
		{"plain GET", base(), true},
		{"OPTIONS *", []string{":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "a"}, true},
		{"CONNECT", []string{":method", "CONNECT", ":authority", "example.com:443"}, true},
		{"host instead of authority", []string{":method", "GET", ":scheme", "http", ":path", "/", "host", "example.com"}, true},
		{"host equal to authority", base("host", "EXAMPLE.com"), true},
		{"te trailers", base("te", "trailers"), true},
		{"te Trailers", base("te", "Trailers"), true},
		{"equal content-lengths", base("content-length", "0", "content-length", "0"), true},
		{"other scheme", []string{":method", "GET", ":scheme", "foo+bar", ":path", "x"}, true},
		{"inner whitespace", base("x-v", "a b\tc"), true},
		{"empty value", base("x-empty", ""), true},
		{"obs-text value", base("x-v", "caf\xc3\xa9"), true},
		{"ipv6 authority", []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "[::1]:8443"}, true},

		{"missing method", []string{":scheme", "https", ":path", "/"}, false},
		{"missing scheme", []string{":method", "GET", ":path", "/"}, false},
		{"missing path", []string{":method", "GET", ":scheme", "https"}, false},
		{"empty path", []string{":method", "GET", ":scheme", "https", ":path", ""}, false},
		{"duplicate method", base(":method", "GET"), false},
		{"duplicate path", []string{":method", "GET", ":scheme", "https", ":path", "/", ":path", "/"}, false},
		{"pseudo after regular", []string{":method", "GET", ":scheme", "https", "x", "y", ":path", "/"}, false},
		{"unknown pseudo", []string{":method", "GET", ":foo", "bar", ":scheme", "https", ":path", "/"}, false},
		{":status in a request", []string{":status", "200", ":method", "GET", ":scheme", "https", ":path", "/"}, false},
		{":protocol", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "a"}, false},
		{"uppercase name", base("X-Upper", "1"), false},
		{"space in name", base("x y", "1"), false},
		{"colon in name", base("x:y", "1"), false},
		{"empty name", base("", "1"), false},
		{"connection", base("connection", "keep-alive"), false},
		{"transfer-encoding", base("transfer-encoding", "chunked"), false},
		{"upgrade", base("upgrade", "h2c"), false},
		{"keep-alive", base("keep-alive", "5"), false},
		{"proxy-connection", base("proxy-connection", "close"), false},
		{"te gzip", base("te", "gzip"), false},
		{"te trailers, gzip", base("te", "trailers, gzip"), false},
		{"NUL in value", base("x", "a\x00b"), false},
		{"CR in value", base("x", "a\rb"), false},
		{"LF in value", base("x", "a\nb"), false},
		{"control byte in value", base("x", "a\x01b"), false},
		{"DEL in value", base("x", "a\x7fb"), false},
		{"leading space", base("x", " a"), false},
		{"trailing tab", base("x", "a\t"), false},
		{"CR in path", []string{":method", "GET", ":scheme", "https", ":path", "/a\rb"}, false},
		{"space in path", []string{":method", "GET", ":scheme", "https", ":path", "/a b"}, false},
		{"non-ASCII path", []string{":method", "GET", ":scheme", "https", ":path", "/caf\xc3\xa9"}, false},
		{"* with GET", []string{":method", "GET", ":scheme", "https", ":path", "*"}, false},
		{"relative path", []string{":method", "GET", ":scheme", "https", ":path", "index.html"}, false},
		{"CONNECT with path", []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}, false},
		{"CONNECT with scheme", []string{":method", "CONNECT", ":authority", "a:443", ":scheme", "https"}, false},
		{"CONNECT without authority", []string{":method", "CONNECT"}, false},
		{"userinfo", []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "user@host"}, false},
		{"empty authority", []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", ""}, false},
		{"space in authority", []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a b"}, false},
		{"two hosts", []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a", "host", "a"}, false},
		{"host differs from authority", base("host", "other.example"), false},
		{"bad host", []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a/b"}, false},
		{"content-length abc", base("content-length", "abc"), false},
		{"content-length -1", base("content-length", "-1"), false},
		{"content-length list", base("content-length", "1,1"), false},
		{"content-length overflow", base("content-length", "99999999999999999999"), false},
		{"different content-lengths", base("content-length", "0", "content-length", "1"), false},
		{"method with space", []string{":method", "GE T", ":scheme", "https", ":path", "/"}, false},
		{"empty method", []string{":method", "", ":scheme", "https", ":path", "/"}, false},
		{"scheme starting with a digit", []string{":method", "GET", ":scheme", "1http", ":path", "/"}, false},
		{"empty scheme", []string{":method", "GET", ":scheme", "", ":path", "/"}, false},
	}
	runValidation(t, Options{}, tests)
}

// TestExtendedConnect: with EnableConnectProtocol, :protocol is accepted
// on a CONNECT with :scheme, :path and :authority (RFC 8441 4), and every
// other use of it stays malformed; without it, :protocol is refused.
func TestExtendedConnect(t *testing.T) {
	ws := func(extra ...string) []string {
		return append([]string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat?x=1", ":authority", "a"}, extra...)
	}
	runValidation(t, Options{EnableConnectProtocol: true}, []validationCase{
		{"websocket", ws("sec-websocket-version", "13"), true},
		{"http scheme", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/", ":authority", "a"}, true},
		{"plain CONNECT still", []string{":method", "CONNECT", ":authority", "a:443"}, true},
		{"plain GET still", getReq("/"), true},
		{"GET with :protocol", []string{":method", "GET", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "a"}, false},
		{"no :path", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a"}, false},
		{"no :scheme", []string{":method", "CONNECT", ":protocol", "websocket", ":path", "/", ":authority", "a"}, false},
		{"no :authority", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/"}, false},
		{"empty :authority", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", ""}, false},
		{"empty :protocol", []string{":method", "CONNECT", ":protocol", "", ":scheme", "https", ":path", "/", ":authority", "a"}, false},
		{":protocol not a token", []string{":method", "CONNECT", ":protocol", "web socket", ":scheme", "https", ":path", "/", ":authority", "a"}, false},
		{"two :protocol", ws(":protocol", "websocket"), false},
		{":protocol after a field", []string{":method", "CONNECT", ":scheme", "https", ":path", "/", ":authority", "a", "x", "y", ":protocol", "websocket"}, false},
		{"relative path", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "chat", ":authority", "a"}, false},
		{"userinfo", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "u@a"}, false},
	})
	runValidation(t, Options{}, []validationCase{{"not advertised", ws(), false}})

	// The setting is in the server preface only when enabled, and the
	// request carries its :protocol.
	for _, on := range []bool{false, true} {
		h := newHarness(t, Options{EnableConnectProtocol: on})
		var got []http2.Setting
		if fs := h.frames(); len(fs) > 0 {
			got = fs[0].set
		}
		if has := slices.Contains(got, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1}); has != on {
			t.Fatalf("EnableConnectProtocol %v: settings %v", on, got)
		}
	}
	h := newHarness(t, Options{EnableConnectProtocol: true})
	var proto, path string
	h.h.onRequest = func(_ uint32, r *Request, _ bool) { proto, path = string(r.Protocol), string(r.Path) }
	h.start()
	h.cl.headers(1, false, ws()...)
	h.feed()
	if proto != "websocket" || path != "/chat?x=1" {
		t.Fatalf("protocol %q path %q", proto, path)
	}
	// RemoteClosed follows the client's END_STREAM (the tunnel's half-close).
	h.cl.headers(3, true, ws()...)
	h.feed()
	if h.c.RemoteClosed(1) || !h.c.RemoteClosed(3) || h.c.RemoteClosed(5) {
		t.Fatalf("RemoteClosed: 1 %v, 3 %v, 5 %v; want false, true, false", h.c.RemoteClosed(1), h.c.RemoteClosed(3), h.c.RemoteClosed(5))
	}
}

// runValidation feeds each case's request to a new Conn with opts and
// checks that it is delivered, or else reset with PROTOCOL_ERROR and no
// callback.
func runValidation(t *testing.T, opts Options, tests []validationCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts)
			h.start()
			h.cl.headers(1, true, tc.kv...)
			h.feed()
			ev := h.h.take()
			fs := h.frames()
			if tc.ok {
				if len(ev) != 1 || ev[0].kind != "req" || len(fs) != 0 {
					t.Fatalf("want a request; events %v frames:\n%s", ev, framesString(fs))
				}
				return
			}
			if len(ev) != 0 || framesString(fs) != "RST_STREAM 1 PROTOCOL_ERROR" {
				t.Fatalf("want RST_STREAM(PROTOCOL_ERROR); events %v frames:\n%s", ev, framesString(fs))
			}
		})
	}
}

// TestRapidReset: streams opened and reset at once hit the reset limit.
func TestRapidReset(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	for i := range DefaultMaxResetsPerWindow + 1 {
		id := uint32(2*i + 1)
		h.cl.headers(id, true, getReq("/")...)
		h.cl.raw(http2.FrameRSTStream, 0, id, u32(uint32(ErrCodeCancel)))
		h.feed()
		if err := h.err; err != nil {
			if i != DefaultMaxResetsPerWindow {
				t.Fatalf("error after %d resets: %v", i+1, err)
			}
			h.wantConnError(ErrCodeEnhanceYourCalm)
			return
		}
	}
	t.Fatal("no connection error")
}

// TestRefusedStreamsCountAsResets: a peer that ignores
// MAX_CONCURRENT_STREAMS is stopped by the same limit.
func TestRefusedStreamsCountAsResets(t *testing.T) {
	h := newHarness(t, Options{MaxConcurrentStreams: 1, MaxResetsPerWindow: 10})
	h.start()
	h.cl.headers(1, false, getReq("/")...)
	for i := range 11 {
		h.cl.headers(uint32(3+2*i), true, getReq("/")...)
	}
	h.feed()
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

// TestResetWindowRolls: resets below the limit in every window are fine
// however long the connection lives.
func TestResetWindowRolls(t *testing.T) {
	h := newHarness(t, Options{MaxResetsPerWindow: 5, ResetWindow: 10})
	h.start()
	id := uint32(1)
	for range 50 {
		for i := range 10 {
			if i < 5 {
				h.cl.headers(id, false, getReq("/")...)
				h.cl.raw(http2.FrameRSTStream, 0, id, u32(uint32(ErrCodeCancel)))
			} else {
				h.cl.headers(id, true, getReq("/")...)
			}
			id += 2
		}
		h.feed()
		if err := h.err; err != nil {
			t.Fatal(err)
		}
		for _, e := range h.h.take() {
			if e.kind == "req" && e.end {
				h.c.WriteHeaders(e.id, 204, nil, true)
			}
		}
		h.frames()
	}
}

// TestContinuationFlood: an endless header block ends in a connection
// error once MaxHeaderBlockBytes is passed, with bounded memory.
func TestContinuationFlood(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	// Each 0x82 byte decodes to ":method: GET" (42 bytes of list size).
	frag := bytes.Repeat([]byte{0x82}, 16384)
	must(h.cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag}))
	h.feed()
	fed := 16384
	for h.err == nil {
		must(h.cl.fr.WriteContinuation(1, false, frag))
		h.feed()
		fed += 16384
		if fed > 1<<20 {
			t.Fatal("no error after 1 MiB of header block")
		}
	}
	if fed > 2*DefaultMaxHeaderListSize+16384 {
		t.Fatalf("error after %d bytes", fed)
	}
	if len(h.c.hbuf) > DefaultMaxHeaderListSize || len(h.c.spans) > DefaultMaxHeaderListSize/32 {
		t.Fatalf("decoded %d bytes, %d fields", len(h.c.hbuf), len(h.c.spans))
	}
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

func TestEmptyContinuationFlood(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	must(h.cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: nil}))
	for range DefaultMaxEmptyFramesPerWindow {
		must(h.cl.fr.WriteContinuation(1, false, nil))
	}
	h.feed()
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

func TestEmptyDataFlood(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, false, getReq("/")...)
	for range DefaultMaxEmptyFramesPerWindow {
		h.cl.data(1, false, "")
	}
	h.feed()
	if h.err != nil {
		t.Fatal(h.err)
	}
	if ev := h.h.take(); len(ev) != 1 {
		t.Fatalf("empty DATA delivered: %v", ev)
	}
	h.cl.data(1, false, "")
	h.feed()
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

// TestPingFlood: PINGs from a peer that does not read our output end in
// ENHANCE_YOUR_CALM with the output bounded; the same PINGs with the
// output drained are fine.
func TestPingFlood(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	for range 10 {
		for range 1000 {
			must(h.cl.fr.WritePing(false, [8]byte{1}))
		}
		h.feed()
		if err := h.err; err != nil {
			t.Fatal(err)
		}
		h.c.ResetOut()
	}
	for h.err == nil {
		for range 100 {
			must(h.cl.fr.WritePing(false, [8]byte{1}))
		}
		h.feed()
		if h.c.OutLen() > DefaultMaxControlBytes+1024 {
			t.Fatalf("OutLen %d", h.c.OutLen())
		}
	}
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

func TestSettingsFlood(t *testing.T) {
	h := newHarness(t, Options{MaxControlBytes: 900})
	h.start()
	for range 101 { // 100 ACKs of 9 bytes fit
		h.cl.settings()
	}
	h.feed()
	h.wantConnError(ErrCodeEnhanceYourCalm)
}

// TestByteAtATime: feeding one byte at a time gives the same callbacks
// and output as one Feed of everything.
func TestByteAtATime(t *testing.T) {
	script := func(cl *client) {
		cl.buf.WriteString(ClientPreface)
		cl.settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
		cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
		cl.headers(1, true, getReq("/a", "accept", "*/*")...)
		cl.headers(3, false, ":method", "POST", ":scheme", "https", ":authority", "x", ":path", "/p", "content-length", "10")
		cl.data(3, false, "01234")
		must(cl.fr.WriteDataPadded(3, false, []byte("567"), make([]byte, 20)))
		must(cl.fr.WritePing(false, [8]byte{7}))
		b := cl.block(getReq("/split", "x-long", strings.Repeat("z", 300))...)
		must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: b[:10], PadLength: 3}))
		must(cl.fr.WriteContinuation(5, false, b[10:100]))
		must(cl.fr.WriteContinuation(5, true, b[100:]))
		cl.data(3, false, "89")
		cl.headers(3, true, "x-trailer", "t")
		must(cl.fr.WriteWindowUpdate(0, 1000))
		must(cl.fr.WriteWindowUpdate(1, 1000))
		cl.raw(http2.FrameRSTStream, 0, 5, u32(uint32(ErrCodeCancel)))
		cl.raw(0xee, 0, 0, []byte("ignored"))
	}
	run := func(step int) ([]event, []byte) {
		rec := &recorder{consume: true}
		c := NewConn(rec, Options{InitialWindowSize: 40, ConnWindowSize: 65535})
		rec.c = c
		rec.onRequest = func(id uint32, r *Request, end bool) {
			if id == 1 {
				c.WriteHeaders(1, 200, nil, false)
				c.WriteData(1, []byte(strings.Repeat("r", 300)), true)
			}
		}
		rec.onWindow = func(id uint32) {
			c.WriteData(1, []byte(strings.Repeat("r", 200)), true)
		}
		cl := newClient()
		script(cl)
		in := cl.take()
		var out []byte
		var pending []byte
		for i := 0; i < len(in); i += step {
			pending = append(pending, in[i:min(i+step, len(in))]...)
			n, err := c.Feed(pending)
			if err != nil {
				t.Fatal(err)
			}
			pending = pending[n:]
			out = append(out, flat(c.Out())...)
			c.ResetOut()
		}
		if len(pending) != 0 {
			t.Fatalf("%d bytes left", len(pending))
		}
		return rec.events, out
	}
	wantEv, wantOut := run(1 << 30)
	if len(wantEv) < 8 {
		t.Fatalf("events:\n%s", eventsString(wantEv))
	}
	for _, step := range []int{1, 2, 7, 9, 100} {
		ev, out := run(step)
		if eventsString(ev) != eventsString(wantEv) {
			t.Fatalf("step %d events:\n%s\nwant:\n%s", step, eventsString(ev), eventsString(wantEv))
		}
		if !bytes.Equal(out, wantOut) {
			t.Fatalf("step %d: output differs", step)
		}
	}
}
