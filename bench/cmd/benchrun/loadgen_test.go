package main

import (
	"errors"
	"os"
	"testing"
	"time"
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
			P99: 63 * time.Second, Errors: 12 + 3 + 40 + 7, ThreadRPS: 1.2e6,
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

func TestParseWrkRejectsGarbage(t *testing.T) {
	for _, out := range []string{"", "unable to connect to 127.0.0.1:1 Connection refused\n",
		"  10 requests in 1.00s, 1MB read\nRequests/sec: 10.00\n"} { // no --latency
		if _, err := parseWrk(out); !errors.Is(err, errParse) {
			t.Errorf("parseWrk(%q) error %v, want errParse", out, err)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{in: "591.25us", want: 591250 * time.Nanosecond, ok: true},
		{in: "0.99ms", want: 990 * time.Microsecond, ok: true},
		{in: "2.00s", want: 2 * time.Second, ok: true},
		{in: "1.50m", want: 90 * time.Second, ok: true},
		{in: "1.00h", want: time.Hour, ok: true},
		{in: "12ns"},
		{in: "ms"},
		{in: "1.2.3ms"},
	}
	for _, tc := range tests {
		got, err := parseWrkDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseMetric(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{in: "912.00", want: 912, ok: true},
		{in: "85.03k", want: 85030, ok: true},
		{in: "1.20M", want: 1.2e6, ok: true},
		{in: "3.1G", want: 3.1e9, ok: true},
		{in: "k"},
		{in: "12x"},
	}
	for _, tc := range tests {
		got, err := parseMetric(tc.in)
		if (err == nil) != tc.ok || !closeTo(got, tc.want) {
			t.Errorf("parseMetric(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseH2load(t *testing.T) {
	log := []byte("1700000000000000\t200\t100\n1700000000000001\t200\t300\n" +
		"1700000000000002\t-1\t999999\n1700000000000003\t200\t200\n1700000000000004\t503\t5\n")
	got, err := parseH2load(readTestdata(t, "h2load-nginx.txt"), log)
	if err != nil {
		t.Fatal(err)
	}
	want := loadResult{Requests: 44838, Seconds: 1, RPS: 44838, P50: 200 * time.Microsecond, P99: 300 * time.Microsecond}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseH2load("finished in 1.00s, 5.00 req/s, 1MB/s\n", nil); !errors.Is(err, errParse) {
		t.Fatalf("h1 fallback output: error %v, want errParse", err)
	}
}

func TestLoadArgs(t *testing.T) {
	c := benchCase{ID: "x", Path: "/1k", Conns: 50, Threads: 1, Close: true}
	got := wrkArgs(c, "http://127.0.0.1:1/1k", 10*time.Second)
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
