package reliability

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// soakH2Conns is the number of HTTP/2 client connections in the soak;
// each carries soakH2Streams concurrent request loops.
const (
	soakH2Conns   = 4
	soakH2Streams = 3
)

// h2SoakClient is one request loop on a shared HTTP/2 (h2c) connection.
type h2SoakClient struct {
	base string
	c    *http.Client
	rng  *rand.Rand
	ty   *tally
}

// newH2Transport is an h2c (prior knowledge) client transport to addr.
func newH2Transport(addr string) *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols: p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}
}

// size is soakClient.size for HTTP/2 clients.
func (hc *h2SoakClient) size() int64 {
	return (&soakClient{rng: hc.rng}).size()
}

// run does one random operation.
func (hc *h2SoakClient) run() {
	switch p := hc.rng.IntN(100); {
	case p < 40:
		hc.download(hc.size(), hc.rng.IntN(3) == 0)
	case p < 70:
		hc.upload(hc.size(), hc.rng.IntN(3) == 0)
	case p < 80:
		hc.abortResponse()
	default:
		hc.fault([]string{"/fault/reset", "/fault/midreset", "/hang/soak"}[hc.rng.IntN(3)])
	}
}

func (hc *h2SoakClient) do(method, path string, body io.Reader, n int64) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, hc.base+path, body)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = n
	ctx, cancel := context.WithTimeout(context.Background(), soakIOTimeout)
	defer cancel()
	resp, err := hc.c.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil && resp.ProtoMajor != 2 {
		err = fmt.Errorf("answered over %s", resp.Proto)
	}
	return resp, b, err
}

// finish checks a normal exchange: complete, 200, verified.
func (hc *h2SoakClient) finish(what string, resp *http.Response, body []byte, err error, check func(*http.Response, []byte) error) {
	switch {
	case err != nil:
		hc.ty.violate("h2 %s: %v", what, err)
	case resp.StatusCode != 200:
		hc.ty.violate("h2 %s: status %d %q", what, resp.StatusCode, body)
	default:
		if err := check(resp, body); err != nil {
			hc.ty.violate("h2 %s: %v", what, err)
			return
		}
		hc.ty.ok.Add(1)
		hc.ty.h2ok.Add(1)
	}
}

func (hc *h2SoakClient) download(n int64, chunked bool) {
	q := ""
	if chunked {
		q = "?chunked=1"
	}
	path := fmt.Sprintf("/big/%d%s", n, q)
	resp, body, err := hc.do("GET", path, nil, 0)
	hc.finish("GET "+path, resp, body, err, checkDownload(n))
	hc.ty.downloadBytes.Add(n)
}

func (hc *h2SoakClient) upload(n int64, unknownLength bool) {
	seed := hc.rng.Uint64()
	h := sha256.New()
	body := io.TeeReader(newPattern(seed, n), h)
	length := n
	if unknownLength {
		length = -1 // sent without content-length: chunked towards the upstream
		body = struct{ io.Reader }{body}
	}
	what := fmt.Sprintf("POST /up %d bytes (length known %v)", n, !unknownLength)
	resp, got, err := hc.do("POST", "/up", body, length)
	want := fmt.Sprintf("%d %x", n, h.Sum(nil))
	hc.finish(what, resp, got, err, func(_ *http.Response, b []byte) error {
		if string(b) != want {
			return fmt.Errorf("the upstream got %q, want %q", b, want)
		}
		return nil
	})
	hc.ty.uploadBytes.Add(n)
}

// abortResponse reads part of a large response and cancels the stream.
func (hc *h2SoakClient) abortResponse() {
	n := int64(256<<10 + hc.rng.IntN(768<<10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/big/%d", hc.base, n), nil)
	if resp, err := hc.c.Do(req); err == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, hc.rng.Int64N(n/2))
		cancel() // RST_STREAM(CANCEL): this stream alone ends
		_ = resp.Body.Close()
	}
	hc.ty.aborted.Add(1)
}

// fault is soakClient.fault over HTTP/2: a complete 502/504 or a visible
// cut (a stream error) is right; a complete 200 is not.
func (hc *h2SoakClient) fault(path string) {
	hc.ty.faults.Add(1)
	start := time.Now()
	resp, body, err := hc.do("GET", path, nil, 0)
	if d := time.Since(start); d > 5*time.Second {
		hc.ty.violate("h2 GET %s: answered after %v; the route timeout is 500ms", path, d)
	}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		hc.ty.violate("h2 GET %s: hung: %v", path, err)
	case err != nil:
		hc.ty.cut.Add(1)
	case resp.StatusCode == 200:
		hc.ty.violate("h2 GET %s: a faulty upstream's response read as complete: %q", path, body)
	case resp.StatusCode != 502 && resp.StatusCode != 504:
		hc.ty.violate("h2 GET %s: status %d %q", path, resp.StatusCode, body)
	default:
		if !strings.HasPrefix(string(body), "upstream_") {
			hc.ty.violate("h2 GET %s: a local reply that does not name its cause: %q", path, body)
		}
		hc.ty.local.Add(1)
	}
}
