package http1

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// fuzzSeed spreads the small fuzz argument over 64 bits. The argument is a
// uint8 because the fuzz minimizer walks integer arguments down one by one,
// and it does not depend on the data so that minimizing the data keeps the
// same splits and limits.
func fuzzSeed(small uint8) uint64 {
	return (uint64(small) + 1) * 0x9e3779b97f4a7c15
}

// fuzzCuts derives up to 8 ascending cut points inside [1, size) from seed.
func fuzzCuts(seed uint64, size int) []int {
	if size < 2 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	cuts := make([]int, 0, 8)
	for range rng.IntN(9) {
		cuts = append(cuts, 1+rng.IntN(size-1))
	}
	slices.Sort(cuts)
	return slices.Compact(cuts)
}

// fuzzLimits uses the defaults for even small seeds and small limits
// otherwise, so that the limit paths are explored too.
func fuzzLimits(small uint8, seed uint64) Limits {
	if small&1 == 0 {
		return Limits{}
	}
	return Limits{
		MaxRequestLine: 1 + int(seed>>1%200),
		MaxHeaderBytes: 1 + int(seed>>9%400),
		MaxHeaders:     1 + int(seed>>17%8),
	}
}

func spanIn(s Span, n int) bool { return int(s.Off)+int(s.Len) <= n }

func fuzzHeadersIn(t *testing.T, hs []Header, n int) {
	t.Helper()
	for i, h := range hs {
		if !spanIn(h.Name, n) || !spanIn(h.Value, n) || h.Name.Len == 0 {
			t.Fatalf("header %d span out of range: %+v (n=%d)", i, h, n)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		sampleGET, sampleWrkGET, sampleBrowserGET,
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nConnection: x, close\r\nX: 1\r\n\r\nhello",
		"\r\nCONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nExpect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, small uint8) {
		seed := fuzzSeed(small)
		lim := fuzzLimits(small, seed)
		var r Request
		n, err := r.Parse(data, lim)
		one := snapReq(&r, n, err)
		if n < 0 || n > len(data) || (n > 0 && err != nil) {
			t.Fatalf("n=%d err=%v len=%d", n, err, len(data))
		}
		if err != nil && errResult(err).status < 400 {
			t.Fatalf("bad error %v", err)
		}
		if n > 0 {
			nl := lim.norm()
			if n > nl.MaxHeaderBytes || len(r.Headers) > nl.MaxHeaders {
				t.Fatalf("limits exceeded: n=%d headers=%d", n, len(r.Headers))
			}
			for _, s := range []Span{r.Method, r.Target, r.Host} {
				if !spanIn(s, n) {
					t.Fatalf("span %+v out of range %d", s, n)
				}
			}
			fuzzHeadersIn(t, r.Headers, n)
			var p Request // the head alone parses the same
			pn, perr := p.Parse(data[:n], lim)
			if got := snapReq(&p, pn, perr); got != one {
				t.Fatalf("prefix parse differs:\n got %+v\nwant %+v", got, one)
			}
		}
		if _, inc := feedReq(data, lim, fuzzCuts(seed, len(data))); inc != one {
			t.Fatalf("incremental differs:\n got %+v\nwant %+v", inc, one)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		sampleResponse,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool, small uint8) {
		seed := fuzzSeed(small)
		lim := fuzzLimits(small, seed)
		var r Response
		n, err := r.Parse(data, head, lim)
		one := snapResp(&r, n, err)
		if n < 0 || n > len(data) || (n > 0 && err != nil) {
			t.Fatalf("n=%d err=%v len=%d", n, err, len(data))
		}
		if err != nil && errResult(err).status != 502 {
			t.Fatalf("response error must be 502: %v", err)
		}
		if n > 0 {
			if !spanIn(r.Reason, n) || r.Status < 100 || r.Status > 599 {
				t.Fatalf("bad status line result %+v", one)
			}
			fuzzHeadersIn(t, r.Headers, n)
			if r.Body == BodyUntilClose && r.KeepAlive {
				t.Fatal("BodyUntilClose with KeepAlive")
			}
		}
		if _, inc := feedResp(data, head, lim, fuzzCuts(seed, len(data))); inc != one {
			t.Fatalf("incremental differs:\n got %+v\nwant %+v", inc, one)
		}
	})
}

// fuzzEncode encodes payload in chunks whose sizes, extensions and trailer
// come from seed.
func fuzzEncode(payload []byte, seed uint64) (body []byte, trailer string) {
	rng := rand.New(rand.NewPCG(seed, 7))
	exts := []string{"", ";a", ";a=b", " ; q = \"x\\\"y\"", ";n=\"\"\t;m"}
	trailers := []string{"", "X-Sum: 1\r\n", "A: 1\r\nB:\r\nC: \xff v\r\n"}
	for len(payload) > 0 {
		k := min(len(payload), 1+rng.IntN(64))
		body = AppendChunkHeader(body, k)
		body = append(body[:len(body)-2], exts[rng.IntN(len(exts))]...)
		body = append(body, '\r', '\n')
		body = append(body, payload[:k]...)
		body = append(body, '\r', '\n')
		payload = payload[k:]
	}
	trailer = trailers[rng.IntN(len(trailers))]
	body = append(body, "0"+exts[rng.IntN(len(exts))]+"\r\n"+trailer+"\r\n"...)
	return body, trailer
}

func FuzzChunked(f *testing.F) {
	f.Add([]byte(sampleChunked), uint8(0))
	f.Add([]byte("0\r\n\r\n"), uint8(3))
	f.Add([]byte("5;a=\"b\"\r\nhello\r\n0\r\nT: 1\r\n\r\n"), uint8(99))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, small uint8) {
		seed := fuzzSeed(small)
		one := decodeChunked(data, nil)
		if one.n > len(data) || len(one.payload) > len(data) {
			t.Fatalf("consumed more than given: %+v", one)
		}
		if one.done && !bytes.HasSuffix(data[:one.n], []byte("\r\n")) {
			t.Fatalf("done without final CRLF: %q", data[:one.n])
		}
		if inc := decodeChunked(data, fuzzCuts(seed, len(data))); inc != one {
			t.Fatalf("incremental differs:\n got %+v\nwant %+v", inc, one)
		}
		body, trailer := fuzzEncode(data, seed)
		want := chunkResult{payload: string(data), trailer: trailer, done: true, n: len(body)}
		if got := decodeChunked(body, fuzzCuts(seed^0x5555, len(body))); got != want {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}
