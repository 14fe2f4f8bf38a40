package conformance

import "strings"

// chunkedCases are chunk-size, chunk-extension and trailer abuse (RFC 9112
// 7.1), after Go's chunked reader tests, llhttp's and HAProxy's.
func chunkedCases() []tcase {
	const (
		rfc = "RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF"
		te  = "Transfer-Encoding: chunked"
	)
	bad := func(name, ref, body string) tcase { return reject(name, ref, 400, chunkedPost(te, body)) }
	ok := func(name, ref, body, want string) tcase {
		return pass(name, ref, chunkedPost(te, body), chunkedFwd(want))
	}
	withTrailers := chunkedFwd("hello")
	withTrailers.trailers = []string{"X-T: 1", "X-U: two words"}
	return []tcase{
		ok("extension stripped", rfc+"; ferry re-chunks without extensions", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello"),
		ok("quoted extension", "RFC 9112 7.1.1: chunk-ext-val = token / quoted-string",
			"5;name=\"quoted ; \\\"value\\\"\"\r\nhello\r\n0\r\n\r\n", "hello"),
		ok("extension BWS", "RFC 9112 7.1.1: BWS around ; and =", "5 ; a = b\r\nhello\r\n0\r\n\r\n", "hello"),
		ok("extension without value", "RFC 9112 7.1.1: chunk-ext-val is optional", "5;flag;x=1\r\nhello\r\n0;last\r\n\r\n", "hello"),
		ok("leading zeros", rfc+": chunk-size = 1*HEXDIG", "0005\r\nhello\r\n000\r\n\r\n", "hello"),
		ok("upper-case hex", rfc, "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
		ok("many chunks", rfc, strings.Repeat("1\r\na\r\n", 100)+"0\r\n\r\n", strings.Repeat("a", 100)),
		pass("trailers forwarded", "RFC 9110 6.5; RFC 9112 7.1.2", chunkedPost(te, "5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: two words\r\n\r\n"),
			withTrailers),
		bad("size not hex", rfc, "zz\r\nhello\r\n0\r\n\r\n"),
		bad("size empty", rfc, "\r\nhello\r\n0\r\n\r\n"),
		bad("size negative", rfc, "-5\r\nhello\r\n0\r\n\r\n"),
		bad("size plus sign", rfc, "+5\r\nhello\r\n0\r\n\r\n"),
		bad("size 0x prefix", rfc, "0x5\r\nhello\r\n0\r\n\r\n"),
		bad("size leading space", rfc, " 5\r\nhello\r\n0\r\n\r\n"),
		bad("size trailing space", rfc+": no BWS without a chunk-ext", "5 \r\nhello\r\n0\r\n\r\n"),
		bad("size trailing tab", rfc+": no BWS without a chunk-ext", "5\t\r\nhello\r\n0\r\n\r\n"),
		bad("size overflows int64", rfc+": Go's chunked reader rejects it too", "FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"),
		bad("size 17 digits", rfc+": ferry and Go bound the size to 16 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"),
		bad("bare LF after size", rfc+": CRLF only", "5\nhello\r\n0\r\n\r\n"),
		bad("bare CR after size", rfc+": CRLF only", "5\rhello\r\n0\r\n\r\n"),
		bad("bare LF after data", rfc+": CRLF only", "5\r\nhello\n0\r\n\r\n"),
		bad("no CRLF after data", rfc, "5\r\nhelloXX0\r\n\r\n"),
		bad("data longer than size", rfc, "3\r\nhello\r\n0\r\n\r\n"),
		bad("unterminated quoted extension", "RFC 9112 7.1.1: quoted-string", "5;a=\"b\r\nhello\r\n0\r\n\r\n"),
		bad("extension without name", "RFC 9112 7.1.1: chunk-ext-name = token", "5;=v\r\nhello\r\n0\r\n\r\n"),
		bad("extension empty", "RFC 9112 7.1.1: chunk-ext-name = token", "5;\r\nhello\r\n0\r\n\r\n"),
		bad("extension CTL", "RFC 9112 7.1.1: token and quoted-string exclude CTLs", "5;a=b\x01\r\nhello\r\n0\r\n\r\n"),
		bad("extension value not token", "RFC 9112 7.1.1: chunk-ext-val = token / quoted-string", "5;a=b c\r\nhello\r\n0\r\n\r\n"),
		bad("extension very long", "ferry, Go: a chunk-size line is bounded to 4 KiB", "5;a="+strings.Repeat("x", 5000)+"\r\nhello\r\n0\r\n\r\n"),
		bad("trailer without colon", "RFC 9112 7.1.2: trailer-section = *( field-line CRLF )", "5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n"),
		bad("trailer obs-fold", "RFC 9112 5.2 applies to trailers", "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"),
		bad("trailer NUL", "RFC 9110 5.5", "5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n"),
		bad("TE.0 smuggled request", "last-chunk without its empty line: the next request is read as a trailer",
			"0\r\nGET /smuggled HTTP/1.1\r\n"+host+"\r\n"),
		rejectOneOf("trailer section too large", "ferry bounds trailers to 16 KiB (431, RFC 6585 5)", []int{431, 400},
			chunkedPost(te, "5\r\nhello\r\n0\r\nX-Big: "+strings.Repeat("t", 17<<10)+"\r\n\r\n")),
	}
}
