package conformance

// hostCases are Host and absolute-form handling (RFC 9112 3.2, RFC 9110
// 7.2): routing must follow the configured virtual hosts only, and the
// upstream must get origin-form with the authority the route was chosen by.
func hostCases() []tcase {
	const (
		rfcHost = "RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, with several, or with an invalid one"
		rfcAbs  = "RFC 9112 3.2.2: a server MUST accept absolute-form and ignore Host for it; RFC 9112 3.2.1: origin-form to the origin"
	)
	absolute := up{line: "GET /abs?q=1 HTTP/1.1", has: []string{"Host: app.test"}, once: []string{"Host"}}
	return []tcase{
		reject("missing Host", rfcHost, 400, "GET /h HTTP/1.1\r\nX-A: 1\r\n\r\n"),
		reject("duplicate Host same", rfcHost, 400, "GET /h HTTP/1.1\r\n"+host+host+"\r\n"),
		reject("duplicate Host differing", rfcHost, 400, "GET /h HTTP/1.1\r\n"+host+"Host: evil.example\r\n\r\n"),
		reject("Host list", rfcHost+" (Host = uri-host [ \":\" port ])", 400, "GET /h HTTP/1.1\r\nHost: app.test, evil.example\r\n\r\n"),
		reject("Host with path", rfcHost, 400, "GET /h HTTP/1.1\r\nHost: app.test/evil\r\n\r\n"),
		reject("Host with userinfo", rfcHost, 400, "GET /h HTTP/1.1\r\nHost: user@app.test\r\n\r\n"),
		reject("Host with space", rfcHost, 400, "GET /h HTTP/1.1\r\nHost: app .test\r\n\r\n"),
		reject("Host with NUL", rfcHost, 400, "GET /h HTTP/1.1\r\nHost: app.test\x00.evil\r\n\r\n"),
		reject("Host missing, absolute-form", "RFC 9112 3.2: Host is required in HTTP/1.1 even with absolute-form", 400,
			"GET http://app.test/abs HTTP/1.1\r\n\r\n"),
		{name: "Host bad port", ref: rfcHost + " (port = *DIGIT); or no virtual host matches",
			req: "GET /h HTTP/1.1\r\nHost: app.test:8o\r\n\r\n", want: []int{400}, oneOf: []int{400, 404}, upCheck: nothingForwarded},
		{name: "Host empty", ref: "RFC 9112 3.2: an empty Host matches no configured virtual host",
			req: "GET /h HTTP/1.1\r\nHost:\r\n\r\n", want: []int{404}, oneOf: []int{400, 404}, upCheck: nothingForwarded},
		pass("Host OWS trimmed", "RFC 9112 5: OWS is not part of the value", "GET /a HTTP/1.1\r\nHost: \tapp.test \t\r\n\r\n",
			up{line: "GET /a HTTP/1.1", has: []string{"Host: app.test"}}),
		{name: "absolute-form", ref: rfcAbs, req: "GET http://app.test/abs?q=1 HTTP/1.1\r\n" + host + "\r\n",
			want: []int{200}, bodies: []string{"GET /abs?q=1"}, follow: true, up: []up{absolute}},
		{name: "absolute-form upper-case scheme", ref: rfcAbs + "; RFC 9110 4.2.3: scheme and host are case-insensitive",
			req: "GET HTTP://APP.TEST/abs?q=1 HTTP/1.1\r\n" + host + "\r\n", want: []int{200}, bodies: []string{"GET /abs?q=1"},
			follow: true, up: []up{{line: "GET /abs?q=1 HTTP/1.1", once: []string{"Host"}}}},
		{name: "absolute-form Host mismatch", ref: rfcAbs + ": the target's authority wins over Host",
			req: "GET http://app.test/abs?q=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n", want: []int{200},
			bodies: []string{"GET /abs?q=1"}, follow: true, up: []up{absolute}},
		{name: "absolute-form foreign authority", ref: rfcAbs + ": no open proxy; an unconfigured authority reaches nothing",
			req: "GET http://evil.example/abs HTTP/1.1\r\n" + host + "\r\n", want: []int{404},
			oneOf: []int{400, 403, 404, 421}, upCheck: nothingForwarded},
		{name: "absolute-form foreign authority and Host", ref: rfcAbs + ": no open proxy",
			req: "GET http://evil.example/abs HTTP/1.1\r\nHost: evil.example\r\n\r\n", want: []int{404},
			oneOf: []int{400, 403, 404, 421}, upCheck: nothingForwarded},
		{name: "absolute-form with userinfo", ref: "RFC 9110 4.2.4: userinfo is deprecated; never forwarded, never an open proxy",
			req: "GET http://app.test@evil.example/abs HTTP/1.1\r\n" + host + "\r\n", want: []int{400},
			oneOf: []int{400, 403, 404, 421}, upCheck: nothingForwarded},
	}
}
