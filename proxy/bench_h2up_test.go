package proxy_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// benchH2Upstream is a minimal HTTP/2 server for BenchmarkProxyGETH2Upstream:
// it acknowledges SETTINGS and answers every request's HEADERS with a
// HEADERS (:status 200, content-length 2) and a DATA "ok" ending the
// stream, allocating nothing per request, as benchUpstream does for
// HTTP/1.1.
func benchH2Upstream(c net.Conn) {
	r := bufio.NewReader(c) // one read per request, as benchUpstream's
	pre := make([]byte, 24)
	if _, err := io.ReadFull(r, pre); err != nil {
		return
	}
	// Our SETTINGS (MAX_CONCURRENT_STREAMS 100).
	if _, err := c.Write([]byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}); err != nil {
		return
	}
	hdr := make([]byte, 9)
	payload := make([]byte, 1<<14)
	// HEADERS: :status 200 (static 8), content-length (static name 28,
	// literal without indexing) "2"; then DATA "ok" with END_STREAM.
	resp := []byte{0, 0, 5, 1, 4, 0, 0, 0, 0, 0x88, 0x0f, 0x0d, 0x01, '2',
		0, 0, 2, 0, 1, 0, 0, 0, 0, 'o', 'k'}
	ack := []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if n > len(payload) {
			return
		}
		if _, err := io.ReadFull(r, payload[:n]); err != nil {
			return
		}
		var out []byte
		switch typ, flags := hdr[3], hdr[4]; {
		case typ == 4 && flags&1 == 0:
			out = ack
		case typ == 1:
			id := binary.BigEndian.Uint32(hdr[5:]) & (1<<31 - 1)
			binary.BigEndian.PutUint32(resp[5:], id)
			binary.BigEndian.PutUint32(resp[14+5:], id)
			out = resp
		default:
			continue
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// BenchmarkProxyGETH2Upstream is BenchmarkProxyGET with an HTTP/2 (h2c)
// upstream: the request head re-stated as HTTP/2 fields, one stream on a
// pooled multiplexed connection, the response head re-stated as HTTP/1.1.
func BenchmarkProxyGETH2Upstream(b *testing.B) {
	up := testutil.NewRawServer(b, benchH2Upstream)
	h := startProxy(b, []string{up.Addr()}, func(s *setup) { s.factory.UpstreamHTTP2 = true })
	req := "GET /bench HTTP/1.1\r\nHost: a\r\n\r\n"
	benchRoundTrips(b, h, req, "HTTP/1.1 200", responseLen(b, h, req))
}
