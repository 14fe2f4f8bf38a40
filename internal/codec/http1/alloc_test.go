//go:build !race

package http1

import "testing"

// TestZeroAllocs is the allocation budget of the hot path: 0 per message in
// steady state (reused Request, Response and ChunkedDecoder).
func TestZeroAllocs(t *testing.T) {
	var req Request
	var resp Response
	var dec ChunkedDecoder
	get := []byte(sampleGET)
	rsp := []byte(sampleResponse)
	body := []byte(sampleChunked)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "keep-alive GET", run: func(t *testing.T) {
			if n, err := req.Parse(get, Limits{}); n != len(get) || err != nil || len(req.Headers) != 6 {
				t.Fatalf("Parse = %d, %v", n, err)
			}
			if _, ok := req.Get("x-request-id"); !ok {
				t.Fatal("Get failed")
			}
		}},
		{name: "response", run: func(t *testing.T) {
			if n, err := resp.Parse(rsp, false, Limits{}); n != len(rsp) || err != nil || len(resp.Headers) != 5 {
				t.Fatalf("Parse = %d, %v", n, err)
			}
		}},
		{name: "chunked body", run: func(t *testing.T) {
			dec.Reset()
			total, off := 0, 0
			for {
				ev, n, data, err := dec.Next(body[off:])
				if err != nil {
					t.Fatal(err)
				}
				off += n
				if ev == ChunkData {
					total += len(data)
				}
				if ev == ChunkDone {
					break
				}
			}
			if total != 23 || off != len(body) {
				t.Fatalf("decoded %d bytes, consumed %d", total, off)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t) // warm up: grows the Headers array once
			if got := testing.AllocsPerRun(100, func() { tc.run(t) }); got != 0 {
				t.Fatalf("allocs per run = %v; want 0", got)
			}
		})
	}
}
