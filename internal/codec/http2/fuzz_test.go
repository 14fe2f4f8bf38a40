package http2

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// fuzzHandler exercises the write side from inside the callbacks.
type fuzzHandler struct {
	c    *Conn
	body []byte
}

func (f *fuzzHandler) OnRequest(id uint32, r *Request, end bool) {
	switch id % 8 {
	case 1:
		f.c.WriteHeaders(id, 200, []Field{{Name: []byte("Content-Type"), Value: r.Path}}, false)
		f.c.WriteData(id, f.body, end)
	case 3:
		f.c.Reset(id, ErrCodeCancel)
	case 5:
		f.c.WriteHeaders(id, 100, nil, false)
	}
}
func (f *fuzzHandler) OnRequestError(id uint32, status int) { f.c.WriteHeaders(id, status, nil, true) }
func (f *fuzzHandler) OnData(id uint32, data []byte, end bool) {
	f.c.Consumed(id, len(data))
	if end {
		f.c.WriteHeaders(id, 204, nil, false)
		f.c.WriteTrailers(id, []Field{{Name: []byte("x-t"), Value: []byte("1")}})
	}
}
func (f *fuzzHandler) OnTrailers(id uint32, fields []Field) { f.c.WriteHeaders(id, 200, nil, true) }
func (f *fuzzHandler) OnReset(id uint32, code ErrCode)      {}
func (f *fuzzHandler) OnWindow(id uint32) {
	if id != 0 {
		f.c.WriteData(id, f.body, true)
	}
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(build func(cl *client)) {
		cl := newClient()
		build(cl)
		seeds = append(seeds, cl.take())
	}
	add(func(cl *client) { cl.headers(1, true, getReq("/")...) })
	add(func(cl *client) {
		cl.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "3")
		cl.data(1, true, "abc")
		must(cl.fr.WritePing(false, [8]byte{1}))
	})
	add(func(cl *client) {
		b := cl.block(getReq("/c", "x", strings.Repeat("y", 50))...)
		must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:5], PadLength: 2}))
		must(cl.fr.WriteContinuation(3, true, b[5:]))
		must(cl.fr.WriteWindowUpdate(3, 100))
		cl.raw(http2.FrameRSTStream, 0, 3, u32(8))
	})
	add(func(cl *client) {
		cl.settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000})
		cl.headers(9, false, getReq("/")...).headers(9, true, "x-t", "1")
		must(cl.fr.WriteWindowUpdate(0, 5))
		must(cl.fr.WriteGoAway(0, http2.ErrCodeNo, nil))
	})
	add(func(cl *client) { cl.raw(http2.FramePriority, 0, 5, []byte{0, 0, 0, 5, 1}) })
	return seeds
}

// FuzzConn feeds arbitrary frames after a valid preface: the Conn must
// never panic, its output must stay bounded by the control limit plus a
// small multiple of the input, and an error must stick.
func FuzzConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		fh := &fuzzHandler{body: bytes.Repeat([]byte("b"), 300)}
		o := Options{MaxConcurrentStreams: 4, InitialWindowSize: 1000, ConnWindowSize: 70000, MaxHeaderListSize: 2000,
			MaxControlBytes: 4096, MaxResetsPerWindow: 20, ResetWindow: 50}
		c := NewConn(fh, o)
		fh.c = c
		pre := newClient()
		pre.buf.WriteString(ClientPreface)
		pre.settings()
		if _, err := c.Feed(pre.take()); err != nil {
			t.Fatal(err)
		}
		c.ResetOut()
		step := len(in)
		if split > 0 {
			step = int(split)
		}
		var pending []byte
		var ferr error
		for i := 0; i < len(in) && ferr == nil; i += step {
			chunk := in[i:min(i+step, len(in))]
			pending = append(pending, chunk...)
			var n int
			n, ferr = c.Feed(pending)
			if n > len(pending) {
				t.Fatalf("consumed %d of %d", n, len(pending))
			}
			pending = pending[n:]
			if limit := o.MaxControlBytes + 64*len(in) + 4096; c.OutLen() > limit {
				t.Fatalf("OutLen %d > %d", c.OutLen(), limit)
			}
			if c.ActiveStreams() > int(o.MaxConcurrentStreams) {
				t.Fatalf("%d streams", c.ActiveStreams())
			}
			if len(c.hbuf) > int(o.MaxHeaderListSize) {
				t.Fatalf("header buffer %d", len(c.hbuf))
			}
			if split%2 == 1 {
				c.ResetOut()
			}
		}
		if ferr != nil {
			if _, err := c.Feed([]byte("more")); err != ferr || !c.Closed() {
				t.Fatalf("error did not stick: %v / %v", ferr, err)
			}
		}
		if len(flat(c.Out())) != c.OutLen() {
			t.Fatal("OutLen differs from Out")
		}
	})
}
