package http2

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestServerPreface(t *testing.T) {
	h := newHarness(t, Options{})
	fs := h.frames()
	if len(fs) != 2 || fs[0].typ != http2.FrameSettings || fs[1].typ != http2.FrameWindowUpdate {
		t.Fatalf("server preface:\n%s", framesString(fs))
	}
	want := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: DefaultMaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: DefaultInitialWindowSize},
		{ID: http2.SettingMaxFrameSize, Val: DefaultMaxFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: DefaultMaxHeaderListSize},
	}
	if framesString([]frame{{typ: http2.FrameSettings, set: want}}) != framesString(fs[:1]) {
		t.Fatalf("settings %v, want %v", fs[0].set, want)
	}
	if fs[1].id != 0 || fs[1].inc != DefaultConnWindowSize-65535 {
		t.Fatalf("window update %v", fs[1])
	}

	// Options are clamped and a non-default table size is advertised;
	// a connection window of 65535 needs no WINDOW_UPDATE.
	h = newHarness(t, Options{MaxFrameSize: 1, ConnWindowSize: 1, HeaderTableSize: 1024, InitialWindowSize: 1 << 31})
	fs = h.frames()
	if len(fs) != 1 {
		t.Fatalf("server preface:\n%s", framesString(fs))
	}
	got := map[http2.SettingID]uint32{}
	for _, s := range fs[0].set {
		got[s.ID] = s.Val
	}
	if got[http2.SettingMaxFrameSize] != 16384 || got[http2.SettingHeaderTableSize] != 1024 || got[http2.SettingInitialWindowSize] != 1<<31-1 {
		t.Fatalf("settings %v", fs[0].set)
	}
}

func TestClientPreface(t *testing.T) {
	tests := []struct {
		name  string
		input string
		n     int
		err   bool
	}{
		{"empty", "", 0, false},
		{"partial", ClientPreface[:10], 0, false},
		{"complete", ClientPreface, 24, false},
		{"http1 request", "GET / HTTP/1.1\r\n", 0, true},
		{"wrong early byte", "PRX", 0, true},
		{"wrong last byte", ClientPreface[:23] + "x", 0, true},
		{"http/2.1", "PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.frames()
			n, err := h.c.Feed([]byte(tc.input))
			if n != tc.n || (err != nil) != tc.err {
				t.Fatalf("Feed = %d, %v; want %d, err=%v", n, err, tc.n, tc.err)
			}
			if tc.err {
				h.err = err
				h.wantConnError(ErrCodeProtocol)
				if n, err2 := h.c.Feed([]byte(ClientPreface)); n != 0 || err2 != err {
					t.Fatalf("Feed after the error = %d, %v", n, err2)
				}
			}
		})
	}
}

func TestSettingsExchange(t *testing.T) {
	h := newHarness(t, Options{})
	h.frames()
	h.cl.buf.WriteString(ClientPreface)
	h.cl.settings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000},
		http2.Setting{ID: 0x99, Val: 7}) // unknown: ignored
	h.feed()
	fs := h.frames()
	if len(fs) != 1 || fs[0].typ != http2.FrameSettings || fs[0].flags != http2.FlagSettingsAck {
		t.Fatalf("want SETTINGS ACK:\n%s", framesString(fs))
	}
	if h.c.SettingsAcked() {
		t.Fatal("acked before the client's ACK")
	}
	h.cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
	h.feed()
	if !h.c.SettingsAcked() || h.c.peerMaxFrame != 1<<20 || h.c.peerInitWin != 1000 {
		t.Fatalf("acked=%v maxFrame=%d initWin=%d", h.c.SettingsAcked(), h.c.peerMaxFrame, h.c.peerInitWin)
	}
	if len(h.frames()) != 0 {
		t.Fatal("reply to a SETTINGS ACK")
	}
}

func TestFirstFrameMustBeSettings(t *testing.T) {
	h := newHarness(t, Options{})
	h.cl.buf.WriteString(ClientPreface)
	must(h.cl.fr.WritePing(false, [8]byte{}))
	h.feed()
	h.wantConnError(ErrCodeProtocol)
}

func TestSimpleGET(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/index.html?q=1", "user-agent", "test", "cookie", "a=1", "cookie", "b=2", "accept", "*/*")...)
	h.feed()
	ev := h.h.take()
	want := `req 1 GET https example.com /index.html?q=1 cl=-1 end=true ["user-agent: test" "cookie: a=1" "cookie: b=2" "accept: */*"]`
	if eventsString(ev) != want {
		t.Fatalf("events:\n%s\nwant:\n%s", eventsString(ev), want)
	}
	if h.c.ActiveStreams() != 1 {
		t.Fatalf("active %d", h.c.ActiveStreams())
	}
	h.c.WriteHeaders(1, 200, []Field{{[]byte("Content-Type"), []byte("text/plain")}}, false)
	if n := h.c.WriteData(1, []byte("hello"), true); n != 5 {
		t.Fatalf("WriteData = %d", n)
	}
	fs := h.frames()
	want = "HEADERS 1 END_HEADERS [\":status: 200\" \"content-type: text/plain\"]\nDATA 1 END_STREAM len=5"
	if framesString(fs) != want {
		t.Fatalf("frames:\n%s\nwant:\n%s", framesString(fs), want)
	}
	if h.c.ActiveStreams() != 0 {
		t.Fatalf("active %d after the response", h.c.ActiveStreams())
	}
}

func TestRequestHeaderAPI(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	var host []byte
	var ok bool
	h.h.onRequest = func(id uint32, r *Request, end bool) {
		host, ok = r.Header("host")
		host = bytes.Clone(host)
	}
	h.cl.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", "host", "h.example")
	h.feed()
	if !ok || string(host) != "h.example" {
		t.Fatalf("Header(host) = %q, %v", host, ok)
	}
}

// TestPOSTWindowUpdates checks the Consumed batching: WINDOW_UPDATEs only
// once half a window is owed, for the stream and the connection apart.
func TestPOSTWindowUpdates(t *testing.T) {
	h := newHarness(t, Options{InitialWindowSize: 40000, ConnWindowSize: 100000})
	h.start()
	h.cl.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/up", "content-length", "60000")
	chunk := strings.Repeat("x", 10000)
	for range 4 {
		h.cl.data(1, false, chunk)
	}
	h.feed()
	ev := h.h.take()
	if len(ev) != 5 || ev[0].cl != 60000 {
		t.Fatalf("events:\n%s", eventsString(ev))
	}
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("window update before Consumed:\n%s", framesString(fs))
	}
	h.c.Consumed(1, 19999) // stream threshold is 20000
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("early window update:\n%s", framesString(fs))
	}
	h.c.Consumed(1, 1)
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 1 +20000" {
		t.Fatalf("got %s", got)
	}
	h.c.Consumed(1, 20000)
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 1 +20000" {
		t.Fatalf("got %s", got)
	}
	// The peer now has 40000 of stream window again; the connection has
	// received 40000 of 100000 and 40000 were consumed: below 50000.
	h.cl.data(1, false, chunk).data(1, true, chunk)
	h.feed()
	h.h.take()
	h.c.Consumed(1, 10000) // connection owed 50000: update; the stream is half-closed: none
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 0 +50000" {
		t.Fatalf("got %s", got)
	}
	h.c.Consumed(1, 1<<20) // more than delivered: clamped to the 10000 held
	h.c.WriteHeaders(1, 204, nil, true)
	fs := h.frames()
	if len(fs) != 1 || fs[0].typ != http2.FrameHeaders {
		t.Fatalf("got:\n%s", framesString(fs))
	}
	if h.c.connUnacked != 10000 {
		t.Fatalf("connUnacked %d", h.c.connUnacked)
	}
}

// TestUnconsumedReturnedOnClose: a stream that closes with bytes the
// handler never consumed gives them back to the connection window.
func TestUnconsumedReturnedOnClose(t *testing.T) {
	h := newHarness(t, Options{ConnWindowSize: 65535, InitialWindowSize: 65535})
	h.start()
	h.cl.headers(1, false, getReq("/")...).data(1, false, strings.Repeat("a", 16000)).data(1, false, strings.Repeat("a", 16000)).data(1, false, strings.Repeat("a", 1000))
	h.feed()
	h.frames()
	h.cl.raw(http2.FrameRSTStream, 0, 1, u32(uint32(http2.ErrCodeCancel)))
	h.feed()
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 0 +33000" {
		t.Fatalf("got %q", got)
	}
	h.c.Consumed(1, 33000) // closed: ignored
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("got:\n%s", framesString(fs))
	}
}

func TestPaddedFrames(t *testing.T) {
	h := newHarness(t, Options{InitialWindowSize: 100, ConnWindowSize: 65535})
	h.start()
	must(h.cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.cl.block(getReq("/")...),
		EndHeaders: true, PadLength: 7, Priority: http2.PriorityParam{StreamDep: 0, Weight: 10}}))
	must(h.cl.fr.WriteDataPadded(1, false, []byte("abc"), make([]byte, 40)))
	must(h.cl.fr.WriteDataPadded(1, true, nil, make([]byte, 9)))
	h.feed()
	want := "data 1 \"abc\" end=false\ndata 1 \"\" end=true"
	if got := eventsString(h.h.take()[1:]); got != want {
		t.Fatalf("events:\n%s", got)
	}
	// The 41 padding bytes of the first frame are returned to the stream
	// (threshold 50: not yet); the second frame ended the stream.
	if st := h.c.streams[1]; st == nil || st.unacked != 41 {
		t.Fatalf("stream %+v", h.c.streams[1])
	}
}

// TestResponseFraming writes a response whose header block and body need
// several frames and decodes it with x/net's Framer.
func TestResponseFraming(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	big := strings.Repeat("~{}", 4000) // longer Huffman codes: sent raw
	fields := []Field{
		{[]byte("X-One"), []byte(big)},
		{[]byte("x-two"), []byte(big)},
		{[]byte("Connection"), []byte("close")},
		{[]byte("Transfer-Encoding"), []byte("chunked")},
		{[]byte("keep-alive"), []byte("1")},
		{[]byte("Upgrade"), []byte("h2c")},
		{[]byte("proxy-connection"), []byte("x")},
		{[]byte(":status"), []byte("999")},
		{[]byte("x-bad"), []byte("a\r\nb")},
		{[]byte("x-three"), []byte(big)},
	}
	h.c.WriteHeaders(1, 200, fields, false)
	body := bytes.Repeat([]byte("0123456789"), 4000)
	if n := h.c.WriteData(1, body[:40000], false); n != 40000 {
		t.Fatalf("WriteData = %d", n)
	}
	// The rest exceeds the 65535 windows: 25535 go out, then nothing.
	if n := h.c.WriteData(1, body[:30000], true); n != 25535 {
		t.Fatalf("WriteData = %d", n)
	}
	raw := flat(h.c.Out())
	// Check the frame layout on the wire first.
	var layout []string
	for b := raw; len(b) > 0; {
		fh := parseFrameHeader(b)
		layout = append(layout, http2.FrameType(fh.typ).String()+":"+itoa(int(fh.length)))
		b = b[9+fh.length:]
	}
	got := strings.Join(layout, " ")
	if !strings.HasPrefix(got, "HEADERS:16384 CONTINUATION:16384 CONTINUATION:") ||
		!strings.HasSuffix(got, "DATA:16384 DATA:16384 DATA:7232 DATA:16384 DATA:9151") {
		t.Fatalf("layout %s", got)
	}
	fs := h.frames()
	want := []string{":status: 200", "x-one: " + big, "x-two: " + big, "x-three: " + big}
	if strings.Join(fs[0].fields, "|") != strings.Join(want, "|") {
		t.Fatalf("headers %v %.100q", fs[0].flags, fs[0].fields)
	}
	var gotBody []byte
	for _, f := range fs[1:] {
		if f.typ != http2.FrameData || f.flags != 0 {
			t.Fatalf("frame %v", f)
		}
		gotBody = append(gotBody, f.data...)
	}
	if !bytes.Equal(gotBody, append(bytes.Clone(body[:40000]), body[:25535]...)) {
		t.Fatal("body differs")
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestSendFlowControl: WriteData stops at the windows, OnWindow tells
// when each grows, and the rest follows.
func TestSendFlowControl(t *testing.T) {
	h := newHarness(t, Options{})
	h.start(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	h.cl.headers(1, true, getReq("/")...)
	h.cl.headers(3, true, getReq("/")...)
	h.feed()
	h.h.take()
	h.c.WriteHeaders(1, 200, nil, false)
	h.c.WriteHeaders(3, 200, nil, false)
	body := make([]byte, 5000)
	if n := h.c.WriteData(1, body, true); n != 1000 {
		t.Fatalf("WriteData = %d", n)
	}
	if h.c.SendWindow(1) != 0 || h.c.SendWindow(3) != 1000 {
		t.Fatalf("windows %d %d", h.c.SendWindow(1), h.c.SendWindow(3))
	}
	fs := h.frames()
	if got := framesString(fs[2:]); got != "DATA 1 len=1000" {
		t.Fatalf("got %s", got)
	}
	// Stream window grows: OnWindow(1).
	must(h.cl.fr.WriteWindowUpdate(1, 3000))
	h.feed()
	if got := eventsString(h.h.take()); got != "window 1" {
		t.Fatalf("events %q", got)
	}
	if n := h.c.WriteData(1, body[1000:], true); n != 3000 {
		t.Fatalf("WriteData = %d", n)
	}
	// Use up the connection window (65535 - 4000 left) on stream 3 after
	// growing its window.
	must(h.cl.fr.WriteWindowUpdate(3, 100000))
	h.feed()
	if ev := h.h.take(); len(ev) != 0 {
		t.Fatalf("OnWindow for a stream that was never blocked: %v", ev)
	}
	big := make([]byte, 100000)
	if n := h.c.WriteData(3, big, false); n != 65535-4000 {
		t.Fatalf("WriteData = %d", n)
	}
	must(h.cl.fr.WriteWindowUpdate(1, 10000)) // stream 1 was cut short by its window
	h.feed()
	if got := eventsString(h.h.take()); got != "window 1" {
		t.Fatalf("events %q", got)
	}
	if n := h.c.WriteData(1, body[4000:], true); n != 0 {
		t.Fatalf("WriteData with no connection window = %d", n)
	}
	must(h.cl.fr.WriteWindowUpdate(0, 500))
	h.feed()
	if got := eventsString(h.h.take()); got != "window 0" {
		t.Fatalf("events %q", got)
	}
	if n := h.c.WriteData(1, body[4000:], true); n != 500 {
		t.Fatalf("WriteData = %d", n)
	}
	must(h.cl.fr.WriteWindowUpdate(0, 10000))
	h.feed()
	if got := eventsString(h.h.take()); got != "window 0" {
		t.Fatalf("events %q", got)
	}
	if n := h.c.WriteData(1, body[4500:], true); n != 500 {
		t.Fatalf("WriteData = %d", n)
	}
	if h.c.ActiveStreams() != 1 || h.c.WriteData(1, body, true) != 0 {
		t.Fatal("stream 1 not closed by its last DATA")
	}
	// An empty END_STREAM DATA frame is allowed with no window.
	h.frames()
	if n := h.c.WriteData(3, nil, true); n != 0 || h.c.ActiveStreams() != 0 {
		t.Fatal("empty END_STREAM")
	}
	if got := framesString(h.frames()); got != "DATA 3 END_STREAM len=0" {
		t.Fatalf("got %s", got)
	}
}

// TestInitialWindowChange: a SETTINGS_INITIAL_WINDOW_SIZE change applies
// its delta to open streams, possibly making windows negative.
func TestInitialWindowChange(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	h.c.WriteHeaders(1, 200, nil, false)
	body := make([]byte, 70000)
	if n := h.c.WriteData(1, body[:60000], false); n != 60000 {
		t.Fatal(n)
	}
	h.frames()
	must(h.cl.fr.WriteWindowUpdate(0, 1<<20))
	h.cl.settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16384}) // 65535-60000-49151 < 0
	h.feed()
	if got := framesString(h.frames()); got != "SETTINGS ACK []" {
		t.Fatalf("got %s", got)
	}
	if st := h.c.streams[1]; st.sendWin != 16384-60000 {
		t.Fatalf("sendWin %d", st.sendWin)
	}
	if n := h.c.WriteData(1, body[60000:], true); n != 0 {
		t.Fatalf("WriteData with a negative window = %d", n)
	}
	h.h.take()
	must(h.cl.fr.WriteWindowUpdate(1, 43616)) // back to 0: not yet writable
	h.feed()
	if ev := h.h.take(); len(ev) != 0 {
		t.Fatalf("OnWindow at window 0: %v", ev)
	}
	h.cl.settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 26384})
	h.feed()
	if got := eventsString(h.h.take()); got != "window 1" {
		t.Fatalf("events %q", got)
	}
	if n := h.c.WriteData(1, body[60000:], true); n != 10000 {
		t.Fatalf("WriteData = %d", n)
	}
	// A change that overflows a stream window is a connection error.
	h = newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	must(h.cl.fr.WriteWindowUpdate(1, 1<<31-1-65535))
	h.cl.settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65536})
	h.feed()
	h.wantConnError(ErrCodeFlowControl)
}

func TestTrailers(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "te", "trailers")
	h.cl.data(1, false, "body")
	h.cl.headers(1, true, "grpc-status", "0", "x-sum", "abc")
	h.feed()
	want := `req 1 POST https a / cl=-1 end=false ["te: trailers"]
data 1 "body" end=false
trailers 1 ["grpc-status: 0" "x-sum: abc"]`
	if got := eventsString(h.h.take()); got != want {
		t.Fatalf("events:\n%s", got)
	}
	h.c.WriteHeaders(1, 200, []Field{{[]byte("content-type"), []byte("application/grpc")}}, false)
	h.c.WriteData(1, []byte("resp"), false)
	h.c.WriteTrailers(1, []Field{{[]byte("Grpc-Status"), []byte("0")}})
	got := framesString(h.frames())
	want = "HEADERS 1 END_HEADERS [\":status: 200\" \"content-type: application/grpc\"]\nDATA 1 len=4\nHEADERS 1 END_STREAM|END_HEADERS [\"grpc-status: 0\"]"
	if got != want {
		t.Fatalf("frames:\n%s\nwant:\n%s", got, want)
	}
	// Empty trailers become an empty END_STREAM DATA frame.
	h.cl.headers(3, true, getReq("/")...)
	h.feed()
	h.c.WriteHeaders(3, 200, nil, false)
	h.c.WriteTrailers(3, []Field{{[]byte("connection"), []byte("x")}})
	if got := framesString(h.frames()); got != "HEADERS 3 END_HEADERS [\":status: 200\"]\nDATA 3 END_STREAM len=0" {
		t.Fatalf("frames:\n%s", got)
	}
}

func TestInformationalHeaders(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "expect", "100-continue")
	h.feed()
	h.c.WriteHeaders(1, 100, nil, true) // endStream ignored for 1xx
	h.c.WriteHeaders(1, 201, nil, true)
	want := "HEADERS 1 END_HEADERS [\":status: 100\"]\nHEADERS 1 END_STREAM|END_HEADERS [\":status: 201\"]\nRST_STREAM 1 NO_ERROR"
	if got := framesString(h.frames()); got != want {
		t.Fatalf("frames:\n%s", got)
	}
}

// TestEarlyResponse: ending the response before the request body is
// complete resets the stream with NO_ERROR; DATA already in flight is
// discarded and its connection window returned.
func TestEarlyResponse(t *testing.T) {
	h := newHarness(t, Options{ConnWindowSize: 65535})
	h.start()
	h.cl.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/")
	h.feed()
	h.c.WriteHeaders(1, 413, nil, true)
	if got := framesString(h.frames()); got != "HEADERS 1 END_STREAM|END_HEADERS [\":status: 413\"]\nRST_STREAM 1 NO_ERROR" {
		t.Fatalf("frames:\n%s", got)
	}
	h.h.take()
	h.cl.data(1, false, strings.Repeat("x", 16384)).data(1, false, strings.Repeat("x", 16384)).data(1, true, "")
	h.cl.headers(1, true, "x-trailer", "1")
	must(h.cl.fr.WriteWindowUpdate(1, 5))
	h.feed()
	if ev := h.h.take(); len(ev) != 0 {
		t.Fatalf("events for a reset stream: %v", ev)
	}
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 0 +32768" {
		t.Fatalf("frames:\n%s", got)
	}
	// The HPACK state stayed in sync: a new request still decodes.
	h.cl.headers(3, true, getReq("/next")...)
	h.feed()
	if ev := h.h.take(); len(ev) != 1 || ev[0].path != "/next" {
		t.Fatalf("events %v", ev)
	}
}

func TestCallerReset(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, false, getReq("/")...)
	h.feed()
	h.h.take()
	h.c.Reset(1, ErrCodeCancel)
	h.c.Reset(1, ErrCodeCancel) // already gone: ignored
	h.c.Reset(99, ErrCodeCancel)
	if got := framesString(h.frames()); got != "RST_STREAM 1 CANCEL" {
		t.Fatalf("frames:\n%s", got)
	}
	h.cl.data(1, true, "late")
	h.feed()
	if ev := h.h.take(); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("late DATA answered:\n%s", framesString(fs))
	}
	if h.c.WriteData(1, []byte("x"), true) != 0 || h.c.SendWindow(1) != 0 {
		t.Fatal("write on a reset stream")
	}
	h.c.WriteHeaders(1, 200, nil, true)
	h.c.WriteTrailers(1, nil)
	if h.c.OutLen() != 0 {
		t.Fatal("output for a reset stream")
	}
}

func TestPeerReset(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, false, getReq("/")...)
	h.cl.raw(http2.FrameRSTStream, 0, 1, u32(uint32(ErrCodeCancel)))
	h.cl.raw(http2.FrameRSTStream, 0, 1, u32(uint32(ErrCodeCancel)))  // closed: ignored
	must(h.cl.fr.WriteWindowUpdate(1, 100))                           // closed: ignored
	must(h.cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 0})) // closed: ignored
	h.feed()
	if got := eventsString(h.h.take()[1:]); got != "reset 1 CANCEL" {
		t.Fatalf("events %q", got)
	}
	if h.c.ActiveStreams() != 0 {
		t.Fatal("stream kept")
	}
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("frames:\n%s", framesString(fs))
	}
}

func TestPing(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	must(h.cl.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	must(h.cl.fr.WritePing(true, [8]byte{9})) // an ACK is not answered
	h.feed()
	if got := framesString(h.frames()); got != "PING ACK \"\\x01\\x02\\x03\\x04\\x05\\x06\\a\\b\"" {
		t.Fatalf("frames:\n%s", got)
	}
}

func TestUnknownFrameIgnored(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.raw(0xfa, 0xff, 5, []byte("whatever"))
	h.cl.raw(0xfa, 0, 0, nil)
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	if ev := h.h.take(); len(ev) != 1 {
		t.Fatalf("events %v", ev)
	}
}

func TestMaxConcurrentStreams(t *testing.T) {
	h := newHarness(t, Options{MaxConcurrentStreams: 2})
	h.start()
	h.cl.headers(1, true, getReq("/")...).headers(3, true, getReq("/")...).headers(5, false, getReq("/")...)
	h.cl.data(5, true, "dropped") // recently refused: discarded silently
	h.feed()
	if ev := h.h.take(); len(ev) != 2 {
		t.Fatalf("events %v", ev)
	}
	if got := framesString(h.frames()); got != "RST_STREAM 5 REFUSED_STREAM" {
		t.Fatalf("frames:\n%s", got)
	}
	h.c.WriteHeaders(1, 200, nil, true)
	h.cl.headers(7, true, getReq("/")...)
	h.feed()
	if ev := h.h.take(); len(ev) != 1 || ev[0].id != 7 {
		t.Fatalf("events %v", ev)
	}
}

func TestGoAway(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...).headers(3, false, getReq("/")...)
	h.feed()
	h.h.take()
	h.c.GoAway(ErrCodeNo, "bye")
	if h.c.Closed() {
		t.Fatal("closed with open streams")
	}
	h.cl.headers(5, true, getReq("/")...)
	h.cl.data(3, true, "")
	h.feed()
	if got := eventsString(h.h.take()); got != `data 3 "" end=true` {
		t.Fatalf("events %q", got)
	}
	want := "GOAWAY last=3 NO_ERROR \"bye\"\nRST_STREAM 5 REFUSED_STREAM"
	if got := framesString(h.frames()); got != want {
		t.Fatalf("frames:\n%s", got)
	}
	h.c.WriteHeaders(1, 200, nil, true)
	if h.c.Closed() {
		t.Fatal("closed with stream 3 open")
	}
	h.c.WriteHeaders(3, 200, nil, true)
	if !h.c.Closed() || h.c.Err() != nil {
		t.Fatal("not closed after the last stream")
	}
}

func TestGoAwayReceived(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	must(h.cl.fr.WriteGoAway(0, http2.ErrCodeNo, []byte("done")))
	h.feed()
	if code, ok := h.c.GoAwayReceived(); !ok || code != ErrCodeNo {
		t.Fatal("GOAWAY not recorded")
	}
	if h.c.Closed() {
		t.Fatal("closed with an open stream")
	}
	h.c.WriteHeaders(1, 200, nil, true)
	if !h.c.Closed() {
		t.Fatal("not closed")
	}
}

func TestHeaderListTooLarge(t *testing.T) {
	h := newHarness(t, Options{MaxHeaderListSize: 1000, ConnWindowSize: 65535})
	h.start()
	h.cl.headers(1, false, getReq("/", "x-big", strings.Repeat("b", 900), "x-more", "1")...)
	h.cl.data(1, false, strings.Repeat("d", 16000)).data(1, false, strings.Repeat("d", 16000)).data(1, false, strings.Repeat("d", 8000))
	h.cl.headers(1, true, "x-t", "1")
	h.feed()
	if got := eventsString(h.h.take()); got != "reqerr 1 431" {
		t.Fatalf("events %q", got)
	}
	// The discarded body's connection window is returned at once.
	if got := framesString(h.frames()); got != "WINDOW_UPDATE 0 +40000" {
		t.Fatalf("frames:\n%s", got)
	}
	h.c.WriteHeaders(1, 431, nil, true)
	if got := framesString(h.frames()); got != "HEADERS 1 END_STREAM|END_HEADERS [\":status: 431\"]" {
		t.Fatalf("frames:\n%s", got)
	}
	// The decoder state is intact.
	h.cl.headers(3, true, getReq("/ok", "x-small", "s")...)
	h.feed()
	if ev := h.h.take(); len(ev) != 1 || ev[0].kind != "req" {
		t.Fatalf("events %v", ev)
	}
	// Trailers that are too large reset the stream.
	h.cl.headers(5, false, getReq("/")...).headers(5, true, "x-big", strings.Repeat("b", 1000))
	h.feed()
	if got := eventsString(h.h.take()); !strings.HasSuffix(got, "reset 5 PROTOCOL_ERROR") {
		t.Fatalf("events %q", got)
	}
}

func TestContentLength(t *testing.T) {
	post := func(cl string) []string {
		return []string{":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", cl}
	}
	tests := []struct {
		name string
		run  func(cl *client)
		want string // last event
	}{
		{"exact", func(cl *client) { cl.headers(1, false, post("5")...).data(1, false, "ab").data(1, true, "cde") }, `data 1 "cde" end=true`},
		{"too much", func(cl *client) { cl.headers(1, false, post("5")...).data(1, false, "abcdef") }, "reset 1 PROTOCOL_ERROR"},
		{"too little", func(cl *client) { cl.headers(1, false, post("5")...).data(1, true, "abcd") }, "reset 1 PROTOCOL_ERROR"},
		{"too little with trailers", func(cl *client) { cl.headers(1, false, post("5")...).data(1, false, "ab").headers(1, true, "x", "y") }, "reset 1 PROTOCOL_ERROR"},
		{"end stream with length", func(cl *client) { cl.headers(1, true, post("5")...) }, ""},
		{"end stream with zero", func(cl *client) { cl.headers(1, true, post("0")...) }, "req 1 POST https a / cl=0 end=true [\"content-length: 0\"]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.start()
			tc.run(h.cl)
			h.feed()
			ev := h.h.take()
			last := ""
			if len(ev) > 0 {
				last = ev[len(ev)-1].String()
			}
			if last != tc.want {
				t.Fatalf("events:\n%s", eventsString(ev))
			}
			if strings.HasPrefix(tc.want, "reset") || tc.want == "" {
				fs := h.frames()
				if len(fs) != 1 || fs[0].typ != http2.FrameRSTStream || fs[0].code != http2.ErrCodeProtocol {
					t.Fatalf("frames:\n%s", framesString(fs))
				}
			}
		})
	}
}

// TestOutBuffers: control bytes live in chunks that never move while
// referenced, and DATA payloads are referenced, not copied.
func TestOutBuffers(t *testing.T) {
	h := newHarness(t, Options{})
	h.start(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	h.frames()
	payload := []byte("zero-copy payload")
	h.c.WriteHeaders(1, 200, nil, false)
	h.c.WriteData(1, payload, false)
	out := h.c.Out()
	found := false
	for _, v := range out {
		if len(v) > 0 && &v[0] == &payload[0] {
			found = true
		}
	}
	if !found {
		t.Fatal("payload copied")
	}
	// Many control frames: the first slices must not change as chunks fill.
	first := bytes.Clone(flat(out))
	firstVec := append([][]byte(nil), out...)
	big := strings.Repeat("h", 9000)
	for range 5 {
		h.c.WriteHeaders(1, 200, []Field{{[]byte("x-" + big[:10]), []byte(big)}}, false)
	}
	if !bytes.Equal(flat(firstVec), first) {
		t.Fatal("earlier output changed")
	}
	all := flat(h.c.Out())
	if !bytes.HasPrefix(all, first) || len(all) != h.c.OutLen() {
		t.Fatal("output not appended")
	}
	h.frames()
	if h.c.OutLen() != 0 || len(h.c.Out()) != 0 {
		t.Fatal("ResetOut left output")
	}
}

// TestLowercaseNames: WriteHeaders lowercases names and the result is a
// valid block for the peer.
func TestLowercaseNames(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	h.c.WriteHeaders(1, 404, []Field{{[]byte("X-Mixed-CASE"), []byte("V")}, {[]byte("Set-Cookie"), []byte("a=1")}, {[]byte("Set-Cookie"), []byte("b=2")}, {nil, []byte("x")}}, true)
	if got := framesString(h.frames()); got != "HEADERS 1 END_STREAM|END_HEADERS [\":status: 404\" \"x-mixed-case: V\" \"set-cookie: a=1\" \"set-cookie: b=2\"]" {
		t.Fatalf("frames:\n%s", got)
	}
	// An uncommon status and many repeated fields (interned strings).
	for i := uint32(3); i < 40; i += 2 {
		h.cl.headers(i, true, getReq("/")...)
		h.feed()
		h.c.WriteHeaders(i, 299, []Field{{[]byte("Server"), []byte("ferry")}, {[]byte("x-id"), []byte(itoa(int(i)))}}, true)
		fs := h.frames()
		if len(fs) != 1 || fs[0].fields[0] != ":status: 299" || fs[0].fields[2] != "x-id: "+itoa(int(i)) {
			t.Fatalf("frames:\n%s", framesString(fs))
		}
	}
}

// TestPeerHeaderTableSize: the peer shrinks our encoder's table; the
// block still decodes with a decoder of that size.
func TestPeerHeaderTableSize(t *testing.T) {
	h := newHarness(t, Options{})
	h.start(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	h.p.fr.ReadMetaHeaders.SetAllowedMaxDynamicTableSize(0)
	for _, id := range []uint32{1, 3} {
		h.cl.headers(id, true, getReq("/")...)
		h.feed()
		h.c.WriteHeaders(id, 200, []Field{{[]byte("x-custom"), []byte("value")}}, true)
		if fs := h.frames(); len(fs) != 1 || len(fs[0].fields) != 2 {
			t.Fatalf("frames:\n%s", framesString(fs))
		}
	}
}

func TestFeedAfterErrorAndReentrancy(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	h.h.onRequest = func(id uint32, r *Request, end bool) {
		defer func() {
			if recover() == nil {
				t.Error("Feed inside a callback did not panic")
			}
		}()
		_, _ = h.c.Feed(nil) // panics: there is nothing to return
	}
	h.cl.headers(1, true, getReq("/")...)
	h.feed()
	h.cl.raw(http2.FramePushPromise, http2.FlagPushPromiseEndHeaders, 1, u32(2))
	h.feed()
	h.wantConnError(ErrCodeProtocol)
	var ce *ConnError
	if !errors.As(h.c.Err(), &ce) || !strings.Contains(ce.Error(), "PROTOCOL_ERROR") {
		t.Fatalf("Err() = %v", h.c.Err())
	}
	// After the error every write is a no-op.
	h.c.WriteHeaders(1, 200, nil, true)
	h.c.GoAway(ErrCodeNo, "")
	h.c.Consumed(1, 10)
	if h.c.OutLen() != 0 {
		t.Fatal("output after a connection error")
	}
}

func TestErrCodeString(t *testing.T) {
	if ErrCodeEnhanceYourCalm.String() != "ENHANCE_YOUR_CALM" || ErrCode(0x99).String() != "unknown error code 0x99" {
		t.Fatal(ErrCodeEnhanceYourCalm.String(), ErrCode(0x99).String())
	}
}

// TestSmallWindowBeforeAck: a stream window below 65535 applies once the
// peer acknowledged it; before, the peer may use the default.
func TestSmallWindowBeforeAck(t *testing.T) {
	h := newHarness(t, Options{InitialWindowSize: 1000, HeaderTableSize: 1024})
	h.frames()
	h.cl.buf.WriteString(ClientPreface)
	h.cl.settings()
	h.cl.headers(1, false, getReq("/")...).data(1, false, strings.Repeat("x", 5000))
	h.feed()
	if h.err != nil || len(h.h.take()) != 2 {
		t.Fatalf("err %v", h.err)
	}
	h.cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
	h.cl.data(1, false, "y")
	h.feed()
	if ev := h.h.take(); len(ev) != 1 || ev[0].String() != "reset 1 FLOW_CONTROL_ERROR" {
		t.Fatalf("events %v", ev)
	}
	// New streams get the small window at once.
	h.cl.headers(3, false, getReq("/")...).data(3, false, strings.Repeat("x", 1001))
	h.feed()
	if ev := h.h.take(); len(ev) != 2 || ev[1].String() != "reset 3 FLOW_CONTROL_ERROR" {
		t.Fatalf("events %v", ev)
	}
}
