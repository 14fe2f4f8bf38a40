package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, errListed) {
			return
		}
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// run is the whole benchmark; every child it starts is stopped before it
// returns, on success, error or SIGINT/SIGTERM.
func run(args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp) //nolint:errcheck // scratch; deferred first so that it runs after the children are stopped
	defer b.sup.Close()
	if err := b.run(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; every started process was stopped, no results written: %w", err)
		}
		return err
	}
	return nil
}

// newBench resolves directories and prepares the supervisor and report.
func newBench(cfg config) (*bench, error) {
	root := cfg.root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = findRoot(wd); err != nil {
			return nil, err
		}
	}
	work := filepath.Join(root, cfg.workDir)
	if filepath.IsAbs(cfg.workDir) {
		work = cfg.workDir
	}
	for _, d := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := raiseNoFile(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		return nil, err
	}
	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	logger := log.New(os.Stderr, "benchrun: ", log.Ltime)
	return &bench{
		cfg: cfg, root: root, work: work, tmp: tmp, logf: logger.Printf,
		sup: &supervisor{logDir: filepath.Join(work, "logs")},
		rep: &report{
			Started: time.Now(), Command: commandLine(cfg.args), Mode: mode,
			Rounds: cfg.rounds, Duration: cfg.duration, Warmup: cfg.warmup,
			NoiseMax: cfg.noiseMax, NoiseRepeats: cfg.noiseRepeats,
		},
	}, nil
}

// run performs the phases in order: tools, binaries, targets, idle test,
// load matrix, results.
func (b *bench) run(ctx context.Context) error {
	for _, n := range ensureTools(ctx, b.cfg.install, b.logf) {
		b.note("%s", n)
	}
	missing := map[string]bool{}
	for _, t := range neededTools() {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing[t.bin] = true
		}
	}
	if missing["wrk"] {
		return errors.New("wrk is required (apt-get install wrk)")
	}
	b.logf("building binaries")
	bins, skipped, err := buildBinaries(ctx, b.root, filepath.Join(b.work, "bin"), b.cfg.bins, b.cfg.wantTarget)
	if err != nil {
		return err
	}
	for _, n := range skipped {
		b.note("%s", n)
	}
	b.bins = bins
	b.rep.Machine = collectMachineInfo(ctx)
	b.rep.Machine.Versions = append(b.rep.Machine.Versions, "ferry: "+ferrySource(ctx, b.root, b.cfg.bins.ferry))
	if b.bins.ferryB != "" {
		b.rep.Machine.Versions = append(b.rep.Machine.Versions, "ferry-b: prebuilt binary "+b.bins.ferryB)
	}
	b.fs = procFS{root: "/proc", ticksPerSec: clockTicks(ctx)}
	cases, err := selectCases(b.cfg.caseIDs)
	if err != nil {
		return err
	}
	b.rep.Cases = b.runnableCases(cases, missing)
	if slices.ContainsFunc(b.rep.Cases, func(c benchCase) bool { return c.TLS }) || len(b.idleTLSSelected()) > 0 {
		f, err := writeTLSFiles(b.tmp, time.Now())
		if err != nil {
			b.note("TLS cases cannot run: %v", err)
		} else {
			b.tls = &f
		}
	}
	if lim, err := noFileLimit(); err == nil {
		b.rep.NoFile = lim
	}
	_, targets, err := b.startTargets(ctx, missing)
	if err != nil {
		return err
	}
	for _, t := range targets {
		b.rep.Targets = append(b.rep.Targets, t.Name)
	}
	if b.cfg.idleConns > 0 {
		for _, t := range targets {
			if !idleTested(t.Name) {
				continue // see idleTested
			}
			r := b.idleTest(ctx, t, t.H1Addr, b.cfg.idleConns)
			b.logIdle("idle", r)
			b.rep.Idle = append(b.rep.Idle, r)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := b.runIdleTLS(ctx, targets); err != nil {
		return err
	}
	if err := b.runMatrix(ctx, b.rep.Cases, targets); err != nil {
		return err
	}
	// The slow-reader cases come last: each leaves its targets with
	// memory that a load case measured after it would count.
	if slow := selectSlowCases(b.cfg.caseIDs); len(slow) > 0 && !missing["slowhttptest"] {
		if b.cfg.fresh && len(b.rep.Cases) > 0 {
			b.logf("restarting the proxies before the slow-reader cases")
			if err := b.restartTargets(ctx, slow[0].ID); err != nil {
				return err
			}
		}
		if err := b.runSlow(ctx, slow, targets); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if t.proc.exited() {
			b.note("%s exited during the run (%v); its later figures are missing. Its log (%s) says: %s",
				t.Name, t.proc.waitErr, b.relPath(t.proc.logPath), oneLine(t.proc.crashSummary()))
		}
	}
	return b.writeResults()
}

// runnableCases drops the cases whose load generator is missing, and
// HTTP/2 cases when no selected target speaks HTTP/2, with a note.
func (b *bench) runnableCases(cases []benchCase, missing map[string]bool) []benchCase {
	h2Capable := (b.cfg.wantTarget(targetNginx) && !missing["nginx"]) ||
		(b.cfg.wantTarget(targetHAProxy) && !missing["haproxy"]) || (b.cfg.ferryH2C && b.bins.ferry != "")
	var out []benchCase
	for _, c := range cases {
		switch tool := c.tool(); {
		case tool == "h2load" && (missing["h2load"] || !h2Capable):
			b.note("case %s skipped: needs h2load and an HTTP/2-capable target", c.ID)
			continue
		case tool == "s_time" && missing["openssl"]:
			b.note("case %s skipped: needs openssl (s_time)", c.ID)
			continue
		}
		out = append(out, c)
	}
	return out
}

// ferrySource says which ferry ran: the prebuilt binary given with
// -ferry, or the working tree it was built from (git describe, "-dirty"
// when it had uncommitted changes: other people's edits included).
func ferrySource(ctx context.Context, root, prebuilt string) string {
	if prebuilt != "" {
		return "prebuilt binary " + prebuilt
	}
	out, err := runCmd(ctx, 10*time.Second, "git", "-C", root, "describe", "--always", "--dirty")
	if err != nil {
		return "built from the working tree (git describe failed: " + oneLine(err.Error()) + ")"
	}
	return "built from the working tree at " + strings.TrimSpace(out)
}

// noFileLimit returns the soft RLIMIT_NOFILE (after raiseNoFile: the hard
// limit), which the children inherit.
func noFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// writeResults writes OUT/STAMP.md, OUT/STAMP.svg and OUT/LATEST.md.
func (b *bench) writeResults() error {
	out := filepath.Join(b.root, b.cfg.outDir)
	if filepath.IsAbs(b.cfg.outDir) {
		out = b.cfg.outDir
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stamp := b.rep.Started.Format("2006-01-02-1504")
	var svg, md strings.Builder
	if err := renderSVG(&svg, b.rep); err != nil {
		return err
	}
	svgName := stamp + ".svg"
	if len(b.rep.Cases) == 0 {
		svgName = "" // memory cases only: no load figures to chart
	}
	if err := renderMarkdown(&md, b.rep, svgName); err != nil {
		return err
	}
	files := map[string]string{
		stamp + ".md": md.String(),
		"LATEST.md": fmt.Sprintf("<!-- Copy of %s.md, the newest benchrun result; regenerated on every run. -->\n\n",
			stamp) + md.String(),
	}
	if svgName != "" {
		files[svgName] = svg.String()
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(out, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	b.logf("wrote %s", filepath.Join(out, stamp+".md"))
	return nil
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit; children
// (nginx, HAProxy, ferry) inherit it.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit nofile: %w", err)
	}
	return nil
}

// commandLine renders the invocation for the report.
func commandLine(args []string) string {
	parts := []string{"go run ./bench/cmd/benchrun"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
