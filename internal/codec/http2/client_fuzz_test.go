package http2

import (
	"testing"

	"golang.org/x/net/http2"
)

// clientFuzzHandler drives the write side from inside the callbacks, as
// the proxy does: bodies consumed, streams reset, new requests opened.
type clientFuzzHandler struct{ c *ClientConn }

func (f *clientFuzzHandler) OnResponse(id uint32, r *Response, end bool) {
	if id%4 == 3 {
		f.c.Reset(id, ErrCodeCancel)
	}
}
func (f *clientFuzzHandler) OnData(id uint32, d []byte, end bool) { f.c.Consumed(id, len(d)) }
func (f *clientFuzzHandler) OnTrailers(uint32, []Field)           {}
func (f *clientFuzzHandler) OnReset(uint32, ErrCode)              {}
func (f *clientFuzzHandler) OnWindow(id uint32)                   { f.c.WriteData(id, []byte("more"), true) }
func (f *clientFuzzHandler) OnGoAway(uint32, ErrCode)             {}
func (f *clientFuzzHandler) OnSettings()                          { f.openSome() }
func (f *clientFuzzHandler) OnPingAck(uint64)                     {}

func (f *clientFuzzHandler) openSome() {
	rh := &RequestHead{Method: []byte("POST"), Scheme: []byte("http"), Path: []byte("/")}
	for f.c.CanOpen() && f.c.ActiveStreams() < 4 {
		id := f.c.WriteRequest(rh, []Field{{Name: []byte("x"), Value: []byte("y")}}, false)
		f.c.WriteData(id, []byte("body"), id%3 == 0)
	}
}

// FuzzClientConn feeds arbitrary server bytes after a valid SETTINGS: no
// input may panic the codec, and its output stays bounded by what it was
// asked to write plus MaxControlBytes.
func FuzzClientConn(f *testing.F) {
	add := func(build func(cl *client)) {
		cl := newClient()
		build(cl)
		f.Add(cl.take())
	}
	add(func(cl *client) {
		cl.headers(1, false, ":status", "200", "content-length", "3")
		cl.data(1, true, "abc")
	})
	add(func(cl *client) {
		cl.headers(3, false, ":status", "100")
		cl.headers(3, false, ":status", "200")
		cl.headers(3, true, "grpc-status", "0")
		must(cl.fr.WritePing(false, [8]byte{1}))
	})
	add(func(cl *client) {
		cl.raw(http2.FrameGoAway, 0, 0, append(u32(1), u32(0)...))
		cl.raw(http2.FrameRSTStream, 0, 1, u32(8))
		must(cl.fr.WriteWindowUpdate(0, 1000))
		must(cl.fr.WriteWindowUpdate(1, 1000))
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		h := &clientFuzzHandler{}
		c := NewClientConn(h, Options{})
		h.c = c
		srv := newClient()
		srv.settings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 3}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		b := append(srv.take(), in...)
		for len(b) > 0 {
			n, err := c.Feed(b)
			if err != nil || n == 0 {
				break
			}
			b = b[n:]
		}
		if c.OutLen() > 1<<20 {
			t.Fatalf("output grew to %d bytes", c.OutLen())
		}
		c.ResetOut()
	})
}
