package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestParseSlowhttptest reads the last status of a real run (500 slow
// readers of a 4 MiB body through nginx, colour codes and all).
func TestParseSlowhttptest(t *testing.T) {
	out, err := os.ReadFile("testdata/slowhttptest-x.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, ok := parseSlowhttptest(string(out))
	if !ok || st != (slowStatus{connected: 500}) {
		t.Fatalf("got %+v, %v; want 500 connected, 0 closed, 0 error", st, ok)
	}
	if _, ok := parseSlowhttptest("slowhttptest: connection refused\n"); ok {
		t.Fatal("a run without a status block parsed")
	}
}

// TestSlowCases: the load, bounded in time, against the target's
// address only; -cases selects slow cases by ID and the others leave them
// out.
func TestSlowCases(t *testing.T) {
	args := strings.Join(slowhttptestArgs(allSlowCases()[0], "http://127.0.0.1:1/size/1048576"), " ")
	testutil.Contains(t, "slowhttptest", args, "-X", "-c 500", "-w 512 -y 1024", "-n 5", "-z 32", "-l 30", "-u http://127.0.0.1:1/size/1048576")
	for _, c := range allSlowCases() {
		if c.Length <= 0 || c.Length > time.Minute {
			t.Errorf("%s runs %v; want a bound of at most a minute", c.ID, c.Length)
		}
	}
	if got := selectSlowCases([]string{"1k-c50", "slow-4m-c500"}); len(got) != 1 || got[0].ID != "slow-4m-c500" {
		t.Errorf("selectSlowCases picked %+v", got)
	}
	if got := selectSlowCases(quickCaseIDs()); len(got) != 0 {
		t.Errorf("the quick subset runs slow cases: %+v", got)
	}
	if len(selectSlowCases(nil)) != len(allSlowCases()) {
		t.Error("a full run must run every slow case")
	}
	if _, err := selectCases([]string{"slow-1m-c500"}); err != nil {
		t.Errorf("selectCases refused a slow case ID: %v", err)
	}
	if !slices.ContainsFunc(neededTools(), func(d debTool) bool { return d.bin == "slowhttptest" }) {
		t.Error("slowhttptest is not installed with the other tools")
	}
}

// TestSlowReport: the slow-reader table gives each proxy's growth beside
// nginx's and marks ferry against it.
func TestSlowReport(t *testing.T) {
	r := fixtureReport()
	r.Slow = []slowResult{
		{Case: "slow-4m-c500", Target: "ferry-auto", Conns: 500, BeforeKiB: 10 << 10, PeakKiB: 40 << 10, Connected: 500},
		{Case: "slow-4m-c500", Target: "nginx", Conns: 500, BeforeKiB: 30 << 10, PeakKiB: 200 << 10, Connected: 500},
		{Case: "slow-4m-c500", Target: "haproxy", Conns: 500, Err: "slowhttptest: exit status 1"},
	}
	var b strings.Builder
	writeSlow(&b, r)
	testutil.Contains(t, "slow-reader table", b.String(),
		"## Slow readers\n",
		"| slow-4m-c500 | ferry-auto | 10.0 MiB | 40.0 MiB | +30.0 MiB | 61.4 | 0.18× ✅ | 500 / 0 / 0 |",
		"| slow-4m-c500 | nginx | 30.0 MiB | 200.0 MiB | +170.0 MiB | 348.2 | 1.00× | 500 / 0 / 0 |",
		"| slow-4m-c500 | haproxy | failed: slowhttptest: exit status 1 |",
	)
}
