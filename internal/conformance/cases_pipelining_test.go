package conformance

import (
	"fmt"
	"strings"
)

// pipeliningCases send several requests in one write (RFC 9112 9.3.2): the
// responses must come back in order and each request must reach the
// upstream intact, never merged with its neighbours.
func pipeliningCases() []tcase {
	const ref = "RFC 9112 9.3.2: responses in the order of the requests"
	n := 20
	var many strings.Builder
	manyWant, manyBodies, manyUp := make([]int, n), make([]string, n), make([]up, n)
	for i := range n {
		p := fmt.Sprintf("/p%d", i)
		many.WriteString(get(p))
		manyWant[i], manyBodies[i], manyUp[i] = 200, "GET "+p, fwd("GET "+p+" HTTP/1.1", "")
	}
	// Enough pipelined bytes behind a request to pass max_pipelined_bytes.
	var flood strings.Builder
	flood.WriteString(get("/first"))
	for i := 0; flood.Len() < 2*maxPipelinedBytes; i++ {
		flood.WriteString(get(fmt.Sprintf("/flood%d", i)))
	}
	return []tcase{
		{name: "three GETs", ref: ref, req: get("/p1") + get("/p2") + get("/p3"),
			want: []int{200, 200, 200}, bodies: []string{"GET /p1", "GET /p2", "GET /p3"}, follow: true,
			up: []up{fwd("GET /p1 HTTP/1.1", ""), fwd("GET /p2 HTTP/1.1", ""), fwd("GET /p3 HTTP/1.1", "")}},
		{name: "GET POST GET", ref: ref + "; RFC 9112 6.2: the body ends after Content-Length octets",
			req:  get("/p1") + post("/p2", lines("Content-Length: 5"), "hello") + get("/p3"),
			want: []int{200, 200, 200}, bodies: []string{"GET /p1", "POST /p2", "GET /p3"}, follow: true,
			up: []up{fwd("GET /p1 HTTP/1.1", ""), fwd("POST /p2 HTTP/1.1", "hello"), fwd("GET /p3 HTTP/1.1", "")}},
		{name: "chunked then GET", ref: ref + "; RFC 9112 7.1: the body ends at the last chunk and trailer section",
			req:  chunkedPost("Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n") + get("/p2"),
			want: []int{200, 200}, bodies: []string{"POST /c", "GET /p2"}, follow: true,
			up: []up{chunkedFwd("hello"), fwd("GET /p2 HTTP/1.1", "")}},
		{name: "HEAD then GET", ref: ref + "; RFC 9110 9.3.2: a HEAD response has no body to take the next one from",
			req: "HEAD /p1 HTTP/1.1\r\n" + host + "\r\n" + get("/p2"), methods: []string{"HEAD", "GET"},
			want: []int{200, 200}, bodies: []string{"", "GET /p2"}, follow: true,
			up: []up{fwd("HEAD /p1 HTTP/1.1", ""), fwd("GET /p2 HTTP/1.1", "")}},
		{name: "twenty GETs", ref: ref, req: many.String(), want: manyWant, bodies: manyBodies, follow: true, up: manyUp},
		{name: "bad request after good ones", ref: ref + "; RFC 9112 5.1: the bad one is 400 and the connection closes",
			req:  get("/p1") + get("/p2") + "GET /p3 HTTP/1.1\r\nX-A : 1\r\n" + host + "\r\n" + get("/p4"),
			want: []int{200, 200, 400}, bodies: []string{"GET /p1", "GET /p2"}, close: true,
			up: []up{fwd("GET /p1 HTTP/1.1", ""), fwd("GET /p2 HTTP/1.1", "")}},
		{name: "Connection close stops the pipeline", ref: "RFC 9112 9.6: a server MUST NOT process further requests after close",
			req: get("/p1", "Connection: close") + get("/p2"), want: []int{200}, bodies: []string{"GET /p1"}, close: true,
			up: []up{fwd("GET /p1 HTTP/1.1", "")}},
		{name: "HTTP/1.0 keep-alive pair", ref: ref + "; RFC 9112 9.3",
			req: "GET /p1 HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\n" +
				"GET /p2 HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\n",
			want: []int{200, 200}, bodies: []string{"GET /p1", "GET /p2"}, follow: true,
			up: []up{fwd("GET /p1 HTTP/1.1", ""), fwd("GET /p2 HTTP/1.1", "")}},
		{name: "pipeline past the limit", ref: "ferry: max_pipelined_bytes; the request in progress is answered, then close",
			req: flood.String(), want: []int{200}, bodies: []string{"GET /first"}, close: true,
			resp: func(r *response) error {
				if !r.close {
					return fmt.Errorf("response does not announce Connection: close")
				}
				return nil
			},
			up: []up{fwd("GET /first HTTP/1.1", "")}},
	}
}
