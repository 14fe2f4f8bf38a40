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
	}{
		{name: "defaults", ok: true, rounds: 3, dur: 10 * time.Second},
		{name: "quick", args: []string{"-quick"}, ok: true, rounds: 1, dur: 3 * time.Second, cases: quickCaseIDs()},
		{name: "quick with override", args: []string{"-quick", "-rounds", "2", "-cases", "0b-c50"}, ok: true,
			rounds: 2, dur: 3 * time.Second, cases: []string{"0b-c50"}},
		{name: "fractional duration", args: []string{"-duration", "1500ms"}},
		{name: "unknown case", args: []string{"-cases", "nope"}},
		{name: "forwarder target", args: []string{"-targets", "direct,forwarder", "-forwarder", "/opt/fw"}, ok: true,
			rounds: 3, dur: 10 * time.Second, targets: []string{targetDirect, targetForwarder}, forwarder: "/opt/fw"},
		{name: "unknown target", args: []string{"-targets", "envoy"}},
		{name: "too many idle", args: []string{"-idle", "30000"}},
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
			if cfg.bins.forwarder != tc.forwarder {
				t.Fatalf("got forwarder binary %q, want %q", cfg.bins.forwarder, tc.forwarder)
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
