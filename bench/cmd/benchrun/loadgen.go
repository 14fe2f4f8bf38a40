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
	// H2 holds h2load's request counts (Counted false for other tools).
	H2 h2Counts
	// Resumed and Full count s_time's connections by whether the session
	// was resumed; both 0 for other tools.
	Resumed, Full int64
	// Non2xx is wrk's count of responses other than 2xx/3xx (also in
	// Errors).
	Non2xx int64
	// Unserved is how many completed requests servedOnly took out of
	// Requests and RPS (answered with a status other than 2xx/3xx).
	Unserved int64
}

// servedOnly makes Requests and RPS count only requests answered 2xx or
// 3xx: wrk's Requests/sec and h2load's req/s include every completed
// request, so a proxy answering 503 at once would look fast and efficient.
// Errors keeps counting the others.
func (r *loadResult) servedOnly() {
	bad := r.Non2xx
	if r.H2.Counted {
		bad = r.Requests - r.H2.Succeeded
	}
	if bad <= 0 || r.Seconds <= 0 {
		return
	}
	bad = min(bad, r.Requests)
	r.Unserved = bad
	r.Requests -= bad
	r.RPS = float64(r.Requests) / r.Seconds
}

// h2Counts is h2load's "requests:" and "status codes:" lines.
type h2Counts struct {
	Counted                    bool
	Succeeded, Failed, Errored int64 // failed includes non-2xx/3xx statuses; errored does not
	Timeout, Status5xx         int64
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
	h2StatusRe   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2ProtoRe    = regexp.MustCompile(`(?m)^Application protocol: (\S+)`)

	sTimeConnsRe = regexp.MustCompile(`(?m)^(\d+) connections in \d+ real seconds, (\d+) bytes read per connection`)
	sTimeMarksRe = regexp.MustCompile(`(?m)^[rt3*]+$`)
)

// wrkPipelineScript is the wrk Lua script that writes depth requests for
// path at once on each connection; wrk counts the requests in the buffer
// and waits for that many responses before writing again.
func wrkPipelineScript(path string, depth int) string {
	return fmt.Sprintf(`-- benchrun: %d pipelined GET %s per write
init = function(args)
  local r = {}
  for i = 1, %d do
    r[i] = wrk.format(nil, %q)
  end
  req = table.concat(r)
end
request = function()
  return req
end
`, depth, path, depth, path)
}

// sTimeArgs builds the openssl s_time command line: one connection at a
// time for d, each fetching path with HTTP/1.0 and closing, with a full
// handshake (mode "new") or a resumed session ("reuse").
func sTimeArgs(c benchCase, addr string, d time.Duration) []string {
	return []string{"s_time", "-connect", addr, "-" + c.STime, "-www", c.Path, "-time", strconv.Itoa(int(d.Seconds()))}
}

// parseSTime parses openssl s_time's output. It prints one mark per
// connection ('r' resumed, '*' a full TLS 1.2+ handshake) and then the
// count; seconds is the wall time the harness measured (s_time's own
// figure is its user CPU time or whole seconds). A connection that read
// less than minBytes on average counts as an error: the response was cut.
func parseSTime(out string, seconds float64, minBytes int64) (loadResult, error) {
	var r loadResult
	m := sTimeConnsRe.FindAllStringSubmatch(out, -1)
	if m == nil || seconds <= 0 {
		return r, fmt.Errorf("%w: no 'connections in N real seconds' line in s_time output", errParse)
	}
	last := m[len(m)-1]                               // with -new or -reuse alone there is one; keep the last
	r.Requests, _ = strconv.ParseInt(last[1], 10, 64) // \d+
	perConn, _ := strconv.ParseInt(last[2], 10, 64)
	for _, marks := range sTimeMarksRe.FindAllString(out, -1) {
		r.Resumed += int64(strings.Count(marks, "r"))
		r.Full += int64(len(marks)) - int64(strings.Count(marks, "r"))
	}
	r.Seconds = seconds
	r.RPS = float64(r.Requests) / seconds
	if r.Requests > 0 && perConn < minBytes {
		r.Errors = r.Requests
	}
	return r, nil
}

// wrkArgs builds the wrk command line for one case; script is the Lua
// script's path ("" for none).
func wrkArgs(c benchCase, url string, d time.Duration, script string) []string {
	args := []string{
		"-t" + strconv.Itoa(max(c.Threads, 1)), "-c" + strconv.Itoa(c.Conns),
		"-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "5s", "--latency",
	}
	if script != "" {
		args = append(args, "-s", script)
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
	if r.P50 == 0 && r.P99 == 0 && r.Requests > 0 && !strings.Contains(out, "Latency Distribution") {
		// With a pipelining script wrk times whole batches and may print
		// a distribution of zeros; a missing one means no --latency.
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
		r.Non2xx = n
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
// per-request log (start µs, status, duration µs) for p50/p99. wantProto
// is the application protocol h2load must report: "h2c" in cleartext,
// "h2" over TLS.
func parseH2load(out string, log []byte, wantProto string) (loadResult, error) {
	var r loadResult
	if p := h2ProtoRe.FindStringSubmatch(out); p == nil || p[1] != wantProto {
		return r, fmt.Errorf("%w: h2load did not negotiate %s", errParse, wantProto)
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
	r.H2 = h2Counts{Counted: true, Failed: failed, Timeout: timeout}
	r.H2.Succeeded, _ = strconv.ParseInt(q[4], 10, 64)
	r.H2.Errored, _ = strconv.ParseInt(q[6], 10, 64)
	if st := h2StatusRe.FindStringSubmatch(out); st != nil {
		r.H2.Status5xx, _ = strconv.ParseInt(st[4], 10, 64)
	}
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
