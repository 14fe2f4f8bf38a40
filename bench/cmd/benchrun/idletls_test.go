package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestIdleTLSCaseIsSelectable(t *testing.T) {
	cfg, err := parseConfig([]string{"-cases", idleTLSCaseID, "-idle-tls", "300"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{cfg: cfg}
	if !b.idleTLSWanted() || cfg.idleTLSConns != 300 {
		t.Fatalf("-cases %s -idle-tls 300: wanted %v, conns %d", idleTLSCaseID, b.idleTLSWanted(), cfg.idleTLSConns)
	}
	if cs, err := selectCases(cfg.caseIDs); err != nil || len(cs) != 0 {
		t.Fatalf("selectCases(%q) = %d load cases, %v; want none and no error", idleTLSCaseID, len(cs), err)
	}
	for _, args := range [][]string{{"-cases", "1k-c50"}, {"-idle-tls", "0"}} {
		cfg, err := parseConfig(args)
		if err != nil {
			t.Fatal(err)
		}
		if (&bench{cfg: cfg}).idleTLSWanted() {
			t.Errorf("%v: the idle TLS case runs", args)
		}
	}
	if _, err := parseConfig([]string{"-idle-tls", "18001"}); err == nil || !strings.Contains(err.Error(), "-idle-tls 18001") {
		t.Errorf("-idle-tls 18001: err %v, want one naming the flag", err)
	}
}

// idleTLSMarkdown renders the fixture report, haproxy added, with rs as
// its idle TLS results.
func idleTLSMarkdown(t *testing.T, rs ...idleResult) string {
	t.Helper()
	r := fixtureReport()
	r.Targets = append(r.Targets, targetHAProxy)
	r.IdleTLS = rs
	var b bytes.Buffer
	if err := renderMarkdown(&b, r, ""); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestIdleTLSReport(t *testing.T) {
	nginx := idleResult{Target: targetNginx, Conns: 1000, BeforeKiB: 30000, AfterKiB: 45000}
	haproxy := idleResult{Target: targetHAProxy, Conns: 1000, Err: "only 10 of 1000 connections ready"}
	under := idleResult{Target: targetFerryAuto, Conns: 1000, BeforeKiB: 10000, AfterKiB: 22000}
	over := under
	over.AfterKiB = 26000
	cases := []struct {
		md   string
		want []string
	}{
		{idleTLSMarkdown(t, under, nginx, haproxy), []string{
			"| RSS per idle TLS conn ≤ nginx's | 15.00 KiB | 12.00 KiB (0.80×) ✅ | not measured |\n",
			"## Idle TLS connections (idle-tls)\n",
			"| ferry-auto | 1000 | 9.8 MiB | 21.5 MiB | 12.00 | 0.80× |\n",
			"| haproxy | 1000 | failed: only 10 of 1000 connections ready |",
		}},
		{idleTLSMarkdown(t, over, nginx), []string{"| RSS per idle TLS conn ≤ nginx's | 15.00 KiB | 16.00 KiB (1.07×) ❌ |"}},
		{idleTLSMarkdown(t, over), []string{"| RSS per idle TLS conn ≤ nginx's | not measured | 16.00 KiB |"}},
	}
	r := fixtureReport()
	r.Cases, r.Cells, r.IdleTLS = nil, nil, []idleResult{under, nginx}
	var alone bytes.Buffer
	if err := renderMarkdown(&alone, r, ""); err != nil {
		t.Fatal(err)
	}
	if md := alone.String(); strings.Contains(md, "## Is the upstream") || strings.Contains(md, "## Noise") ||
		!strings.Contains(md, "## Idle TLS connections") {
		t.Errorf("a run of the memory cases alone has load-case sections, or lacks the idle TLS one:\n%s", md)
	}
	for i, c := range cases {
		for _, w := range c.want {
			if !strings.Contains(c.md, w) {
				t.Errorf("report %d lacks %q", i, w)
			}
		}
	}
}
