package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadResult is what one load-generator run measured.
type loadResult struct {
	Requests int64         // completed requests in the measured period
	Seconds  float64       // length of the measured period
	RPS      float64       // requests per second as reported by the tool
	P50, P99 time.Duration // latency percentiles
	Errors   int64         // non-2xx/3xx responses plus socket errors
	// ThreadRPS is wrk's per-thread Req/Sec average (a cross-check of RPS
	// for -t1 runs); 0 for h2load.
	ThreadRPS float64
}

// errParse marks output the parsers do not understand.
var errParse = errors.New("benchrun: unexpected load generator output")

// Read-only compiled patterns (gochecknoglobals allows regexp.MustCompile).
var (
	wrkRequestsRe = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+[a-z]+),`)
	wrkRPSRe      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPctRe      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.0+)?%\s+([0-9.]+[a-z]+)\s*$`)
	wrkSocketRe   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkThreadRe   = regexp.MustCompile(`(?m)^\s+Req/Sec\s+([0-9.]+[kMG]?)\s`)

	h2FinishedRe = regexp.MustCompile(`(?m)^finished in ([0-9.]+[a-z]+), ([0-9.]+) req/s`)
	h2RequestsRe = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
)

// wrkArgs builds the wrk command line for one case.
func wrkArgs(c benchCase, url string, d time.Duration) []string {
	args := []string{
		"-t" + strconv.Itoa(max(c.Threads, 1)), "-c" + strconv.Itoa(c.Conns),
		"-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "5s", "--latency",
	}
	if c.Close {
		args = append(args, "-H", "Connection: close")
	}
	return append(args, url)
}

// h2loadArgs builds the h2load command line (h2c with prior knowledge, the
// default for http:// URLs) for one case; logFile receives per-request rows.
func h2loadArgs(c benchCase, url string, d time.Duration, logFile string) []string {
	args := []string{
		"-t" + strconv.Itoa(max(c.Threads, 1)), "-c" + strconv.Itoa(c.Conns),
		"-m" + strconv.Itoa(max(c.Streams, 1)), "-D", strconv.Itoa(int(d.Seconds())),
	}
	if logFile != "" {
		args = append(args, "--log-file="+logFile)
	}
	return append(args, url)
}

// parseWrk parses the output of wrk --latency.
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	m := wrkRequestsRe.FindStringSubmatch(out)
	rps := wrkRPSRe.FindStringSubmatch(out)
	if m == nil || rps == nil {
		return r, fmt.Errorf("%w: no request count or Requests/sec in wrk output", errParse)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64) // \d+ cannot fail short of overflow
	d, err := parseWrkDuration(m[2])
	if err != nil {
		return r, err
	}
	r.Seconds = d.Seconds()
	if r.RPS, err = strconv.ParseFloat(rps[1], 64); err != nil {
		return r, fmt.Errorf("%w: %v", errParse, err)
	}
	for _, p := range wrkPctRe.FindAllStringSubmatch(out, -1) {
		d, err := parseWrkDuration(p[2])
		if err != nil {
			return r, err
		}
		if p[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 && r.P99 == 0 && r.Requests > 0 {
		return r, fmt.Errorf("%w: no latency distribution (was --latency given?)", errParse)
	}
	if t := wrkThreadRe.FindStringSubmatch(out); t != nil {
		if r.ThreadRPS, err = parseMetric(t[1]); err != nil {
			return r, err
		}
	}
	if s := wrkSocketRe.FindStringSubmatch(out); s != nil {
		for _, v := range s[1:] {
			n, _ := strconv.ParseInt(v, 10, 64) // \d+
			r.Errors += n
		}
	}
	if s := wrkNon2xxRe.FindStringSubmatch(out); s != nil {
		n, _ := strconv.ParseInt(s[1], 10, 64) // \d+
		r.Errors += n
	}
	return r, nil
}

// parseWrkDuration parses wrk's time format: a number with one of the
// units us, ms, s, m, h (e.g. "591.25us", "1.23ms", "2.00s", "1.50m").
func parseWrkDuration(s string) (time.Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	if i <= 0 {
		return 0, fmt.Errorf("%w: duration %q", errParse, s)
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q", errParse, s)
	}
	unit := map[string]time.Duration{
		"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
		"m": time.Minute, "h": time.Hour,
	}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("%w: duration unit in %q", errParse, s)
	}
	return time.Duration(v * float64(unit)), nil
}

// parseMetric parses wrk's and h2load's scaled counts: "85.03k", "1.20M",
// "912.00", "3.1G".
func parseMetric(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult = 1e3
	case strings.HasSuffix(s, "M"):
		mult = 1e6
	case strings.HasSuffix(s, "G"):
		mult = 1e9
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: count %q", errParse, s)
	}
	return v * mult, nil
}

// parseH2load parses h2load's summary and, when log is not empty, its
// per-request log (start µs, status, duration µs) for p50/p99.
func parseH2load(out string, log []byte) (loadResult, error) {
	var r loadResult
	if !strings.Contains(out, "Application protocol: h2c") {
		return r, fmt.Errorf("%w: h2load did not negotiate h2c", errParse)
	}
	f := h2FinishedRe.FindStringSubmatch(out)
	q := h2RequestsRe.FindStringSubmatch(out)
	if f == nil || q == nil {
		return r, fmt.Errorf("%w: no 'finished in' or 'requests:' line in h2load output", errParse)
	}
	d, err := parseWrkDuration(f[1])
	if err != nil {
		return r, err
	}
	r.Seconds = d.Seconds()
	r.RPS, _ = strconv.ParseFloat(f[2], 64) // matched [0-9.]+
	done, _ := strconv.ParseInt(q[3], 10, 64)
	failed, _ := strconv.ParseInt(q[5], 10, 64)
	timeout, _ := strconv.ParseInt(q[7], 10, 64)
	r.Requests = done
	r.Errors = failed + timeout
	if len(log) > 0 {
		lat, err := parseH2Log(log)
		if err != nil {
			return r, err
		}
		r.P50 = time.Duration(percentile(lat, 50)) * time.Microsecond
		r.P99 = time.Duration(percentile(lat, 99)) * time.Microsecond
	}
	return r, nil
}

// parseH2Log returns the sorted per-request durations (µs) of successful
// requests from an h2load --log-file.
func parseH2Log(log []byte) ([]float64, error) {
	var lat []float64
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		if status, err := strconv.Atoi(f[1]); err != nil || status < 200 || status >= 400 {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: h2load log row %q", errParse, sc.Text())
		}
		lat = append(lat, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return lat, nil
}
