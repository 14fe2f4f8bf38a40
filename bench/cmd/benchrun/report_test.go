package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
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
		Targets: []string{targetDirect, targetFerryAuto, targetNginx},
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
	for _, want := range []string{
		"| RPS 1 KiB, 50 conns ≥ 1.20× nginx | 64.0k rps | 1.25× ✅ |",
		"| p99 (1k-c50) ≤ 0.8× nginx | 2.60 ms | 0.69× ✅ |",
		"| requests per proxy CPU-s (1k-c50) ≥ 1.35× nginx |",
		"| h2load RPS, 1 stream per conn ≥ 1.1× nginx h2c |",
		"| RSS per idle keep-alive conn ≤ 1.0 KiB | 0.65 KiB | 0.80 KiB ✅ |",
		"| ferry-auto | 80.0k | 78.4k–81.6k | 1.25× |",
		"| ferry-auto | failed: h2load: exit status 1 |",
		"| 1k-c50 | 118.0k | ferry-auto | 80.0k | 68 % |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
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
	// background + 3 legend swatches + 2 panels × 4 bars (3 on 1k-c50, 1 on h2).
	if rects != 1+3+8 {
		t.Errorf("%d rects, want 12", rects)
	}
	if !strings.Contains(strings.Join(titles, "|"), "ferry-auto 1k-c50: 80.0k") {
		t.Errorf("bar titles %q lack ferry-auto's RPS", titles)
	}
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
