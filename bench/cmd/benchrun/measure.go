package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rssEvery is the RSS sampling period during a measured run.
const rssEvery = 100 * time.Millisecond

// runLoad runs wrk or h2load once against t for d and parses the output,
// which is also kept under work/raw/TAG.txt.
func (b *bench) runLoad(ctx context.Context, t *target, c benchCase, d time.Duration, tag string) (loadResult, error) {
	url := "http://" + t.addrFor(c.Proto) + c.Path
	rawDir := filepath.Join(b.work, "raw", b.rep.Started.Format("2006-01-02-1504"))
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return loadResult{}, err
	}
	var argv []string
	logFile := ""
	if c.Proto == protoH2 {
		logFile = filepath.Join(rawDir, tag+".h2log")
		argv = append([]string{"h2load"}, h2loadArgs(c, url, d, logFile)...)
	} else {
		argv = append([]string{"wrk"}, wrkArgs(c, url, d)...)
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(rawDir, tag+".txt"), // debugging aid only
		[]byte(strings.Join(argv, " ")+"\n\n"+string(out)), 0o644)
	if err != nil {
		return loadResult{}, fmt.Errorf("%s: %w: %s", argv[0], err, lastLines(string(out), 3))
	}
	if c.Proto == protoH2 {
		log, err := os.ReadFile(logFile)
		if err != nil {
			return loadResult{}, fmt.Errorf("h2load log: %w", err)
		}
		defer os.Remove(logFile) //nolint:errcheck // large and already summarised
		return parseH2load(string(out), log)
	}
	return parseWrk(string(out))
}

// measure runs one warm-up and one measured run of case c on t, with the
// CPU and RSS of t's process tree.
func (b *bench) measure(ctx context.Context, t *target, c benchCase, round int) (sample, error) {
	tag := fmt.Sprintf("%s-%s-r%d", c.ID, t.Name, round)
	if b.cfg.warmup > 0 {
		if _, err := b.runLoad(ctx, t, c, b.cfg.warmup, tag+"-warmup"); err != nil {
			return sample{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if t.proc.exited() {
		return sample{}, fmt.Errorf("%s is no longer running", t.Name)
	}
	pids, err := b.fs.tree(t.proc.Pid())
	if err != nil {
		return sample{}, fmt.Errorf("process tree of %s: %w", t.Name, err)
	}
	cpu0 := b.fs.cpuSeconds(pids)
	stop, peak := b.sampleRSS(pids)
	res, err := b.runLoad(ctx, t, c, b.cfg.duration, tag)
	close(stop)
	s := sample{loadResult: res, PeakRSSKiB: <-peak}
	s.CPUSeconds = b.fs.cpuSeconds(pids) - cpu0
	if t.proc.exited() { // its CPU figures vanished with it
		return sample{}, fmt.Errorf("%s exited during the run (%v): %s",
			t.Name, t.proc.waitErr, t.proc.crashSummary())
	}
	return s, err
}

// sampleRSS samples the summed RSS of pids until stop is closed, then
// sends the peak on the returned channel.
func (b *bench) sampleRSS(pids []int) (chan<- struct{}, <-chan uint64) {
	stop := make(chan struct{})
	peak := make(chan uint64, 1)
	go func() {
		tick := time.NewTicker(rssEvery)
		defer tick.Stop()
		high := b.fs.rssKiB(pids)
		for {
			select {
			case <-stop:
				peak <- max(high, b.fs.rssKiB(pids))
				return
			case <-tick.C:
				high = max(high, b.fs.rssKiB(pids))
			}
		}
	}()
	return stop, peak
}

// runMatrix runs every case: per case, rounds × (every target in order).
func (b *bench) runMatrix(ctx context.Context, cases []benchCase, targets []*target) error {
	for _, c := range cases {
		for round := 1; round <= b.cfg.rounds; round++ {
			for _, t := range targets {
				if t.addrFor(c.Proto) == "" {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				s, err := b.measure(ctx, t, c, round)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.rep.addSample(c.ID, t.Name, s, err)
				if err != nil {
					b.logf("%-13s %-10s round %d/%d: FAILED: %v", c.ID, t.Name, round, b.cfg.rounds, err)
					continue
				}
				b.logf("%-13s %-10s round %d/%d: %8.0f rps  p50 %-9s p99 %-9s errors %d  cpu %.2fs  peak %s",
					c.ID, t.Name, round, b.cfg.rounds, s.RPS, fmtLatency(s.P50), fmtLatency(s.P99),
					s.Errors, s.CPUSeconds, fmtMiB(s.PeakRSSKiB))
			}
		}
	}
	return nil
}

// idleTest holds cfg.idleConns idle keep-alive connections to t and
// records the RSS of t's process tree before and after.
func (b *bench) idleTest(ctx context.Context, t *target) idleResult {
	res := idleResult{Target: t.Name, Conns: b.cfg.idleConns}
	pids, err := b.fs.tree(t.proc.Pid())
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.BeforeKiB = b.fs.rssKiB(pids)
	ready := make(chan int, 1)
	p, err := b.sup.start(startSpec{
		name:  "idleconns-" + t.Name,
		argv:  []string{b.bins.idleconns, "-addr", t.H1Addr, "-n", strconv.Itoa(b.cfg.idleConns)},
		stdin: true,
		onLine: func(line string) {
			if n, ok := strings.CutPrefix(line, "ready "); ok {
				v, _ := strconv.Atoi(n) // a bad count shows up as 0 ready
				ready <- v
			}
		},
	})
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer b.sup.stop(p) //nolint:errcheck // stop escalates to SIGKILL and cannot fail
	select {
	case n := <-ready:
		if n != b.cfg.idleConns {
			res.Err = fmt.Sprintf("only %d of %d connections ready", n, b.cfg.idleConns)
			return res
		}
	case <-p.done:
		res.Err = fmt.Sprintf("idleconns exited: %v: %s", p.waitErr, lastLines(p.logTail(), 2))
		return res
	case <-time.After(2 * time.Minute):
		res.Err = "connections not ready within 2m"
		return res
	case <-ctx.Done():
		res.Err = ctx.Err().Error()
		return res
	}
	// Let deferred work (e.g. a GC cycle freeing the warm-up's garbage)
	// settle so that "after" reflects the steady idle state.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	if pids, err = b.fs.tree(t.proc.Pid()); err != nil {
		res.Err = err.Error()
		return res
	}
	res.AfterKiB = b.fs.rssKiB(pids)
	return res
}
