package main

import (
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
	}{
		{name: "defaults", ok: true, rounds: 3, dur: 10 * time.Second},
		{name: "quick", args: []string{"-quick"}, ok: true, rounds: 1, dur: 3 * time.Second, cases: quickCaseIDs()},
		{name: "quick with override", args: []string{"-quick", "-rounds", "2", "-cases", "0b-c50"}, ok: true,
			rounds: 2, dur: 3 * time.Second, cases: []string{"0b-c50"}},
		{name: "fractional duration", args: []string{"-duration", "1500ms"}},
		{name: "unknown case", args: []string{"-cases", "nope"}},
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
