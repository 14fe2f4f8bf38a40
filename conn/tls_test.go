package conn

import (
	"strings"
	"testing"
)

// TestClientHelloFraming: the loop's view of the first bytes of a TLS
// connection, before crypto/tls sees them.
func TestClientHelloFraming(t *testing.T) {
	rec := func(typ byte, body string) string {
		n := len(body)
		return string([]byte{typ, 3, 1, byte(n >> 8), byte(n)}) + body
	}
	hello := "\x01\x00\x00\x06abcdef" // a ClientHello of 6 bytes
	tests := []struct {
		name, in string
		want     helloStatus
	}{
		{"whole in one record", rec(22, hello), helloDone},
		{"header only", rec(22, hello)[:5], helloPartial},
		{"half the record", rec(22, hello)[:9], helloPartial},
		{"split over records", rec(22, hello[:2]) + rec(22, hello[2:7]) + rec(22, hello[7:]), helloDone},
		{"split, last record still coming", rec(22, hello[:2]) + rec(22, hello[2:])[:6], helloPartial},
		{"an alert record", rec(21, "\x02\x28"), helloBad},
		{"a ServerHello", rec(22, "\x02\x00\x00\x00"), helloBad},
		{"an empty record", rec(22, ""), helloBad},
		{"a record past 16 KiB", "\x16\x03\x01\x40\x01", helloBad},
		{"SSL 2", "\x16\x02\x00\x00\x04\x01\x00\x00\x00", helloBad},
		{"a ClientHello past the bound", rec(22, "\x01\x01\x00\x00"), helloBad},
		{"tiny records that never finish", strings.Repeat(rec(22, "\x01"), 1000), helloBad},
	}
	for _, tc := range tests {
		if got := clientHello([]byte(tc.in), 1<<10); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLooksLikeHTTP: a method token and a space is plain HTTP; a prefix of
// one waits; anything else is not.
func TestLooksLikeHTTP(t *testing.T) {
	for in, want := range map[string]httpGuess{
		"GET / HTTP/1.1": httpYes, "PRI * HTTP/2.0": httpYes, "OPTIONS *": httpYes,
		"GE": httpMaybe, "": httpMaybe, "get /": httpNo, " GET": httpNo, "\x00GET": httpNo,
		"ABCDEFGHIJKLMNOPQ ": httpNo,
	} {
		if got := looksLikeHTTP([]byte(in)); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}

// FuzzClientHello: any input gets a verdict without a panic, and no
// verdict waits for more than the bound allows.
func FuzzClientHello(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x0a\x01\x00\x00\x06abcdef"))
	f.Add([]byte("\x16\x03\x01\x00\x02\x01\x00\x16\x03\x01\x00\x02\x00\x02ab"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 512
		st := clientHello(in, limit)
		if st == helloPartial && len(in) > limit+256 {
			t.Fatalf("%d bytes still partial past the bound", len(in))
		}
		_ = looksLikeHTTP(in)
	})
}
