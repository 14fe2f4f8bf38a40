package http1

import (
	"strings"
	"testing"
)

func benchRequest(b *testing.B, msg string) {
	b.Helper()
	buf := []byte(msg)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if n, err := r.Parse(buf, Limits{}); n != len(buf) || err != nil {
			b.Fatalf("Parse = %d, %v", n, err)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	b.Run("wrk", func(b *testing.B) { benchRequest(b, sampleWrkGET) })
	b.Run("keepalive6", func(b *testing.B) { benchRequest(b, sampleGET) })
	b.Run("browser15", func(b *testing.B) { benchRequest(b, sampleBrowserGET) })
}

// BenchmarkParseRequestDribble feeds a 16 KiB head (96 fields) one byte at a time, the
// slowloris pattern: the cost must stay linear in the head size.
func BenchmarkParseRequestDribble(b *testing.B) {
	head := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 160)+"\r\n", 96) + "\r\n"
	buf := []byte(head)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for k := 1; k <= len(buf); k++ {
			n, err := r.Parse(buf[:k], Limits{})
			if err != nil || (n != 0) != (k == len(buf)) {
				b.Fatalf("k=%d: %d, %v", k, n, err)
			}
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(sampleResponse)
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if n, err := r.Parse(buf, false, Limits{}); n != len(buf) || err != nil {
			b.Fatalf("Parse = %d, %v", n, err)
		}
	}
}

func benchChunked(b *testing.B, body []byte) {
	b.Helper()
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d.Reset()
		off := 0
		for {
			ev, n, _, err := d.Next(body[off:])
			if err != nil {
				b.Fatal(err)
			}
			off += n
			if ev == ChunkDone {
				break
			}
		}
	}
}

func BenchmarkChunkedDecode(b *testing.B) {
	b.Run("small3", func(b *testing.B) { benchChunked(b, []byte(sampleChunked)) })
	b.Run("64x1KiB", func(b *testing.B) {
		var body []byte
		chunk := strings.Repeat("d", 1024)
		for range 64 {
			body = AppendChunkHeader(body, len(chunk))
			body = append(body, chunk...)
			body = append(body, '\r', '\n')
		}
		body = append(body, "0\r\n\r\n"...)
		benchChunked(b, body)
	})
}
