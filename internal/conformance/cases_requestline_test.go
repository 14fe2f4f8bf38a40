package conformance

import (
	"fmt"
	"strings"
)

// requestLineCases are request-line abuse (RFC 9112 3, 2.3): separators,
// versions, methods, targets and their forms.
func requestLineCases() []tcase {
	const (
		rfcLine    = "RFC 9112 3: request-line = method SP request-target SP HTTP-version, single SPs"
		rfcVersion = "RFC 9112 2.3: HTTP-version = \"HTTP/\" DIGIT \".\" DIGIT, case-sensitive"
		rfcTarget  = "RFC 9112 3.2: request-target forms; RFC 3986 characters"
	)
	line := func(name, ref string, status int, l string) tcase {
		return reject(name, ref, status, l+"\r\n"+host+"\r\n")
	}
	return []tcase{
		line("two spaces after method", rfcLine, 400, "GET  /r HTTP/1.1"),
		line("two spaces before version", rfcLine, 400, "GET /r  HTTP/1.1"),
		line("trailing space", rfcLine, 400, "GET /r HTTP/1.1 "),
		line("leading space", rfcLine, 400, " GET /r HTTP/1.1"),
		line("tab separator", rfcLine+"; ferry does not take HTAB as a separator", 400, "GET\t/r HTTP/1.1"),
		line("missing version (HTTP/0.9)", rfcLine+"; HTTP/0.9 is not served", 400, "GET /r"),
		line("missing target", rfcLine, 400, "GET HTTP/1.1"),
		line("lower-case version", rfcVersion, 400, "GET /r http/1.1"),
		line("version HTTP/1", rfcVersion, 400, "GET /r HTTP/1"),
		line("version HTTP/1.10", rfcVersion, 400, "GET /r HTTP/1.10"),
		line("version HTTP/01.1", rfcVersion, 400, "GET /r HTTP/01.1"),
		line("version with space", rfcVersion, 400, "GET /r HTTP/ 1.1"),
		line("version HTTP/2.0", "RFC 9110 15.6.6: 505 for a major version not supported", 505, "GET /r HTTP/2.0"),
		line("version HTTP/3.0", "RFC 9110 15.6.6: 505", 505, "GET /r HTTP/3.0"),
		{name: "version HTTP/1.2", ref: "RFC 9110 2.5: SHOULD process as HTTP/1.1; ferry may instead answer 505",
			req: "GET /r HTTP/1.2\r\n" + host + "\r\n", want: []int{505}, oneOf: []int{505, 200},
			upCheck: func(ex *exchange, got []*upReq) error {
				if len(ex.resps) > 0 && ex.resps[0].status == 200 {
					if len(got) != 1 || got[0].line != "GET /r HTTP/1.1" {
						return fmt.Errorf("processed as HTTP/1.1 but forwarded %d requests", len(got))
					}
					return nil
				}
				return nothingForwarded(ex, got)
			}},
		rejectOneOf("HTTP/2 preface", "RFC 9113 3.4: a prior-knowledge h2 preface on an HTTP/1.1 port is not forwarded",
			[]int{400, 505}, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		line("method with paren", "RFC 9110 9.1: method = token", 400, "GE(T /r HTTP/1.1"),
		line("method with NUL", "RFC 9110 9.1: method = token", 400, "GE\x00T /r HTTP/1.1"),
		rejectOneOf("method too long", "RFC 9112 3: a request line over the limit; ferry answers 414 as for a long target",
			[]int{414, 400, 501}, strings.Repeat("M", 9000)+" /r HTTP/1.1\r\n"+host+"\r\n"),
		line("target too long", "RFC 9112 3: SHOULD answer 414 for a request-target longer than supported", 414,
			"GET /"+strings.Repeat("a", 9000)+" HTTP/1.1"),
		line("space in target", rfcTarget, 400, "GET /a b HTTP/1.1"),
		line("CTL in target", rfcTarget, 400, "GET /a\x01b HTTP/1.1"),
		line("DEL in target", rfcTarget, 400, "GET /a\x7fb HTTP/1.1"),
		line("non-ASCII in target", rfcTarget+": raw octets above 0x7F are not URI characters", 400, "GET /caf\xc3\xa9 HTTP/1.1"),
		line("bare CR in request line", "RFC 9112 2.2", 400, "GET /r\rX HTTP/1.1"),
		line("asterisk with GET", "RFC 9112 3.2.4: asterisk-form only for OPTIONS", 400, "GET * HTTP/1.1"),
		line("relative target", "RFC 9112 3.2: origin-form starts with /", 400, "GET r HTTP/1.1"),
		{name: "fragment in target", ref: "RFC 9112 3.2.1: origin-form has no fragment; reject (Envoy) or strip before forwarding",
			req: get("/a#frag"), want: []int{400}, oneOf: []int{400, 200},
			upCheck: func(ex *exchange, got []*upReq) error {
				for _, q := range got {
					if strings.Contains(q.target(), "#") {
						return fmt.Errorf("fragment forwarded in %q", q.line)
					}
				}
				if len(ex.resps) > 0 && ex.resps[0].status == 400 {
					return nothingForwarded(ex, got)
				}
				return nil
			}},
		{name: "OPTIONS asterisk", ref: "RFC 9112 3.2.4: OPTIONS * is about the server; forward it as is or answer it, not 404",
			req: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", want: []int{200}, oneOf: []int{200, 204},
			upCheck: func(_ *exchange, got []*upReq) error {
				if len(got) > 1 || (len(got) == 1 && got[0].line != "OPTIONS * HTTP/1.1") {
					return fmt.Errorf("forwarded %d requests, want none or \"OPTIONS * HTTP/1.1\"", len(got))
				}
				return nil
			}},
		{name: "CONNECT", ref: "RFC 9110 9.3.6: ferry is no tunnel; CONNECT must not be forwarded",
			req: "CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n", want: []int{405},
			oneOf: []int{400, 403, 404, 405, 501}, upCheck: nothingForwarded},
		line("CONNECT origin-form", "RFC 9112 3.2.3: CONNECT takes authority-form only", 400, "CONNECT /r HTTP/1.1"),
		line("CONNECT without port", "RFC 9112 3.2.3: authority-form = uri-host \":\" port", 400, "CONNECT app.test HTTP/1.1"),
		{name: "OPTIONS Max-Forwards 0", ref: "RFC 9110 7.6.2: an intermediary MUST NOT forward OPTIONS with Max-Forwards 0; it responds as the final recipient",
			req: "OPTIONS /r HTTP/1.1\r\n" + host + "Max-Forwards: 0\r\n\r\n", want: []int{200}, oneOf: []int{200, 204, 405, 501},
			upCheck: nothingForwarded},
		pass("OPTIONS Max-Forwards decremented", "RFC 9110 7.6.2: MUST update the value prior to forwarding",
			"OPTIONS /r HTTP/1.1\r\n"+host+"Max-Forwards: 5\r\n\r\n",
			up{line: "OPTIONS /r HTTP/1.1", has: []string{"Max-Forwards: 4"}, once: []string{"Max-Forwards"}}),
		pass("GET Max-Forwards untouched", "RFC 9110 7.6.2: MAY ignore Max-Forwards on other methods; ferry forwards it as is",
			get("/r", "Max-Forwards: 0"), up{line: "GET /r HTTP/1.1", has: []string{"Max-Forwards: 0"}}),
	}
}
