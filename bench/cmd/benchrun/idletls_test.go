package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestIdleTLSCasesAreSelectable(t *testing.T) {
	ids := func(cs []idleTLSCase) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-cases", "idle-tls", "-idle-tls", "300"}, []string{"idle-tls"}},
		{[]string{"-cases", "idle-tls-h2,1k-c50"}, []string{"idle-tls-h2"}},
		{nil, []string{"idle-tls", "idle-tls-h2"}},
		{[]string{"-cases", "1k-c50"}, nil},
		{[]string{"-idle-tls", "0"}, nil},
	} {
		cfg, err := parseConfig(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := ids((&bench{cfg: cfg}).idleTLSSelected()); !slices.Equal(got, tc.want) {
			t.Errorf("%v: idle TLS cases %v, want %v", tc.args, got, tc.want)
		}
	}
	if cs, err := selectCases([]string{"idle-tls", "idle-tls-h2"}); err != nil || len(cs) != 0 {
		t.Fatalf("selectCases(idle-tls, idle-tls-h2) = %d load cases, %v; want none and no error", len(cs), err)
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
	nginx := idleResult{Case: "idle-tls", Target: targetNginx, Conns: 1000, BeforeKiB: 30000, AfterKiB: 45000}
	haproxy := idleResult{Case: "idle-tls", Target: targetHAProxy, Conns: 1000, Err: "only 10 of 1000 connections ready"}
	under := idleResult{Case: "idle-tls", Target: targetFerryAuto, Conns: 1000, BeforeKiB: 10000, AfterKiB: 22000}
	over := under
	over.AfterKiB = 26000
	h2 := over
	h2.Case = "idle-tls-h2"
	cases := []struct {
		md   string
		want []string
	}{
		{idleTLSMarkdown(t, under, nginx, haproxy), []string{
			"| RSS per idle TLS conn (http/1.1) ≤ nginx's | 15.00 KiB | 12.00 KiB (0.80×) ✅ | not measured |\n",
			"## Idle TLS connections, ALPN http/1.1 (idle-tls)\n",
			"| ferry-auto | 1000 | 9.8 MiB | 21.5 MiB | 12.00 | 0.80× |\n",
			"| haproxy | 1000 | failed: only 10 of 1000 connections ready |",
		}},
		{idleTLSMarkdown(t, over, nginx), []string{"| RSS per idle TLS conn (http/1.1) ≤ nginx's | 15.00 KiB | 16.00 KiB (1.07×) ❌ |"}},
		{idleTLSMarkdown(t, h2, nginx), []string{
			"| RSS per idle TLS conn (http/1.1) ≤ nginx's | 15.00 KiB | not measured |",
			"| RSS per idle TLS conn (h2) ≤ nginx's | not measured | 16.00 KiB |",
			"## Idle TLS connections, ALPN h2 (idle-tls-h2)\n",
		}},
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
