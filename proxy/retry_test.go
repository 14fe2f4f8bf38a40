package proxy

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/router"
)

// TestBackoffBounds: retry n waits a draw in [0, min(max, base × 2^(n-1))),
// with the draw injected.
func TestBackoffBounds(t *testing.T) {
	p := &router.RetryPolicy{BackOffBase: 25 * time.Millisecond, BackOffMax: 250 * time.Millisecond}
	var asked []int64
	top := func(n int64) int64 { asked = append(asked, n); return n - 1 }
	for n, want := range map[int]time.Duration{1: 25 * time.Millisecond, 2: 50 * time.Millisecond,
		3: 100 * time.Millisecond, 4: 200 * time.Millisecond, 5: 250 * time.Millisecond, 30: 250 * time.Millisecond} {
		asked = asked[:0]
		if got := backoff(p, n, top); got != want-1 || len(asked) != 1 || asked[0] != int64(want) {
			t.Errorf("retry %d: waits %v (drawn below %v), want below %v", n, got, asked, want)
		}
	}
	if got := backoff(p, 3, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("a zero draw waits %v", got)
	}
}

// TestGRPCTimeoutParse: grpc-timeout's units, and what is refused.
func TestGRPCTimeoutParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"1H": time.Hour, "2M": 2 * time.Minute, "3S": 3 * time.Second,
		"250m": 250 * time.Millisecond, "7u": 7 * time.Microsecond, "9n": 9, "99999999H": 1<<63 - 1,
		"": 0, "S": 0, "10": 0, "1x": 0, "-1S": 0, "123456789S": 0, "0S": 0} {
		if got := parseGRPCTimeout([]byte(in)); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
	if got := grpcMessage("no route: 100% \"x\"\n\xff"); got != `no route: 100%25 "x"%0A%FF` {
		t.Errorf("grpc-message %q", got)
	}
}
