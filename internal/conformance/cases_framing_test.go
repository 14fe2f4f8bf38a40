package conformance

// framingCases are Content-Length / Transfer-Encoding conflicts and
// obfuscations: the request smuggling shapes (CL.TE, TE.CL, TE.TE) from
// PortSwigger's research, Go's net/http, Envoy, nginx and HAProxy tests.
func framingCases() []tcase {
	const (
		rfcCLTE    = "RFC 9112 6.1/6.3: CL with TE; the server MUST close after responding"
		rfcFinal   = "RFC 9112 6.3 rule 4: chunked not final in a request is 400 and close"
		rfcUnknown = "RFC 9112 6.1: an unknown transfer coding SHOULD be 501"
		rfcCL      = "RFC 9110 8.6 / RFC 9112 6.3 rule 5: invalid Content-Length is 400 and close"
		rfcWS      = "RFC 9112 5.1: whitespace between field name and colon MUST be 400"
		smuggled   = "0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + host + "\r\n"
		chunk5     = "5\r\nhello\r\n0\r\n\r\n"
	)
	return []tcase{
		// CL.TE and TE.CL.
		reject("CL.TE", rfcCLTE, 400, post("/f", lines("Content-Length: 6", "Transfer-Encoding: chunked"), "0\r\n\r\nG")),
		reject("TE.CL", rfcCLTE, 400, post("/f", lines("Transfer-Encoding: chunked", "Content-Length: 3"), "8\r\nSMUGGLED\r\n0\r\n\r\n")),
		reject("CL.TE smuggled request", rfcCLTE, 400, post("/f", lines("Content-Length: 44", "Transfer-Encoding: chunked"), smuggled)),
		reject("TE.CL Content-Length 0", rfcCLTE, 400, post("/f", lines("Transfer-Encoding: chunked", "Content-Length: 0"), chunk5)),
		reject("CL.TE HTTP/1.0", "RFC 9112 6.1: TE in HTTP/1.0 is faulty framing",
			400, "POST /f HTTP/1.0\r\n"+host+"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk5),
		reject("TE in HTTP/1.0", "RFC 9112 6.1: a server MUST treat TE in HTTP/1.0 as faulty framing and close",
			400, "POST /f HTTP/1.0\r\n"+host+"Transfer-Encoding: chunked\r\n\r\n"+chunk5),

		// TE.TE: obfuscated or duplicated Transfer-Encoding.
		reject("TE space before colon", rfcWS, 400, post("/f", lines("Transfer-Encoding : chunked", "Content-Length: 4"), chunk5)),
		reject("TE tab before colon", rfcWS, 400, post("/f", lines("Transfer-Encoding\t: chunked"), chunk5)),
		reject("TE xchunked", rfcUnknown, 501, chunkedPost("Transfer-Encoding: xchunked", chunk5)),
		reject("TE xchunked with CL", rfcCLTE, 400, post("/f", lines("Transfer-Encoding: xchunked", "Content-Length: 4"), chunk5)),
		reject("TE chunked, identity", rfcFinal, 400, chunkedPost("Transfer-Encoding: chunked, identity", chunk5)),
		rejectOneOf("TE identity, chunked", rfcUnknown+" (identity is no longer registered)", []int{501, 400},
			chunkedPost("Transfer-Encoding: identity, chunked", chunk5)),
		reject("TE identity", rfcUnknown, 501, chunkedPost("Transfer-Encoding: identity", "hello")),
		reject("TE gzip, chunked", rfcUnknown+": ferry decodes no content codings", 501, chunkedPost("Transfer-Encoding: gzip, chunked", chunk5)),
		reject("TE chunked then x", rfcFinal, 400, post("/f", lines("Transfer-Encoding: chunked", "Transfer-Encoding: x"), chunk5)),
		rejectOneOf("TE x then chunked", rfcUnknown, []int{501, 400},
			post("/f", lines("Transfer-Encoding: x", "Transfer-Encoding: chunked"), chunk5)),
		reject("TE chunked twice in a list", "RFC 9112 6.1: chunked MUST NOT be applied more than once", 400,
			chunkedPost("Transfer-Encoding: chunked, chunked", chunk5)),
		reject("TE chunked in two fields", "RFC 9112 6.1: chunked MUST NOT be applied more than once", 400,
			post("/f", lines("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), chunk5)),
		reject("TE chunked with parameter", "RFC 9112 7: chunked has no parameters", 400, chunkedPost("Transfer-Encoding: chunked;q=1", chunk5)),
		reject("TE quoted chunked", "RFC 9110 10.1.4: transfer-coding is a token", 400, chunkedPost("Transfer-Encoding: \"chunked\"", chunk5)),
		reject("TE empty", "RFC 9112 6.1: Transfer-Encoding = #transfer-coding with no coding", 400, chunkedPost("Transfer-Encoding: ", chunk5)),
		reject("TE only commas", "RFC 9110 5.6.1: empty elements do not count, leaving no coding", 400, chunkedPost("Transfer-Encoding: , ,", chunk5)),
		reject("TE vertical tab", "RFC 9110 5.5: CTLs are not allowed in field values", 400, chunkedPost("Transfer-Encoding: \x0bchunked", chunk5)),
		reject("TE form feed", "RFC 9110 5.5: CTLs are not allowed in field values", 400, chunkedPost("Transfer-Encoding: chunked\x0c", chunk5)),
		reject("TE NUL", "RFC 9110 5.5: NUL is not allowed in field values", 400, chunkedPost("Transfer-Encoding: chunked\x00", chunk5)),
		reject("TE folded", "RFC 9112 5.2: obs-fold MUST be 400 or replaced by SP", 400, post("/f", lines("Transfer-Encoding:", " chunked"), chunk5)),
		reject("TE leading space line", "RFC 9112 5.2: a line starting with SP is obs-fold", 400, post("/f", lines(" Transfer-Encoding: chunked"), chunk5)),
		reject("TE after bare LF", "RFC 9112 2.2: ferry rejects bare LF in the head", 400, post("/f", "X-A: 1\nTransfer-Encoding: chunked\r\n", chunk5)),
		reject("TE name then newline colon", "RFC 9112 5: a field line needs a colon", 400, post("/f", lines("Transfer-Encoding", ": chunked"), chunk5)),
		pass("TE tab OWS", "RFC 9110 5.5: OWS may be HTAB", chunkedPost("Transfer-Encoding:\tchunked", chunk5), chunkedFwd("hello")),
		pass("TE no OWS", "RFC 9112 5: OWS is optional", chunkedPost("Transfer-Encoding:chunked", chunk5), chunkedFwd("hello")),
		pass("TE trailing OWS", "RFC 9112 5: trailing OWS is not part of the value", chunkedPost("Transfer-Encoding: chunked \t", chunk5), chunkedFwd("hello")),
		pass("TE mixed case", "RFC 9110 10.1.4: coding names are case-insensitive", chunkedPost("tRaNsFeR-eNcOdInG: ChUnKeD", chunk5), chunkedFwd("hello")),
		pass("TE empty list element", "RFC 9110 5.6.1: empty list elements are ignored", chunkedPost("Transfer-Encoding: , chunked", chunk5), chunkedFwd("hello")),

		// Content-Length values.
		reject("CL plus sign", rfcCL, 400, post("/f", lines("Content-Length: +5"), "hello")),
		reject("CL negative", rfcCL, 400, post("/f", lines("Content-Length: -5"), "hello")),
		reject("CL hex", rfcCL, 400, post("/f", lines("Content-Length: 0x5"), "hello")),
		reject("CL decimal point", rfcCL, 400, post("/f", lines("Content-Length: 5.0"), "hello")),
		reject("CL exponent", rfcCL, 400, post("/f", lines("Content-Length: 5e0"), "hello")),
		reject("CL space inside", rfcCL, 400, post("/f", lines("Content-Length: 1 0"), "hellohello")),
		reject("CL empty", rfcCL, 400, post("/f", lines("Content-Length: "), "hello")),
		reject("CL trailing comma", rfcCL, 400, post("/f", lines("Content-Length: 5,"), "hello")),
		reject("CL overflow", rfcCL, 400, post("/f", lines("Content-Length: 99999999999999999999"), "hello")),
		reject("CL NUL", rfcCL, 400, post("/f", lines("Content-Length: 5\x00"), "hello")),
		reject("CL non-ASCII digit", rfcCL, 400, post("/f", lines("Content-Length: \xef\xbc\x95"), "hello")),
		reject("CL list differing", rfcCL, 400, post("/f", lines("Content-Length: 5, 6"), "hello!")),
		reject("CL fields differing", rfcCL, 400, post("/f", lines("Content-Length: 5", "Content-Length: 6"), "hello!")),
		reject("CL space before colon", rfcWS, 400, post("/f", lines("Content-Length : 5"), "hello")),
		{name: "CL list equal", ref: "RFC 9110 8.6: MAY reject, or replace the list by a single value before forwarding (HAProxy)",
			req: post("/a", lines("Content-Length: 5, 5"), "hello"), want: []int{200}, oneOf: []int{200, 400},
			upCheck: normalizedOrRejected("5", "hello")},
		{name: "CL fields equal", ref: "RFC 9110 8.6: MAY reject (nginx, Envoy), or forward a single value (HAProxy)",
			req: post("/a", lines("Content-Length: 5", "Content-Length: 5"), "hello"), want: []int{200}, oneOf: []int{200, 400},
			upCheck: normalizedOrRejected("5", "hello")},
		pass("CL leading zeros", "RFC 9110 8.6: Content-Length = 1*DIGIT", post("/a", lines("Content-Length: 005"), "hello"),
			fwd("POST /a HTTP/1.1", "hello")),
		pass("CL OWS", "RFC 9112 5: OWS around the value is trimmed", post("/a", lines("Content-Length: \t5 \t"), "hello"),
			fwd("POST /a HTTP/1.1", "hello")),
		{name: "CL shorter than data", ref: "RFC 9112 6.2: the body ends after Content-Length octets; the rest is the next message",
			req:  post("/a", lines("Content-Length: 3"), "hello\r\n"),
			want: []int{200, 400}, bodies: []string{"POST /a"}, close: true, up: []up{fwd("POST /a HTTP/1.1", "hel")}},
	}
}
