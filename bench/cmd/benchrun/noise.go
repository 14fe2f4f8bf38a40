package main

import (
	"os"
	"time"
)

// Noise rejection. On a shared machine another tenant's compile can take
// half the cores in the middle of a run, and the figures of that run say
// more about the compile than about the proxy. Each measured run therefore
// records the CPU time spent on the machine by everything that is not the
// benchmark: the busy time of /proc/stat's "cpu" line (user, nice, system,
// irq, softirq) minus the utime+stime of the measured processes (the
// upstream, every target's process tree, benchrun itself) and the load
// generator's own CPU (its rusage, from wait4). On a virtual machine the
// other tenant may be outside it: the hypervisor then takes this machine's
// CPUs away, and /proc/stat counts that time as steal (2026-12-03, during
// one make bench: 0.1 % to 9 % of the machine from one 12 s run to the
// next). The "foreign" CPU as a share of the machine (run length × CPUs)
// plus the steal share decides: a run above -noise-max is repeated, at
// most -noise-repeats times; then the least noisy attempt is kept and
// flagged in the report.

// snapshot is the machine's busy time and the measured processes' CPU at
// one instant.
type snapshot struct {
	at       time.Time
	busy     uint64 // machine-wide busy ticks (parseProcStat)
	steal    uint64 // machine-wide steal ticks
	measured uint64 // utime+stime ticks of the measured processes
	cpus     int
}

// takeSnapshot reads the machine's and pids' CPU times.
func (fs procFS) takeSnapshot(pids []int) (snapshot, error) {
	m, err := fs.machine()
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{at: time.Now(), busy: m.busy, steal: m.steal, measured: fs.ticks(pids), cpus: m.cpus}, nil
}

// foreign is the CPU used by other processes between two snapshots, and
// the CPU time the hypervisor took away.
type foreign struct {
	Seconds float64 // CPU-seconds used by processes the benchmark did not start
	Share   float64 // Seconds over the machine's capacity (wall × CPUs), 0..1
	Steal   float64 // steal time over the machine's capacity, 0..1
}

// Lost is the share of the machine the benchmark could not count on:
// other processes' CPU and steal. It decides repeats.
func (f foreign) Lost() float64 { return f.Share + f.Steal }

// foreignBetween computes the foreign CPU between s0 and s1, given the
// load generator's CPU-seconds (which ran entirely between them) and
// ticksPerSec. Rounding of the tick counters can make it slightly
// negative; it is clamped at 0.
func foreignBetween(s0, s1 snapshot, loadgenCPU, ticksPerSec float64) foreign {
	wall := s1.at.Sub(s0.at).Seconds()
	if wall <= 0 || ticksPerSec <= 0 || s1.cpus <= 0 {
		return foreign{}
	}
	busy := float64(s1.busy-s0.busy) / ticksPerSec
	own := float64(s1.measured-s0.measured)/ticksPerSec + loadgenCPU
	sec := max(busy-own, 0)
	capacity := wall * float64(s1.cpus)
	steal := float64(s1.steal-s0.steal) / ticksPerSec
	return foreign{Seconds: sec, Share: sec / capacity, Steal: steal / capacity}
}

// repeatRun decides whether a run whose foreign share was share is
// measured again: when it exceeds limit and fewer than maxRepeats repeats
// were made (repeats counts the repeats so far, 0 after the first run). A
// limit of 0 or less turns repeating off.
func repeatRun(share, limit float64, repeats, maxRepeats int) bool {
	return limit > 0 && share > limit && repeats < maxRepeats
}

// keepAttempt picks the attempt to report among the tries of one run: the
// last one when it is within limit (the earlier ones were repeated because
// they were not), else the one with the least foreign CPU. -1 for none.
func keepAttempt(tries []sample, limit float64) int {
	if len(tries) == 0 {
		return -1
	}
	last := len(tries) - 1
	if limit <= 0 || tries[last].Foreign.Lost() <= limit {
		return last
	}
	best := 0
	for i, s := range tries {
		if s.Foreign.Lost() < tries[best].Foreign.Lost() {
			best = i
		}
	}
	return best
}

// repeatRecord is one run that was measured more than once, or kept
// noisy, for the report.
type repeatRecord struct {
	Case, Target string
	Round        int
	Shares       []float64 // foreign share plus steal of each attempt, in order
	Kept         int       // index into Shares of the reported attempt
	Noisy        bool      // the kept attempt is still above the limit
}

// measuredRoots are the processes whose CPU is the benchmark's own: the
// upstream, every target and benchrun itself.
func (b *bench) measuredRoots() []int {
	roots := []int{os.Getpid()}
	for _, t := range b.targets {
		if t.proc != nil {
			roots = append(roots, t.proc.Pid())
		}
	}
	return roots
}
