package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata") //nolint:gochecknoglobals // test flag

// fixtureReport is a small, fully deterministic report.
func fixtureReport() *report {
	r := &report{
		Started: time.Date(2026, 11, 27, 8, 15, 0, 0, time.UTC), Command: "go run ./bench/cmd/benchrun -rounds 2",
		Mode: "full", Rounds: 2, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		Machine: machineInfo{NProc: 2, Kernel: "6.1.0", CPU: "Test CPU", Versions: []string{"wrk: wrk 4.1.0"}},
		Notes:   []string{"ferry-pool skipped: it did not start: boom"},
		Cases:   []benchCase{allCases()[1], allCases()[5]},
		Targets: []string{targetDirect, targetForwarder, targetFerryAuto, targetNginx},
		Idle: []idleResult{
			{Target: targetFerryAuto, Conns: 10000, BeforeKiB: 10240, AfterKiB: 18240},
			{Target: targetNginx, Conns: 10000, BeforeKiB: 20480, AfterKiB: 26980},
		},
	}
	add := func(id, t string, rps float64, p99ms float64, cpu float64, rss uint64) {
		for _, f := range []float64{0.98, 1.02} {
			r.addSample(id, t, sample{
				loadResult: loadResult{Requests: int64(rps * f * 10), Seconds: 10, RPS: rps * f,
					P50: time.Duration(p99ms * f * 2e5), P99: time.Duration(p99ms * f * 1e6)},
				CPUSeconds: cpu, PeakRSSKiB: rss,
			}, nil)
		}
	}
	add("1k-c50", targetDirect, 118000, 1.1, 9, 8192)
	add("1k-c50", targetForwarder, 102400, 1.5, 8, 12288)
	add("1k-c50", targetFerryAuto, 80000, 1.8, 9.5, 16384)
	add("1k-c50", targetNginx, 64000, 2.6, 8.9, 32768)
	add("h2-1k-c50", targetNginx, 45000, 2.6, 9, 33000)
	r.addSample("h2-1k-c50", targetFerryAuto, sample{}, errors.New("h2load: exit status 1"))
	return r
}

func TestRenderMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := renderMarkdown(&b, fixtureReport(), "x.svg"); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.md", b.Bytes())
	testutil.Contains(t, "markdown", b.String(),
		"| RPS 1 KiB, 50 conns ≥ 1.20× nginx | 64.0k rps | 1.25× ✅ |",
		"| p99 (1k-c50) ≤ 0.8× nginx | 2.60 ms | 0.69× ✅ |",
		"| requests per proxy CPU-s (1k-c50) ≥ 1.35× nginx |",
		"| h2load RPS, 1 stream per conn ≥ 1.1× nginx h2c |",
		"| RSS per idle keep-alive conn ≤ 1.0 KiB | 0.65 KiB | 0.80 KiB ✅ |",
		// req/CPU-s first, then RPS, each with min–max and CV.
		"| ferry-auto | 84.2k | 82.5k–85.9k · 2.8 % | 1.17× | 80.0k | 78.4k–81.6k · 2.8 % | 1.25× |",
		"| ferry-auto | failed: h2load: exit status 1 |",
		// The forwarder is faster than ferry-auto but is no proxy here.
		"| 1k-c50 | 118.0k | ferry-auto | 80.0k | 68 % |",
		// Its case row is like every other target's.
		"| forwarder | 128.0k | 125.4k–130.6k · 2.8 % | 1.78× | 102.4k | 100.4k–104.4k · 2.8 % | 1.60× | 300 µs | 1.50 ms | 1.47 ms–1.53 ms · 2.8 % | 0.58× | 0 | 8.00 | 12.0 MiB | 0.38× | 0.0 % |",
		// The ceiling: ×nginx, % of direct (flagged), ferry-auto ÷ forwarder.
		"## The ceiling: a minimal forwarder\n",
		"| 1k-c50 | 102.4k | 1.60× | 128.0k | 1.78× | 87 % ⚠️ | 0.78× | 0.66× |\n",
	)
	md := b.String()
	goals := md[strings.Index(md, "## Goals"):strings.Index(md, "## Is the upstream")]
	if !strings.HasPrefix(goals, "## Goals from the issue\n\nGoals of the cases this run left out are not listed.\n\n| goal | nginx | ferry-auto |\n") || strings.Contains(goals, "forwarder") {
		t.Errorf("the goals table must mark ferry-auto only, not the forwarder:\n%s", goals)
	}
	ceiling := section(t, md, "## The ceiling")
	if strings.Contains(ceiling, "h2-1k-c50") {
		t.Errorf("the ceiling section lists an h2 case:\n%s", ceiling)
	}
}

// TestCeilingSectionLeavesOutClose: with a new connection per request the
// forwarder dials per client connection while proxies pool, so that case is
// no ceiling and must not be listed (its case table still shows it).
func TestCeilingSectionLeavesOutClose(t *testing.T) {
	r := fixtureReport()
	var closeCase benchCase
	for _, c := range allCases() {
		if c.Close {
			closeCase = c
		}
	}
	if !closeCase.Close {
		t.Fatal("no new-connection-per-request case in allCases")
	}
	r.Cases = append(r.Cases, closeCase)
	for _, tg := range []string{targetForwarder, targetFerryAuto, targetNginx} {
		r.addSample(closeCase.ID, tg, sample{loadResult: loadResult{Requests: 100000, Seconds: 10, RPS: 10000,
			P50: time.Millisecond, P99: 2 * time.Millisecond}, CPUSeconds: 5}, nil)
	}
	var b bytes.Buffer
	if err := renderMarkdown(&b, r, ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	ceiling := section(t, md, "## The ceiling")
	if strings.Contains(ceiling, "| "+closeCase.ID+" |") {
		t.Errorf("the ceiling section lists %s:\n%s", closeCase.ID, ceiling)
	}
	if !strings.Contains(ceiling, "| 1k-c50 |") {
		t.Errorf("the ceiling section lost 1k-c50:\n%s", ceiling)
	}
	if !strings.Contains(md, "## "+closeCase.ID+":") {
		t.Errorf("the %s case table is missing", closeCase.ID)
	}
}

func TestCeilingSectionOnlyWithForwarder(t *testing.T) {
	r := fixtureReport()
	r.Targets = slices.DeleteFunc(r.Targets, func(t string) bool { return t == targetForwarder })
	var b bytes.Buffer
	if err := renderMarkdown(&b, r, ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "## The ceiling") {
		t.Error("a ceiling section without a forwarder run")
	}
}

func TestContendersAndIdleTest(t *testing.T) {
	r := &report{Targets: allTargetNames()}
	if got, want := r.contenders(), []string{targetFerryAuto, targetFerryB, targetFerryPool, targetHAProxy}; !slices.Equal(got, want) {
		t.Errorf("contenders %v, want %v", got, want)
	}
	for _, name := range allTargetNames() {
		if want := name != targetForwarder && !caseOnly(name); idleTested(name) != want {
			t.Errorf("idleTested(%s) = %v, want %v", name, !want, want)
		}
	}
}

func TestTargetColoursDistinct(t *testing.T) {
	seen := map[string]string{targetColour("unknown"): "the default"}
	for _, name := range allTargetNames() {
		c := targetColour(name)
		if other, dup := seen[c]; dup {
			t.Errorf("%s has the colour %s of %s", name, c, other)
		}
		seen[c] = name
	}
}

func TestRenderSVG(t *testing.T) {
	var b bytes.Buffer
	if err := renderSVG(&b, fixtureReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "chart.golden.svg", b.Bytes())
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects, titles := 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
		if cd, ok := tok.(xml.CharData); ok && strings.Contains(string(cd), ": ") {
			titles = append(titles, string(cd))
		}
	}
	// background + 4 legend swatches + 2 panels × 5 bars (4 on 1k-c50, 1 on h2).
	if rects != 1+4+10 {
		t.Errorf("%d rects, want 15", rects)
	}
	testutil.Contains(t, "bar titles", strings.Join(titles, "|"), "ferry-auto 1k-c50: 80.0k", "forwarder 1k-c50: 102.4k")
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1.3, 2}, {118000, 200000}, {45000, 50000}, {3, 5}} {
		if got := niceCeil(tc.in); !closeTo(got, tc.want) {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; review and run go test -update.\n--- got ---\n%s", path, got)
	}
}

// section is the part of md from the heading that starts with heading to
// the next heading; it fails the test if there is no such heading.
func section(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, heading)
	if i < 0 {
		t.Fatalf("no %q section in:\n%s", heading, md)
	}
	s := md[i:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

// TestReportNoiseAndVariants: repeated and noisy runs are counted and
// listed, a target that cannot do a case says why, the metrics variant is
// compared with ferry-auto against the 3 % goal, and a report of fewer
// than 5 rounds says it is a smoke test.
func TestReportNoiseAndVariants(t *testing.T) {
	r := fixtureReport()
	r.Mode, r.Rounds, r.NoiseMax, r.NoiseRepeats = "quick", 1, 5, 2
	var metricsCase, tlsCase benchCase
	for _, c := range allCases() {
		switch c.ID {
		case "metrics-on":
			metricsCase = c
		case "https-1k-c50":
			tlsCase = c
		}
	}
	r.Cases = append(r.Cases, metricsCase, tlsCase)
	r.Targets = append(r.Targets, targetFerryMetrics)
	run := func(reqs int64, cpu, share float64, attempts int, noisy bool) sample {
		return sample{loadResult: loadResult{Requests: reqs, Seconds: 10, RPS: float64(reqs) / 10,
			P50: time.Millisecond, P99: 2 * time.Millisecond}, CPUSeconds: cpu,
			Foreign: foreign{Share: share}, Attempts: attempts, Noisy: noisy}
	}
	r.addSample("metrics-on", targetFerryAuto, run(500000, 10, 0.01, 1, false), nil)
	stolen := run(490000, 10, 0.12, 3, true)
	stolen.Foreign.Steal = 0.03
	r.addSample("metrics-on", targetFerryMetrics, stolen, nil)
	r.Repeats = []repeatRecord{{Case: "metrics-on", Target: targetFerryMetrics, Round: 1, Shares: []float64{0.3, 0.12, 0.2}, Kept: 1, Noisy: true}}
	r.addNA("https-1k-c50", targetDirect, "the upstream speaks plain text only")
	r.addSample("https-1k-c50", targetNginx, run(300000, 10, 0.02, 2, false), nil)
	var b bytes.Buffer
	if err := renderMarkdown(&b, r, ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	testutil.Contains(t, "markdown", md,
		"**1 round(s) only** (quick mode)",
		"a run whose foreign CPU plus steal is above 5.0 % is measured again, at most 2 times",
		"| metrics-on | ferry-metrics | ferry-auto | 49.0k | 50.0k | 0.98× ✅ |",
		"| metrics-on | ferry-metrics | 1 | 30.0 % → 12.0 % → 20.0 % | attempt 2 ⚠️ noisy |",
		"| direct | n/a: the upstream speaks plain text only |",
		"12.0 % + steal 3.0 % (1 repeated) ⚠️ 1 noisy", // steal shown where there was any
		"| 2.0 % (1 repeated) |",     // and not where there was none
		"| 0 of 1 |",                 // scrapes failed
		"1 of 13 runs were repeated", // and 1 kept noisy
	)
	r.NoiseRepeats = 0
	b.Reset()
	if err := renderMarkdown(&b, r, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "a run whose foreign CPU plus steal is above 5.0 % is flagged ⚠️ but not repeated (-noise-repeats 0)") {
		t.Error("quick mode's noise text does not say that runs are not repeated")
	}
	goals := section(t, md, "## Goals")
	if strings.Contains(goals, "metrics-on") || strings.Contains(goals, "ferry-metrics") {
		t.Errorf("the goals table shows a variant:\n%s", goals)
	}
}
