package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rssEvery is the RSS sampling period during a measured run.
const rssEvery = 100 * time.Millisecond

// runLoad runs the case's load generator (wrk, h2load or openssl s_time)
// once against t for d and parses the output, which is also kept under
// work/raw/TAG.txt. It also returns the generator's own CPU-seconds
// (utime+stime from wait4), which the noise accounting subtracts.
func (b *bench) runLoad(ctx context.Context, t *target, c benchCase, d time.Duration, tag string) (loadResult, float64, error) {
	scheme := "http://"
	if c.TLS {
		scheme = "https://"
	}
	url := scheme + t.addrFor(c) + c.Path
	rawDir := filepath.Join(b.work, "raw", b.rep.Started.Format("2006-01-02-1504"))
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return loadResult{}, 0, err
	}
	var argv []string
	logFile := ""
	switch c.tool() {
	case "h2load":
		logFile = filepath.Join(rawDir, tag+".h2log")
		argv = append([]string{"h2load"}, h2loadArgs(c, url, d, logFile)...)
	case "s_time":
		argv = append([]string{"openssl"}, sTimeArgs(c, t.addrFor(c), d)...)
	default:
		script, err := b.pipelineScript(c)
		if err != nil {
			return loadResult{}, 0, err
		}
		argv = append([]string{"wrk"}, wrkArgs(c, url, d, script)...)
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(began).Seconds()
	var cpu float64
	if ps := cmd.ProcessState; ps != nil {
		cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	_ = os.WriteFile(filepath.Join(rawDir, tag+".txt"), // debugging aid only
		[]byte(strings.Join(argv, " ")+"\n\n"+string(out)), 0o644)
	if err != nil {
		return loadResult{}, cpu, fmt.Errorf("%s: %w: %s", argv[0], err, lastLines(string(out), 3))
	}
	var res loadResult
	switch c.tool() {
	case "h2load":
		log, rerr := os.ReadFile(logFile)
		if rerr != nil {
			return loadResult{}, cpu, fmt.Errorf("h2load log: %w", rerr)
		}
		defer os.Remove(logFile) //nolint:errcheck // large and already summarised
		want := "h2c"
		if c.TLS {
			want = "h2"
		}
		res, err = parseH2load(string(out), log, want)
	case "s_time":
		res, err = parseSTime(string(out), wall, 1024)
	default:
		res, err = parseWrk(string(out))
	}
	res.servedOnly()
	return res, cpu, err
}

// pipelineScript returns the path of the wrk Lua script of a pipelining
// case ("" for other cases), writing it on first use into the run's
// temporary directory.
func (b *bench) pipelineScript(c benchCase) (string, error) {
	if c.Pipeline <= 0 {
		return "", nil
	}
	name := fmt.Sprintf("pipeline-%d%s.lua", c.Pipeline, strings.ReplaceAll(c.Path, "/", "-"))
	path := filepath.Join(b.tmp, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.WriteFile(path, []byte(wrkPipelineScript(c.Path, c.Pipeline)), 0o644); err != nil {
		return "", fmt.Errorf("pipelining script: %w", err)
	}
	return path, nil
}

// measure runs one warm-up (unless warm is false: a repeat of a run that
// just warmed the target) and one measured run of case c on t, with the
// CPU and RSS of t's process tree and the foreign CPU on the machine.
func (b *bench) measure(ctx context.Context, t *target, c benchCase, round int, warm bool, attempt int) (sample, error) {
	tag := fmt.Sprintf("%s-%s-r%d", c.ID, t.Name, round)
	if attempt > 0 {
		tag += fmt.Sprintf("-a%d", attempt+1)
	}
	if warm && b.cfg.warmup > 0 {
		if _, _, err := b.runLoad(ctx, t, c, b.cfg.warmup, tag+"-warmup"); err != nil {
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
	all, err := b.fs.trees(b.measuredRoots())
	if err != nil {
		return sample{}, fmt.Errorf("measured processes: %w", err)
	}
	snap0, err := b.fs.takeSnapshot(all)
	if err != nil {
		return sample{}, fmt.Errorf("/proc/stat: %w", err)
	}
	cpu0 := b.fs.cpuSeconds(pids)
	stop, peak := b.sampleRSS(pids)
	scraped := b.scrapeDuring(t, b.cfg.duration/2)
	res, loadCPU, err := b.runLoad(ctx, t, c, b.cfg.duration, tag)
	close(stop)
	s := sample{loadResult: res, PeakRSSKiB: <-peak, LoadCPU: loadCPU}
	s.CPUSeconds = b.fs.cpuSeconds(pids) - cpu0
	snap1, serr := b.fs.takeSnapshot(all)
	if serr == nil {
		s.Foreign = foreignBetween(snap0, snap1, loadCPU, b.fs.ticksPerSec)
	}
	if scraped != nil {
		s.ScrapeErr = <-scraped
	}
	s.LogBytes = t.truncateLogs()
	if t.proc.exited() { // its CPU figures vanished with it
		return sample{}, fmt.Errorf("%s exited during the run (%v): %s",
			t.Name, t.proc.waitErr, t.proc.crashSummary())
	}
	return s, err
}

// scrapeDuring fetches t's ScrapeURL once, after delay, in the
// background, and sends "" or the error on the returned channel; nil when
// t has nothing to scrape. Its CPU in benchrun counts as measured, the
// sink's in ferry as ferry's.
func (b *bench) scrapeDuring(t *target, delay time.Duration) <-chan string {
	if t.ScrapeURL == "" {
		return nil
	}
	done := make(chan string, 1)
	go func() {
		time.Sleep(delay) // a fixed point inside the measured run
		done <- scrape(t.ScrapeURL)
	}()
	return done
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
// A run whose foreign CPU share exceeds -noise-max is measured again, up
// to -noise-repeats times (see noise.go).
func (b *bench) runMatrix(ctx context.Context, cases []benchCase, targets []*target) error {
	for i, c := range cases {
		if i > 0 && b.cfg.fresh {
			b.logf("restarting the proxies before %s", c.ID)
			if err := b.restartTargets(ctx, c.ID); err != nil {
				return err
			}
		}
		if reason := b.caseUnrunnable(c); reason != "" {
			b.note("case %s not run: %s", c.ID, reason)
			for _, t := range targets {
				if caseRunsOn(c, t.Name) {
					b.rep.addSample(c.ID, t.Name, sample{}, errors.New(reason))
				}
			}
			continue
		}
		for round := 1; round <= b.cfg.rounds; round++ {
			for _, t := range targets {
				if !caseRunsOn(c, t.Name) {
					continue
				}
				if why := naReason(t, c); why != "" {
					if round == 1 {
						b.rep.addNA(c.ID, t.Name, why)
					}
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				s, err := b.measureRepeating(ctx, t, c, round)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.rep.addSample(c.ID, t.Name, s, err)
				if err != nil {
					b.logf("%-17s %-15s round %d/%d: FAILED: %v", c.ID, t.Name, round, b.cfg.rounds, err)
					continue
				}
				b.logf("%-17s %-15s round %d/%d: %8.0f rps  p50 %-9s p99 %-9s errors %d  cpu %.2fs  %7s req/CPU-s  foreign %4.1f %%  steal %4.1f %%%s",
					c.ID, t.Name, round, b.cfg.rounds, s.RPS, fmtLatency(s.P50), fmtLatency(s.P99),
					s.Errors, s.CPUSeconds, fmtCount(s.reqPerCPU()), 100*s.Foreign.Share, 100*s.Foreign.Steal, attemptsNote(s))
			}
		}
	}
	return nil
}

// measureRepeating measures run (c, t, round), repeating it while the
// foreign CPU is above the limit, and records the repeats in the report.
func (b *bench) measureRepeating(ctx context.Context, t *target, c benchCase, round int) (sample, error) {
	limit := b.cfg.noiseMax / 100
	var tries []sample
	for attempt := 0; ; attempt++ {
		s, err := b.measure(ctx, t, c, round, attempt == 0, attempt)
		if err != nil {
			if len(tries) == 0 {
				return s, err
			}
			break // keep what was measured before the failure
		}
		tries = append(tries, s)
		if !repeatRun(s.Foreign.Lost(), limit, attempt, b.cfg.noiseRepeats) || ctx.Err() != nil {
			break
		}
		b.logf("%-17s %-15s round %d: foreign CPU %.1f %% + steal %.1f %% of the machine > %.1f %%: measuring again",
			c.ID, t.Name, round, 100*s.Foreign.Share, 100*s.Foreign.Steal, b.cfg.noiseMax)
	}
	k := keepAttempt(tries, limit)
	s := tries[k]
	s.Attempts = len(tries)
	s.Noisy = limit > 0 && s.Foreign.Lost() > limit
	if len(tries) > 1 || s.Noisy {
		rec := repeatRecord{Case: c.ID, Target: t.Name, Round: round, Kept: k, Noisy: s.Noisy}
		for _, x := range tries {
			rec.Shares = append(rec.Shares, x.Foreign.Lost())
		}
		b.rep.Repeats = append(b.rep.Repeats, rec)
	}
	return s, nil
}

// attemptsNote is the log suffix of a repeated or noisy run.
func attemptsNote(s sample) string {
	out := ""
	if s.Attempts > 1 {
		out = fmt.Sprintf("  (%d attempts)", s.Attempts)
	}
	if s.Noisy {
		out += "  NOISY"
	}
	return out
}

// caseUnrunnable says why case c cannot run on this machine at all, or "".
func (b *bench) caseUnrunnable(c benchCase) string {
	if c.NoFile > 0 {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return "getrlimit: " + err.Error()
		}
		if lim.Cur < c.NoFile {
			return fmt.Sprintf("needs RLIMIT_NOFILE >= %d for %d connections (client and upstream side), "+
				"but the soft limit is %d after raising it to the hard limit (%d); raise the hard limit (ulimit -Hn) and run again",
				c.NoFile, c.Conns, lim.Cur, lim.Max)
		}
	}
	return ""
}

// idleTest holds n idle keep-alive connections to t at addr (idleconns
// with the extra arguments: -tls for the idle-tls case) and records the
// RSS of t's process tree before and after.
func (b *bench) idleTest(ctx context.Context, t *target, addr string, n int, extra ...string) idleResult {
	res := idleResult{Target: t.Name, Conns: n}
	pids, err := b.fs.tree(t.proc.Pid())
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.BeforeKiB = b.fs.rssKiB(pids)
	ready := make(chan int, 1)
	p, err := b.sup.start(startSpec{
		name:  "idleconns-" + t.Name,
		argv:  append([]string{b.bins.idleconns, "-addr", addr, "-n", strconv.Itoa(n)}, extra...),
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
	case got := <-ready:
		if got != n {
			res.Err = fmt.Sprintf("only %d of %d connections ready", got, n)
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
