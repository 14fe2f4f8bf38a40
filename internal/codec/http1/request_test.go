package http1

import (
	"strings"
	"testing"
)

func TestRequestAccept(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want reqResult
	}{
		{
			name: "simple GET",
			in:   "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
			want: reqResult{method: "GET", target: "/index.html?q=1", minor: 1, host: "example.com", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: example.com [00000100]\nUser-Agent: t [00000000]\n"},
		},
		{
			name: "HTTP/1.0 without Host closes",
			in:   "GET / HTTP/1.0\r\n\r\n",
			want: reqResult{method: "GET", target: "/", cl: -1},
		},
		{
			name: "HTTP/1.0 keep-alive",
			in:   "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			want: reqResult{method: "GET", target: "/", cl: -1, keepAlive: true, headers: "Connection: Keep-Alive [00100001]\n"},
		},
		{
			name: "HTTP/1.1 close wins over keep-alive",
			in:   "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n",
			want: reqResult{method: "GET", target: "/", minor: 1, host: "a", hasHost: true, cl: -1,
				headers: "Host: a [00000100]\nConnection: keep-alive, CLOSE [00100001]\n"},
		},
		{
			name: "OWS trimmed and empty value",
			in:   "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v  v \t\r\nX-Empty:\r\nX-E2:   \r\n\r\n",
			want: reqResult{method: "GET", target: "/", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: a [00000100]\nX-A: v  v [00000000]\nX-Empty:  [00000000]\nX-E2:  [00000000]\n"},
		},
		{
			name: "obs-text in value",
			in:   "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
			want: reqResult{method: "GET", target: "/", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: a [00000100]\nX: caf\xc3\xa9 [00000000]\n"},
		},
		{
			name: "Content-Length",
			in:   "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n",
			want: reqResult{method: "POST", target: "/p", minor: 1, host: "a", hasHost: true, cl: 42, keepAlive: true,
				headers: "Host: a [00000100]\nContent-Length: 42 [00001000]\n"},
		},
		{
			name: "identical Content-Length fields and list",
			in:   "POST /p HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\nContent-Length: 7, 7\r\n\r\n",
			want: reqResult{method: "POST", target: "/p", minor: 1, host: "a", hasHost: true, cl: 7, keepAlive: true,
				headers: "Host: a [00000100]\ncontent-length: 007 [00001000]\nContent-Length: 7, 7 [00001000]\n"},
		},
		{
			name: "chunked case-insensitive",
			in:   "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n",
			want: reqResult{method: "POST", target: "/p", minor: 1, host: "a", hasHost: true, cl: -1, chunked: true, keepAlive: true,
				headers: "Host: a [00000100]\nTransfer-Encoding: CHUNKED [00010001]\n"},
		},
		{
			name: "chunked across fields with empty elements",
			in:   "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: , chunked\r\n\r\n",
			want: reqResult{method: "POST", target: "/p", minor: 1, host: "a", hasHost: true, cl: -1, chunked: true, keepAlive: true,
				headers: "Host: a [00000100]\nTransfer-Encoding: , [00010001]\nTransfer-Encoding: , chunked [00010001]\n"},
		},
		{
			name: "Expect 100-continue",
			in:   "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
			want: reqResult{method: "PUT", target: "/u", minor: 1, host: "a", hasHost: true, cl: 3, keepAlive: true, expect100: true,
				headers: "Host: a [00000100]\nExpect: 100-Continue [00000000]\nContent-Length: 3 [00001000]\n"},
		},
		{
			name: "Expect ignored on HTTP/1.0",
			in:   "PUT /u HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
			want: reqResult{method: "PUT", target: "/u", cl: -1, headers: "Expect: 100-continue [00000000]\n"},
		},
		{
			name: "websocket upgrade",
			in:   "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			want: reqResult{method: "GET", target: "/ws", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true, upgrade: true,
				headers: "Host: a [00000100]\nConnection: Upgrade [00100001]\nUpgrade: websocket [10000001]\n"},
		},
		{
			name: "Upgrade field without Connection option",
			in:   "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
			want: reqResult{method: "GET", target: "/ws", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: a [00000100]\nUpgrade: websocket [10000001]\n"},
		},
		{
			name: "Connection options mark fields but not Host or framing",
			in: "POST / HTTP/1.1\r\nX-Foo: 1\r\nHost: a\r\nConnection: x-foo, host, content-length, , X-Bar\r\n" +
				"x-FOO: 2\r\nContent-Length: 0\r\nX-Bar: 3\r\nX-Other: 4\r\n\r\n",
			want: reqResult{method: "POST", target: "/", minor: 1, host: "a", hasHost: true, cl: 0, keepAlive: true,
				headers: "X-Foo: 1 [00000011]\nHost: a [00000100]\nConnection: x-foo, host, content-length, , X-Bar [00100001]\n" +
					"x-FOO: 2 [00000011]\nContent-Length: 0 [00001000]\nX-Bar: 3 [00000011]\nX-Other: 4 [00000000]\n"},
		},
		{
			name: "hop-by-hop list",
			in: "GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: X\r\n" +
				"Proxy-Authenticate: b\r\nProxy-Authorization: c\r\n\r\n",
			want: reqResult{method: "GET", target: "/", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: a [00000100]\nKeep-Alive: 5 [00000001]\nProxy-Connection: x [00000001]\nTE: trailers [01000001]\n" +
					"Trailer: X [00000001]\nProxy-Authenticate: b [00000001]\nProxy-Authorization: c [00000001]\n"},
		},
		{
			name: "leading empty lines skipped",
			in:   "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
			want: reqResult{method: "GET", target: "/", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true, headers: "Host: a [00000100]\n"},
		},
		{
			name: "absolute-form",
			in:   "GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
			want: reqResult{method: "GET", target: "http://example.com:8080/x?y", minor: 1, host: "example.com:8080", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: example.com:8080 [00000100]\n"},
		},
		{
			name: "CONNECT authority-form",
			in:   "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
			want: reqResult{method: "CONNECT", target: "[::1]:443", minor: 1, host: "[::1]:443", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: [::1]:443 [00000100]\n"},
		},
		{
			name: "OPTIONS asterisk-form and empty Host",
			in:   "OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n",
			want: reqResult{method: "OPTIONS", target: "*", minor: 1, hasHost: true, cl: -1, keepAlive: true, headers: "Host:  [00000100]\n"},
		},
		{
			name: "extension method and target punctuation",
			in:   "M-SEARCH /a|b{c}^\"<> HTTP/1.1\r\nHost: a\r\n\r\n",
			want: reqResult{method: "M-SEARCH", target: "/a|b{c}^\"<>", minor: 1, host: "a", hasHost: true, cl: -1, keepAlive: true,
				headers: "Host: a [00000100]\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.n = len(tc.in)
			checkReq(t, []byte(tc.in), Limits{}, tc.want)
		})
	}
}

func TestRequestReject(t *testing.T) {
	big := strings.Repeat("a", 100)
	tests := []struct {
		name   string
		in     string
		lim    Limits
		status int
		reason string
	}{
		{name: "bare LF after request line", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", status: 400, reason: "bare LF in header section"},
		{name: "bare LF after field", in: "GET / HTTP/1.1\r\nHost: a\n\r\n", status: 400, reason: "bare LF in header section"},
		{name: "bare LF as final line", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", status: 400, reason: "bare LF in header section"},
		{name: "bare LF leading line", in: "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "bare LF in header section"},
		{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", status: 400, reason: "bare CR in header section"},
		{name: "bare CR in name", in: "GET / HTTP/1.1\r\nHost: a\r\nX\r: a\r\n\r\n", status: 400, reason: "bare CR in header section"},
		{name: "bare CR line", in: "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", status: 400, reason: "bare CR in header section"},
		{name: "bare CR in request line", in: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid character in request target"},
		{name: "empty method", in: " / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid method"},
		{name: "bad method char", in: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid method"},
		{name: "method only", in: "GET\r\nHost: a\r\n\r\n", status: 400, reason: "invalid method"},
		{name: "double SP", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "empty request target"},
		{name: "HTTP/0.9", in: "GET /\r\n\r\n", status: 400, reason: "invalid character in request target"},
		{name: "HTAB separator", in: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid method"},
		{name: "trailing SP", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400, reason: "malformed HTTP version"},
		{name: "target CTL", in: "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid character in request target"},
		{name: "target DEL", in: "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid character in request target"},
		{name: "target high bit", in: "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid character in request target"},
		{name: "target relative", in: "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "invalid request target form"},
		{name: "asterisk without OPTIONS", in: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "asterisk-form target without OPTIONS"},
		{name: "CONNECT origin-form", in: "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "CONNECT target is not authority-form"},
		{name: "CONNECT without port", in: "CONNECT a.com HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "CONNECT target is not authority-form"},
		{name: "HTTP/1.2", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: 505, reason: "unsupported HTTP version"},
		{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505, reason: "unsupported HTTP version"},
		{name: "HTTP/1.10", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400, reason: "malformed HTTP version"},
		{name: "lower-case version", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed HTTP version"},
		{name: "version without minor", in: "GET / HTTP/1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed HTTP version"},
		{name: "request line too long", in: "GET /" + big + " HTTP/1.1\r\nHost: a\r\n\r\n", lim: Limits{MaxRequestLine: 50}, status: 414, reason: "request line too long"},
		{name: "too many empty lines", in: "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "too many empty lines before start line"},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400, reason: "whitespace between field name and colon"},
		{name: "tab before colon", in: "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", status: 400, reason: "whitespace between field name and colon"},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", status: 400, reason: "obs-fold or whitespace at start of field line"},
		{name: "whitespace before first field", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400, reason: "obs-fold or whitespace at start of field line"},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", status: 400, reason: "field line without colon"},
		{name: "empty name", in: "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", status: 400, reason: "empty field name"},
		{name: "bad name char", in: "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", status: 400, reason: "invalid character in field name"},
		{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", status: 400, reason: "NUL in field value"},
		{name: "CTL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", status: 400, reason: "invalid character in field value"},
		{name: "DEL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", status: 400, reason: "invalid character in field value"},
		{name: "too many fields", in: "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim: Limits{MaxHeaders: 3}, status: 431, reason: "too many header fields"},
		{name: "head too large", in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + big + "\r\n\r\n", lim: Limits{MaxHeaderBytes: 100}, status: 431, reason: "header section too large"},
		{name: "head one byte too large", in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + big[:42] + "\r\n\r\n", lim: Limits{MaxHeaderBytes: 64}, status: 431, reason: "header section too large"},
		{name: "CL plus sign", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL negative", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL inner space", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL hex", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL empty", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", status: 400, reason: "empty Content-Length"},
		{name: "CL empty element", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL overflow", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", status: 400, reason: "invalid Content-Length"},
		{name: "CL list differs", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", status: 400, reason: "conflicting Content-Length values"},
		{name: "CL fields differ", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400, reason: "conflicting Content-Length values"},
		{name: "TE with CL", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, reason: "both Content-Length and Transfer-Encoding"},
		{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, reason: "Transfer-Encoding in HTTP/1.0 request"},
		{name: "TE gzip", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501, reason: "unsupported transfer coding"},
		{name: "TE identity", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", status: 501, reason: "unsupported transfer coding"},
		{name: "TE gzip then chunked", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501, reason: "unsupported transfer coding"},
		{name: "TE chunked not last", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 400, reason: "chunked is not the final transfer coding"},
		{name: "TE chunked twice", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", status: 400, reason: "chunked applied more than once"},
		{name: "TE chunked in two fields", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, reason: "chunked applied more than once"},
		{name: "TE chunked params", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", status: 400, reason: "parameters on chunked transfer coding"},
		{name: "TE empty", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", status: 400, reason: "empty Transfer-Encoding"},
		{name: "TE bad token", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n", status: 400, reason: "invalid transfer coding"},
		{name: "TE chunked with trailing garbage", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n", status: 400, reason: "invalid character in field value"},
		{name: "missing Host", in: "GET / HTTP/1.1\r\nX: a\r\n\r\n", status: 400, reason: "missing Host in HTTP/1.1 request"},
		{name: "two Host fields", in: "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", status: 400, reason: "multiple Host fields"},
		{name: "Host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, reason: "invalid character in Host"},
		{name: "Host with slash", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, reason: "invalid character in Host"},
		{name: "Host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400, reason: "invalid character in Host"},
		{name: "Host list", in: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", status: 400, reason: "invalid character in Host"},
		{name: "Expect other", in: "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", status: 417, reason: "unsupported expectation"},
		{name: "Expect list", in: "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", status: 417, reason: "unsupported expectation"},
		{name: "Connection bad option", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", status: 400, reason: "invalid Connection option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkReq(t, []byte(tc.in), tc.lim, reqResult{status: tc.status, reason: tc.reason})
		})
	}
}

// checkReq parses in one-shot, then by growing one-byte prefixes, then with
// every single split point, and expects want each time.
func checkReq(t *testing.T, in []byte, lim Limits, want reqResult) {
	t.Helper()
	all := make([]int, 0, len(in))
	for k := 1; k < len(in); k++ {
		all = append(all, k)
	}
	one, inc := feedReq(in, lim, all)
	if one != want {
		t.Fatalf("one-shot:\n got %+v\nwant %+v", one, want)
	}
	if inc != want {
		t.Fatalf("byte by byte:\n got %+v\nwant %+v", inc, want)
	}
	for k := 1; k < len(in); k++ {
		if _, inc = feedReq(in, lim, []int{k}); inc != want {
			t.Fatalf("split at %d:\n got %+v\nwant %+v", k, inc, want)
		}
	}
}

func TestRequestNeedMore(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "CR only", in: "\r"},
		{name: "leading empty line", in: "\r\n"},
		{name: "partial request line", in: "GET / HTT"},
		{name: "request line", in: "GET / HTTP/1.1\r\n"},
		{name: "partial field", in: "GET / HTTP/1.1\r\nHost: a"},
		{name: "before final CRLF", in: "GET / HTTP/1.1\r\nHost: a\r\n"},
		{name: "before final LF", in: "GET / HTTP/1.1\r\nHost: a\r\n\r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := r.Parse([]byte(tc.in), Limits{})
			if n != 0 || err != nil {
				t.Fatalf("Parse(%q) = %d, %v; want 0, nil", tc.in, n, err)
			}
		})
	}
}

// TestRequestEarlyErrors checks that limit and bare-LF errors come before
// the head is complete.
func TestRequestEarlyErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		lim    Limits
		status int
	}{
		{name: "long request line without CRLF", in: "GET /" + strings.Repeat("a", 60), lim: Limits{MaxRequestLine: 50}, status: 414},
		{name: "long request line waiting for LF", in: "GET /" + strings.Repeat("a", 60) + "\r", lim: Limits{MaxRequestLine: 50}, status: 414},
		{name: "head too large without end", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 100), lim: Limits{MaxHeaderBytes: 100}, status: 431},
		{name: "bare LF without end", in: "GET / HTTP/1.1\r\nHost: a\nX: ", status: 400},
		{name: "bad field without end", in: "GET / HTTP/1.1\r\nHost : a\r\nX", status: 400},
		{name: "bad version without end", in: "GET / HTTP/3.0\r\nHo", status: 505},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			_, err := r.Parse([]byte(tc.in), tc.lim)
			if got := errResult(err); got.status != tc.status {
				t.Fatalf("status = %d (%v); want %d", got.status, err, tc.status)
			}
		})
	}
}

func TestRequestPipelined(t *testing.T) {
	buf := []byte("GET /a HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /c HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n" +
		"GET /d HTTP/1.0\r\n\r\n")
	want := []struct {
		target string
		body   string
	}{
		{target: "/a"}, {target: "/b", body: "hello"}, {target: "/c", body: "world"}, {target: "/d"},
	}
	var r Request
	var d ChunkedDecoder
	off := 0
	for i, w := range want {
		n, err := r.Parse(buf[off:], Limits{})
		if n == 0 || err != nil {
			t.Fatalf("request %d: Parse = %d, %v", i, n, err)
		}
		if got := string(r.Bytes(r.Target)); got != w.target {
			t.Fatalf("request %d: target %q; want %q", i, got, w.target)
		}
		off += n
		var body string
		switch {
		case r.Chunked:
			d.Reset()
			res := decodeChunked(buf[off:], nil)
			body, off = res.payload, off+res.n
		case r.ContentLength > 0:
			body = string(buf[off : off+int(r.ContentLength)])
			off += int(r.ContentLength)
		}
		if body != w.body {
			t.Fatalf("request %d: body %q; want %q", i, body, w.body)
		}
	}
	if off != len(buf) {
		t.Fatalf("consumed %d of %d bytes", off, len(buf))
	}
}

// TestRequestCopyRaw checks the lifetime rule: spans stay valid after the
// caller copies Raw[:n] and overwrites the original buffer.
func TestRequestCopyRaw(t *testing.T) {
	buf := []byte("GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\nGARBAGE")
	var r Request
	n, err := r.Parse(buf, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r.Raw = append([]byte(nil), buf[:n]...)
	for i := range buf {
		buf[i] = 'z'
	}
	if v, ok := r.Get("x-a"); !ok || string(v) != "1" {
		t.Fatalf("Get(x-a) = %q, %v", v, ok)
	}
	if string(r.Bytes(r.Host)) != "h" || !r.MethodIs("GET") || r.IsHead() || r.IsConnect() {
		t.Fatal("spans broken after copy")
	}
	if _, ok := r.Get("missing"); ok {
		t.Fatal("Get(missing) found a field")
	}
}

// TestRequestResetReuse checks that a Request is reusable after an error
// and after Reset in the middle of a head.
func TestRequestResetReuse(t *testing.T) {
	var r Request
	if _, err := r.Parse([]byte("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), Limits{}); err == nil {
		t.Fatal("want error")
	}
	if n, err := r.Parse([]byte("GET / HTTP/1.1\r\nHo"), Limits{}); n != 0 || err != nil {
		t.Fatalf("partial: %d, %v", n, err)
	}
	r.Reset()
	in := "PUT /z HTTP/1.1\r\nHost: q\r\n\r\n"
	n, err := r.Parse([]byte(in), Limits{})
	if n != len(in) || err != nil || !r.MethodIs("PUT") || len(r.Headers) != 1 {
		t.Fatalf("after Reset: %d, %v, %+v", n, err, r)
	}
}

// TestRequestShorterBuffer checks that a buffer shorter than the scanned
// prefix (a broken caller) restarts the parse instead of panicking.
func TestRequestShorterBuffer(t *testing.T) {
	var r Request
	if n, err := r.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaa"), Limits{}); n != 0 || err != nil {
		t.Fatalf("partial: %d, %v", n, err)
	}
	in := "GET / HTTP/1.0\r\n\r\n"
	if n, err := r.Parse([]byte(in), Limits{}); n != len(in) || err != nil {
		t.Fatalf("restart: %d, %v", n, err)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		in   Limits
		want Limits
	}{
		{name: "zero takes defaults", in: Limits{}, want: DefaultLimits()},
		{name: "negative takes defaults", in: Limits{MaxRequestLine: -1, MaxHeaderBytes: -1, MaxHeaders: -1}, want: DefaultLimits()},
		{name: "request line clamped", in: Limits{MaxRequestLine: 1000, MaxHeaderBytes: 100, MaxHeaders: 5}, want: Limits{MaxRequestLine: 84, MaxHeaderBytes: 100, MaxHeaders: 5}},
		{name: "header bytes floor", in: Limits{MaxHeaderBytes: 1}, want: Limits{MaxRequestLine: 48, MaxHeaderBytes: 64, MaxHeaders: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.norm(); got != tc.want {
				t.Fatalf("norm() = %+v; want %+v", got, tc.want)
			}
		})
	}
}

// TestRequestResumesScan checks the O(n) contract: while a head is
// incomplete, the LF search resumes at the end of the bytes already seen
// and complete lines are not parsed again.
func TestRequestResumesScan(t *testing.T) {
	buf := []byte(sampleBrowserGET)
	var r Request
	lines := 0
	for k := 1; k < len(buf); k++ {
		n, err := r.Parse(buf[:k], Limits{})
		if n != 0 || err != nil {
			t.Fatalf("k=%d: %d, %v", k, n, err)
		}
		if r.st.scan != k {
			t.Fatalf("k=%d: scan offset %d; want %d", k, r.st.scan, k)
		}
		if buf[k-1] == '\n' {
			lines++
		}
		if got := r.st.fields + 1; r.st.phase == phaseFields && got != lines {
			t.Fatalf("k=%d: %d lines parsed; want %d", k, got, lines)
		}
	}
	if n, err := r.Parse(buf, Limits{}); n != len(buf) || err != nil {
		t.Fatalf("final: %d, %v", n, err)
	}
}

// TestIsToken: a token is one or more tchar (RFC 9110 5.6.2: ALPHA, DIGIT
// and !#$%&'*+-.^_`|~), as a string or as bytes.
func TestIsToken(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		if IsToken(string(b)) != want || IsToken([]byte{'A', b}) != want {
			t.Errorf("byte %#02x: IsToken %v, want %v", b, !want, want)
		}
	}
	if IsToken("") || IsToken([]byte(nil)) || !IsToken("M-SEARCH") || IsToken("GE T") {
		t.Error("IsToken is wrong on the empty token, M-SEARCH or GE T")
	}
}
