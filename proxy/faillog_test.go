package proxy_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestFailuresAreLoggedRateLimited: a storm of connect failures is logged
// at Warn, at most a line per second, each line carrying how many it stood
// for; a client's bad request is logged at Info. Every failure is still
// counted (the counters are exact, the log is a sample).
func TestFailuresAreLoggedRateLimited(t *testing.T) {
	var out testutil.Buffer // written by the loops, read by the test
	h := startProxy(t, []string{testutil.ClosedAddr(t)}, func(s *setup) {
		s.opts.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	const n = 40
	start := time.Now()
	c := h.client()
	for range n {
		if code, _ := h.get(c, "/"); code != 503 {
			t.Fatalf("status %d, want 503", code)
		}
	}
	elapsed := time.Since(start)
	if got := h.stat("local_reply_upstream_connect_failed"); got != n {
		t.Fatalf("local_reply_upstream_connect_failed = %d, want %d", got, n)
	}
	conn := h.dial()
	if _, err := conn.Write([]byte("GET /bad path HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Read(make([]byte, 512)) // the 400
	var lines, stoodFor int
	var sawBadRequest bool
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct {
			Level, Msg, Kind string
			Host             string `json:"upstream_host"`
			Status           int
			Suppressed       int
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if rec.Msg != "request failed" {
			continue
		}
		switch rec.Kind {
		case "upstream_connect_failed":
			if rec.Level != "WARN" || rec.Status != 503 || rec.Host == "" {
				t.Fatalf("connect failure logged as %q", l)
			}
			lines++
			stoodFor += 1 + rec.Suppressed
		case "bad_request":
			if rec.Level != "INFO" || rec.Status != 400 {
				t.Fatalf("bad request logged as %q", l)
			}
			sawBadRequest = true
		}
	}
	if maxLines := 1 + int(elapsed/time.Second); lines < 1 || lines > maxLines {
		t.Fatalf("%d lines for %d failures over %v, want 1 to %d", lines, n, elapsed, maxLines)
	}
	if stoodFor > n {
		t.Fatalf("the lines stand for %d failures, more than the %d there were", stoodFor, n)
	}
	if !sawBadRequest {
		t.Fatalf("no bad_request line in %q", out.String())
	}
}
