package conformance

import (
	"fmt"
	"slices"
)

// upstreamCases script the upstream's answer ("/s/<name>", see scripts):
// a response whose framing is lost is a 502 or a cut connection, never a
// message presented as complete, and its connection is never reused.
func upstreamCases() []tcase {
	const (
		rfcInvalid = "RFC 9112 6.3 rule 5: a proxy MUST close the upstream connection and send 502 for invalid framing"
		rfcTE      = "RFC 9112 6.3 rule 3: CL with TE is smuggling; ferry rejects it from upstreams as nginx does"
		rfcStatus  = "RFC 9112 4: status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]; RFC 9110 15: 100-599"
		rfcNoBody  = "RFC 9112 6.3 rule 1: no body after 1xx/204/304 or on HEAD; the bytes left mean the connection is out of sync"
		rfcCut     = "RFC 9112 8: an incomplete message must not be presented as complete; the client connection is closed"
	)
	req := func(s string) string { return get("/s/" + s) }
	line := func(s string) []up { return []up{fwd("GET /s/"+s+" HTTP/1.1", "")} }
	bad := func(s, ref string) tcase {
		return tcase{name: s, ref: ref, req: req(s), want: []int{502}, up: line(s), upClosed: true}
	}
	cut := func(s, ref string) tcase {
		return tcase{name: s, ref: ref, req: req(s), cut: true, up: line(s)}
	}
	return []tcase{
		bad("two-cl", rfcInvalid),
		bad("cl-list-bad", rfcInvalid),
		bad("cl-te", rfcTE),
		bad("te-cl", rfcTE),
		bad("te-twice", "RFC 9112 6.1: chunked MUST NOT be applied more than once"),
		bad("te-gzip", "RFC 9112 6.1: ferry cannot forward a transfer coding it does not decode (nginx: 502)"),
		bad("te-space", "RFC 9112 5.1: a proxy MUST remove whitespace before the colon, or reject (ferry rejects)"),
		bad("cl-neg", rfcInvalid),
		bad("cl-plus", rfcInvalid),
		bad("cl-hex", rfcInvalid),
		bad("garbage", "RFC 9110 15.6.3: 502 for an invalid response"),
		bad("http09", "RFC 9112 2.3: an HTTP/0.9 response is not HTTP/1.x"),
		bad("bare-lf", "RFC 9112 2.2: ferry rejects bare LF"),
		bad("bare-cr", "RFC 9112 2.2: a bare CR MUST be rejected or replaced by SP"),
		bad("nul", "RFC 9110 5.5: NUL in a field value"),
		bad("obs-fold", "RFC 9112 5.2: a proxy MUST replace obs-fold or discard the response with 502"),
		bad("name-space", "RFC 9112 5.1: a proxy MUST remove whitespace before the colon, or reject"),
		bad("status-4dig", rfcStatus),
		bad("status-099", rfcStatus),
		bad("status-600", rfcStatus),
		bad("status-alpha", rfcStatus),
		bad("version-2", rfcStatus+"; an HTTP/2 status line on HTTP/1.1"),
		bad("version-lc", "RFC 9112 2.3: HTTP-name is case-sensitive"),
		bad("big-head", "ferry bounds response heads to max_header_bytes; 502"),
		bad("resp-10-te", "RFC 9112 6.1: TE in an HTTP/1.0 message is faulty framing"),
		bad("only-100", "RFC 9110 15.2: a 1xx is interim; the connection closed before the final response"),
		bad("101", "RFC 9110 15.2.2: a server MUST NOT switch protocols unless asked"),
		{name: "cl-list-eq", ref: "RFC 9110 8.6: a list of equal values MAY be replaced by one value (a client like Go's refuses \"2, 2\")",
			req: req("cl-list-eq"), want: []int{200}, oneOf: []int{200, 502}, resp: singleCL("2"), up: line("cl-list-eq")},
		{name: "cl-dup-eq", ref: "RFC 9110 8.6: duplicate equal fields MAY be replaced by one",
			req: req("cl-dup-eq"), want: []int{200}, oneOf: []int{200, 502}, resp: singleCL("2"), up: line("cl-dup-eq")},
		{name: "204-body", ref: rfcNoBody, req: req("204-body"), want: []int{204}, bodies: []string{""},
			follow: true, up: line("204-body"), upClosed: true},
		{name: "204-cl", ref: rfcNoBody + "; RFC 9110 8.6: no Content-Length on 204", req: req("204-cl"),
			want: []int{204}, bodies: []string{""}, follow: true, up: line("204-cl"), upClosed: true},
		{name: "304-body", ref: rfcNoBody, req: req("304-body"), want: []int{304}, bodies: []string{""},
			follow: true, up: line("304-body"), upClosed: true},
		{name: "head-body", ref: rfcNoBody, req: "HEAD /s/head-body HTTP/1.1\r\n" + host + "\r\n", methods: []string{"HEAD"},
			want: []int{200}, bodies: []string{""}, follow: true, up: []up{fwd("HEAD /s/head-body HTTP/1.1", "")}, upClosed: true},
		{name: "cl0-extra", ref: "RFC 9112 6.3 rule 6: Content-Length 0 ends the body; bytes after it answer no request",
			req: req("cl0-extra"), want: []int{200}, bodies: []string{""}, follow: true, up: line("cl0-extra"), upClosed: true},
		{name: "excess", ref: "RFC 9112 6.3: the body ends after Content-Length octets; excess bytes answer nothing",
			req: req("excess"), want: []int{200}, bodies: []string{"hello"}, follow: true, up: line("excess"), upClosed: true},
		cut("short-close", rfcCut+" (fewer octets than Content-Length)"),
		cut("chunk-trunc", rfcCut+" (no last-chunk)"),
		cut("chunk-bad", rfcCut+" (invalid chunk-size after the head went out)"),
		cut("chunk-nocrlf", rfcCut+" (chunk-data not followed by CRLF)"),
		{name: "no-reason", ref: "RFC 9112 4: the reason-phrase is optional (Go and nginx accept no SP too)",
			req: req("no-reason"), want: []int{200}, bodies: []string{"ok"}, follow: true, up: line("no-reason")},
		{name: "103", ref: "RFC 9110 15.2: a proxy forwards 1xx responses (103 Early Hints, RFC 8297)",
			req: req("103"), want: []int{200}, interim: []int{103}, bodies: []string{"ok"}, follow: true, up: line("103")},
		{name: "hop", ref: "RFC 9110 7.6.1: hop-by-hop and Connection-named fields are removed from responses too",
			req: req("hop"), want: []int{200}, bodies: []string{"ok"}, follow: true, up: line("hop"),
			resp: func(r *response) error {
				if err := headerAbsent("X-Secret", "Keep-Alive", "Proxy-Connection", "Upgrade")(r); err != nil {
					return err
				}
				if r.header.Get("X-Kept") != "k" {
					return fmt.Errorf("end-to-end field X-Kept lost")
				}
				return nil
			}},
		{name: "conn-close", ref: "RFC 9110 7.6.1: the upstream's Connection: close is about its own connection",
			req: req("conn-close"), want: []int{200}, bodies: []string{"ok"}, follow: true, up: line("conn-close")},
		{name: "until-close", ref: "RFC 9112 6.3 rule 8: a close-delimited body, re-framed for a persistent HTTP/1.1 client",
			req: req("until-close"), want: []int{200}, bodies: []string{"close-delimited"}, follow: true, up: line("until-close")},
		{name: "until-close to HTTP/1.0", ref: "RFC 9112 6.3 rule 8; RFC 9112 6.1: no chunked to an HTTP/1.0 client",
			req: "GET /s/until-close HTTP/1.0\r\n" + host + "\r\n", want: []int{200}, bodies: []string{"close-delimited"},
			close: true, up: []up{fwd("GET /s/until-close HTTP/1.1", "")}, resp: noChunked},
		{name: "chunked", ref: "RFC 9112 7.1: chunks and trailers relayed; the extension is not needed downstream",
			req: req("chunked"), want: []int{200}, bodies: []string{"hello world"}, follow: true, up: line("chunked")},
		{name: "chunked to HTTP/1.0", ref: "RFC 9112 6.1: a server MUST NOT send chunked to an HTTP/1.0 client",
			req: "GET /s/chunked HTTP/1.0\r\n" + host + "\r\n", want: []int{200}, bodies: []string{"hello world"},
			close: true, up: []up{fwd("GET /s/chunked HTTP/1.1", "")}, resp: noChunked},
		{name: "resp-http10", ref: "RFC 9110 2.5: an HTTP/1.0 response is relayed as HTTP/1.1",
			req: req("resp-http10"), want: []int{200}, bodies: []string{"ok"}, follow: true, up: line("resp-http10")},
	}
}

// noChunked checks that a response to an HTTP/1.0 client is not chunked.
func noChunked(r *response) error {
	if slices.Contains(r.te, "chunked") {
		return fmt.Errorf("chunked response to an HTTP/1.0 client")
	}
	return nil
}
