package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// config is the parsed command line.
type config struct {
	root          string        // repository root ("" = find from the working directory)
	workDir       string        // scratch: binaries, configs, logs (relative to root)
	outDir        string        // results directory (relative to root)
	rounds        int           // interleaved rounds per case
	duration      time.Duration // measured length of each run (whole seconds)
	warmup        time.Duration // unmeasured run before each measured one (0 = none)
	quick         bool          // 1 round, 3 s, a subset of cases
	caseIDs       []string      // cases to run (empty = all, or the quick subset)
	targetNames   []string      // targets to run (empty = all)
	idleConns     int           // idle connections per target (0 = skip the test)
	idleTLSConns  int           // idle TLS connections per target in the idle-tls cases (0 = skip them)
	install       bool          // apt-get install missing tools
	bins          binaries      // prebuilt binaries; empty fields are built
	ferryH2C      bool          // give ferry an h2c listener and run h2 cases on it
	upstreamLoops int           // upstream event loops (0 = one per CPU)
	readyTimeout  time.Duration // how long a started server may take to answer
	noiseMax      float64       // foreign CPU, % of the machine, above which a run is repeated (0 = never)
	noiseRepeats  int           // at most this many repeats of one run
	fresh         bool          // restart the proxies between cases
	args          []string      // the command line, for the report
}

// parseConfig parses args (without the program name).
func parseConfig(args []string) (config, error) {
	cfg := config{args: args}
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.StringVar(&cfg.root, "root", "", "repository root (default: found from the working directory)")
	fs.StringVar(&cfg.workDir, "work", "bench/.work", "scratch directory for binaries, configs and logs")
	fs.StringVar(&cfg.outDir, "out", "bench/results", "directory for the markdown and SVG results")
	fs.IntVar(&cfg.rounds, "rounds", 5, "interleaved rounds per case (>= 5 for a spread worth quoting)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration of each run (whole seconds)")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured warm-up run before each measured run (whole seconds, 0 = none)")
	fs.BoolVar(&cfg.quick, "quick", false, "smoke mode: 1 round, 3 s per run, 1 s warm-up, a subset of cases, noisy runs flagged but not repeated (2-3 minutes)")
	cases := fs.String("cases", "", "comma-separated case IDs (default all; see -list)")
	targets := fs.String("targets", "", "comma-separated targets (default "+strings.Join(allTargetNames(), ",")+")")
	fs.IntVar(&cfg.idleConns, "idle", 10000, "idle keep-alive connections per target for the memory test (0 = skip)")
	fs.IntVar(&cfg.idleTLSConns, "idle-tls", 4000, "idle TLS connections per target in the idle-tls and idle-tls-h2 cases (0 = skip them)")
	fs.BoolVar(&cfg.install, "install", true, "install missing wrk/nginx/haproxy/h2load with apt-get")
	fs.StringVar(&cfg.bins.ferry, "ferry", "", "prebuilt ferry binary (default: go build ./cmd/ferry)")
	fs.StringVar(&cfg.bins.ferryB, "ferry-b", "", "a second prebuilt ferry binary, run as target ferry-b with ferry-auto's config: an A/B of two builds in one run")
	fs.StringVar(&cfg.bins.upstream, "upstream", "", "prebuilt upstream binary (default: go build ./bench/upstream)")
	fs.StringVar(&cfg.bins.idleconns, "idleconns", "", "prebuilt idleconns binary (default: go build ./bench/idleconns)")
	fs.StringVar(&cfg.bins.forwarder, "forwarder", "", "prebuilt forwarder binary (default: go build ./bench/forwarder)")
	fs.BoolVar(&cfg.ferryH2C, "ferry-h2c", true, "give ferry an h2c listener (downstream_protocol Http2) and run the HTTP/2 cases against it")
	fs.IntVar(&cfg.upstreamLoops, "upstream-loops", 0, "upstream event loops (0 = one per CPU)")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 15*time.Second, "how long a started server may take to answer GET /")
	fs.Float64Var(&cfg.noiseMax, "noise-max", 5, "repeat a run when processes outside the benchmark used more than this % of the machine's CPU during it (0 = never)")
	fs.IntVar(&cfg.noiseRepeats, "noise-repeats", 2, "repeat a noisy run at most this many times, then keep its least noisy attempt and flag it")
	fs.BoolVar(&cfg.fresh, "fresh", true, "restart every proxy between cases, so that no case inherits the idle upstream connections of the one before")
	list := fs.Bool("list", false, "list the cases and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *list {
		for _, c := range allCases() {
			fmt.Printf("%-18s %s\n", c.ID, c.Title)
		}
		for _, c := range allSlowCases() {
			fmt.Printf("%-18s %s (slowhttptest -X, %v)\n", c.ID, c.Title, c.Length)
		}
		for _, c := range idleTLSCases() {
			fmt.Printf("%-18s %s\n", c.ID, c.Title)
		}
		return cfg, errListed
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		setDefault(set, "rounds", func() { cfg.rounds = 1 })
		setDefault(set, "duration", func() { cfg.duration = 3 * time.Second })
		setDefault(set, "warmup", func() { cfg.warmup = time.Second })
		setDefault(set, "cases", func() { *cases = strings.Join(quickCaseIDs(), ",") })
		// Quick stays quick: noisy runs are flagged, not repeated.
		setDefault(set, "noise-repeats", func() { cfg.noiseRepeats = 0 })
	}
	cfg.caseIDs = splitList(*cases)
	cfg.targetNames = splitList(*targets)
	return cfg, cfg.validate()
}

// errListed means -list printed the cases; the program exits cleanly.
var errListed = errors.New("benchrun: listed cases")

func setDefault(set map[string]bool, name string, fn func()) {
	if !set[name] {
		fn()
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c config) validate() error {
	whole := func(name string, d time.Duration, allowZero bool) error {
		if d%time.Second != 0 || d < 0 || (!allowZero && d == 0) {
			return fmt.Errorf("-%s %v: want a whole, positive number of seconds (wrk and h2load take seconds)", name, d)
		}
		return nil
	}
	if err := errors.Join(whole("duration", c.duration, false), whole("warmup", c.warmup, true)); err != nil {
		return err
	}
	if c.rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", c.rounds)
	}
	if c.noiseMax < 0 || c.noiseMax >= 100 {
		return fmt.Errorf("-noise-max %v: want a percentage in [0, 100)", c.noiseMax)
	}
	if c.noiseRepeats < 0 || c.noiseRepeats > 10 {
		return fmt.Errorf("-noise-repeats %d: want 0..10", c.noiseRepeats)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"idle", c.idleConns}, {"idle-tls", c.idleTLSConns}} {
		if n.v < 0 || n.v > 18000 {
			return fmt.Errorf("-%s %d: want 0..18000 (the hard RLIMIT_NOFILE here is 20000)", n.flag, n.v)
		}
	}
	if _, err := selectCases(c.caseIDs); err != nil {
		return err
	}
	for _, t := range c.targetNames {
		if !strings.Contains(","+strings.Join(allTargetNames(), ",")+",", ","+t+",") {
			return fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(allTargetNames(), ", "))
		}
	}
	return nil
}

// wantTarget reports whether target t was selected.
func (c config) wantTarget(t string) bool {
	if len(c.targetNames) == 0 {
		return true
	}
	for _, x := range c.targetNames {
		if x == t {
			return true
		}
	}
	return false
}
