package proxy

import (
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/codec/http2"
)

// h2TestStream is a stream holding a parsed upstream response head, as
// readResponseHead leaves it.
func h2TestStream(t *testing.T, head string) *stream {
	t.Helper()
	s := &stream{srv: &Server{}}
	s.d = &downstream{f: &Factory{viaH2: []byte("2 ferry")}}
	s.respHead = []byte(head)
	if n, err := s.resp.Parse(s.respHead, false, http1.Limits{}); err != nil || n != len(head) {
		t.Fatalf("parse: n=%d err=%v", n, err)
	}
	s.resp.Raw = s.respHead
	s.respHdrs.bind(&s.resp.Raw, &s.resp.Headers)
	return s
}

func fieldList(fs []http2.Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(string(f.Name) + "=" + string(f.Value) + ";")
	}
	return b.String()
}

// TestH2ResponseFields: the response head an HTTP/2 client gets keeps the
// end-to-end fields and what filters added, drops hop-by-hop fields,
// deleted ones and the upstream's Content-Length (ferry states the length
// it frames), and adds Via.
func TestH2ResponseFields(t *testing.T) {
	s := h2TestStream(t, "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\n"+
		"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nContent-Type: text/plain\r\n\r\n")
	s.respHdrs.Del("x-secret")
	s.respHdrs.Add("x-added", "yes")
	got := fieldList(s.h2ResponseFields(nil))
	want := "Server=up;Content-Type=text/plain;x-added=yes;content-length=5;via=2 ferry;"
	if got != want {
		t.Fatalf("fields\n got %s\nwant %s", got, want)
	}

	s = h2TestStream(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: x\r\n\r\n")
	if got, want := fieldList(s.h2ResponseFields(nil)), "Date=x;via=2 ferry;"; got != want {
		t.Fatalf("chunked response: got %s, want %s (no length: DATA frames delimit it)", got, want)
	}
}

// TestH2ResponseFieldsNoAlloc: building the response head of every HTTP/2
// response allocates nothing once the field list has grown.
func TestH2ResponseFieldsNoAlloc(t *testing.T) {
	s := h2TestStream(t, "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 1024\r\nContent-Type: text/plain\r\nDate: now\r\n\r\n")
	dst := s.h2ResponseFields(nil)
	if n := testing.AllocsPerRun(100, func() { dst = s.h2ResponseFields(dst[:0]) }); n != 0 {
		t.Fatalf("%v allocations per response head", n)
	}
}
