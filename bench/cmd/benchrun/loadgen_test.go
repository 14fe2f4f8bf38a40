package main

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		file string // real wrk 4.1.0 outputs, except wrk-overload (same format, extreme units)
		want loadResult
	}{
		{name: "nginx 1k, us and ms", file: "wrk-nginx-1k.txt", want: loadResult{
			Requests: 62749, Seconds: 1, RPS: 62682.06, P50: 607 * time.Microsecond,
			P99: 1550 * time.Microsecond, ThreadRPS: 63070,
		}},
		{name: "socket errors", file: "wrk-close-socket-errors.txt", want: loadResult{
			Requests: 9055, Seconds: 1, RPS: 9011.65, P50: 2290 * time.Microsecond,
			P99: 15520 * time.Microsecond, Errors: 9049, ThreadRPS: 9090,
		}},
		{name: "seconds, minutes, M suffix, non-2xx", file: "wrk-overload.txt", want: loadResult{
			Requests: 23871, Seconds: 10.1, RPS: 2363.47, P50: 1020 * time.Millisecond,
			P99: 63 * time.Second, Errors: 12 + 3 + 40 + 7, ThreadRPS: 1.2e6, Non2xx: 7,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !closeTo(got.Seconds, tc.want.Seconds) || !closeTo(got.ThreadRPS, tc.want.ThreadRPS) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			got.Seconds, got.ThreadRPS = tc.want.Seconds, tc.want.ThreadRPS
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func closeTo(a, b float64) bool { return a-b < 1e-6*max(1, b) && b-a < 1e-6*max(1, b) }

// TestParseWrkPipelinedZeros: with a pipelining script wrk may print a
// latency distribution of zeros; the run still counts, without latency.
func TestParseWrkPipelinedZeros(t *testing.T) {
	out := "Running 2s test @ http://127.0.0.1:1/1k\n  1 threads and 50 connections\n" +
		"  Latency Distribution\n     50%    0.00us\n     75%    0.00us\n     90%    0.00us\n     99%    0.00us\n" +
		"  56735 requests in 2.00s, 61.41MB read\nRequests/sec:  28330.23\nTransfer/sec:     30.67MB\n"
	got, err := parseWrk(out)
	if err != nil || got.Requests != 56735 || got.P50 != 0 || got.P99 != 0 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestParseWrkRejectsGarbage(t *testing.T) {
	for _, out := range []string{"", "unable to connect to 127.0.0.1:1 Connection refused\n",
		"  10 requests in 1.00s, 1MB read\nRequests/sec: 10.00\n"} { // no --latency
		if _, err := parseWrk(out); !errors.Is(err, errParse) {
			t.Errorf("parseWrk(%q) error %v, want errParse", out, err)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	checkParse(t, parseWrkDuration, equal, true, []parseCase[time.Duration]{
		{in: "591.25us", want: 591250 * time.Nanosecond, ok: true},
		{in: "0.99ms", want: 990 * time.Microsecond, ok: true},
		{in: "2.00s", want: 2 * time.Second, ok: true},
		{in: "1.50m", want: 90 * time.Second, ok: true},
		{in: "1.00h", want: time.Hour, ok: true},
		{in: "12ns"},
		{in: "ms"},
		{in: "1.2.3ms"},
	})
}

func TestParseMetric(t *testing.T) {
	checkParse(t, parseMetric, closeTo, true, []parseCase[float64]{
		{in: "912.00", want: 912, ok: true},
		{in: "85.03k", want: 85030, ok: true},
		{in: "1.20M", want: 1.2e6, ok: true},
		{in: "3.1G", want: 3.1e9, ok: true},
		{in: "k"},
		{in: "12x"},
	})
}

func TestParseH2load(t *testing.T) {
	log := []byte("1700000000000000\t200\t100\n1700000000000001\t200\t300\n" +
		"1700000000000002\t-1\t999999\n1700000000000003\t200\t200\n1700000000000004\t503\t5\n")
	got, err := parseH2load(readTestdata(t, "h2load-nginx.txt"), log, "h2c")
	if err != nil {
		t.Fatal(err)
	}
	want := loadResult{Requests: 44838, Seconds: 1, RPS: 44838, P50: 200 * time.Microsecond, P99: 300 * time.Microsecond,
		H2: h2Counts{Counted: true, Succeeded: 44838}}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseH2load("finished in 1.00s, 5.00 req/s, 1MB/s\n", nil, "h2c"); !errors.Is(err, errParse) {
		t.Fatalf("h1 fallback output: error %v, want errParse", err)
	}
	// The same output is not accepted where TLS (ALPN h2) was asked for.
	if _, err := parseH2load(readTestdata(t, "h2load-nginx.txt"), nil, "h2"); !errors.Is(err, errParse) {
		t.Fatalf("h2c output for an h2 case: error %v, want errParse", err)
	}
}

// TestParseH2loadCounts: a run where the proxy answered some requests
// with 503 and some streams were reset reports each count, and the
// failed ones as errors.
func TestParseH2loadCounts(t *testing.T) {
	out := "Application protocol: h2\n\nfinished in 2.00s, 9000.00 req/s, 9MB/s\n" +
		"requests: 20000 total, 20100 started, 18000 done, 15000 succeeded, 5000 failed, 2000 errored, 0 timeout\n" +
		"status codes: 15000 2xx, 0 3xx, 0 4xx, 3000 5xx\n"
	got, err := parseH2load(out, nil, "h2")
	if err != nil {
		t.Fatal(err)
	}
	want := h2Counts{Counted: true, Succeeded: 15000, Failed: 5000, Errored: 2000, Status5xx: 3000}
	if got.H2 != want || got.Requests != 18000 || got.Errors != 5000 || got.RPS != 9000 {
		t.Fatalf("got %+v", got)
	}
}

// TestServedOnly: requests answered with another status than 2xx/3xx
// count as errors, not as throughput, for wrk and h2load alike.
func TestServedOnly(t *testing.T) {
	tests := []struct {
		name           string
		in             loadResult
		reqs, unserved int64
		rps            float64
	}{
		{name: "all served", in: loadResult{Requests: 1000, Seconds: 2, RPS: 500}, reqs: 1000, rps: 500},
		{name: "wrk non-2xx", in: loadResult{Requests: 1000, Seconds: 2, RPS: 500, Non2xx: 400, Errors: 400}, reqs: 600, unserved: 400, rps: 300},
		{name: "h2load 503s", in: loadResult{Requests: 87409, Seconds: 2, RPS: 43704,
			H2: h2Counts{Counted: true, Succeeded: 21017, Failed: 66392}}, reqs: 21017, unserved: 66392, rps: 10508.5},
		{name: "no time", in: loadResult{Requests: 10, Non2xx: 3}, reqs: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.in
			r.servedOnly()
			if r.Requests != tc.reqs || r.Unserved != tc.unserved || (tc.rps != 0 && !closeTo(r.RPS, tc.rps)) || r.Errors != tc.in.Errors {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestParseSTime(t *testing.T) {
	tests := []struct {
		name             string
		out              string
		ok               bool
		conns, res, full int64
		errs             int64
	}{
		{name: "full handshakes", ok: true, conns: 6, full: 6,
			out: "Collecting connection statistics for 2 seconds\n******\n\n6 connections in 0.01s; 600.00 connections/user sec, bytes read 7000\n" +
				"6 connections in 3 real seconds, 1166 bytes read per connection\n"},
		{name: "resumed after the first", ok: true, conns: 5, res: 4, full: 1,
			out: "Collecting connection statistics for 2 seconds\n\n\nNow timing with session id reuse.\nstarting\n*rrrr\n\n" +
				"5 connections in 0.01s; 500.00 connections/user sec, bytes read 6000\n5 connections in 2 real seconds, 1200 bytes read per connection\n"},
		{name: "cut responses", ok: true, conns: 3, full: 3, errs: 3,
			out: "***\n\n3 connections in 0.00s; 0.00 connections/user sec, bytes read 30\n3 connections in 2 real seconds, 10 bytes read per connection\n"},
		{name: "refused", out: "connect:errno=111\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSTime(tc.out, 2, 1024)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if got.Requests != tc.conns || got.Resumed != tc.res || got.Full != tc.full || got.Errors != tc.errs ||
				!closeTo(got.RPS, float64(tc.conns)/2) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestPipelineScriptAndArgs(t *testing.T) {
	script := wrkPipelineScript("/1k", 16)
	testutil.Contains(t, "script", script, "for i = 1, 16 do", `wrk.format(nil, "/1k")`, "req = table.concat(r)", "return req")
	got := joinArgs(wrkArgs(benchCase{Conns: 50, Threads: 1, Pipeline: 16}, "http://127.0.0.1:1/1k", 2*time.Second, "/tmp/p.lua"))
	if want := "-t1 -c50 -d2s --timeout 5s --latency -s /tmp/p.lua http://127.0.0.1:1/1k"; got != want {
		t.Fatalf("wrk args %q, want %q", got, want)
	}
	st := joinArgs(sTimeArgs(benchCase{Path: "/1k", STime: "reuse"}, "127.0.0.1:9", 3*time.Second))
	if want := "s_time -connect 127.0.0.1:9 -reuse -www /1k -time 3"; st != want {
		t.Fatalf("s_time args %q, want %q", st, want)
	}
}

func TestLoadArgs(t *testing.T) {
	c := benchCase{ID: "x", Path: "/1k", Conns: 50, Threads: 1, Close: true}
	got := wrkArgs(c, "http://127.0.0.1:1/1k", 10*time.Second, "")
	want := []string{"-t1", "-c50", "-d10s", "--timeout", "5s", "--latency", "-H", "Connection: close", "http://127.0.0.1:1/1k"}
	if len(got) != len(want) {
		t.Fatalf("wrk args %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("wrk args %q, want %q", got, want)
		}
	}
	h2 := h2loadArgs(benchCase{Conns: 50, Streams: 10}, "http://127.0.0.1:1/1k", 3*time.Second, "/tmp/l")
	if want := "-t1 -c50 -m10 -D 3 --log-file=/tmp/l http://127.0.0.1:1/1k"; joinArgs(h2) != want {
		t.Fatalf("h2load args %q, want %q", joinArgs(h2), want)
	}
}

func joinArgs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}
