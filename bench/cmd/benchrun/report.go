package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample is one measured run of one target on one case.
type sample struct {
	loadResult
	CPUSeconds float64 // proxy process tree utime+stime during the run
	PeakRSSKiB uint64  // highest summed VmRSS sampled during the run
	LoadCPU    float64 // the load generator's own utime+stime
	Foreign    foreign // CPU used by processes outside the benchmark
	Attempts   int     // how many times the run was measured (1 = not repeated)
	Noisy      bool    // kept although its foreign CPU was above the limit
	ScrapeErr  string  // ferry-metrics: what the scrape during the run got wrong ("" = fine)
	LogBytes   int64   // access-log targets: bytes the log grew during the run
}

// reqPerCPU is requests per proxy CPU-second; 0 if no CPU was measured.
func (s sample) reqPerCPU() float64 {
	if s.CPUSeconds <= 0 {
		return 0
	}
	return float64(s.Requests) / s.CPUSeconds
}

// cell collects the rounds of one target on one case.
type cell struct {
	Samples []sample
	Errs    []string // runs that failed outright
}

// cellSummary condenses a cell: medians over rounds with the spread of
// the main figures, summed errors and the highest peak RSS.
type cellSummary struct {
	Rounds     int
	RPS        spread
	P50, P99   time.Duration
	P99Spread  spread // in nanoseconds
	Errors     int64
	CPUSeconds float64
	ReqPerCPU  float64
	CPUSpread  spread // of requests per CPU-second
	PeakRSSKiB uint64
	Foreign    spread // foreign CPU share of the machine
	Steal      spread // steal share of the machine
	Repeated   int    // runs measured more than once
	Noisy      int    // runs kept above the noise limit
	H2         h2Counts
	Resumed    int64
	Full       int64
	LogBytes   spread // access log bytes per run
	ScrapeErrs int    // runs whose scrape failed
}

func (c *cell) summary() (cellSummary, bool) {
	if c == nil || len(c.Samples) == 0 {
		return cellSummary{}, false
	}
	var rps, p50, p99, cpu, rpc, fg, st, logb []float64
	s := cellSummary{Rounds: len(c.Samples)}
	for _, x := range c.Samples {
		rps = append(rps, x.RPS)
		p50 = append(p50, float64(x.P50))
		p99 = append(p99, float64(x.P99))
		cpu = append(cpu, x.CPUSeconds)
		rpc = append(rpc, x.reqPerCPU())
		fg = append(fg, x.Foreign.Share)
		st = append(st, x.Foreign.Steal)
		logb = append(logb, float64(x.LogBytes))
		s.Errors += x.Errors
		s.PeakRSSKiB = max(s.PeakRSSKiB, x.PeakRSSKiB)
		if x.Attempts > 1 {
			s.Repeated++
		}
		if x.Noisy {
			s.Noisy++
		}
		if x.ScrapeErr != "" {
			s.ScrapeErrs++
		}
		s.H2.Counted = s.H2.Counted || x.H2.Counted
		s.H2.Succeeded += x.H2.Succeeded
		s.H2.Failed += x.H2.Failed
		s.H2.Errored += x.H2.Errored
		s.H2.Timeout += x.H2.Timeout
		s.H2.Status5xx += x.H2.Status5xx
		s.Resumed += x.Resumed
		s.Full += x.Full
	}
	s.RPS = spreadOf(rps)
	s.P50 = time.Duration(spreadOf(p50).Median)
	s.P99Spread = spreadOf(p99)
	s.P99 = time.Duration(s.P99Spread.Median)
	s.CPUSeconds = spreadOf(cpu).Median
	s.CPUSpread = spreadOf(rpc)
	s.ReqPerCPU = s.CPUSpread.Median
	s.Foreign = spreadOf(fg)
	s.Steal = spreadOf(st)
	s.LogBytes = spreadOf(logb)
	return s, true
}

// idleResult is the idle keep-alive memory test of one target.
type idleResult struct {
	Case                string // the idle TLS case; "" for the plain idle test
	Target              string
	Conns               int
	BeforeKiB, AfterKiB uint64
	Err                 string
}

// perConnKiB is the RSS growth per idle connection.
func (r idleResult) perConnKiB() float64 {
	if r.Conns == 0 || r.Err != "" {
		return math.NaN()
	}
	return (float64(r.AfterKiB) - float64(r.BeforeKiB)) / float64(r.Conns)
}

// report is everything one benchrun invocation produced.
type report struct {
	Started  time.Time
	Command  string
	Mode     string // "full" or "quick"
	Rounds   int
	Duration time.Duration
	Warmup   time.Duration
	Machine  machineInfo
	Notes    []string
	Cases    []benchCase
	Targets  []string                    // targets that ran, in order
	Cells    map[string]map[string]*cell // case ID → target → cell
	Idle     []idleResult
	IdleTLS  []idleResult // the idle-tls case
	Slow     []slowResult
	// NoiseMax is -noise-max (% of the machine), NoiseRepeats
	// -noise-repeats; Repeats lists the runs measured more than once or
	// kept noisy.
	NoiseMax     float64
	NoiseRepeats int
	Repeats      []repeatRecord
	// NA is case ID → target → why the target cannot do the case.
	NA map[string]map[string]string
	// NoFile is the RLIMIT_NOFILE the children inherited.
	NoFile uint64
}

// addNA records that target t cannot do case id, and why.
func (r *report) addNA(id, t, why string) {
	if r.NA == nil {
		r.NA = make(map[string]map[string]string)
	}
	if r.NA[id] == nil {
		r.NA[id] = make(map[string]string)
	}
	r.NA[id][t] = why
}

// cell returns the cell of target t on case id, or nil.
func (r *report) cell(id, t string) *cell {
	return r.Cells[id][t]
}

// addSample records a finished run.
func (r *report) addSample(id, t string, s sample, err error) {
	if r.Cells == nil {
		r.Cells = make(map[string]map[string]*cell)
	}
	if r.Cells[id] == nil {
		r.Cells[id] = make(map[string]*cell)
	}
	c := r.Cells[id][t]
	if c == nil {
		c = &cell{}
		r.Cells[id][t] = c
	}
	if err != nil {
		c.Errs = append(c.Errs, err.Error())
		return
	}
	c.Samples = append(c.Samples, s)
}

// goal is one acceptance target from the issue.
type goal struct {
	Title  string
	CaseID string                                 // "" for the idle-memory goal
	Ratio  func(ferry, nginx cellSummary) float64 // ferry/nginx figure
	Pass   func(v float64) bool
	Abs    bool // the value is absolute (KiB/conn), not a ratio
	// Show formats nginx's figure for the baseline column (RPS when nil).
	Show func(nginx cellSummary) string
}

// goals lists the targets.
func goals() []goal {
	rps := func(f, n cellSummary) float64 { return f.RPS.Median / n.RPS.Median }
	atLeast := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	perCPU := func(f, n cellSummary) float64 { return f.ReqPerCPU / n.ReqPerCPU }
	p99 := func(f, n cellSummary) float64 { return float64(f.P99) / float64(n.P99) }
	atMost := func(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
	gs := []goal{
		{Title: "RPS 0 B, 50 conns ≥ 1.20× nginx", CaseID: "0b-c50", Ratio: rps, Pass: atLeast(1.20)},
		{Title: "RPS 1 KiB, 50 conns ≥ 1.20× nginx", CaseID: "1k-c50", Ratio: rps, Pass: atLeast(1.20)},
		{Title: "RPS 1 KiB, 500 conns ≥ 1.15× nginx", CaseID: "1k-c500", Ratio: rps, Pass: atLeast(1.15)},
		{Title: "RPS 64 KiB, 50 conns ≥ 1.0× nginx", CaseID: "64k-c50", Ratio: rps, Pass: atLeast(1.0)},
		{Title: "h2load RPS, 1 stream per conn ≥ 1.1× nginx h2c", CaseID: "h2-1k-c50", Ratio: rps, Pass: atLeast(1.1)},
		{Title: "h2load RPS, 10 streams per conn ≥ 1.1× nginx h2c", CaseID: "h2-1k-c50-m10", Ratio: rps, Pass: atLeast(1.1)},
	}
	// The issue asks for requests per CPU-second in every keep-alive case
	// and p99 in every case.
	showCPU := func(n cellSummary) string { return fmtCount(n.ReqPerCPU) + " req/CPU-s" }
	showP99 := func(n cellSummary) string { return fmtLatency(n.P99) }
	for _, c := range goalCases() {
		if !c.Close {
			gs = append(gs, goal{Title: "requests per proxy CPU-s (" + c.ID + ") ≥ 1.35× nginx", CaseID: c.ID,
				Ratio: perCPU, Pass: atLeast(1.35), Show: showCPU})
		}
	}
	for _, c := range goalCases() {
		gs = append(gs, goal{Title: "p99 (" + c.ID + ") ≤ 0.8× nginx", CaseID: c.ID, Ratio: p99, Pass: atMost(0.8), Show: showP99})
	}
	return append(gs, goal{Title: "RSS per idle keep-alive conn ≤ 1.0 KiB", Abs: true, Pass: atMost(1.0)})
}

// goalCases are the cases that get per-case goals against nginx: not the
// variant cases (compared with their "off" side instead) and not s_time's
// (one connection at a time, no latency figures).
func goalCases() []benchCase {
	var out []benchCase
	for _, c := range allCases() {
		if c.Targets == nil && c.STime == "" {
			out = append(out, c)
		}
	}
	return out
}

// ratio formats a/b as "1.23×", or "—" when either side is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// fmtCount formats 64312.4 as "64.3k".
func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtLatency formats a latency with a unit suited to its size.
func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// fmtMiB formats KiB as MiB.
func fmtMiB(kib uint64) string {
	if kib == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// renderMarkdown writes the report as markdown; svgName is the chart's
// file name, linked from the report.
func renderMarkdown(w io.Writer, r *report, svgName string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# ferry benchmark: %s (%s)\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Mode)
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), kernel %s.\n\n", r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel)
	for _, v := range r.Machine.Versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	fmt.Fprintf(&b, "\nMethod: %d round(s) × %v per target and case (each preceded by a %v warm-up), targets interleaved "+
		"within each round. The headline figure is **requests per proxy CPU-second** (requests ÷ utime+stime of the target's "+
		"whole process tree during the measured run), then RPS; both count only requests answered 2xx or 3xx (a 503 is "+
		"an error, not throughput). Each is the median over rounds beside its min–max and "+
		"coefficient of variation (CV: sample standard deviation ÷ mean). Latency from wrk --latency (HTTP/1.1) or h2load's "+
		"per-request log (HTTP/2); openssl s_time gives none. Peak RSS = highest summed VmRSS sampled every 100 ms. Ratios are to nginx "+
		"(req/CPU-s and RPS: higher is better; p99 and RSS: lower is better). `direct` is wrk straight at the upstream; "+
		"`forwarder` is bench/forwarder, a minimal gnet byte copier in front of it: both are ceilings, not contenders. "+
		"ferry's downstream connection cap is `ferry.max_connections: %d` in every ferry config; the children inherit "+
		"RLIMIT_NOFILE %s.\n\n",
		r.Rounds, r.Duration, r.Warmup, ferryMaxConnections, fmtNoFile(r.NoFile))
	writeNoiseMethod(&b, r)
	if svgName != "" {
		fmt.Fprintf(&b, "![RPS and p99 per target and case](%s)\n\n", svgName)
	}
	if len(r.Notes) > 0 {
		b.WriteString("Notes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	writeGoals(&b, r)
	if len(r.Cases) > 0 { // not for a run of the memory cases alone
		writeUpstreamCheck(&b, r)
		writeCeiling(&b, r)
		writeObservability(&b, r)
		for _, c := range r.Cases {
			writeCaseTable(&b, r, c)
		}
		writeNoise(&b, r)
	}
	writeIdle(&b, r)
	writeSlow(&b, r)
	if len(r.Cases) > 0 {
		writeRounds(&b, r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// contenders returns the proxies that get goal marks: every target but
// nginx (the baseline) and the ceilings (direct, forwarder).
func (r *report) contenders() []string {
	var out []string
	for _, t := range r.Targets {
		if !isCeiling(t) && t != targetNginx && !caseOnly(t) {
			out = append(out, t)
		}
	}
	return out
}

func writeGoals(b *strings.Builder, r *report) {
	others := r.contenders()
	b.WriteString("## Goals from the issue\n\nGoals of the cases this run left out are not listed.\n\n| goal | nginx |")
	for _, t := range others {
		fmt.Fprintf(b, " %s |", t)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(others)) + "\n")
	for _, g := range goals() {
		if g.Abs && len(r.Idle) == 0 || !g.Abs && !slices.ContainsFunc(r.Cases, func(c benchCase) bool { return c.ID == g.CaseID }) {
			continue // a case this run left out
		}
		fmt.Fprintf(b, "| %s | %s |", g.Title, goalBaseline(r, g))
		for _, t := range others {
			fmt.Fprintf(b, " %s |", goalCell(r, g, t))
		}
		b.WriteString("\n")
	}
	writeIdleTLSGoals(b, r, others)
	b.WriteString("\n")
}

func goalBaseline(r *report, g goal) string {
	if g.Abs {
		return fmtKiBPerConn(r.idleOf(targetNginx))
	}
	n, ok := r.cell(g.CaseID, targetNginx).summary()
	if !ok {
		return "not measured"
	}
	if g.Show != nil {
		return g.Show(n)
	}
	return fmtCount(n.RPS.Median) + " rps"
}

func goalCell(r *report, g goal, t string) string {
	var v float64
	if g.Abs {
		v = r.idleOf(t).perConnKiB()
		if math.IsNaN(v) {
			return "not measured"
		}
		return fmt.Sprintf("%.2f KiB %s", v, mark(g.Pass(v)))
	}
	f, ok1 := r.cell(g.CaseID, t).summary()
	n, ok2 := r.cell(g.CaseID, targetNginx).summary()
	if !ok1 || !ok2 {
		return "not measured"
	}
	v = g.Ratio(f, n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f× %s", v, mark(g.Pass(v)))
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func (r *report) idleOf(t string) idleResult { return idleOf(r.Idle, t) }

// idleOf returns target t's result in rs, or an unmeasured one.
func idleOf(rs []idleResult, t string) idleResult {
	for _, x := range rs {
		if x.Target == t {
			return x
		}
	}
	return idleResult{Target: t}
}

func fmtKiBPerConn(x idleResult) string {
	v := x.perConnKiB()
	if math.IsNaN(v) {
		return "not measured"
	}
	return fmt.Sprintf("%.2f KiB", v)
}

// nearDirect is the share of direct's RPS from which a target may be
// limited by the upstream or wrk rather than by itself.
const nearDirect = 0.85

// fmtOfDirect formats rps as a percentage of direct's, flagged at
// nearDirect or above; "—" when either is missing.
func fmtOfDirect(rps, direct float64) string {
	if rps <= 0 || direct <= 0 {
		return "—"
	}
	flag := ""
	if rps >= nearDirect*direct {
		flag = " ⚠️"
	}
	return fmt.Sprintf("%.0f %%%s", 100*rps/direct, flag)
}

// writeUpstreamCheck compares the fastest proxy with direct per case.
func writeUpstreamCheck(b *strings.Builder, r *report) {
	b.WriteString("## Is the upstream the bottleneck?\n\n" +
		"`direct` is the ceiling: the same wrk load straight at the upstream. A proxy close to it " +
		"(≥ 85 %) may be limited by the upstream or the load generator rather than by itself. " +
		"The forwarder is not counted as a proxy here; see the next section.\n\n" +
		"| case | direct RPS | fastest proxy | its RPS | % of direct |\n|---|---|---|---|---|\n")
	for _, c := range r.Cases {
		d, ok := r.cell(c.ID, targetDirect).summary()
		if !ok {
			continue
		}
		best, bestRPS := "", 0.0
		for _, t := range r.Targets {
			if s, ok := r.cell(c.ID, t).summary(); ok && !isCeiling(t) && s.RPS.Median > bestRPS {
				best, bestRPS = t, s.RPS.Median
			}
		}
		if best == "" {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", c.ID, fmtCount(d.RPS.Median), best, fmtCount(bestRPS),
			fmtOfDirect(bestRPS, d.RPS.Median))
	}
	b.WriteString("\n")
}

// writeCeiling compares the forwarder with nginx, direct and ferry-auto in
// every HTTP/1.1 keep-alive case it ran (with a new connection per request
// it dials per client, so it is no ceiling there); nothing when it did not
// run.
func writeCeiling(b *strings.Builder, r *report) {
	if !slices.Contains(r.Targets, targetForwarder) {
		return
	}
	b.WriteString("## The ceiling: a minimal forwarder\n\n" +
		"`forwarder` (bench/forwarder) pairs each client connection with one upstream connection on the same " +
		"gnet event loop and hands every read to the other side with one Write: no HTTP parsing, routing or " +
		"header rewriting. It is the ceiling a full ferry should come close to (the issue's throwaway version " +
		"reached 1.31× nginx RPS). A forwarder at ≥ 85 % of direct (⚠️) is itself held back by the upstream or wrk. " +
		"Ratios: forwarder ÷ nginx, and ferry-auto ÷ forwarder. The new-connection-per-request case is left out: " +
		"the forwarder dials an upstream connection for each client connection where a proxy reuses pooled ones, " +
		"so it is no ceiling there.\n\n" +
		"| case | forwarder RPS | ×nginx | req/CPU-s | ×nginx | % of direct | ferry-auto RPS ÷ forwarder | ferry-auto req/CPU-s ÷ forwarder |\n" +
		"|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Cases {
		fw, ok := r.cell(c.ID, targetForwarder).summary()
		if c.Proto != protoH1 || c.Close || !ok {
			continue
		}
		// A missing target leaves a zero summary, which ratio shows as "—".
		n, _ := r.cell(c.ID, targetNginx).summary()
		d, _ := r.cell(c.ID, targetDirect).summary()
		f, _ := r.cell(c.ID, targetFerryAuto).summary()
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.ID,
			fmtCount(fw.RPS.Median), ratio(fw.RPS.Median, n.RPS.Median),
			fmtCount(fw.ReqPerCPU), ratio(fw.ReqPerCPU, n.ReqPerCPU),
			fmtOfDirect(fw.RPS.Median, d.RPS.Median),
			ratio(f.RPS.Median, fw.RPS.Median), ratio(f.ReqPerCPU, fw.ReqPerCPU))
	}
	b.WriteString("\n")
}

func writeCaseTable(b *strings.Builder, r *report, c benchCase) {
	fmt.Fprintf(b, "## %s: %s\n\n%s\n\n", c.ID, c.Title, loadLine(c))
	extra := extraColumn(c)
	b.WriteString("| target | req/CPU-s | min–max · CV | ×nginx | RPS | min–max · CV | ×nginx | p50 | p99 | min–max · CV | p99 ×nginx | errors | CPU-s | peak RSS | RSS ×nginx | foreign CPU |")
	if extra != "" {
		b.WriteString(" " + extra + " |")
	}
	cols := 16
	if extra != "" {
		cols++
	}
	b.WriteString("\n|" + strings.Repeat("---|", cols) + "\n")
	n, hasN := r.cell(c.ID, targetNginx).summary()
	rows := 0
	empty := strings.Repeat("|", cols-2)
	for _, t := range r.Targets {
		if why := r.NA[c.ID][t]; why != "" {
			fmt.Fprintf(b, "| %s | n/a: %s %s \n", t, oneLine(why), empty)
			rows++
			continue
		}
		cl := r.cell(c.ID, t)
		s, ok := cl.summary()
		if !ok {
			if cl != nil && len(cl.Errs) > 0 {
				fmt.Fprintf(b, "| %s | failed: %s %s \n", t, oneLine(cl.Errs[0]), empty)
				rows++
			}
			continue
		}
		rows++
		rr := func(a, x float64) string {
			if !hasN {
				return "—"
			}
			return ratio(a, x)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %.2f | %s | %s | %s |",
			t, fmtCount(s.ReqPerCPU), fmtSpread(s.CPUSpread, fmtCount), rr(s.ReqPerCPU, n.ReqPerCPU),
			fmtCount(s.RPS.Median), fmtSpread(s.RPS, fmtCount), rr(s.RPS.Median, n.RPS.Median),
			fmtLatency(s.P50), fmtLatency(s.P99), fmtSpread(s.P99Spread, func(v float64) string { return fmtLatency(time.Duration(v)) }),
			rr(float64(s.P99), float64(n.P99)),
			s.Errors, s.CPUSeconds, fmtMiB(s.PeakRSSKiB), rr(float64(s.PeakRSSKiB), float64(n.PeakRSSKiB)),
			fmtForeign(s))
		if extra != "" {
			fmt.Fprintf(b, " %s |", extraCell(c, s))
		}
		b.WriteString("\n")
	}
	if rows == 0 {
		fmt.Fprintf(b, "| (no target ran this case) %s| \n", strings.Repeat("|", cols-1))
	}
	b.WriteString("\n")
}

// loadLine describes the load generator command of c.
func loadLine(c benchCase) string {
	switch c.tool() {
	case "s_time":
		return fmt.Sprintf("`openssl s_time -connect HOST:PORT -%s -www %s -time D`: one connection at a time, "+
			"each a TLS handshake, an HTTP/1.0 GET and a close; RPS = connections per second = handshakes per second. "+
			"With -reuse, OpenSSL resumes only a session whose connection ended with a TLS close_notify: a server that "+
			"closes without one gets full handshakes, which the last column shows", c.STime, c.Path)
	case "h2load":
		scheme := "h2c, prior knowledge"
		if c.TLS {
			scheme = "h2 over TLS by ALPN"
		}
		return fmt.Sprintf("`%s` with h2load -t%d -c%d -m%d (%s)", c.Path, max(c.Threads, 1), c.Conns, max(c.Streams, 1), scheme)
	}
	line := fmt.Sprintf("`%s` with wrk -t%d -c%d", c.Path, max(c.Threads, 1), c.Conns)
	if c.Pipeline > 0 {
		line += fmt.Sprintf(" -s pipeline.lua (%d requests per write on each connection, written to a temporary file by benchrun; "+
			"wrk times a whole batch, and its high percentiles often come out as 0, shown as —)", c.Pipeline)
	}
	if c.Close {
		line += " -H 'Connection: close'"
	}
	if c.TLS {
		line += " over https (TLS 1.3, the same ECDSA P-256 certificate on every proxy; wrk resumes no sessions)"
	}
	return line
}

// extraColumn names the case-specific column, or "".
func extraColumn(c benchCase) string {
	switch {
	case c.tool() == "h2load":
		return "h2load succeeded / failed / errored (5xx)"
	case c.tool() == "s_time":
		return "connections resumed / full handshakes"
	case slices.Contains(c.Targets, targetFerryMetrics):
		return "scrapes failed"
	case slices.Contains(c.Targets, targetFerryAccessLog):
		return "access log per run"
	}
	return ""
}

func extraCell(c benchCase, s cellSummary) string {
	switch {
	case c.tool() == "h2load":
		return fmt.Sprintf("%d / %d / %d (%d)", s.H2.Succeeded, s.H2.Failed, s.H2.Errored, s.H2.Status5xx)
	case c.tool() == "s_time":
		return fmt.Sprintf("%d / %d", s.Resumed, s.Full)
	case slices.Contains(c.Targets, targetFerryMetrics):
		return fmt.Sprintf("%d of %d", s.ScrapeErrs, s.Rounds)
	case slices.Contains(c.Targets, targetFerryAccessLog):
		if s.LogBytes.Median == 0 {
			return "—"
		}
		return fmtMiB(uint64(s.LogBytes.Median / 1024))
	}
	return ""
}

// fmtSpread formats "min–max · CV 3.1 %" ("min–max" alone for one figure).
func fmtSpread(sp spread, f func(float64) string) string {
	if sp.N == 0 {
		return "—"
	}
	if sp.N < 2 {
		return f(sp.Min) + "–" + f(sp.Max)
	}
	return fmt.Sprintf("%s–%s · %.1f %%", f(sp.Min), f(sp.Max), 100*sp.CV)
}

// fmtForeign formats the median foreign CPU share, the median steal when
// there was any, and repeat and noise marks.
func fmtForeign(s cellSummary) string {
	out := fmt.Sprintf("%.1f %%", 100*s.Foreign.Median)
	if s.Steal.Max > 0 {
		out += fmt.Sprintf(" + steal %.1f %%", 100*s.Steal.Median)
	}
	if s.Repeated > 0 {
		out += fmt.Sprintf(" (%d repeated)", s.Repeated)
	}
	if s.Noisy > 0 {
		out += fmt.Sprintf(" ⚠️ %d noisy", s.Noisy)
	}
	return out
}

func fmtNoFile(n uint64) string {
	if n == 0 {
		return "(unknown)"
	}
	return strconv.FormatUint(n, 10)
}

// writeNoiseMethod explains the noise rejection and, with fewer than 5
// rounds, says how little the spreads mean.
func writeNoiseMethod(b *strings.Builder, r *report) {
	const what = "Noise: during every measured run benchrun records the CPU used by processes outside the benchmark " +
		"(/proc/stat busy time, user+nice+system+irq+softirq, minus the upstream's, every target's, benchrun's and the load " +
		"generator's own CPU) as a share of the machine, and the time the hypervisor took the machine's CPUs away (steal); "
	switch {
	case r.NoiseMax <= 0:
		b.WriteString("Noise: repeating noisy runs is off (-noise-max 0); the foreign-CPU column is recorded only.\n\n")
	case r.NoiseRepeats == 0:
		fmt.Fprintf(b, what+"a run whose foreign CPU plus steal is above %.1f %% is flagged ⚠️ but not repeated (-noise-repeats 0). "+
			"The foreign-CPU column is the median share.\n\n", r.NoiseMax)
	default:
		fmt.Fprintf(b, what+"a run whose foreign CPU plus steal is above %.1f %% is measured again, at most %d times, and then its least noisy attempt is kept "+
			"and flagged ⚠️. The foreign-CPU column is the median share; the noise section lists every repeat.\n\n",
			r.NoiseMax, r.NoiseRepeats)
	}
	if r.Rounds < 5 {
		fmt.Fprintf(b, "**%d round(s) only** (%s mode): the min–max and CV need at least 2 rounds and mean little below 5; "+
			"treat every figure here as a smoke test, not a result. `make bench` runs 5 rounds.\n\n", r.Rounds, r.Mode)
	}
}

// writeNoise lists the runs that were repeated or kept noisy.
func writeNoise(b *strings.Builder, r *report) {
	total := 0
	for _, byTarget := range r.Cells {
		for _, cl := range byTarget {
			total += len(cl.Samples)
		}
	}
	repeated, noisy := 0, 0
	for _, x := range r.Repeats {
		if len(x.Shares) > 1 {
			repeated++
		}
		if x.Noisy {
			noisy++
		}
	}
	fmt.Fprintf(b, "## Noise\n\n%d of %d runs were repeated because other processes and steal took more than %.1f %% of the machine; "+
		"%d kept a noisy attempt (⚠️) after %d repeats.\n\n", repeated, total, r.NoiseMax, noisy, r.NoiseRepeats)
	if len(r.Repeats) == 0 {
		return
	}
	b.WriteString("| case | target | round | foreign CPU + steal per attempt | kept |\n|---|---|---|---|---|\n")
	for _, x := range r.Repeats {
		var parts []string
		for _, sh := range x.Shares {
			parts = append(parts, fmt.Sprintf("%.1f %%", 100*sh))
		}
		kept := fmt.Sprintf("attempt %d", x.Kept+1)
		if x.Noisy {
			kept += " ⚠️ noisy"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s |\n", x.Case, x.Target, x.Round, strings.Join(parts, " → "), kept)
	}
	b.WriteString("\n")
}

// metricsGoal is the bound on the metrics' cost: at most 3 % fewer
// requests per CPU-second with the metrics on.
const metricsGoal = 0.97

// writeObservability compares each variant target (metrics or access log
// on) with its "off" side in the same case and rounds.
func writeObservability(b *strings.Builder, r *report) {
	type row struct {
		c       benchCase
		on, off string
	}
	var rows []row
	for _, c := range r.Cases {
		for _, t := range c.Targets {
			if off := variantOf(t); off != "" {
				rows = append(rows, row{c, t, off})
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Cost of metrics, access logs and health checks\n\n" +
		"Each variant runs beside its \"off\" side in the same case and rounds. `ferry-metrics` is ferry-auto with the " +
		"prometheus sink on, scraped once in the middle of every measured run (ferry counts its metrics whether or not a " +
		"sink serves them: there is no switch that turns the counting off, so this measures serving and scraping them); " +
		"the issue's target is at most 3 % fewer requests per CPU-second. `ferry-accesslog` and `nginx-accesslog` write an " +
		"access log to a file (ferry: MOSN's default format; nginx: its combined format, unbuffered). `ferry-hc` " +
		"health-checks its upstream host with GET /0 every " + healthInterval + " (issue 14: unchanged within noise).\n\n" +
		"| case | on | off | req/CPU-s on | off | on ÷ off | RPS on ÷ off | p99 on ÷ off |\n|---|---|---|---|---|---|---|---|\n")
	for _, x := range rows {
		on, ok1 := r.cell(x.c.ID, x.on).summary()
		off, ok2 := r.cell(x.c.ID, x.off).summary()
		if !ok1 || !ok2 {
			fmt.Fprintf(b, "| %s | %s | %s | not measured ||||| \n", x.c.ID, x.on, x.off)
			continue
		}
		cmp := ratio(on.ReqPerCPU, off.ReqPerCPU)
		if x.on == targetFerryMetrics && on.ReqPerCPU > 0 && off.ReqPerCPU > 0 {
			cmp += " " + mark(on.ReqPerCPU/off.ReqPerCPU >= metricsGoal)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", x.c.ID, x.on, x.off,
			fmtCount(on.ReqPerCPU), fmtCount(off.ReqPerCPU), cmp,
			ratio(on.RPS.Median, off.RPS.Median), ratio(float64(on.P99), float64(off.P99)))
	}
	b.WriteString("\n")
}

func writeIdle(b *strings.Builder, r *report) {
	writeIdleTable(b, r.Idle, "## Idle keep-alive connections\n\nEach connection sends one `GET /0` and reads the response, "+
		"then stays open and idle; RSS is summed over the target's process tree before and after.\n\n")
	writeIdleTLS(b, r)
}

// writeIdleTable writes one idle-memory table under head, nothing when rs
// is empty.
func writeIdleTable(b *strings.Builder, rs []idleResult, head string) {
	if len(rs) == 0 {
		return
	}
	b.WriteString(head + "| target | conns | RSS before | RSS after | KiB / conn | ×nginx |\n|---|---|---|---|---|---|\n")
	n := idleOf(rs, targetNginx).perConnKiB()
	for _, x := range rs {
		if x.Err != "" {
			fmt.Fprintf(b, "| %s | %d | failed: %s |||| \n", x.Target, x.Conns, oneLine(x.Err))
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %.2f | %s |\n", x.Target, x.Conns,
			fmtMiB(x.BeforeKiB), fmtMiB(x.AfterKiB), x.perConnKiB(), ratio(x.perConnKiB(), n))
	}
	b.WriteString("\n")
}

// writeRounds lists every run, to judge noise.
func writeRounds(b *strings.Builder, r *report) {
	b.WriteString("<details><summary>Every run</summary>\n\n| case | target | round | req/CPU-s | RPS | p50 | p99 | errors | CPU-s | load generator CPU-s | foreign CPU | steal | attempts | peak RSS |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Cases {
		for _, t := range r.Targets {
			cl := r.cell(c.ID, t)
			if cl == nil {
				continue
			}
			for i, s := range cl.Samples {
				noisy := ""
				if s.Noisy {
					noisy = " ⚠️"
				}
				fmt.Fprintf(b, "| %s | %s | %d | %.0f | %.0f | %s | %s | %d | %.2f | %.2f | %.1f %%%s | %.1f %% | %d | %s |\n", c.ID, t, i+1,
					s.reqPerCPU(), s.RPS, fmtLatency(s.P50), fmtLatency(s.P99), s.Errors, s.CPUSeconds, s.LoadCPU,
					100*s.Foreign.Share, noisy, 100*s.Foreign.Steal, max(s.Attempts, 1), fmtMiB(s.PeakRSSKiB))
			}
			for _, e := range cl.Errs {
				fmt.Fprintf(b, "| %s | %s | failed | %s |||||||||||\n", c.ID, t, oneLine(e))
			}
		}
	}
	b.WriteString("\n</details>\n")
}

// oneLine makes an error message fit a table cell.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// writeSlow reports the slow-reader cases: peak RSS growth per target,
// beside nginx's.
func writeSlow(b *strings.Builder, r *report) {
	if len(r.Slow) == 0 {
		return
	}
	b.WriteString("## Slow readers\n\n`slowhttptest " + strings.Join(slowhttptestArgs(slowCase{Conns: 500, Length: 30 * time.Second}, "URL"), " ") +
		"`, one run per target, each alone: every client asks for the body once and reads it through a 512–1,024 byte " +
		"receive window, 32 bytes every 5 s. Growth = peak RSS during the run (summed over the process tree, sampled " +
		"every 100 ms) minus RSS just before it; lower is better, and a proxy passes at no more than nginx's growth. " +
		"On loopback the kernel's socket send buffer takes about 1.6 MiB of each response (loopback's 64 KiB MSS sizes it), " +
		"so a 1 MiB body leaves little in any proxy; the 4 MiB body leaves about 2.4 MiB per reader in the proxy. " +
		"The last column is slowhttptest's final count of readers still connected, closed by the server and failed.\n\n" +
		"| case | target | RSS before | peak RSS | growth | KiB / reader | ×nginx | connected / closed / error |\n" +
		"|---|---|---|---|---|---|---|---|\n")
	nginx := map[string]float64{}
	for _, x := range r.Slow {
		if x.Target == targetNginx {
			nginx[x.Case] = x.growthKiB()
		}
	}
	for _, x := range r.Slow {
		if x.Err != "" {
			fmt.Fprintf(b, "| %s | %s | failed: %s |||||| \n", x.Case, x.Target, oneLine(x.Err))
			continue
		}
		g, n := x.growthKiB(), nginx[x.Case]
		cmp := ratio(max(g, 1), max(n, 1)) // growth can be ~0: ratios of 1 KiB floors stay finite
		if x.Target != targetNginx && n > 0 && !math.IsNaN(n) {
			cmp += " " + mark(g <= n)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %+.1f MiB | %.1f | %s | %d / %d / %d |\n", x.Case, x.Target,
			fmtMiB(x.BeforeKiB), fmtMiB(x.PeakKiB), g/1024, g/float64(x.Conns), cmp, x.Connected, x.Closed, x.Errors)
	}
	b.WriteString("\n")
}
