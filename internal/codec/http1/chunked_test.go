package http1

import (
	"strings"
	"testing"
)

func TestChunkedAccept(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		payload string
		trailer string
	}{
		{name: "empty body", in: "0\r\n\r\n"},
		{name: "three chunks", in: "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", payload: "hello world"},
		{name: "hex sizes", in: "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", payload: "0123456789abcdefghij"},
		{name: "leading zeros", in: "0000000000000003\r\nabc\r\n000\r\n\r\n", payload: "abc"},
		{name: "trailers", in: "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B:2\r\n\r\n", payload: "abc", trailer: "X-Sum: 1\r\nX-B:2\r\n"},
		{name: "extensions", in: "3;a=b;c\r\nabc\r\n0;last=\"x\\\"y, z\"\r\n\r\n", payload: "abc"},
		{name: "BWS around extensions", in: "3 ; a = b\t;\tc\r\nabc\r\n0\r\n\r\n", payload: "abc"},
		{name: "payload with CRLF inside", in: "4\r\n\r\n\r\n\r\n0\r\n\r\n", payload: "\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := chunkResult{payload: tc.payload, trailer: tc.trailer, done: true, n: len(tc.in)}
			checkChunked(t, []byte(tc.in), want)
		})
	}
}

func TestChunkedReject(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		reason string
	}{
		{name: "empty size", in: "\r\n", status: 400, reason: "invalid chunk size"},
		{name: "non-hex size", in: "g\r\n", status: 400, reason: "invalid chunk size"},
		{name: "leading space", in: " 5\r\nhello\r\n0\r\n\r\n", status: 400, reason: "invalid chunk size"},
		{name: "trailing space", in: "5 \r\nhello\r\n0\r\n\r\n", status: 400, reason: "invalid chunk size line"},
		{name: "sign", in: "+5\r\nhello\r\n", status: 400, reason: "invalid chunk size"},
		{name: "0x prefix", in: "0x5\r\nhello\r\n", status: 400, reason: "invalid chunk size line"},
		{name: "17 digits", in: "00000000000000001\r\nx\r\n", status: 400, reason: "chunk size too large"},
		{name: "int64 overflow", in: "8000000000000000\r\n", status: 400, reason: "chunk size too large"},
		{name: "bare LF after size", in: "5\nhello\r\n", status: 400, reason: "bare LF in chunked body"},
		{name: "bare CR in size line", in: "5\rx\r\nhello\r\n", status: 400, reason: "bare CR in chunked body"},
		{name: "missing CRLF after data", in: "5\r\nhelloX\r\n", status: 400, reason: "missing CRLF after chunk data"},
		{name: "bare LF after data", in: "5\r\nhello\n0\r\n\r\n", status: 400, reason: "bare LF in chunked body"},
		{name: "bare CR after data", in: "5\r\nhello\rx", status: 400, reason: "bare CR in chunked body"},
		{name: "data longer than size", in: "3\r\nhello\r\n", status: 400, reason: "missing CRLF after chunk data"},
		{name: "empty extension name", in: "5;\r\nhello\r\n", status: 400, reason: "invalid chunk extension name"},
		{name: "empty extension value", in: "5;a=\r\nhello\r\n", status: 400, reason: "invalid chunk extension value"},
		{name: "unterminated quoted value", in: "5;a=\"x\r\nhello\r\n", status: 400, reason: "invalid chunk extension value"},
		{name: "CTL in quoted value", in: "5;a=\"\x01\"\r\nhello\r\n", status: 400, reason: "invalid chunk extension value"},
		{name: "space after extension", in: "5;a \r\nhello\r\n", status: 400, reason: "invalid chunk size line"},
		{name: "size line too long", in: "5;a=" + strings.Repeat("b", maxSizeLine) + "\r\nhello\r\n", status: 400, reason: "chunk size line too long"},
		{name: "trailer obs-fold", in: "0\r\nX: a\r\n b\r\n\r\n", status: 400, reason: "obs-fold or whitespace at start of field line"},
		{name: "trailer no colon", in: "0\r\nX\r\n\r\n", status: 400, reason: "field line without colon"},
		{name: "trailer bare LF", in: "0\r\nX: a\n\r\n", status: 400, reason: "bare LF in chunked body"},
		{name: "trailer final bare LF", in: "0\r\nX: a\r\n\n", status: 400, reason: "bare LF in chunked body"},
		{name: "trailer NUL", in: "0\r\nX: \x00\r\n\r\n", status: 400, reason: "NUL in field value"},
		{name: "trailer too large", in: "0\r\nX: " + strings.Repeat("a", maxTrailerBytes) + "\r\n\r\n", status: 431, reason: "trailer section too large"},
		{name: "too many trailer fields", in: "0\r\n" + strings.Repeat("X: 1\r\n", maxTrailerFields+1) + "\r\n", status: 431, reason: "too many trailer fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			one := decodeChunked([]byte(tc.in), nil)
			if one.status != tc.status || one.reason != tc.reason {
				t.Fatalf("got %d %q; want %d %q", one.status, one.reason, tc.status, tc.reason)
			}
			checkChunked(t, []byte(tc.in), one)
		})
	}
}

// checkChunked decodes in one-shot, byte by byte and with every single
// split point, and expects want each time.
func checkChunked(t *testing.T, in []byte, want chunkResult) {
	t.Helper()
	if got := decodeChunked(in, nil); got != want {
		t.Fatalf("one-shot:\n got %+v\nwant %+v", got, want)
	}
	all := make([]int, 0, len(in))
	for k := 1; k < len(in); k++ {
		all = append(all, k)
	}
	if got := decodeChunked(in, all); got != want {
		t.Fatalf("byte by byte:\n got %+v\nwant %+v", got, want)
	}
	if len(in) > 2000 {
		return // quadratic below; the byte-by-byte run covers long inputs
	}
	for k := 1; k < len(in); k++ {
		if got := decodeChunked(in, []int{k}); got != want {
			t.Fatalf("split at %d:\n got %+v\nwant %+v", k, got, want)
		}
	}
}

func TestChunkedEvents(t *testing.T) {
	var d ChunkedDecoder
	in := []byte("5\r\nhel")
	ev, n, data, err := d.Next(in)
	if ev != ChunkData || n != 6 || string(data) != "hel" || err != nil {
		t.Fatalf("first: %v %d %q %v", ev, n, data, err)
	}
	ev, n, _, err = d.Next(in[n:])
	if ev != ChunkNeedMore || n != 0 || err != nil {
		t.Fatalf("empty: %v %d %v", ev, n, err)
	}
	in = []byte("lo\r\n0\r\nX: 1\r")
	ev, n, data, err = d.Next(in)
	if ev != ChunkData || n != 4 || string(data) != "lo" || err != nil {
		t.Fatalf("second: %v %d %q %v", ev, n, data, err)
	}
	in = in[n:]
	ev, n, _, err = d.Next(in)
	if ev != ChunkNeedMore || n != 3 || err != nil {
		t.Fatalf("size line consumed, trailer partial: %v %d %v", ev, n, err)
	}
	in = append(in[n:], "\n\r\n"...)
	ev, n, data, err = d.Next(in)
	if ev != ChunkDone || n != len(in) || string(data) != "X: 1\r\n" || err != nil {
		t.Fatalf("done: %v %d %q %v", ev, n, data, err)
	}
	if ev, n, _, err = d.Next([]byte("junk")); ev != ChunkDone || n != 0 || err != nil {
		t.Fatalf("after done: %v %d %v", ev, n, err)
	}
	d.Reset()
	_, _, _, err = d.Next([]byte("z\r\n"))
	if _, _, _, err2 := d.Next([]byte("0\r\n\r\n")); err == nil || err2 != err {
		t.Fatalf("errors must be sticky: %v, %v", err, err2)
	}
}

func TestAppendChunkHeader(t *testing.T) {
	tests := []struct {
		name string
		size int
		want string
	}{
		{name: "zero", size: 0, want: "0\r\n"},
		{name: "small", size: 10, want: "a\r\n"},
		{name: "larger", size: 0x1a2b, want: "1a2b\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendChunkHeader([]byte("x"), tc.size)); got != "x"+tc.want {
				t.Fatalf("got %q; want %q", got, "x"+tc.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("negative size must panic")
		}
	}()
	AppendChunkHeader(nil, -1)
}

func TestStatusTextAndError(t *testing.T) {
	tests := []struct {
		name string
		code int
		want string
	}{
		{name: "200", code: 200, want: "OK"},
		{name: "414", code: 414, want: "URI Too Long"},
		{name: "431", code: 431, want: "Request Header Fields Too Large"},
		{name: "502", code: 502, want: "Bad Gateway"},
		{name: "505", code: 505, want: "HTTP Version Not Supported"},
		{name: "unknown", code: 299, want: ""},
		{name: "out of range", code: 999, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusText(tc.code); got != tc.want {
				t.Fatalf("StatusText(%d) = %q; want %q", tc.code, got, tc.want)
			}
		})
	}
	e := &Error{Status: 400, Reason: "bare LF in header section"}
	if e.Error() != "http1: 400 bare LF in header section" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if BodyChunked.String() != "BodyChunked" || ChunkDone.String() != "ChunkDone" {
		t.Fatal("String methods")
	}
}

// TestChunkedResumesScan checks that a partial size line or trailer section
// is not searched again from its start on the next call.
func TestChunkedResumesScan(t *testing.T) {
	tests := []struct {
		name string
		pre  string // consumed before the partial unit
		unit string
	}{
		{name: "size line", unit: "1a2b;name=\"value\""},
		{name: "trailer section", pre: "0\r\n", unit: "X-A: 1\r\nX-B: 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d ChunkedDecoder
			if tc.pre != "" {
				if _, n, _, err := d.Next([]byte(tc.pre)); n != len(tc.pre) || err != nil {
					t.Fatalf("pre: %d, %v", n, err)
				}
			}
			for k := 1; k <= len(tc.unit); k++ {
				ev, n, _, err := d.Next([]byte(tc.unit[:k]))
				if ev != ChunkNeedMore || n != 0 || err != nil {
					t.Fatalf("k=%d: %v %d %v", k, ev, n, err)
				}
				if d.scan != k {
					t.Fatalf("k=%d: scan %d", k, d.scan)
				}
			}
		})
	}
}
