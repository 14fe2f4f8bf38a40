package http2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// event is one Handler callback, copied.
type event struct {
	kind   string // req, reqerr, data, trailers, reset, window
	id     uint32
	method string
	scheme string
	auth   string
	path   string
	fields []string // "name: value"
	cl     int64
	data   string
	end    bool
	status int
	code   ErrCode
}

func (e event) String() string {
	switch e.kind {
	case "req":
		return fmt.Sprintf("req %d %s %s %s %s cl=%d end=%v %q", e.id, e.method, e.scheme, e.auth, e.path, e.cl, e.end, e.fields)
	case "reqerr":
		return fmt.Sprintf("reqerr %d %d", e.id, e.status)
	case "data":
		return fmt.Sprintf("data %d %q end=%v", e.id, e.data, e.end)
	case "trailers":
		return fmt.Sprintf("trailers %d %q", e.id, e.fields)
	case "reset":
		return fmt.Sprintf("reset %d %v", e.id, e.code)
	case "window":
		return fmt.Sprintf("window %d", e.id)
	}
	return e.kind
}

func copyFields(fs []Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Name)+": "+string(f.Value))
	}
	return out
}

// recorder is a Handler that records events and optionally reacts.
type recorder struct {
	events []event
	c      *Conn
	// consume makes OnData call Consumed for every byte at once.
	consume bool
	// Optional hooks, called after recording.
	onRequest func(id uint32, r *Request, end bool)
	onData    func(id uint32, data []byte, end bool)
	onWindow  func(id uint32)
}

func (r *recorder) OnRequest(id uint32, q *Request, end bool) {
	r.events = append(r.events, event{kind: "req", id: id, method: string(q.Method), scheme: string(q.Scheme),
		auth: string(q.Authority), path: string(q.Path), fields: copyFields(q.Fields), cl: q.ContentLength, end: end})
	if r.onRequest != nil {
		r.onRequest(id, q, end)
	}
}

func (r *recorder) OnRequestError(id uint32, status int) {
	r.events = append(r.events, event{kind: "reqerr", id: id, status: status})
}

func (r *recorder) OnData(id uint32, data []byte, end bool) {
	r.events = append(r.events, event{kind: "data", id: id, data: string(data), end: end})
	if r.consume {
		r.c.Consumed(id, len(data))
	}
	if r.onData != nil {
		r.onData(id, data, end)
	}
}

func (r *recorder) OnTrailers(id uint32, fields []Field) {
	r.events = append(r.events, event{kind: "trailers", id: id, fields: copyFields(fields)})
}

func (r *recorder) OnReset(id uint32, code ErrCode) {
	r.events = append(r.events, event{kind: "reset", id: id, code: code})
}

func (r *recorder) OnWindow(id uint32) {
	r.events = append(r.events, event{kind: "window", id: id})
	if r.onWindow != nil {
		r.onWindow(id)
	}
}

func (r *recorder) take() []event {
	e := r.events
	r.events = nil
	return e
}

// client builds client frames with x/net's Framer and HPACK encoder.
type client struct {
	buf  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newClient() *client {
	cl := &client{}
	cl.fr = http2.NewFramer(&cl.buf, nil)
	cl.fr.AllowIllegalWrites = true
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	return cl
}

// block HPACK-encodes name/value pairs.
func (cl *client) block(kv ...string) []byte {
	cl.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := cl.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			panic(err)
		}
	}
	return bytes.Clone(cl.hbuf.Bytes())
}

func (cl *client) headers(id uint32, end bool, kv ...string) *client {
	must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.block(kv...), EndStream: end, EndHeaders: true}))
	return cl
}

func (cl *client) data(id uint32, end bool, p string) *client {
	must(cl.fr.WriteData(id, end, []byte(p)))
	return cl
}

func (cl *client) settings(s ...http2.Setting) *client {
	must(cl.fr.WriteSettings(s...))
	return cl
}

func (cl *client) raw(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) *client {
	must(cl.fr.WriteRawFrame(typ, flags, id, payload))
	return cl
}

func (cl *client) take() []byte {
	b := bytes.Clone(cl.buf.Bytes())
	cl.buf.Reset()
	return b
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// getReq is the header list of a plain GET.
func getReq(path string, extra ...string) []string {
	return append([]string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", path}, extra...)
}

// peer reads what the Conn writes with x/net's Framer and HPACK decoder.
type peer struct {
	rd bytes.Buffer
	fr *http2.Framer
}

func newPeer() *peer {
	p := &peer{}
	p.fr = http2.NewFramer(io.Discard, &p.rd)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.fr.SetMaxReadFrameSize(1 << 24)
	return p
}

// frame is a decoded server frame in a comparable form.
type frame struct {
	typ    http2.FrameType
	id     uint32
	flags  http2.Flags
	data   string
	fields []string
	code   http2.ErrCode
	inc    uint32
	last   uint32
	set    []http2.Setting
}

func flagNames(typ http2.FrameType, fl http2.Flags) string {
	var n []string
	switch typ {
	case http2.FrameData, http2.FrameHeaders:
		if fl&http2.FlagDataEndStream != 0 {
			n = append(n, "END_STREAM")
		}
		if typ == http2.FrameHeaders && fl&http2.FlagHeadersEndHeaders != 0 {
			n = append(n, "END_HEADERS")
		}
	case http2.FrameSettings, http2.FramePing:
		if fl&http2.FlagSettingsAck != 0 {
			n = append(n, "ACK")
		}
	}
	return strings.Join(n, "|")
}

func (f frame) String() string {
	fl := flagNames(f.typ, f.flags)
	switch f.typ {
	case http2.FrameHeaders:
		return fmt.Sprintf("HEADERS %d %s %q", f.id, fl, f.fields)
	case http2.FrameData:
		if fl != "" {
			fl += " "
		}
		return fmt.Sprintf("DATA %d %slen=%d", f.id, fl, len(f.data))
	case http2.FrameRSTStream:
		return fmt.Sprintf("RST_STREAM %d %v", f.id, f.code)
	case http2.FrameGoAway:
		return fmt.Sprintf("GOAWAY last=%d %v %q", f.last, f.code, f.data)
	case http2.FrameWindowUpdate:
		return fmt.Sprintf("WINDOW_UPDATE %d +%d", f.id, f.inc)
	case http2.FrameSettings:
		return fmt.Sprintf("SETTINGS %s %v", fl, f.set)
	case http2.FramePing:
		return fmt.Sprintf("PING %s %q", fl, f.data)
	}
	return fmt.Sprintf("%v %d", f.typ, f.id)
}

// read decodes all frames in b (which must end on a frame boundary).
func (p *peer) read(t testing.TB, b []byte) []frame {
	t.Helper()
	p.rd.Write(b)
	var out []frame
	for {
		f, err := p.fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading server frames: %v (after %v)", err, out)
		}
		h := f.Header()
		fr := frame{typ: h.Type, id: h.StreamID, flags: h.Flags}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			for _, hf := range f.Fields {
				fr.fields = append(fr.fields, hf.Name+": "+hf.Value)
			}
		case *http2.DataFrame:
			fr.data = string(f.Data())
		case *http2.RSTStreamFrame:
			fr.code = f.ErrCode
		case *http2.GoAwayFrame:
			fr.code, fr.last, fr.data = f.ErrCode, f.LastStreamID, string(f.DebugData())
		case *http2.WindowUpdateFrame:
			fr.inc = f.Increment
		case *http2.SettingsFrame:
			_ = f.ForeachSetting(func(s http2.Setting) error { fr.set = append(fr.set, s); return nil })
		case *http2.PingFrame:
			fr.data = string(f.Data[:])
		}
		out = append(out, fr)
	}
}

// flat joins a gather list.
func flat(v [][]byte) []byte {
	var b []byte
	for _, p := range v {
		b = append(b, p...)
	}
	return b
}

// harness ties a Conn, its recorder, a client and a peer together.
type harness struct {
	t   testing.TB
	c   *Conn
	h   *recorder
	cl  *client
	p   *peer
	err error
}

func newHarness(t testing.TB, o Options) *harness {
	h := &harness{t: t, h: &recorder{}, cl: newClient(), p: newPeer()}
	h.c = NewConn(h.h, o)
	h.h.c = h.c
	return h
}

// start performs the connection preface exchange and returns the frames
// the server sent for it.
func (h *harness) start(s ...http2.Setting) []frame {
	h.t.Helper()
	h.cl.buf.WriteString(ClientPreface)
	h.cl.settings(s...)
	h.feed()
	fs := h.frames()
	h.cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
	h.feed()
	if !h.c.SettingsAcked() {
		h.t.Fatal("settings not acked")
	}
	return fs
}

// feed feeds everything the client wrote and requires it to be consumed;
// Feed's error is kept in h.err.
func (h *harness) feed() {
	h.t.Helper()
	b := h.cl.take()
	n, err := h.c.Feed(b)
	if err == nil && n != len(b) {
		h.t.Fatalf("Feed consumed %d of %d", n, len(b))
	}
	h.err = err
}

// frames returns and resets the server's output, decoded.
func (h *harness) frames() []frame {
	h.t.Helper()
	out := flat(h.c.Out())
	if len(out) != h.c.OutLen() {
		h.t.Fatalf("OutLen %d, Out holds %d", h.c.OutLen(), len(out))
	}
	h.c.ResetOut()
	return h.p.read(h.t, out)
}

func framesString(fs []frame) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

func eventsString(es []event) string {
	var s []string
	for _, e := range es {
		s = append(s, e.String())
	}
	return strings.Join(s, "\n")
}

// wantConnError checks that err is a *ConnError with code and that the
// output ends with a GOAWAY carrying it.
func (h *harness) wantConnError(code ErrCode) {
	h.t.Helper()
	var ce *ConnError
	if !errors.As(h.err, &ce) || ce.Code != code {
		h.t.Fatalf("err = %v, want connection error %v", h.err, code)
	}
	fs := h.frames()
	if len(fs) == 0 || fs[len(fs)-1].typ != http2.FrameGoAway || ErrCode(fs[len(fs)-1].code) != code {
		h.t.Fatalf("output does not end with GOAWAY(%v):\n%s", code, framesString(fs))
	}
	if !h.c.Closed() {
		h.t.Fatal("Closed() false after a connection error")
	}
}
