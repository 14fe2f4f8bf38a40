package http2

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type nopHandler struct{ reqs int }

func (h *nopHandler) OnRequest(id uint32, r *Request, end bool) { h.reqs++ }
func (h *nopHandler) OnRequestError(uint32, int)                {}
func (h *nopHandler) OnData(uint32, []byte, bool)               {}
func (h *nopHandler) OnTrailers(uint32, []Field)                {}
func (h *nopHandler) OnReset(uint32, ErrCode)                   {}
func (h *nopHandler) OnWindow(uint32)                           {}

var browserGET = []string{ //nolint:gochecknoglobals // read-only request fields
	":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", "/assets/app.js?v=12345",
	"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
	"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"accept-encoding", "gzip, deflate, br",
	"accept-language", "en-US,en;q=0.9",
	"cookie", "session=0123456789abcdef; theme=dark",
}

// BenchmarkParseGET measures Feed of one HEADERS frame through OnRequest.
// "indexed" is a client's steady state (every field in the dynamic
// table); "literal" makes the client use no dynamic table, so every field
// is decoded from a literal.
func BenchmarkParseGET(b *testing.B) {
	for _, mode := range []string{"indexed", "literal"} {
		b.Run(mode, func(b *testing.B) {
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			if mode == "literal" {
				enc.SetMaxDynamicTableSize(0)
			}
			encode := func() []byte {
				hb.Reset()
				for i := 0; i < len(browserGET); i += 2 {
					_ = enc.WriteField(hpack.HeaderField{Name: browserGET[i], Value: browserGET[i+1]})
				}
				return bytes.Clone(hb.Bytes())
			}
			first, steady := encode(), encode()
			h := &nopHandler{}
			c := NewConn(h, Options{})
			cl := newClient()
			cl.buf.WriteString(ClientPreface)
			cl.settings()
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true, EndHeaders: true}))
			if _, err := c.Feed(cl.take()); err != nil {
				b.Fatal(err)
			}
			c.removeStream(c.streams[1])
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: steady, EndStream: true, EndHeaders: true}))
			frame := cl.take()
			c.ResetOut()
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := uint32(3 + 2*i)
				binary.BigEndian.PutUint32(frame[5:], id)
				if n, err := c.Feed(frame); err != nil || n != len(frame) {
					b.Fatal(n, err)
				}
				c.removeStream(c.streams[id])
			}
			if h.reqs != b.N+1 {
				b.Fatalf("%d requests", h.reqs)
			}
		})
	}
}

// BenchmarkWriteResponse measures WriteHeaders plus WriteData of 1 KiB
// with END_STREAM, and ResetOut.
func BenchmarkWriteResponse(b *testing.B) {
	c := NewConn(&nopHandler{}, Options{})
	c.ResetOut()
	fields := []Field{
		{Name: []byte("Content-Type"), Value: []byte("application/javascript")},
		{Name: []byte("Content-Length"), Value: []byte("1024")},
		{Name: []byte("Cache-Control"), Value: []byte("public, max-age=3600")},
		{Name: []byte("Server"), Value: []byte("ferry")},
	}
	body := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := uint32(1 + 2*i)
		st := c.newStream(id)
		st.known, st.remoteClosed = true, true
		st.sendWin = 1 << 20
		c.connSendWin = 1 << 30
		c.WriteHeaders(id, 200, fields, false)
		if n := c.WriteData(id, body, true); n != len(body) {
			b.Fatal(n)
		}
		c.ResetOut()
	}
}

// BenchmarkFeedData measures a 16 KiB DATA frame through OnData and
// Consumed.
func BenchmarkFeedData(b *testing.B) {
	h := &nopHandler{}
	c := NewConn(h, Options{})
	cl := newClient()
	cl.buf.WriteString(ClientPreface)
	cl.settings()
	cl.headers(1, false, getReq("/")...)
	if _, err := c.Feed(cl.take()); err != nil {
		b.Fatal(err)
	}
	cl.data(1, false, string(bytes.Repeat([]byte("d"), 16384)))
	frame := cl.take()
	b.SetBytes(16384)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Feed(frame); err != nil {
			b.Fatal(err)
		}
		c.Consumed(1, 16384)
		c.ResetOut()
	}
}
