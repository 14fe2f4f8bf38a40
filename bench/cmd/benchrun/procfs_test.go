package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestParseStat(t *testing.T) {
	parse := func(s string) (statFields, error) { return parseStat([]byte(s)) }
	checkParse(t, parse, equal, true, []parseCase[statFields]{
		{name: "nginx worker", ok: true, want: statFields{ppid: 2929, ticks: 87 + 13},
			in: "2931 (nginx) S 2929 2929 2929 0 -1 4194624 1200 0 0 0 87 13 0 0 20 0 1 0 1234 50000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"},
		{name: "name with spaces and parens", ok: true, want: statFields{ppid: 1, ticks: 5},
			in: "77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 2 3 0 0 20 0 1 0 9 1 1 1\n"},
		{name: "truncated", in: "77 (x) R 1 2 3\n"},
		{name: "no name", in: "77 x R 1\n"},
	})
}

func TestParseProcStat(t *testing.T) {
	parse := func(s string) (machineCPU, error) { return parseProcStat([]byte(s)) }
	// a failing parse may return what it summed so far
	checkParse(t, parse, equal, false, []parseCase[machineCPU]{
		{name: "two cpus with steal and guest", ok: true,
			// busy = user 100 + nice 5 + system 50 + irq 2 + softirq 3; steal 40 apart; guest 7 is inside user
			in:   "cpu  100 5 50 1000 20 2 3 40 7 0\ncpu0 50 2 25 500 10 1 1 20 3 0\ncpu1 50 3 25 500 10 1 2 20 4 0\nintr 1 2 3\nctxt 99\n",
			want: machineCPU{busy: 160, steal: 40, cpus: 2}},
		{name: "old kernel without guest fields", ok: true,
			in:   "cpu  10 0 10 100 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0\n",
			want: machineCPU{busy: 20, cpus: 1}},
		{name: "too few fields", in: "cpu  1 2 3\ncpu0 1 2 3\n"},
		{name: "not a number", in: "cpu  1 2 x 4 5 6 7 8\ncpu0 1\n"},
		{name: "no per-cpu lines", in: "cpu  1 2 3 4 5 6 7 8\n"},
		{name: "empty", in: ""},
	})
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVMRSS([]byte("Name:\tnginx\nVmHWM:\t   40000 kB\nVmRSS:\t   32768 kB\nThreads:\t1\n"))
	if err != nil || got != 32768 {
		t.Fatalf("got %d, %v; want 32768", got, err)
	}
	if got, err := parseVMRSS([]byte("Name:\tzombie\nState:\tZ\n")); err != nil || got != 0 {
		t.Fatalf("zombie: got %d, %v; want 0", got, err)
	}
	if _, err := parseVMRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("bad unit accepted")
	}
}

// fakeProc writes a /proc-like tree: pid → (ppid, ticks, rss KiB).
func fakeProc(t *testing.T, procs map[int][3]int) procFS {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (p) S " + strconv.Itoa(p[0]) + " 0 0 0 -1 0 0 0 0 0 " + strconv.Itoa(p[1]) + " 0 0 0 20 0 1 0\n"
		status := "Name:\tp\nVmRSS:\t" + strconv.Itoa(p[2]) + " kB\n"
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil { // non-numeric entries are skipped
		t.Fatal(err)
	}
	return procFS{root: root, ticksPerSec: 100}
}

func TestProcTreeCPUAndRSS(t *testing.T) {
	fs := fakeProc(t, map[int][3]int{
		10: {1, 50, 1000},  // nginx master
		11: {10, 200, 300}, // worker
		12: {10, 250, 400}, // worker
		13: {11, 1, 1},     // grandchild
		20: {1, 999, 9999}, // unrelated
	})
	pids, err := fs.tree(10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{10, 11, 12, 13}) {
		t.Fatalf("tree = %v", pids)
	}
	if got := fs.cpuSeconds(append(pids, 99)); !closeTo(got, 5.01) { // 99 has exited
		t.Fatalf("cpu = %v, want 5.01", got)
	}
	if got := fs.rssKiB(pids); got != 1701 {
		t.Fatalf("rss = %d, want 1701", got)
	}
	if _, err := fs.tree(99); err == nil {
		t.Fatal("tree of a missing pid succeeded")
	}
}

func TestProcFSReadsSelf(t *testing.T) {
	fs := procFS{root: "/proc", ticksPerSec: 100}
	if rss := fs.rssKiB([]int{os.Getpid()}); rss == 0 {
		t.Fatal("own RSS is 0")
	}
}
