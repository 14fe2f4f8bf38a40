package conformance

import (
	"fmt"
	"strings"
)

// baselineCases are well-formed requests: what a correct proxy forwards.
func baselineCases() []tcase {
	long := "/" + strings.Repeat("a", 7000)
	method := strings.Repeat("M", 200)
	return []tcase{
		pass("GET", "RFC 9112 3; RFC 9110 7.6.3 (Via); X-Forwarded-*", get("/a"), up{
			line: "GET /a HTTP/1.1", once: []string{"Host", "X-Forwarded-For", "X-Forwarded-Proto"},
			has: []string{"Host: app.test", "X-Forwarded-For: " + peer, "X-Forwarded-Proto: http",
				"X-Forwarded-Host: app.test", "Via: 1.1 " + viaName},
		}),
		pass("POST Content-Length", "RFC 9112 6.2", post("/a", lines("Content-Length: 5"), "hello"),
			up{line: "POST /a HTTP/1.1", has: []string{"Content-Length: 5"}, once: []string{"Content-Length"}, body: "hello"}),
		pass("POST chunked", "RFC 9112 7.1", chunkedPost("Transfer-Encoding: chunked", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
			chunkedFwd("hello world")),
		{name: "HEAD", ref: "RFC 9110 9.3.2: no content in a HEAD response", req: "HEAD /a HTTP/1.1\r\n" + host + "\r\n",
			methods: []string{"HEAD"}, want: []int{200}, bodies: []string{""}, follow: true,
			resp: func(r *response) error {
				if cl := r.header.Get("Content-Length"); cl != "7" {
					return fmt.Errorf("HEAD response Content-Length %q, want the upstream's 7", cl)
				}
				return nil
			},
			up: []up{fwd("HEAD /a HTTP/1.1", "")}},
		{name: "HTTP/1.0 keep-alive", ref: "RFC 9112 9.3; RFC 9110 7.6.3 (Via received-protocol 1.0)",
			req:  "GET /a HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\n",
			want: []int{200}, bodies: []string{"GET /a"}, follow: true,
			resp: func(r *response) error {
				if c := r.header.Get("Connection"); !strings.EqualFold(c, "keep-alive") || r.close {
					return fmt.Errorf("Connection %q, want keep-alive for a persistent HTTP/1.0 exchange", c)
				}
				return nil
			},
			up: []up{{line: "GET /a HTTP/1.1", has: []string{"Via: 1.0 " + viaName}, not: []string{"Connection"}}}},
		{name: "HTTP/1.0 close", ref: "RFC 9112 9.3: HTTP/1.0 without keep-alive is not persistent",
			req: "GET /a HTTP/1.0\r\n" + host + "\r\n", want: []int{200}, bodies: []string{"GET /a"}, close: true,
			up: []up{fwd("GET /a HTTP/1.1", "")}},
		pass("field names any case", "RFC 9110 5.1: field names are case-insensitive",
			"GET /a HTTP/1.1\r\nhOsT: app.test\r\n\r\n", up{line: "GET /a HTTP/1.1", has: []string{"Host: app.test"}}),
		pass("Host with port", "RFC 9110 7.2; Envoy domain match without port",
			"GET /a HTTP/1.1\r\nHost: app.test:8080\r\n\r\n", up{line: "GET /a HTTP/1.1", has: []string{"Host: app.test:8080"}}),
		pass("Host upper case", "RFC 9110 4.2.3: host is case-insensitive",
			"GET /a HTTP/1.1\r\nHost: APP.TEST\r\n\r\n", up{line: "GET /a HTTP/1.1", has: []string{"Host: APP.TEST"}}),
		{name: "unknown Host", ref: "route by configured virtual hosts only (no open proxy)",
			req: "GET /a HTTP/1.1\r\nHost: evil.example\r\n\r\n", want: []int{404}, follow: true},
		pass("query kept", "RFC 9110 7.7: a proxy MUST NOT modify absolute-path and query",
			get("/a?b=c&d=%20e&f"), fwd("GET /a?b=c&d=%20e&f HTTP/1.1", "")),
		pass("path not normalised", "RFC 9110 7.7: absolute-path forwarded as received",
			get("/a/../b/%2e%2e/c//d"), fwd("GET /a/../b/%2e%2e/c//d HTTP/1.1", "")),
		pass("GET with body", "RFC 9110 9.3.1: content on GET has no defined semantics but is framed",
			"GET /a HTTP/1.1\r\n"+host+"Content-Length: 3\r\n\r\nabc", fwd("GET /a HTTP/1.1", "abc")),
		pass("POST without length", "RFC 9112 6.3 rule 7: a request without CL or TE has no body",
			post("/a", "", ""), up{line: "POST /a HTTP/1.1", body: "", not: []string{"Transfer-Encoding"}}),
		pass("POST Content-Length 0", "RFC 9110 8.6", post("/a", lines("Content-Length: 0"), ""),
			up{line: "POST /a HTTP/1.1", has: []string{"Content-Length: 0"}, body: ""}),
		pass("extension method", "RFC 9110 9.1: a proxy forwards methods it does not know",
			"PURGE /a HTTP/1.1\r\n"+host+"\r\n", fwd("PURGE /a HTTP/1.1", "")),
		pass("lower-case method", "RFC 9110 9.1: methods are case-sensitive; \"get\" is another method",
			"get /a HTTP/1.1\r\n"+host+"\r\n", fwd("get /a HTTP/1.1", "")),
		pass("long method", "RFC 9110 9.1: method = token, no length limit below the request line's",
			method+" /a HTTP/1.1\r\n"+host+"\r\n", fwd(method+" /a HTTP/1.1", "")),
		pass("long target under limit", "RFC 9112 3: request line below ferry's 8 KiB limit",
			get(long), fwd("GET "+long+" HTTP/1.1", "")),
		pass("empty line before request", "RFC 9112 2.2: SHOULD ignore at least one empty line before the request-line",
			"\r\n"+get("/a"), fwd("GET /a HTTP/1.1", "")),
		pass("duplicate fields kept", "RFC 9110 5.3: field order and repetition are kept",
			get("/a", "X-D: 1", "X-D: 2"), up{line: "GET /a HTTP/1.1", has: []string{"X-D: 1", "X-D: 2"}}),
		pass("obs-text value", "RFC 9110 5.5: field-value may hold obs-text",
			get("/a", "X-A: caf\xe9"), up{line: "GET /a HTTP/1.1", has: []string{"X-A: caf\xe9"}}),
		pass("empty value", "RFC 9110 5.5: field-value may be empty",
			get("/a", "X-Empty:"), up{line: "GET /a HTTP/1.1", has: []string{"X-Empty: "}}),
		{name: "body limit Content-Length", ref: "RFC 9110 15.5.14: 413 before reading the body",
			req: post("/a", lines(fmt.Sprintf("Content-Length: %d", maxBodyBytes+1)), "hello"), want: []int{413}, close: true},
		{name: "body limit chunked", ref: "RFC 9110 15.5.14: 413 once the chunked body passes the limit",
			req:  chunkedPost("Transfer-Encoding: chunked", fmt.Sprintf("%x\r\n", maxBodyBytes+1)+strings.Repeat("x", maxBodyBytes+1)+"\r\n0\r\n\r\n"),
			want: []int{413}, close: true},
		{name: "max int64 Content-Length", ref: "RFC 9110 8.6: a valid but huge length is 413, not an overflow",
			req: post("/a", lines("Content-Length: 9223372036854775807"), "x"), want: []int{413}, close: true},
	}
}
