package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// slowCase is a slow-reader attack driven by slowhttptest's slow-read mode
// (-X): Conns clients each ask for the body at Path and then read it
// through a receive window of 512 to 1,024 bytes, 32 bytes every 5 s, for
// Length. The figure is the growth of the target's peak RSS: what the
// proxy keeps in memory for readers that take almost nothing.
type slowCase struct {
	ID     string
	Title  string
	Path   string // request path; chooses the body size at the upstream
	Conns  int
	Length time.Duration // slowhttptest -l
}

// allSlowCases lists the slow-reader cases in report order. The first is
// the load. On loopback the kernel takes about 1.6 MiB of each
// response into the proxy's socket send buffer (loopback's 64 KiB MSS sizes
// it), so a 1 MiB body leaves little in any proxy; the 4 MiB case leaves
// about 2.4 MiB per reader in the proxy, as a real network path would with
// much less.
func allSlowCases() []slowCase {
	return []slowCase{
		{ID: "slow-1m-c500", Title: "500 slow readers of a 1 MiB body", Path: "/size/1048576", Conns: 500, Length: 30 * time.Second},
		{ID: "slow-4m-c500", Title: "500 slow readers of a 4 MiB body", Path: "/size/4194304", Conns: 500, Length: 30 * time.Second},
	}
}

// selectSlowCases returns the slow cases named in ids (all when ids is
// empty); IDs of other cases are left to selectCases.
func selectSlowCases(ids []string) []slowCase {
	var out []slowCase
	for _, c := range allSlowCases() {
		if len(ids) == 0 || strings.Contains(","+strings.Join(ids, ",")+",", ","+c.ID+",") {
			out = append(out, c)
		}
	}
	return out
}

// slowhttptestArgs is the command line for c against url: the issue's
// slow-read load, bounded by c.Length.
func slowhttptestArgs(c slowCase, url string) []string {
	return []string{"-X", "-c", strconv.Itoa(c.Conns), "-w", "512", "-y", "1024", "-n", "5", "-z", "32",
		"-r", "100", "-l", strconv.Itoa(int(c.Length / time.Second)), "-u", url}
}

// slowResult is one slow-reader run against one target.
type slowResult struct {
	Case, Target string
	Conns        int
	// BeforeKiB is the target's RSS just before the run; PeakKiB the
	// highest sampled during it.
	BeforeKiB, PeakKiB uint64
	// Connected, Closed and Errors are slowhttptest's last status: slow
	// readers still connected at the end, closed by the server, failed.
	Connected, Closed, Errors int
	Err                       string
}

// growthKiB is the peak RSS growth during the run.
func (r slowResult) growthKiB() float64 {
	if r.Err != "" {
		return math.NaN()
	}
	return float64(r.PeakKiB) - float64(r.BeforeKiB)
}

// runSlow runs every slow case against every proxy (not the ceilings: the
// upstream and the forwarder keep nothing), one target at a time.
func (b *bench) runSlow(ctx context.Context, cases []slowCase, targets []*target) error {
	for _, c := range cases {
		for _, t := range targets {
			if isCeiling(t.Name) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			r := b.slowRead(ctx, t, c)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.rep.Slow = append(b.rep.Slow, r)
			b.logf("%-13s %-10s %s -> peak %s (+%.1f MiB, %.1f KiB/reader); connected %d closed %d error %d %s",
				c.ID, t.Name, fmtMiB(r.BeforeKiB), fmtMiB(r.PeakKiB), r.growthKiB()/1024,
				r.growthKiB()/float64(c.Conns), r.Connected, r.Closed, r.Errors, r.Err)
		}
	}
	return nil
}

// slowRead runs slowhttptest once against t, sampling t's RSS throughout.
func (b *bench) slowRead(ctx context.Context, t *target, c slowCase) slowResult {
	res := slowResult{Case: c.ID, Target: t.Name, Conns: c.Conns}
	if t.proc.exited() {
		res.Err = t.Name + " is no longer running"
		return res
	}
	pids, err := b.fs.tree(t.proc.Pid())
	if err != nil {
		res.Err = err.Error()
		return res
	}
	rawDir := filepath.Join(b.work, "raw", b.rep.Started.Format("2006-01-02-1504"))
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		res.Err = err.Error()
		return res
	}
	argv := slowhttptestArgs(c, "http://"+t.H1Addr+c.Path)
	res.BeforeKiB = b.fs.rssKiB(pids)
	stop, peak := b.sampleRSS(pids)
	runCtx, cancel := context.WithTimeout(ctx, c.Length+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "slowhttptest", argv...)
	cmd.Dir = rawDir // it writes nothing without -g, but never into the repository
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	close(stop)
	res.PeakKiB = <-peak
	_ = os.WriteFile(filepath.Join(rawDir, c.ID+"-"+t.Name+".txt"), // debugging aid only
		[]byte("slowhttptest "+strings.Join(argv, " ")+"\n\n"+string(out)), 0o644)
	if err != nil {
		res.Err = fmt.Sprintf("slowhttptest: %v: %s", err, lastLines(stripANSI(string(out)), 3))
		return res
	}
	st, ok := parseSlowhttptest(string(out))
	if !ok {
		res.Err = "slowhttptest printed no status: " + lastLines(stripANSI(string(out)), 3)
		return res
	}
	res.Connected, res.Closed, res.Errors = st.connected, st.closed, st.errors
	if t.proc.exited() {
		res.Err = fmt.Sprintf("%s exited during the run (%v): %s", t.Name, t.proc.waitErr, t.proc.crashSummary())
	}
	return res
}

// slowStatus is slowhttptest's last status block.
type slowStatus struct{ connected, closed, errors int }

var (
	ansiRE       = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	slowStatusRE = regexp.MustCompile(`(?m)^(connected|closed|error):\s+(\d+)\s*$`)
)

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

// parseSlowhttptest reads the last "connected", "closed" and "error" counts
// of slowhttptest's periodic status.
func parseSlowhttptest(out string) (slowStatus, bool) {
	var st slowStatus
	seen := 0
	for _, m := range slowStatusRE.FindAllStringSubmatch(stripANSI(out), -1) {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		switch m[1] {
		case "connected":
			st.connected = n
		case "closed":
			st.closed = n
		case "error":
			st.errors = n
		}
		seen++
	}
	return st, seen >= 3
}
