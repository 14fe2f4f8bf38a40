package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		ok     bool
		rounds int
		dur    time.Duration
		cases  []string
		// checked only when set
		targets   []string
		forwarder string
		ferryB    string
	}{
		{name: "defaults", ok: true, rounds: 5, dur: 10 * time.Second},
		{name: "quick", args: []string{"-quick"}, ok: true, rounds: 1, dur: 3 * time.Second, cases: quickCaseIDs()},
		{name: "quick with override", args: []string{"-quick", "-rounds", "2", "-cases", "0b-c50"}, ok: true,
			rounds: 2, dur: 3 * time.Second, cases: []string{"0b-c50"}},
		{name: "fractional duration", args: []string{"-duration", "1500ms"}},
		{name: "unknown case", args: []string{"-cases", "nope"}},
		{name: "forwarder target", args: []string{"-targets", "direct,forwarder", "-forwarder", "/opt/fw"}, ok: true,
			rounds: 5, dur: 10 * time.Second, targets: []string{targetDirect, targetForwarder}, forwarder: "/opt/fw"},
		{name: "ferry-b", args: []string{"-ferry", "/opt/a", "-ferry-b", "/opt/b"}, ok: true, rounds: 5, dur: 10 * time.Second,
			ferryB: "/opt/b"},
		{name: "unknown target", args: []string{"-targets", "envoy"}},
		{name: "too many idle", args: []string{"-idle", "30000"}},
		{name: "noise limit", args: []string{"-noise-max", "100"}},
		{name: "negative repeats", args: []string{"-noise-repeats", "-1"}},
		{name: "new cases", args: []string{"-cases", "1k-c5000,pipeline-1k-c50,metrics-on"}, ok: true, rounds: 5,
			dur: 10 * time.Second, cases: []string{"1k-c5000", "pipeline-1k-c50", "metrics-on"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if cfg.rounds != tc.rounds || cfg.duration != tc.dur || !slices.Equal(cfg.caseIDs, tc.cases) {
				t.Fatalf("got rounds %d duration %v cases %v", cfg.rounds, cfg.duration, cfg.caseIDs)
			}
			if tc.targets != nil && (!slices.Equal(cfg.targetNames, tc.targets) || !cfg.wantTarget(targetForwarder) || cfg.wantTarget(targetNginx)) {
				t.Fatalf("got targets %v", cfg.targetNames)
			}
			if cfg.quick != (cfg.noiseRepeats == 0) {
				t.Fatalf("noise repeats %d in quick=%v mode", cfg.noiseRepeats, cfg.quick)
			}
			if cfg.bins.forwarder != tc.forwarder || cfg.bins.ferryB != tc.ferryB {
				t.Fatalf("got forwarder binary %q, ferry-b %q, want %q, %q", cfg.bins.forwarder, cfg.bins.ferryB, tc.forwarder, tc.ferryB)
			}
		})
	}
}

func TestSelectCasesKeepsReportOrder(t *testing.T) {
	cs, err := selectCases([]string{"1k-c500", "0b-c50"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].ID != "0b-c50" || cs[1].ID != "1k-c500" {
		t.Fatalf("got %+v", cs)
	}
}

func TestForwarderTargetOrder(t *testing.T) {
	names := allTargetNames()
	i := slices.Index(names, targetForwarder)
	if i < 1 || names[i-1] != targetDirect {
		t.Fatalf("targets %v: want forwarder right after direct", names)
	}
}

// TestBuildBinariesOptional builds nothing: the required binaries are
// "given" and the root has neither ./cmd/ferry nor ./bench/forwarder. Only
// the selected targets' binaries are attempted, each failure is a note.
func TestBuildBinariesOptional(t *testing.T) {
	given := binaries{upstream: "/bin/up", idleconns: "/bin/idle"}
	for _, tc := range []struct {
		name  string
		want  []string
		notes []string
	}{
		{name: "forwarder only", want: []string{targetForwarder},
			notes: []string{"forwarder target skipped: ./bench/forwarder does not exist yet"}},
		{name: "ferry only", want: []string{targetFerryPool},
			notes: []string{"ferry targets skipped: ./cmd/ferry does not exist yet"}},
		{name: "ferry-h2up only", want: []string{targetFerryH2Up},
			notes: []string{"ferry targets skipped: ./cmd/ferry does not exist yet"}},
		{name: "neither", want: []string{targetDirect, targetNginx}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, notes, err := buildBinaries(context.Background(), t.TempDir(), t.TempDir(), given,
				func(target string) bool { return slices.Contains(tc.want, target) })
			if err != nil {
				t.Fatal(err)
			}
			if b != given || !slices.Equal(notes, tc.notes) {
				t.Fatalf("got %+v, notes %q; want %+v, notes %q", b, notes, given, tc.notes)
			}
		})
	}
	// A prebuilt forwarder is used as given, without a note.
	withFw := given
	withFw.forwarder = "/bin/fw"
	b, notes, err := buildBinaries(context.Background(), t.TempDir(), t.TempDir(), withFw,
		func(target string) bool { return target == targetForwarder })
	if err != nil || b != withFw || len(notes) != 0 {
		t.Fatalf("prebuilt forwarder: got %+v, notes %q, err %v", b, notes, err)
	}
}

// TestCaseTargets: a variant case runs only on the targets it names, every
// other case on the base targets only; a target lacking the listener a
// case needs gets a reason.
func TestCaseTargets(t *testing.T) {
	byID := map[string]benchCase{}
	for _, c := range allCases() {
		byID[c.ID] = c
	}
	tests := []struct {
		caseID, target string
		runs           bool
	}{
		{"1k-c50", targetNginx, true},
		{"1k-c50", targetFerryMetrics, false},
		{"metrics-on", targetFerryMetrics, true},
		{"metrics-on", targetFerryAuto, true},
		{"metrics-on", targetNginx, false},
		{"accesslog-on", targetNginxAccessLog, true},
		{"accesslog-on", targetHAProxy, false},
		{"healthcheck-on", targetFerryHealth, true},
		{"healthcheck-on", targetFerryAuto, true},
		{"healthcheck-on", targetNginx, false},
		{"1k-c50", targetFerryHealth, false},
		{"https-1k-c50", targetHAProxy, true},
		{"h2up-1k-c50", targetFerryH2Up, true},
		{"h2up-1k-c50", targetHAProxyH2Up, true},
		{"h2up-1k-c50", targetNginx, true}, // to say why it cannot
		{"h2up-1k-c50", targetFerryAuto, false},
		{"h2up-1k-c50", targetHAProxy, false},
		{"h2up-1k-c50", targetDirect, false},
		{"1k-c50", targetFerryH2Up, false},
		{"1k-c50", targetHAProxyH2Up, false},
	}
	for _, tc := range tests {
		if got := caseRunsOn(byID[tc.caseID], tc.target); got != tc.runs {
			t.Errorf("caseRunsOn(%s, %s) = %v, want %v", tc.caseID, tc.target, got, tc.runs)
		}
	}
	direct := &target{Name: targetDirect, H1Addr: "a"}
	fw := &target{Name: targetForwarder, H1Addr: "a"}
	ferry := &target{Name: targetFerryAuto, H1Addr: "a", H2Addr: "b", TLSAddr: "c"}
	for _, tc := range []struct {
		t      *target
		caseID string
		want   string
	}{
		{direct, "https-1k-c50", "the upstream speaks plain text only"},
		{fw, "h2-tls-1k-c50-m10", "a byte copier: TLS would reach the plain-text upstream"},
		{direct, "h2load-c100-m100", "the upstream speaks HTTP/1.1 only"},
		{fw, "pipeline-1k-c50", ""},
		{ferry, "h2-tls-1k-c50-m10", ""},
		{ferry, "https-resume-c1", ""},
		{&target{Name: targetFerryAuto, H1Addr: "a"}, "h2load-c1000-m10", "no h2c listener (-ferry-h2c=false)"},
		{&target{Name: targetFerryH2Up, H1Addr: "a", H2Up: true}, "h2up-1k-c50", ""},
		{&target{Name: targetHAProxyH2Up, H1Addr: "a", H2Up: true}, "h2up-1k-c50", ""},
		{&target{Name: targetNginx, H1Addr: "a", H2Addr: "b"}, "h2up-1k-c50",
			"nginx cannot proxy to an h2c upstream: proxy_pass speaks HTTP/1.x only (grpc_pass is gRPC-only)"},
		{ferry, "h2up-1k-c50", "does not proxy to the h2c upstream"},
	} {
		if got := naReason(tc.t, byID[tc.caseID]); got != tc.want {
			t.Errorf("naReason(%s, %s) = %q, want %q", tc.t.Name, tc.caseID, got, tc.want)
		}
	}
	// The h2c-upstream targets answer on their HTTP/1.1 listener there, and
	// nowhere else.
	h2up := &target{Name: targetFerryH2Up, H1Addr: "a", H2Up: true}
	if h2up.addrFor(byID["h2up-1k-c50"]) != "a" || h2up.addrFor(byID["1k-c50"]) != "" || ferry.addrFor(byID["h2up-1k-c50"]) != "" {
		t.Error("addrFor: the h2c-upstream targets must run the h2up case only")
	}
	if c := byID["h2up-1k-c50"]; !c.H2Upstream || c.Proto != protoH1 || c.Conns != 50 || c.Path != "/1k" || c.tool() != "wrk" {
		t.Errorf("h2up-1k-c50: %+v", c)
	}
	if idleTested(targetFerryH2Up) || idleTested(targetHAProxyH2Up) || !caseOnly(targetHAProxyH2Up) {
		t.Error("the h2c-upstream targets must be case-only and skip the idle test")
	}
	if cs, err := selectCases([]string{"h2up-1k-c50"}); err != nil || len(cs) != 1 || cs[0].ID != "h2up-1k-c50" {
		t.Errorf("selectCases(h2up-1k-c50) = %v, %v", cs, err)
	}
	if byID["1k-c5000"].NoFile <= 10000 || byID["pipeline-1k-c50"].Pipeline != 16 || byID["https-resume-c1"].tool() != "s_time" {
		t.Error("new cases lost their parameters")
	}
}
