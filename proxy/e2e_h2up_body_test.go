package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// hashH2 answers with the length and sha256 of the request body.
func hashH2() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, &slowReader{r: r.Body, rate: 256 << 10})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
}

// TestH2UpstreamUploads: request bodies larger than the upstream's
// flow-control windows, with a length and chunked, from HTTP/1.1 and
// HTTP/2 clients, arrive whole.
func TestH2UpstreamUploads(t *testing.T) {
	const size = 8 << 20
	want := fmt.Sprintf("%d %s", size, patternSum(size))
	up := startH2C(t, 0, hashH2())
	h := startH2Proxy(t, up.addr, func(s *setup) {
		s.opts.Spill.MemLimit = 256 << 10
		s.opts.Spill.Dir = t.TempDir()
	})
	for _, tc := range []struct {
		name    string
		h2      bool
		chunked bool
	}{{"h1 length", false, false}, {"h1 chunked", false, true}, {"h2 length", true, false}, {"h2 no length", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.client()
			if tc.h2 {
				c = h.h2Client()
			}
			req, err := http.NewRequest("POST", "http://ferry.test/up", newPattern(size))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.chunked {
				req.ContentLength = size
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || body != want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
			}
		})
	}
}

// TestH2UpstreamHeadAndExpect: a HEAD keeps the length and sends no body;
// Expect: 100-continue is answered by ferry and the body follows.
func TestH2UpstreamHeadAndExpect(t *testing.T) {
	up := startH2C(t, 0, echoH2())
	h := startH2Proxy(t, up.addr, nil)
	c, r := h.dialReader()
	resp := rawExchange(t, c, r, "HEAD /len HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if _, err := io.WriteString(c, "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp = rawExchange(t, c, r, "", "POST")
	if resp.StatusCode != 100 {
		t.Fatalf("status %d, want 100 first", resp.StatusCode)
	}
	resp = rawExchange(t, c, r, "abc", "POST")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "POST abc" {
		t.Fatalf("POST after 100: %d %q", resp.StatusCode, body)
	}
}

// TestH2UpstreamClientAbortCancelsStream: a client that leaves mid-response
// cancels its upstream stream (RST_STREAM), and the connection serves on.
func TestH2UpstreamClientAbortCancelsStream(t *testing.T) {
	cancelled := make(chan struct{})
	up := startH2C(t, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/forever" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		buf := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := w.Write(buf); err != nil {
				break
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				close(cancelled)
				return
			default:
			}
		}
		<-r.Context().Done()
		close(cancelled)
	}))
	h := startH2Proxy(t, up.addr, nil)
	c := h.dial()
	if _, err := io.WriteString(c, "GET /forever HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	testutil.WaitFor(t, 10*time.Second, "the upstream stream cancelled", func() bool {
		select {
		case <-cancelled:
			return true
		default:
			return false
		}
	})
	if code, body := h.get(h.client(), "/again"); code != 200 || body != "ok" {
		t.Fatalf("after the abort: %d %q", code, body)
	}
}
