package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/proxy"
)

// echoHandler answers with what it saw, and honours a few test paths.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/204":
		w.WriteHeader(http.StatusNoContent)
		return
	case "/304":
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
		return
	case "/chunked":
		w.Header().Set("Trailer", "X-Sum")
		f := w.(http.Flusher)
		for i := range 5 {
			fmt.Fprintf(w, "part%d;", i)
			f.Flush()
		}
		w.Header().Set("X-Sum", "done")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Len", fmt.Sprint(len(body)))
	w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
	w.Header().Set("X-Trailer", r.Trailer.Get("X-Req-Sum"))
	w.Header().Set("X-Expect", r.Header.Get("Expect"))
	w.Header().Set("X-Conn-Hdr", r.Header.Get("X-Hop"))
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
}

func newEchoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(echoHandler))
	t.Cleanup(up.Close)
	return up
}

func TestProxyPipelining(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c := h.dial()
	var req strings.Builder
	for i := range 10 {
		fmt.Fprintf(&req, "GET /pipe%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	fmt.Fprintf(&req, "POST /pipe-post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for i := range 10 {
		resp := rawExchange(t, c, r, "", "GET")
		if got, want := readAll(t, resp), fmt.Sprintf("GET /pipe%d ", i); got != want {
			t.Fatalf("response %d = %q, want %q (order must hold)", i, got, want)
		}
	}
	resp := rawExchange(t, c, r, "", "POST")
	if got := readAll(t, resp); got != "POST /pipe-post hello" {
		t.Fatalf("pipelined POST = %q", got)
	}
}

func TestProxyChunkedBothWaysWithTrailers(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c, r := h.dialReader()
	req := "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Req-Sum\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Req-Sum: 42\r\n\r\n"
	resp := rawExchange(t, c, r, req, "POST")
	body := readAll(t, resp)
	if body != "POST /up hello world" || resp.Header.Get("X-TE") != "chunked" || resp.Header.Get("X-Trailer") != "42" {
		t.Fatalf("upload: body %q TE %q trailer %q", body, resp.Header.Get("X-TE"), resp.Header.Get("X-Trailer"))
	}
	resp = rawExchange(t, c, r, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
	body = readAll(t, resp)
	if body != "part0;part1;part2;part3;part4;" {
		t.Fatalf("download body %q", body)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("download TE = %v, want chunked", resp.TransferEncoding)
	}
	if resp.Trailer.Get("X-Sum") != "done" {
		t.Fatalf("download trailer = %v", resp.Trailer)
	}
}

func TestProxyNoBodyResponses(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c, r := h.dialReader()
	tests := []struct {
		name, req, method string
		status            int
		check             func(*http.Response) error
	}{
		{name: "HEAD", req: "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", method: "HEAD", status: 200, check: func(r *http.Response) error {
			if r.ContentLength != int64(len("HEAD /x ")) {
				return fmt.Errorf("content-length %d", r.ContentLength)
			}
			return nil
		}},
		{name: "204", req: "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", status: 204},
		{name: "304", req: "GET /304 HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", status: 304, check: func(r *http.Response) error {
			if r.Header.Get("ETag") != `"x"` {
				return fmt.Errorf("etag %q", r.Header.Get("ETag"))
			}
			return nil
		}},
		{name: "after", req: "GET /after HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, c, r, tc.req, tc.method)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.method == "HEAD" && body != "" {
				t.Fatalf("HEAD body %q", body)
			}
			if tc.check != nil {
				if err := tc.check(resp); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestProxyExpect100Continue(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c, r := h.dialReader()
	if _, err := io.WriteString(c, "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim line %q, %v", line, err)
	}
	if blank, _ := r.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("interim head not closed: %q", blank)
	}
	resp := rawExchange(t, c, r, "ping", "POST")
	if body := readAll(t, resp); body != "POST /e ping" || resp.Header.Get("X-Expect") != "" {
		t.Fatalf("body %q, upstream saw Expect %q", body, resp.Header.Get("X-Expect"))
	}
}

func TestProxyHopByHopRemoved(t *testing.T) {
	up := newEchoUpstream(t)
	h := startProxy(t, []string{up.Listener.Addr().String()}, nil)
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "GET /h HTTP/1.1\r\nHost: a\r\nConnection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 5\r\n\r\n", "GET")
	readAll(t, resp)
	if got := resp.Header.Get("X-Conn-Hdr"); got != "" {
		t.Fatalf("a header named by Connection reached the upstream: %q", got)
	}
}

func TestPathNormalizationOptions(t *testing.T) {
	up := newEchoUpstream(t)
	tests := []struct {
		name   string
		opts   proxy.PathOptions
		path   string
		status int
		want   string // what the upstream saw
	}{
		{name: "default forwards as received", path: "/a/../b//c", status: 200, want: "GET /a/../b//c "},
		{name: "normalize", opts: proxy.PathOptions{Normalize: true}, path: "/public/%2e%2e/admin", status: 200, want: "GET /admin "},
		{name: "merge slashes", opts: proxy.PathOptions{MergeSlashes: true}, path: "//a///b", status: 200, want: "GET /a/b "},
		{name: "above the root", opts: proxy.PathOptions{Normalize: true}, path: "/../x", status: 400},
		{name: "escaped slash rejected", opts: proxy.PathOptions{EscapedSlashes: proxy.EscapedReject}, path: "/a%2Fb", status: 400},
		{name: "escaped slash decoded", opts: proxy.PathOptions{EscapedSlashes: proxy.EscapedDecode}, path: "/a%2fb", status: 200, want: "GET /a/b "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) { s.opts.Path = tc.opts })
			c := h.dial()
			resp := rawExchange(t, c, bufio.NewReader(c), "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || (tc.status == 200 && body != tc.want) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}
