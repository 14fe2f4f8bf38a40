package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestForeignFromFakeProc: the machine's busy time minus the measured
// processes' and the load generator's CPU is the foreign CPU, as a share
// of wall time × CPUs.
func TestForeignFromFakeProc(t *testing.T) {
	fs := fakeProc(t, map[int][3]int{
		10: {1, 50, 1000},  // nginx master
		11: {10, 200, 300}, // its worker
		30: {1, 100, 500},  // the upstream
		20: {1, 999, 9999}, // somebody's compiler: not measured
	})
	writeStat := func(busy int) {
		t.Helper()
		line := []byte("cpu  " + itoa(busy) + " 0 0 5000 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n")
		if err := os.WriteFile(filepath.Join(fs.root, "stat"), line, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := fs.trees([]int{10, 30, 10, 99}) // a duplicate and a vanished root
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{10, 11, 30}) {
		t.Fatalf("trees = %v", pids)
	}
	writeStat(1000)
	s0, err := fs.takeSnapshot(pids)
	if err != nil {
		t.Fatal(err)
	}
	if s0.measured != 350 || s0.busy != 1000 || s0.cpus != 2 {
		t.Fatalf("snapshot %+v", s0)
	}
	// 10 s later: the machine was busy 1,200 ticks (12 s of 20 CPU-s), the
	// measured processes 700 ticks of it (7 s), the load generator 3 s: 2 s
	// foreign, 10 % of the machine.
	writeStat(2200)
	s1 := snapshot{at: s0.at.Add(10 * time.Second), busy: 2200, measured: s0.measured + 700, cpus: 2}
	got := foreignBetween(s0, s1, 3, 100)
	if !closeTo(got.Seconds, 2) || !closeTo(got.Share, 0.1) {
		t.Fatalf("foreign %+v, want 2 s and 0.1", got)
	}
	// Tick rounding can make the measured side exceed the busy time: 0.
	if got := foreignBetween(s0, s1, 6, 100); got.Seconds != 0 || got.Share != 0 {
		t.Fatalf("negative foreign not clamped: %+v", got)
	}
	if got := foreignBetween(s0, s0, 0, 100); got != (foreign{}) {
		t.Fatalf("zero wall time: %+v", got)
	}
	// The hypervisor took 300 ticks (3 s of 20 CPU-s) besides: steal 15 %,
	// and the run lost 25 % of the machine in all.
	s0.steal, s1.steal = 5000, 5300
	got = foreignBetween(s0, s1, 3, 100)
	if !closeTo(got.Share, 0.1) || !closeTo(got.Steal, 0.15) || !closeTo(got.Lost(), 0.25) {
		t.Fatalf("foreign with steal %+v, want share 0.1, steal 0.15, lost 0.25", got)
	}
}

// TestStealDecidesRepeats: a run with no foreign process but steal above
// the limit is measured again, and of two attempts the one that lost less
// of the machine is kept.
func TestStealDecidesRepeats(t *testing.T) {
	stolen := foreign{Share: 0.01, Steal: 0.09}
	if !repeatRun(stolen.Lost(), 0.05, 0, 2) {
		t.Fatal("a run with 9 % steal was not repeated")
	}
	// By foreign CPU alone the first attempt (1 %) would win; with its
	// steal it lost 10 % of the machine against the second's 7 %.
	tries := []sample{{Foreign: stolen}, {Foreign: foreign{Share: 0.06, Steal: 0.01}}, {Foreign: foreign{Share: 0.02, Steal: 0.06}}}
	if got := keepAttempt(tries, 0.05); got != 1 {
		t.Fatalf("keepAttempt = %d, want 1 (7 %% lost against 10 %% and 8 %%)", got)
	}
	tries[2].Foreign.Steal = 0.005
	if got := keepAttempt(tries, 0.05); got != 2 {
		t.Fatalf("keepAttempt = %d, want 2 (within the limit)", got)
	}
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestRepeatRun(t *testing.T) {
	tests := []struct {
		name       string
		share      float64
		limit      float64
		repeats    int
		maxRepeats int
		want       bool
	}{
		{name: "quiet", share: 0.01, limit: 0.05, maxRepeats: 2, want: false},
		{name: "at the limit", share: 0.05, limit: 0.05, maxRepeats: 2, want: false},
		{name: "noisy first run", share: 0.2, limit: 0.05, maxRepeats: 2, want: true},
		{name: "noisy second run", share: 0.2, limit: 0.05, repeats: 1, maxRepeats: 2, want: true},
		{name: "repeats used up", share: 0.2, limit: 0.05, repeats: 2, maxRepeats: 2, want: false},
		{name: "repeating off", share: 0.9, limit: 0, maxRepeats: 2, want: false},
		{name: "no repeats allowed", share: 0.9, limit: 0.05, maxRepeats: 0, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := repeatRun(tc.share, tc.limit, tc.repeats, tc.maxRepeats); got != tc.want {
				t.Fatalf("repeatRun = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeepAttempt(t *testing.T) {
	tries := func(shares ...float64) []sample {
		var out []sample
		for _, s := range shares {
			out = append(out, sample{Foreign: foreign{Share: s}})
		}
		return out
	}
	tests := []struct {
		name  string
		tries []sample
		limit float64
		want  int
	}{
		{name: "none", want: -1},
		{name: "one quiet", tries: tries(0.01), limit: 0.05, want: 0},
		{name: "quiet after a repeat", tries: tries(0.3, 0.02), limit: 0.05, want: 1},
		// All noisy: the least noisy one, not the last.
		{name: "all noisy", tries: tries(0.3, 0.08, 0.2), limit: 0.05, want: 1},
		{name: "off keeps the last", tries: tries(0.3, 0.9), limit: 0, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keepAttempt(tc.tries, tc.limit); got != tc.want {
				t.Fatalf("keepAttempt = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestProcStatSelf reads the real /proc/stat: this machine's format parses.
func TestProcStatSelf(t *testing.T) {
	m, err := procFS{root: "/proc", ticksPerSec: 100}.machine()
	if err != nil {
		t.Fatal(err)
	}
	if m.cpus < 1 || m.busy == 0 {
		t.Fatalf("machine %+v", m)
	}
}
