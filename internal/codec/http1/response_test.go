package http1

import (
	"strings"
	"testing"
)

func TestResponseAccept(t *testing.T) {
	tests := []struct {
		name string
		in   string
		head bool
		want respResult
	}{
		{
			name: "200 with Content-Length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: 5, keepAlive: true, body: BodyLength,
				headers: "Content-Length: 5 [00001000]\nServer: x [00000000]\n"},
		},
		{
			name: "chunked",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: -1, chunked: true, keepAlive: true, body: BodyChunked,
				headers: "Transfer-Encoding: chunked [00010001]\n"},
		},
		{
			name: "until close",
			in:   "HTTP/1.1 200 OK\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: -1, body: BodyUntilClose},
		},
		{
			name: "HTTP/1.0 keep-alive with length",
			in:   "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 200, phrase: "OK", cl: 0, keepAlive: true, body: BodyLength,
				headers: "Connection: keep-alive [00100001]\nContent-Length: 0 [00001000]\n"},
		},
		{
			name: "HTTP/1.0 default close",
			in:   "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
			want: respResult{code: 200, phrase: "OK", cl: 1, body: BodyLength, headers: "Content-Length: 1 [00001000]\n"},
		},
		{
			name: "Connection close",
			in:   "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: 1, body: BodyLength,
				headers: "Connection: close [00100001]\nContent-Length: 1 [00001000]\n"},
		},
		{
			name: "HEAD response ignores length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
			head: true,
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: 1234, keepAlive: true, body: BodyNone, headers: "Content-Length: 1234 [00001000]\n"},
		},
		{
			name: "HEAD response ignores chunked",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			head: true,
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: -1, chunked: true, keepAlive: true, body: BodyNone,
				headers: "Transfer-Encoding: chunked [00010001]\n"},
		},
		{
			name: "204",
			in:   "HTTP/1.1 204 No Content\r\n\r\n",
			want: respResult{code: 204, minor: 1, phrase: "No Content", cl: -1, keepAlive: true, body: BodyNone},
		},
		{
			name: "304 with length",
			in:   "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
			want: respResult{code: 304, minor: 1, phrase: "Not Modified", cl: 99, keepAlive: true, body: BodyNone, headers: "Content-Length: 99 [00001000]\n"},
		},
		{
			name: "100 continue",
			in:   "HTTP/1.1 100 Continue\r\n\r\n",
			want: respResult{code: 100, minor: 1, phrase: "Continue", cl: -1, keepAlive: true, body: BodyNone},
		},
		{
			name: "103 early hints",
			in:   "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
			want: respResult{code: 103, minor: 1, phrase: "Early Hints", cl: -1, keepAlive: true, body: BodyNone,
				headers: "Link: </a.css>; rel=preload [00000000]\n"},
		},
		{
			name: "101 switching",
			in:   "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			want: respResult{code: 101, minor: 1, phrase: "Switching Protocols", cl: -1, body: BodyNone,
				headers: "Connection: Upgrade [00100001]\nUpgrade: websocket [10000001]\n"},
		},
		{
			name: "missing SP and reason",
			in:   "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 200, minor: 1, cl: 0, keepAlive: true, body: BodyLength, headers: "Content-Length: 0 [00001000]\n"},
		},
		{
			name: "empty reason",
			in:   "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 404, minor: 1, cl: 0, keepAlive: true, body: BodyLength, headers: "Content-Length: 0 [00001000]\n"},
		},
		{
			name: "reason with obs-text and tab",
			in:   "HTTP/1.1 200 D\xe9j\xe0\tvu\r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "D\xe9j\xe0\tvu", cl: 0, keepAlive: true, body: BodyLength, headers: "Content-Length: 0 [00001000]\n"},
		},
		{
			name: "Host and Expect not interpreted",
			in:   "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nExpect: nope\r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: 0, keepAlive: true, body: BodyLength,
				headers: "Host: a b [00000100]\nHost: c [00000100]\nExpect: nope [00000000]\nContent-Length: 0 [00001000]\n"},
		},
		{
			name: "Connection option marks field",
			in:   "HTTP/1.1 200 OK\r\nConnection: x-trace\r\nX-Trace: 1\r\nContent-Length: 0\r\n\r\n",
			want: respResult{code: 200, minor: 1, phrase: "OK", cl: 0, keepAlive: true, body: BodyLength,
				headers: "Connection: x-trace [00100001]\nX-Trace: 1 [00000011]\nContent-Length: 0 [00001000]\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.n = len(tc.in)
			checkResp(t, []byte(tc.in), tc.head, Limits{}, tc.want)
		})
	}
}

func TestResponseReject(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		head   bool
		lim    Limits
		reason string
	}{
		{name: "HTTP/2", in: "HTTP/2 200 OK\r\n\r\n", reason: "malformed status line"},
		{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\n\r\n", reason: "unsupported HTTP version"},
		{name: "lower-case version", in: "http/1.1 200 OK\r\n\r\n", reason: "malformed HTTP version"},
		{name: "two-digit code", in: "HTTP/1.1 20 OK\r\n\r\n", reason: "malformed status code"},
		{name: "short status line", in: "HTTP/1.1 20\r\n\r\n", reason: "malformed status line"},
		{name: "four-digit code", in: "HTTP/1.1 2000 OK\r\n\r\n", reason: "malformed status line"},
		{name: "letters in code", in: "HTTP/1.1 2x0 OK\r\n\r\n", reason: "malformed status code"},
		{name: "code below 100", in: "HTTP/1.1 099 OK\r\n\r\n", reason: "status code out of range"},
		{name: "code above 599", in: "HTTP/1.1 600 OK\r\n\r\n", reason: "status code out of range"},
		{name: "two SPs after version", in: "HTTP/1.1  200 OK\r\n\r\n", reason: "malformed status code"},
		{name: "CTL in reason", in: "HTTP/1.1 200 O\x01K\r\n\r\n", reason: "invalid character in reason phrase"},
		{name: "bare CR in reason", in: "HTTP/1.1 200 O\rK\r\n\r\n", reason: "bare CR in header section"},
		{name: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", reason: "bare LF in header section"},
		{name: "obs-fold", in: "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", reason: "obs-fold or whitespace at start of field line"},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", reason: "whitespace between field name and colon"},
		{name: "CL and TE", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", reason: "both Content-Length and Transfer-Encoding"},
		{name: "CL and TE on HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", head: true, reason: "both Content-Length and Transfer-Encoding"},
		{name: "CL differs", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", reason: "conflicting Content-Length values"},
		{name: "CL invalid", in: "HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\n", reason: "invalid Content-Length"},
		{name: "TE gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", reason: "unsupported transfer coding"},
		{name: "TE chunked not last", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", reason: "chunked is not the final transfer coding"},
		{name: "TE chunked twice", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", reason: "chunked applied more than once"},
		{name: "TE in HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", reason: "Transfer-Encoding in HTTP/1.0 response"},
		{name: "status line too long", in: "HTTP/1.1 200 " + strings.Repeat("x", 100) + "\r\n\r\n", lim: Limits{MaxRequestLine: 50}, reason: "status line too long"},
		{name: "too many fields", in: "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", lim: Limits{MaxHeaders: 1}, reason: "too many header fields"},
		{name: "head too large", in: "HTTP/1.1 200 OK\r\nA: " + strings.Repeat("x", 100) + "\r\n\r\n", lim: Limits{MaxHeaderBytes: 64}, reason: "header section too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkResp(t, []byte(tc.in), tc.head, tc.lim, respResult{status: 502, reason: tc.reason})
		})
	}
}

func checkResp(t *testing.T, in []byte, head bool, lim Limits, want respResult) {
	t.Helper()
	all := make([]int, 0, len(in))
	for k := 1; k < len(in); k++ {
		all = append(all, k)
	}
	one, inc := feedResp(in, head, lim, all)
	if one != want {
		t.Fatalf("one-shot:\n got %+v\nwant %+v", one, want)
	}
	if inc != want {
		t.Fatalf("byte by byte:\n got %+v\nwant %+v", inc, want)
	}
	for k := 1; k < len(in); k++ {
		if _, inc = feedResp(in, head, lim, []int{k}); inc != want {
			t.Fatalf("split at %d:\n got %+v\nwant %+v", k, inc, want)
		}
	}
}

// TestResponseSequence parses an interim 100, then the final response and
// its body, then a response delimited by close, from one buffer.
func TestResponseSequence(t *testing.T) {
	buf := []byte("HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" +
		"HTTP/1.1 200 OK\r\n\r\nrest of stream")
	var r Response
	off := 0
	step := func(wantCode int, wantBody BodyKind) {
		t.Helper()
		n, err := r.Parse(buf[off:], false, Limits{})
		if n == 0 || err != nil || r.Status != wantCode || r.Body != wantBody {
			t.Fatalf("at %d: n=%d err=%v status=%d body=%v; want %d %v", off, n, err, r.Status, r.Body, wantCode, wantBody)
		}
		off += n
	}
	step(100, BodyNone)
	step(200, BodyChunked)
	res := decodeChunked(buf[off:], nil)
	if res.payload != "abc" || res.trailer != "X-Sum: 1\r\n" || !res.done {
		t.Fatalf("chunked body: %+v", res)
	}
	off += res.n
	step(200, BodyLength)
	if got := string(buf[off : off+int(r.ContentLength)]); got != "hi" {
		t.Fatalf("body %q", got)
	}
	off += int(r.ContentLength)
	step(200, BodyUntilClose)
	if r.KeepAlive {
		t.Fatal("BodyUntilClose must clear KeepAlive")
	}
	if v, ok := r.Get("content-length"); ok {
		t.Fatalf("stale field %q", v)
	}
}
