package conformance

import (
	"fmt"
	"strings"
)

// semanticsCases are Expect, hop-by-hop and Connection-named fields, and
// the X-Forwarded-* and Via fields ferry adds.
func semanticsCases() []tcase {
	const (
		rfcExpect = "RFC 9110 10.1.1"
		rfcHop    = "RFC 9110 7.6.1: a proxy MUST remove Connection and the fields it names before forwarding"
		rfcHopStd = "RFC 9110 7.6.1 / RFC 9112 9.6; Go's httputil hop-by-hop list"
		xffRef    = "X-Forwarded-For: ferry appends the peer (proxy.xff append)"
	)
	expectFwd := up{line: "POST /e HTTP/1.1", not: []string{"Expect"}, body: "ping", has: []string{"Content-Length: 4"}}
	strip := func(name, ref string, fields []string, absent ...string) tcase {
		return pass(name, ref, get("/a", fields...), up{line: "GET /a HTTP/1.1", not: absent, has: []string{"X-Kept: 1"}})
	}
	return []tcase{
		{name: "Expect 100-continue", ref: rfcExpect + ": 100 before the body; ferry answers Expect itself and strips it",
			req:  post("/e", lines("Expect: 100-continue", "Content-Length: 4"), ""),
			then: "ping", want: []int{200}, interim: []int{100}, bodies: []string{"POST /e"}, follow: true, up: []up{expectFwd}},
		{name: "Expect 100-continue mixed case", ref: rfcExpect + ": the expectation is case-insensitive",
			req:  post("/e", lines("Expect: 100-Continue", "Content-Length: 4"), ""),
			then: "ping", want: []int{200}, interim: []int{100}, bodies: []string{"POST /e"}, follow: true, up: []up{expectFwd}},
		{name: "Expect 100-continue body sent at once", ref: rfcExpect + ": a client may send the body without waiting",
			req:  post("/e", lines("Expect: 100-continue", "Content-Length: 4"), "ping"),
			want: []int{200}, bodies: []string{"POST /e"}, follow: true, up: []up{expectFwd}},
		{name: "Expect 100-continue chunked", ref: rfcExpect,
			req:  post("/e", lines("Expect: 100-continue", "Transfer-Encoding: chunked"), ""),
			then: "4\r\nping\r\n0\r\n\r\n", want: []int{200}, interim: []int{100}, bodies: []string{"POST /e"}, follow: true,
			up: []up{{line: "POST /e HTTP/1.1", not: []string{"Expect"}, body: "ping", chunked: true}}},
		{name: "Expect on HTTP/1.0", ref: rfcExpect + ": MUST ignore 100-continue in HTTP/1.0 (no 100 to a 1.0 client)",
			req:  "POST /e HTTP/1.0\r\n" + host + "Expect: 100-continue\r\nContent-Length: 4\r\n\r\nping",
			want: []int{200}, interim: []int{}, bodies: []string{"POST /e"}, close: true, up: []up{expectFwd}},
		{name: "Expect with upstream 100", ref: rfcExpect + ": the client sees one 100, not ferry's and the upstream's",
			req:  post("/s/100-extra", lines("Expect: 100-continue", "Content-Length: 4"), ""),
			then: "ping", want: []int{200}, interim: []int{100}, bodies: []string{"ok"}, follow: true,
			up: []up{{line: "POST /s/100-extra HTTP/1.1", not: []string{"Expect"}, body: "ping"}}},
		reject("Expect unknown", rfcExpect+": MAY answer 417 to an unknown expectation", 417,
			post("/e", lines("Expect: 200-ok", "Content-Length: 4"), "ping")),
		reject("Expect list with unknown", rfcExpect, 417, post("/e", lines("Expect: 100-continue, x-y", "Content-Length: 4"), "ping")),

		{name: "Connection close", ref: rfcHop + "; RFC 9112 9.6: close after the response",
			req: get("/a", "Connection: close"), want: []int{200}, bodies: []string{"GET /a"}, close: true,
			resp: func(r *response) error {
				if !r.close {
					return fmt.Errorf("response does not announce Connection: close")
				}
				return nil
			},
			up: []up{{line: "GET /a HTTP/1.1", not: []string{"Connection"}}}},
		strip("Connection keep-alive", rfcHop, []string{"Connection: keep-alive", "X-Kept: 1"}, "Connection"),
		strip("Connection names a field", rfcHop, []string{"Connection: X-Custom", "X-Custom: secret", "X-Kept: 1"}, "Connection", "X-Custom"),
		strip("Connection names two fields", rfcHop, []string{"Connection: X-A, X-B", "X-A: 1", "X-B: 2", "X-Kept: 1"}, "X-A", "X-B"),
		strip("Connection names in any case", rfcHop, []string{"Connection: x-custom", "X-CUSTOM: s", "X-Kept: 1"}, "X-Custom"),
		strip("Connection in two fields", rfcHop, []string{"Connection: keep-alive", "Connection: X-A", "X-A: 1", "X-Kept: 1"}, "Connection", "X-A"),
		strip("Keep-Alive", rfcHopStd, []string{"Keep-Alive: timeout=5", "X-Kept: 1"}, "Keep-Alive"),
		strip("Proxy-Connection", rfcHopStd+"; RFC 9112 9.3 history", []string{"Proxy-Connection: keep-alive", "X-Kept: 1"}, "Proxy-Connection"),
		strip("TE", rfcHopStd+"; RFC 9110 10.1.4: TE is hop-by-hop", []string{"Connection: TE", "TE: trailers", "X-Kept: 1"}, "TE"),
		pass("Upgrade websocket", "RFC 9110 7.8; RFC 6455 4.1: a websocket upgrade (upgrade_configs: on by default) goes upstream "+
			"with Upgrade and Connection: upgrade; a non-101 answer is an ordinary response, and the connection goes on",
			get("/a", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "X-Kept: 1"),
			up{line: "GET /a HTTP/1.1", has: []string{"Upgrade: websocket", "Connection: upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "X-Kept: 1"}}),
		strip("Upgrade h2c", "RFC 9110 7.8; RFC 7540 3.2 (h2c is gone in RFC 9113)",
			[]string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "X-Kept: 1"},
			"Upgrade", "HTTP2-Settings"),
		strip("Proxy-Authorization", "ferry does no proxy authentication: credentials for it must not leak (httputil)",
			[]string{"Proxy-Authorization: Basic dTpw", "X-Kept: 1"}, "Proxy-Authorization"),
		pass("Connection cannot strip Content-Length", "RFC 9110 7.6.1: end-to-end framing is not the client's to remove",
			post("/a", lines("Connection: Content-Length", "Content-Length: 5"), "hello"),
			up{line: "POST /a HTTP/1.1", has: []string{"Content-Length: 5"}, body: "hello"}),
		pass("Connection cannot strip Host", "RFC 9110 7.6.1; RFC 9112 3.2", get("/a", "Connection: Host"),
			up{line: "GET /a HTTP/1.1", has: []string{"Host: app.test"}}),
		pass("Connection cannot strip framing", "RFC 9110 7.6.1", chunkedPost("Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"),
			chunkedFwd("hello")),
		{name: "Connection cannot strip X-Forwarded-For", ref: xffRef + ": the client cannot hide the peer",
			req: get("/a", "Connection: X-Forwarded-For", "X-Forwarded-For: 1.2.3.4"), want: []int{200}, follow: true,
			upCheck: func(_ *exchange, got []*upReq) error {
				if len(got) != 1 {
					return fmt.Errorf("%d requests forwarded, want 1", len(got))
				}
				vs := got[0].values("X-Forwarded-For")
				if len(vs) != 1 || !strings.HasSuffix(vs[0], peer) {
					return fmt.Errorf("X-Forwarded-For %q, want one field ending in %s", vs, peer)
				}
				return nil
			}},

		pass("X-Forwarded-For added", xffRef, get("/a"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-Forwarded-For: " + peer}, once: []string{"X-Forwarded-For"}}),
		pass("X-Forwarded-For appended", xffRef, get("/a", "X-Forwarded-For: 1.2.3.4"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-Forwarded-For: 1.2.3.4, " + peer}, once: []string{"X-Forwarded-For"}}),
		pass("X-Forwarded-For fields joined", xffRef+"; RFC 9110 5.3: fields combine into one list",
			get("/a", "X-Forwarded-For: 1.1.1.1", "x-forwarded-for: 2.2.2.2"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-Forwarded-For: 1.1.1.1, 2.2.2.2, " + peer}, once: []string{"X-Forwarded-For"}}),
		pass("X-Forwarded-Proto overwritten", "the client cannot spoof the scheme ferry saw",
			get("/a", "X-Forwarded-Proto: https"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-Forwarded-Proto: http"}, once: []string{"X-Forwarded-Proto"}}),
		pass("X-Forwarded-Proto overwritten any case", "the client cannot spoof the scheme ferry saw",
			get("/a", "x-FORWARDED-proto: https", "X-Forwarded-Proto: wss"),
			up{line: "GET /a HTTP/1.1", has: []string{"X-Forwarded-Proto: http"}, once: []string{"X-Forwarded-Proto"}}),
		pass("Via appended", "RFC 9110 7.6.3: a proxy MUST append its Via entry", get("/a", "Via: 1.0 fred"),
			up{line: "GET /a HTTP/1.1", has: []string{"Via: 1.0 fred", "Via: 1.1 " + viaName}}),
	}
}
