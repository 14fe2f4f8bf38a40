package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// procFS reads process figures from a /proc tree. Root is "/proc" in
// production and a testdata directory in tests.
type procFS struct {
	root string
	// ticksPerSec is the kernel's USER_HZ (getconf CLK_TCK), used to turn
	// utime+stime into seconds.
	ticksPerSec float64
}

// statFields is what the harness needs from /proc/PID/stat.
type statFields struct {
	ppid  int
	ticks uint64 // utime + stime, in clock ticks
}

// errNoProcess means the process vanished between listing and reading.
var errNoProcess = errors.New("benchrun: no such process")

// parseStat parses /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (statFields, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return statFields{}, errors.New("stat: no ')' after the command name")
	}
	f := bytes.Fields(b[end+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return statFields{}, fmt.Errorf("stat: %d fields after the name, want >= 13", len(f))
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	utime, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return statFields{}, fmt.Errorf("stat: %w", err)
	}
	return statFields{ppid: ppid, ticks: utime + stime}, nil
}

// parseVMRSS returns VmRSS in KiB from /proc/PID/status (0 for a zombie,
// which has no VmRSS line).
func parseVMRSS(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("status: bad VmRSS line %q", line)
		}
		return strconv.ParseUint(string(f[0]), 10, 64)
	}
	return 0, nil
}

func (fs procFS) read(pid int, file string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(fs.root, strconv.Itoa(pid), file))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pid %d: %w", pid, errNoProcess)
	}
	return b, err
}

func (fs procFS) stat(pid int) (statFields, error) {
	b, err := fs.read(pid, "stat")
	if err != nil {
		return statFields{}, err
	}
	return parseStat(b)
}

// tree returns root and all its descendants (e.g. nginx master + workers),
// or an error if root does not run.
func (fs procFS) tree(root int) ([]int, error) {
	if _, err := fs.stat(root); err != nil {
		return nil, err
	}
	return fs.trees([]int{root})
}

// cpuSeconds sums utime+stime over pids; processes that exited are skipped.
func (fs procFS) cpuSeconds(pids []int) float64 {
	return float64(fs.ticks(pids)) / fs.ticksPerSec
}

// rssKiB sums VmRSS over pids; processes that exited are skipped.
func (fs procFS) rssKiB(pids []int) uint64 {
	var sum uint64
	for _, pid := range pids {
		b, err := fs.read(pid, "status")
		if err != nil {
			continue
		}
		if kib, err := parseVMRSS(b); err == nil {
			sum += kib
		}
	}
	return sum
}

// machineCPU is the machine-wide "cpu" line of /proc/stat, in clock
// ticks, and how many CPUs the file lists.
type machineCPU struct {
	busy  uint64 // user+nice+system+irq+softirq
	steal uint64 // the hypervisor ran something else on this machine's CPUs
	cpus  int    // "cpuN" lines
}

// parseProcStat parses /proc/stat. Busy time is what processes and the
// kernel on this machine used: user, nice, system, irq and softirq. Steal
// is kept apart: the hypervisor running other guests on this machine's
// CPUs, which no process here used and no utime+stime includes. Left out:
// idle, iowait, and guest and guest_nice (the kernel already counts them
// in user and nice).
func parseProcStat(b []byte) (machineCPU, error) {
	var m machineCPU
	found := false
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")) {
			continue
		}
		if len(f[0]) > 3 {
			m.cpus++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(f) < 9 {
			return m, fmt.Errorf("/proc/stat: %d fields on the cpu line, want >= 9", len(f))
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil {
				return m, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		m.busy = v[0] + v[1] + v[2] + v[5] + v[6]
		m.steal = v[7]
		found = true
	}
	if !found || m.cpus == 0 {
		return m, errors.New("/proc/stat: no cpu or cpuN lines")
	}
	return m, nil
}

// machine reads the machine-wide CPU times.
func (fs procFS) machine() (machineCPU, error) {
	b, err := os.ReadFile(filepath.Join(fs.root, "stat"))
	if err != nil {
		return machineCPU{}, err
	}
	return parseProcStat(b)
}

// trees returns every root that still runs and all its descendants, in
// one pass over the process table; a pid appears once.
func (fs procFS) trees(roots []int) ([]int, error) {
	ents, err := os.ReadDir(fs.root)
	if err != nil {
		return nil, err
	}
	children := make(map[int][]int)
	alive := make(map[int]bool)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := fs.stat(pid)
		if err != nil {
			continue // exited meanwhile, or not a process directory
		}
		alive[pid] = true
		children[st.ppid] = append(children[st.ppid], pid)
	}
	seen := make(map[int]bool)
	var pids []int
	for _, r := range roots {
		if alive[r] && !seen[r] {
			seen[r] = true
			pids = append(pids, r)
		}
	}
	for i := 0; i < len(pids); i++ {
		for _, c := range children[pids[i]] {
			if !seen[c] {
				seen[c] = true
				pids = append(pids, c)
			}
		}
	}
	return pids, nil
}

// ticks sums utime+stime over pids, in clock ticks; processes that exited
// are skipped.
func (fs procFS) ticks(pids []int) uint64 {
	var t uint64
	for _, pid := range pids {
		if st, err := fs.stat(pid); err == nil {
			t += st.ticks
		}
	}
	return t
}
