package http2

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// crec records ClientHandler callbacks as strings.
type crec struct {
	c      *ClientConn
	events []string
}

func (r *crec) add(f string, a ...any) { r.events = append(r.events, fmt.Sprintf(f, a...)) }

func (r *crec) OnResponse(id uint32, resp *Response, end bool) {
	r.add("resp %d %d cl=%d end=%v %q", id, resp.Status, resp.ContentLength, end, copyFields(resp.Fields))
}
func (r *crec) OnData(id uint32, d []byte, end bool) { r.add("data %d %q end=%v", id, d, end) }
func (r *crec) OnTrailers(id uint32, f []Field)      { r.add("trailers %d %q", id, copyFields(f)) }
func (r *crec) OnReset(id uint32, code ErrCode)      { r.add("reset %d %v", id, code) }
func (r *crec) OnWindow(id uint32)                   { r.add("window %d", id) }
func (r *crec) OnGoAway(last uint32, code ErrCode)   { r.add("goaway %d %v", last, code) }
func (r *crec) OnSettings()                          { r.add("settings %d", r.c.MaxStreams()) }
func (r *crec) OnPingAck(d uint64)                   { r.add("pingack %d", d) }

func (r *crec) take() string {
	s := strings.Join(r.events, "\n")
	r.events = nil
	return s
}

// chness drives a ClientConn: srv builds the server's frames, p reads
// what the client wrote.
type chness struct {
	t   *testing.T
	c   *ClientConn
	r   *crec
	srv *client
	p   *peer
	err error
}

func newChness(t *testing.T, o Options) *chness {
	h := &chness{t: t, r: &crec{}, srv: newClient(), p: newPeer()}
	h.c = NewClientConn(h.r, o)
	h.r.c = h.c
	return h
}

func (h *chness) feed() {
	h.t.Helper()
	b := h.srv.take()
	n, err := h.c.Feed(b)
	if err == nil && n != len(b) {
		h.t.Fatalf("Feed consumed %d of %d", n, len(b))
	}
	h.err = err
}

// out returns the client's output as frames; the preface, if there, is
// checked and skipped.
func (h *chness) out() string {
	h.t.Helper()
	b := flat(h.c.Out())
	h.c.ResetOut()
	if s, ok := strings.CutPrefix(string(b), ClientPreface); ok {
		b = []byte(s)
	}
	return framesString(h.p.read(h.t, b))
}

func (h *chness) start(s ...http2.Setting) {
	h.t.Helper()
	h.srv.settings(s...)
	h.feed()
	_ = h.out()
	h.r.take()
}

func TestClientConnPreface(t *testing.T) {
	h := newChness(t, Options{})
	b := flat(h.c.Out())
	if !strings.HasPrefix(string(b), ClientPreface) {
		t.Fatal("output does not start with the client preface")
	}
	got := h.out()
	want := "SETTINGS  [[ENABLE_PUSH = 0] [INITIAL_WINDOW_SIZE = 262144] [MAX_FRAME_SIZE = 16384] [MAX_HEADER_LIST_SIZE = 65536]]\n" +
		"WINDOW_UPDATE 0 +983041"
	if got != want {
		t.Fatalf("preface:\n%s\nwant:\n%s", got, want)
	}
	if !h.c.CanOpen() || h.c.MaxStreams() != 1 {
		t.Fatalf("before SETTINGS: CanOpen %v, MaxStreams %d; want one stream", h.c.CanOpen(), h.c.MaxStreams())
	}
	// The first server frame must be SETTINGS.
	h.srv.data(1, true, "x")
	h.feed()
	if h.err == nil {
		t.Fatal("DATA before SETTINGS accepted")
	}
}

func TestClientConnExchange(t *testing.T) {
	h := newChness(t, Options{})
	h.start(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
	rh := RequestHead{Method: []byte("POST"), Scheme: []byte("http"), Authority: []byte("a.test"), Path: []byte("/p")}
	id := h.c.WriteRequest(&rh, []Field{
		{Name: []byte("Content-Type"), Value: []byte("text/plain")},
		{Name: []byte("Connection"), Value: []byte("close")},
		{Name: []byte("te"), Value: []byte("trailers")},
		{Name: []byte("host"), Value: []byte("dropped")},
	}, false)
	if id != 1 {
		t.Fatalf("first stream id %d", id)
	}
	if n := h.c.WriteData(id, []byte("body"), false); n != 4 {
		t.Fatalf("WriteData took %d", n)
	}
	h.c.WriteTrailers(id, []Field{{Name: []byte("x-sum"), Value: []byte("1")}})
	want := `HEADERS 1 END_HEADERS [":method: POST" ":scheme: http" ":authority: a.test" ":path: /p" "content-type: text/plain" "te: trailers"]` + "\n" +
		"DATA 1 len=4\n" + `HEADERS 1 END_STREAM|END_HEADERS ["x-sum: 1"]`
	if got := h.out(); got != want {
		t.Fatalf("request:\n%s\nwant:\n%s", got, want)
	}
	h.srv.headers(1, false, ":status", "100")
	h.srv.headers(1, false, ":status", "200", "grpc-encoding", "gzip")
	h.srv.data(1, false, "resp")
	h.srv.headers(1, true, "grpc-status", "0")
	h.feed()
	wantEv := `resp 1 100 cl=-1 end=false []` + "\n" +
		`resp 1 200 cl=-1 end=false ["grpc-encoding: gzip"]` + "\n" +
		`data 1 "resp" end=false` + "\n" +
		`trailers 1 ["grpc-status: 0"]`
	if got := h.r.take(); got != wantEv || h.err != nil {
		t.Fatalf("events (err %v):\n%s\nwant:\n%s", h.err, got, wantEv)
	}
	if h.c.ActiveStreams() != 0 {
		t.Fatalf("%d streams left after both ends", h.c.ActiveStreams())
	}
}

func TestClientConnMalformedResponse(t *testing.T) {
	for _, kv := range [][]string{
		{"content-type", "x"},                     // no :status
		{":status", "200", ":path", "/"},          // a request pseudo-header
		{":status", "2000"},                       // not 3 digits
		{":status", "200", "connection", "close"}, // connection-specific
		{":status", "200", "Upper", "x"},          // uppercase name
	} {
		h := newChness(t, Options{})
		h.start()
		id := h.c.WriteRequest(&RequestHead{Method: []byte("GET"), Scheme: []byte("http"), Path: []byte("/")}, nil, true)
		_ = h.out()
		h.srv.headers(id, true, kv...)
		h.feed()
		if got := h.r.take(); got != "reset 1 PROTOCOL_ERROR" || h.err != nil {
			t.Fatalf("%q: events %q err %v; want a stream reset", kv, got, h.err)
		}
		if got := h.out(); got != "RST_STREAM 1 PROTOCOL_ERROR" {
			t.Fatalf("%q: wrote %q", kv, got)
		}
	}
}

func TestClientConnContentLengthChecked(t *testing.T) {
	h := newChness(t, Options{})
	h.start()
	id := h.c.WriteRequest(&RequestHead{Method: []byte("GET"), Scheme: []byte("http"), Path: []byte("/")}, nil, true)
	h.srv.headers(id, false, ":status", "200", "content-length", "5")
	h.srv.data(id, true, "abc")
	h.feed()
	if got := h.r.take(); !strings.HasSuffix(got, "reset 1 PROTOCOL_ERROR") {
		t.Fatalf("events %q; want the short body reset", got)
	}
}

func TestClientConnStreamLimitAndGoAway(t *testing.T) {
	h := newChness(t, Options{})
	h.srv.settings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
	h.feed()
	if got := h.r.take(); got != "settings 2" {
		t.Fatalf("events %q", got)
	}
	get := &RequestHead{Method: []byte("GET"), Scheme: []byte("http"), Path: []byte("/")}
	a, b := h.c.WriteRequest(get, nil, true), h.c.WriteRequest(get, nil, true)
	if a != 1 || b != 3 || h.c.CanOpen() || h.c.WriteRequest(get, nil, true) != 0 {
		t.Fatalf("ids %d %d, CanOpen %v at the limit", a, b, h.c.CanOpen())
	}
	h.srv.raw(http2.FrameGoAway, 0, 0, append(u32(1), u32(0)...))
	h.feed()
	if got := h.r.take(); got != "goaway 1 NO_ERROR" || h.c.ActiveStreams() != 1 || h.c.CanOpen() {
		t.Fatalf("events %q, %d streams, CanOpen %v; want stream 3 forgotten, no new stream", got, h.c.ActiveStreams(), h.c.CanOpen())
	}
	// Stream 1 completes normally.
	h.srv.headers(1, true, ":status", "204")
	h.feed()
	if got := h.r.take(); got != `resp 1 204 cl=-1 end=true []` {
		t.Fatalf("events %q", got)
	}
}

// TestClientFlowControl: the server may send a stream window's worth;
// WINDOW_UPDATE comes only once the caller consumed half of it.
func TestClientConnFlowControl(t *testing.T) {
	h := newChness(t, Options{InitialWindowSize: 65535, ConnWindowSize: 1 << 20})
	h.start()
	id := h.c.WriteRequest(&RequestHead{Method: []byte("GET"), Scheme: []byte("http"), Path: []byte("/")}, nil, true)
	_ = h.out()
	h.srv.headers(id, false, ":status", "200")
	for range 3 {
		h.srv.data(id, false, strings.Repeat("x", 16000))
	}
	h.feed()
	h.r.take()
	if got := h.out(); got != "" {
		t.Fatalf("window returned before Consumed: %q", got)
	}
	h.c.Consumed(id, 16000)
	if got := h.out(); got != "" {
		t.Fatalf("window returned below half owed: %q", got)
	}
	h.c.Consumed(id, 32000)
	if got := h.out(); got != "WINDOW_UPDATE 1 +48000" {
		t.Fatalf("after consuming 48000: %q", got)
	}
	// Beyond the stream window: a stream error.
	h.srv.data(id, false, strings.Repeat("x", 16000))
	h.srv.data(id, false, strings.Repeat("x", 16000))
	h.srv.data(id, false, strings.Repeat("x", 16000))
	h.srv.data(id, false, strings.Repeat("x", 16000))
	h.srv.data(id, false, strings.Repeat("x", 16000))
	h.feed()
	if got := h.r.take(); !strings.HasSuffix(got, "reset 1 FLOW_CONTROL_ERROR") {
		t.Fatalf("events %q; want a flow-control reset", got)
	}
}

func TestClientConnPingAndPush(t *testing.T) {
	h := newChness(t, Options{})
	h.start()
	h.c.Ping(7)
	if got := h.out(); got != "PING  \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\a\"" {
		t.Fatalf("ping: %q", got)
	}
	h.srv.raw(http2.FramePing, http2.FlagPingAck, 0, []byte{0, 0, 0, 0, 0, 0, 0, 7})
	h.srv.raw(http2.FramePing, 0, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	h.feed()
	if got := h.r.take(); got != "pingack 7" {
		t.Fatalf("events %q", got)
	}
	if got := h.out(); !strings.HasPrefix(got, "PING ACK") {
		t.Fatalf("the server's PING not acknowledged: %q", got)
	}
	h.srv.raw(http2.FramePushPromise, http2.FlagPushPromiseEndHeaders, 1, u32(2))
	h.feed()
	if h.err == nil || !strings.Contains(h.out(), "GOAWAY") {
		t.Fatalf("PUSH_PROMISE with push disabled: err %v", h.err)
	}
}

// TestClientConnControlFlood: a server flooding PINGs without reading our
// answers gets ENHANCE_YOUR_CALM.
func TestClientConnControlFlood(t *testing.T) {
	h := newChness(t, Options{MaxControlBytes: 170})
	h.start()
	for range 11 {
		h.srv.raw(http2.FramePing, 0, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	}
	h.feed()
	var ce *ConnError
	if !errors.As(h.err, &ce) || ce.Code != ErrCodeEnhanceYourCalm {
		t.Fatalf("err %v, want ENHANCE_YOUR_CALM", h.err)
	}
}
