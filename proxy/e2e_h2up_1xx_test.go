package proxy_test

// 1xx responses from HTTP/2 upstreams (proxy/upstream_h2.go:
// h2upInformational), as the HTTP/1.1 upstream path treats them.

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// readHead reads one response head, blank line included.
func readHead(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a head: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// earlyHints answers with a 100, a 103 carrying a Link, then 200 "done".
func earlyHints() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusContinue)
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "done")
	})
}

// TestH2Upstream1xx: an HTTP/1.1 client gets the upstream's 103 Early
// Hints, with its Link, before the 200; the upstream's 100 is dropped
// (ferry answered Expect itself: exactly one 100 reaches a client that
// asked). An HTTP/1.0 client gets no 1xx (RFC 9110 15.2); an HTTP/2
// client gets the 103 as a HEADERS frame before the final one.
func TestH2Upstream1xx(t *testing.T) {
	up := startH2C(t, 0, earlyHints())
	h := startH2Proxy(t, up.addr, nil)

	c := h.dial()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	hints := readHead(t, r)
	if !strings.HasPrefix(hints, "HTTP/1.1 103 Early Hints\r\n") || !strings.Contains(strings.ToLower(hints), "link: </style.css>; rel=preload; as=style\r\n") {
		t.Fatalf("first head %q, want the 103 with its Link", hints)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "done" || resp.Header.Get("Link") != "" {
		t.Fatalf("final response %d %q Link %q, want 200 done without the hint's Link", resp.StatusCode, body, resp.Header.Get("Link"))
	}

	// Expect: 100-continue: ferry's own 100, then the 103 and the 200.
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if head := readHead(t, r); head != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("first head %q, want ferry's 100 Continue", head)
	}
	if _, err := io.WriteString(c, "body"); err != nil {
		t.Fatal(err)
	}
	if head := readHead(t, r); !strings.HasPrefix(head, "HTTP/1.1 103 ") {
		t.Fatalf("second head %q, want the 103 (the upstream's 100 dropped)", head)
	}
	resp, err = http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "done" {
		t.Fatalf("final response %d %q", resp.StatusCode, body)
	}

	old := h.dial()
	or := bufio.NewReader(old)
	if _, err := io.WriteString(old, "GET / HTTP/1.0\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if head := readHead(t, or); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
		t.Fatalf("HTTP/1.0 client: first head %q, want the 200", head)
	}

	expectH2Hints(t, h, "</style.css>; rel=preload; as=style", "done")
}

// expectH2Hints checks that an HTTP/2 client of h gets a 103 carrying
// link, then the 200 with body, and no other 1xx; it returns the 103's
// fields.
func expectH2Hints(t *testing.T, h *harness, link, body string) map[string]string {
	t.Helper()
	p := dialH2Peer(t, h)
	p.request(1, "GET", "/", true)
	p.until("the response", p.ended(1))
	s := p.seen(1)
	if len(s.heads) != 2 || s.heads[0][":status"] != "103" || s.heads[0]["link"] != link {
		t.Fatalf("HTTP/2 client: heads %v; want a 103 with link %q, then the final head", s.heads, link)
	}
	p.expectWhole(1, "200", body)
	return s.heads[0]
}

// TestHTTP1Upstream1xxToH2Client: a 103 from an HTTP/1.1 upstream
// reaches an HTTP/2 client as well, its hop-by-hop fields left out.
func TestHTTP1Upstream1xxToH2Client(t *testing.T) {
	up := testutil.NewHeadServer(t, testutil.Reply("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"))
	h := startProxy(t, []string{up.Addr()}, nil)
	if hints := expectH2Hints(t, h, "</s.css>; rel=preload", "final"); hints["x-hop"] != "" || hints["connection"] != "" {
		t.Fatalf("103 fields %v: the hop-by-hop ones went on", hints)
	}
}

// manyHints is how many 103 heads the upstreams below send before their
// 200, each with a 300-byte Link: about 60 KiB of heads, past the default
// max_header_bytes (32 KiB).
const manyHints = 200

var hintLink = "</" + strings.Repeat("s", 290) + ".css>" //nolint:gochecknoglobals // read-only

// expectHintsBounded sends a GET on a new HTTP/1.1 connection to h and
// checks that the 103 heads forwarded stay within the default
// max_header_bytes and that the request then fails with 502: each 1xx head
// goes to the client at once, read or not, so their sum is bounded
// (proxy/upstream.go, informational).
func expectHintsBounded(t *testing.T, h *harness) {
	t.Helper()
	c := h.dial()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	hints, bytes := 0, 0
	for {
		head := readHead(t, r)
		if !strings.HasPrefix(head, "HTTP/1.1 103 ") {
			if !strings.HasPrefix(head, "HTTP/1.1 502 ") {
				t.Fatalf("after %d 103 heads (%d bytes) the final head is %q, want 502: an upstream's 1xx heads are not bounded", hints, bytes, head)
			}
			break
		}
		hints++
		bytes += len(head)
	}
	if bytes > 32<<10 {
		t.Fatalf("%d 103 heads, %d bytes, forwarded: more than max_header_bytes (32 KiB)", hints, bytes)
	}
	if hints == 0 {
		t.Fatal("no 103 forwarded: the heads below the bound should go on")
	}
}

// TestHTTP1UpstreamInformationalBounded: an HTTP/1.1 upstream that sends
// 1xx heads past max_header_bytes in all gets 502 for its response.
func TestHTTP1UpstreamInformationalBounded(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: " + hintLink + "\r\n\r\n"
	up := testutil.NewHeadServer(t, testutil.Reply(strings.Repeat(hint, manyHints)+"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"))
	expectHintsBounded(t, startProxy(t, []string{up.Addr()}, nil))
}

// TestH2UpstreamInformationalBounded: the same over an HTTP/2 upstream
// (proxy/upstream_h2.go, h2upInformational).
func TestH2UpstreamInformationalBounded(t *testing.T) {
	up := startH2C(t, 0, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", hintLink)
		for range manyHints {
			w.WriteHeader(http.StatusEarlyHints)
		}
		// The header map is left alone after the 103s: the HTTP/2
		// server's frame writer may still be encoding it (a Del here was
		// a data race under -race). The final head is never forwarded
		// anyway: ferry answers 502 once the 103s pass the bound.
		_, _ = io.WriteString(w, "final")
	}))
	expectHintsBounded(t, startH2Proxy(t, up.addr, nil))
}
