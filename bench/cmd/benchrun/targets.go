package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bench holds what a run shares: configuration, the supervisor that owns
// every child process, and the report being filled.
type bench struct {
	cfg  config
	root string // repository root
	work string // absolute scratch directory
	// tmp is this run's temporary directory (the TLS certificate, the
	// pipelining script, access logs), removed when the run ends.
	tmp     string
	tls     *tlsFiles // nil when no TLS case was selected or generation failed
	targets []*target // every started target, the upstream (direct) first
	// h2Upstream is the h2c upstream (bench/upstream -h2c), started only
	// for the H2Upstream cases; nil otherwise. It is in targets too.
	h2Upstream *target
	// starters start each proxy target again (restartTargets); gen counts
	// the restarts, so that every generation keeps its own log file.
	starters map[string]func() (*target, error)
	gen      int
	sup      *supervisor
	fs       procFS
	bins     binaries
	rep      *report
	logf     func(format string, args ...any)
}

// note records a caveat in the report and logs it.
func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.rep.Notes = append(b.rep.Notes, msg)
	b.logf("note: %s", msg)
}

// addr returns "127.0.0.1:PORT" for a free port.
func addr() (string, error) {
	p, err := freePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// startUpstream starts the origin server and learns its address from its
// "listening on ADDR" line. h2c starts the -h2c mode (HTTP/2 cleartext,
// net/http) under the name "upstream-h2c" instead of the gnet HTTP/1.1
// server.
func (b *bench) startUpstream(ctx context.Context, h2c bool) (*target, error) {
	addrc := make(chan string, 1)
	name, argv := "upstream", []string{b.bins.upstream, "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(b.cfg.upstreamLoops)}
	if h2c {
		name, argv = upstreamH2C, []string{b.bins.upstream, "-h2c", "-addr", "127.0.0.1:0"}
	}
	p, err := b.sup.start(startSpec{
		name: name,
		argv: argv,
		onLine: func(line string) {
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case addrc <- a:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var a string
	select {
	case a = <-addrc:
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v; log tail:\n%s", name, p.waitErr, p.logTail())
	case <-time.After(b.cfg.readyTimeout):
		return nil, fmt.Errorf("%s did not report its address within %v; log tail:\n%s", name, b.cfg.readyTimeout, p.logTail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := waitHTTPReady(ctx, p, a, b.cfg.readyTimeout); err != nil {
		return nil, err
	}
	if h2c {
		return &target{Name: upstreamH2C, H1Addr: a, proc: p}, nil
	}
	return &target{Name: targetDirect, H1Addr: a, proc: p}, nil
}

// upstreamH2C names the h2c upstream's process (and log). It is no target
// (no case loads it directly: wrk speaks HTTP/1.1) but it is measured as
// the benchmark's own CPU (measuredRoots), like the HTTP/1.1 upstream.
const upstreamH2C = "upstream-h2c"

// startNginx writes the nginx config under work/NAME and starts nginx in
// the foreground with that prefix. accessLog, when set, turns its access
// log on (the nginx-accesslog target).
func (b *bench) startNginx(ctx context.Context, name, upstream, accessLog string) (*target, error) {
	h1, err1 := addr()
	h2, err2 := addr()
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	x := peerExtras{AccessLog: accessLog}
	if b.tls != nil && accessLog == "" {
		var err error
		if x.TLSAddr, err = addr(); err != nil {
			return nil, err
		}
		x.CertFile, x.KeyFile = b.tls.Cert, b.tls.Key
	}
	conf, err := nginxConfig(upstream, h1, h2, x)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, name)
	for _, sub := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	path, err := writeFile(dir, "nginx.conf", []byte(conf))
	if err != nil {
		return nil, err
	}
	p, err := b.sup.start(startSpec{name: b.logName(name), argv: []string{
		"nginx", "-p", dir + "/", "-c", path, "-e", "stderr", "-g", "daemon off;",
	}})
	if err != nil {
		return nil, err
	}
	if err := waitHTTPReady(ctx, p, h1, b.cfg.readyTimeout); err != nil {
		return nil, err
	}
	// The h2c listener is up once h1 is (same process); HTTP/1.1 must fail there.
	if err := probeHTTP(h2); err == nil {
		return nil, fmt.Errorf("nginx h2c listener %s answered HTTP/1.1: not h2c", h2)
	}
	t := &target{Name: name, H1Addr: h1, H2Addr: h2, TLSAddr: x.TLSAddr, proc: p}
	if accessLog != "" {
		t.logFiles = []string{accessLog}
	}
	return t, nil
}

// startHAProxy writes the HAProxy config and starts it in the foreground.
// Beside the reference frontend the base target (haproxy) gets an h2c one
// and, when TLS is on, an HTTPS one, so that it does the HTTP/2 and TLS
// cases too; haproxy-h2up gets neither, and "proto h2" on its backend
// server (upstream is then the h2c upstream).
func (b *bench) startHAProxy(ctx context.Context, name, upstream string) (*target, error) {
	h1, err1 := addr()
	h2, err2 := addr()
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	h2up := name == targetHAProxyH2Up
	x := peerExtras{H2CAddr: h2, H2Backend: h2up}
	if h2up {
		x.H2CAddr, h2 = "", ""
	}
	if b.tls != nil && !h2up {
		var err error
		if x.TLSAddr, err = addr(); err != nil {
			return nil, err
		}
		x.CombinedFile = b.tls.Combined
	}
	conf, err := haproxyConfig(upstream, h1, x)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, name)
	path, err := writeFile(dir, "haproxy.cfg", []byte(conf))
	if err != nil {
		return nil, err
	}
	p, err := b.sup.start(startSpec{name: b.logName(name), argv: []string{
		"haproxy", "-f", path, "-db", "-p", filepath.Join(dir, "haproxy.pid"),
	}})
	if err != nil {
		return nil, err
	}
	if err := waitHTTPReady(ctx, p, h1, b.cfg.readyTimeout); err != nil {
		return nil, err
	}
	if h2 != "" {
		if err := probeHTTP(h2); err == nil {
			return nil, fmt.Errorf("haproxy h2c listener %s answered HTTP/1.1: not h2c", h2)
		}
	}
	return &target{Name: name, H1Addr: h1, H2Addr: h2, TLSAddr: x.TLSAddr, H2Up: h2up, proc: p}, nil
}

// startFerry writes ferry's JSON config for the scheduler policy and
// starts "ferry start -c FILE". The base targets (variant "") get the h2c
// and TLS listeners; ferry-metrics gets the prometheus sink, scraped once
// per measured run; ferry-accesslog an access log to a file; ferry-hc a
// health check of its upstream host every healthInterval; ferry-h2up
// upstream_protocol Http2 (upstream is then the h2c upstream).
func (b *bench) startFerry(ctx context.Context, name, policy, upstream string) (*target, error) {
	o := ferryOpts{upstream: upstream, policy: policy}
	var err error
	if o.h1, err = addr(); err != nil {
		return nil, err
	}
	base := !caseOnly(name)
	if name == targetFerryH2Up {
		o.upstreamProto = "Http2"
	}
	if b.cfg.ferryH2C && base { // the ferry h2c target: one flag, same code path as nginx's
		if o.h2, err = addr(); err != nil {
			return nil, err
		}
	}
	if b.tls != nil && base {
		if o.tlsAddr, err = addr(); err != nil {
			return nil, err
		}
		o.certFile, o.keyFile = b.tls.Cert, b.tls.Key
	}
	scrapeURL := ""
	switch name {
	case targetFerryMetrics:
		if o.metricsPort, err = freePort(); err != nil {
			return nil, err
		}
		scrapeURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", o.metricsPort)
	case targetFerryAccessLog:
		o.accessLog = filepath.Join(b.tmp, name+"-access.log")
	case targetFerryHealth:
		o.healthCheck = true
	}
	conf, err := ferryConfig(o)
	if err != nil {
		return nil, err
	}
	path, err := writeFile(filepath.Join(b.work, "ferry"), name+".json", conf)
	if err != nil {
		return nil, err
	}
	bin := b.bins.ferry
	if name == targetFerryB {
		bin = b.bins.ferryB
	}
	p, err := b.sup.start(startSpec{name: b.logName(name), argv: []string{bin, "start", "-c", path}})
	if err != nil {
		return nil, err
	}
	if err := waitHTTPReady(ctx, p, o.h1, b.cfg.readyTimeout); err != nil {
		return nil, err
	}
	t := &target{Name: name, H1Addr: o.h1, H2Addr: o.h2, TLSAddr: o.tlsAddr, H2Up: o.upstreamProto == "Http2",
		ScrapeURL: scrapeURL, proc: p}
	if o.accessLog != "" {
		t.logFiles = []string{o.accessLog}
	}
	if scrapeURL != "" {
		if msg := scrape(scrapeURL); msg != "" {
			return nil, fmt.Errorf("metrics sink: %s", msg)
		}
	}
	return t, nil
}

// scrape fetches a prometheus endpoint on 127.0.0.1 and returns "" when it
// answered 200 with exposition text, else what went wrong.
func scrape(url string) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url) // no context: bounded by the client's timeout
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close() // read-only: nothing to report on close
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch {
	case err != nil:
		return err.Error()
	case resp.StatusCode != http.StatusOK:
		return "status " + resp.Status
	case !strings.Contains(string(body), "# TYPE "):
		return "no exposition text in the answer"
	}
	return ""
}

// truncateLogs records the size of t's access logs and empties them, so
// that a long run does not fill the disk; 0 for a target without one.
// The servers open them with O_APPEND and go on writing at the new end.
func (t *target) truncateLogs() int64 {
	var n int64
	for _, f := range t.logFiles {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
		_ = os.Truncate(f, 0) // a missing log shows as 0 bytes written
	}
	return n
}

// startForwarder starts bench/forwarder in front of the upstream. It speaks
// whatever the client speaks, byte for byte, but the upstream is HTTP/1.1
// only, so it gets no h2c listener and the h2 cases skip it.
func (b *bench) startForwarder(ctx context.Context, upstream string) (*target, error) {
	h1, err := addr() // an explicit port: every loop binds it with SO_REUSEPORT
	if err != nil {
		return nil, err
	}
	p, err := b.sup.start(startSpec{name: b.logName(targetForwarder), argv: []string{
		b.bins.forwarder, "-addr", h1, "-upstream", upstream,
	}})
	if err != nil {
		return nil, err
	}
	if err := waitHTTPReady(ctx, p, h1, b.cfg.readyTimeout); err != nil {
		return nil, err
	}
	return &target{Name: targetForwarder, H1Addr: h1, proc: p}, nil
}

// startTargets starts every selected target after the upstream. A proxy
// that fails to start is noted and skipped; the upstream must start.
func (b *bench) startTargets(ctx context.Context, missing map[string]bool) (up *target, ts []*target, err error) {
	up, err = b.startUpstream(ctx, false)
	if err != nil {
		return nil, nil, fmt.Errorf("upstream: %w", err)
	}
	b.logf("upstream listening on %s (pid %d)", up.H1Addr, up.proc.Pid())
	b.targets = []*target{up}
	// The h2c upstream runs only for the cases that proxy to it; a
	// failure to start it leaves its targets out, with a note.
	h2upSkip := "skip"
	if slices.ContainsFunc(b.rep.Cases, func(c benchCase) bool { return c.H2Upstream }) {
		if b.h2Upstream, err = b.startUpstream(ctx, true); err != nil {
			if ctx.Err() != nil {
				return up, nil, ctx.Err()
			}
			b.note("the h2c upstream did not start, so the h2c-upstream targets are skipped: %s", oneLine(err.Error()))
		} else {
			b.logf("h2c upstream listening on %s (pid %d)", b.h2Upstream.H1Addr, b.h2Upstream.proc.Pid())
			b.targets = append(b.targets, b.h2Upstream) // measured CPU; restartTargets leaves it running
			h2upSkip = ""
		}
	}
	defer func() {
		for _, t := range ts {
			if t != up {
				b.targets = append(b.targets, t)
			}
		}
	}()
	// autoVariant starts ferry-auto with one feature on (variantOf).
	autoVariant := func(name string) func() (*target, error) {
		return func() (*target, error) { return b.startFerry(ctx, name, "auto", up.H1Addr) }
	}
	starters := []struct {
		name  string
		skip  string
		start func() (*target, error)
	}{
		{name: targetDirect, start: func() (*target, error) { return up, nil }},
		{name: targetForwarder, skip: binSkip(b.bins.forwarder), start: func() (*target, error) {
			return b.startForwarder(ctx, up.H1Addr)
		}},
		{name: targetFerryAuto, skip: binSkip(b.bins.ferry), start: func() (*target, error) {
			return b.startFerry(ctx, targetFerryAuto, "auto", up.H1Addr)
		}},
		{name: targetFerryB, skip: binSkip(b.bins.ferryB), start: func() (*target, error) {
			return b.startFerry(ctx, targetFerryB, "auto", up.H1Addr)
		}},
		{name: targetFerryPool, skip: binSkip(b.bins.ferry), start: func() (*target, error) {
			return b.startFerry(ctx, targetFerryPool, "pool", up.H1Addr)
		}},
		{name: targetFerryMetrics, skip: binSkip(b.bins.ferry), start: autoVariant(targetFerryMetrics)},
		{name: targetFerryAccessLog, skip: binSkip(b.bins.ferry), start: autoVariant(targetFerryAccessLog)},
		{name: targetFerryHealth, skip: binSkip(b.bins.ferry), start: autoVariant(targetFerryHealth)},
		{name: targetFerryH2Up, skip: binSkip(b.bins.ferry) + h2upSkip, start: func() (*target, error) {
			return b.startFerry(ctx, targetFerryH2Up, "auto", b.h2Upstream.H1Addr)
		}},
		{name: targetNginx, skip: missingSkip(missing, "nginx"), start: func() (*target, error) {
			return b.startNginx(ctx, targetNginx, up.H1Addr, "")
		}},
		{name: targetNginxAccessLog, skip: missingSkip(missing, "nginx"), start: func() (*target, error) {
			return b.startNginx(ctx, targetNginxAccessLog, up.H1Addr, filepath.Join(b.tmp, targetNginxAccessLog+"-access.log"))
		}},
		{name: targetHAProxy, skip: missingSkip(missing, "haproxy"), start: func() (*target, error) {
			return b.startHAProxy(ctx, targetHAProxy, up.H1Addr)
		}},
		{name: targetHAProxyH2Up, skip: missingSkip(missing, "haproxy") + h2upSkip, start: func() (*target, error) {
			return b.startHAProxy(ctx, targetHAProxyH2Up, b.h2Upstream.H1Addr)
		}},
	}
	for _, s := range starters {
		if !b.cfg.wantTarget(s.name) || s.skip != "" || !b.anyCaseRunsOn(s.name) {
			continue // a missing tool or binary was noted when it was found missing
		}
		t, err := s.start()
		if err != nil {
			if ctx.Err() != nil {
				return up, ts, ctx.Err()
			}
			b.note("%s skipped: it did not start: %s", s.name, oneLine(err.Error()))
			continue
		}
		b.logf("%s ready on %s (pid %d)", t.Name, t.H1Addr, t.proc.Pid())
		ts = append(ts, t)
		if s.name != targetDirect {
			if b.starters == nil {
				b.starters = make(map[string]func() (*target, error))
			}
			b.starters[s.name] = s.start
		}
	}
	return up, ts, nil
}

// logName is the supervisor name (and log file) of target name in the
// current generation: "nginx" first, "nginx.2" after the first restart.
func (b *bench) logName(name string) string {
	if b.gen == 0 {
		return name
	}
	return fmt.Sprintf("%s.%d", name, b.gen+1)
}

// restartTargets stops every proxy target and starts it again on new
// ports, before case next: each case begins with no idle upstream
// connections left by the one before. Without it, the proxies' pooled
// connections after 1k-c5000 and the 10,000 concurrent streams of
// h2load-c1000-m10 took the upstream past its descriptor budget, and the
// proxies' errors there were the harness's doing. The upstream (direct)
// keeps running. A target that cannot start again is noted; its later runs
// fail with "no longer running".
func (b *bench) restartTargets(ctx context.Context, next string) error {
	b.gen++
	for _, t := range b.targets {
		start := b.starters[t.Name]
		if start == nil {
			continue // the upstream, or a target that never started
		}
		if t.proc.exited() {
			b.note("%s had exited before case %s (%v; log %s): %s", t.Name, next, t.proc.waitErr,
				b.relPath(t.proc.logPath), oneLine(t.proc.crashSummary()))
		}
		_ = b.sup.stop(t.proc) // escalates to SIGKILL; cannot fail
		nt, err := start()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.note("%s could not be restarted before case %s: %s", t.Name, next, oneLine(err.Error()))
			continue // t keeps its stopped process: its runs fail
		}
		*t = *nt
	}
	return nil
}

// relPath is path relative to the repository root, for notes.
func (b *bench) relPath(path string) string {
	if rel, err := filepath.Rel(b.root, path); err == nil {
		return rel
	}
	return path
}

// binSkip returns "skip" when an optional binary (ferry, the forwarder) is
// unavailable; the reason was noted where the build was attempted.
func binSkip(bin string) string {
	if bin == "" {
		return "skip"
	}
	return ""
}

// anyCaseRunsOn reports whether a selected case is meant for target t: a
// base target always (the idle test uses it too), a case-only target
// (caseOnly) only when a selected case names it.
func (b *bench) anyCaseRunsOn(t string) bool {
	if !caseOnly(t) {
		return true
	}
	for _, c := range b.rep.Cases {
		if caseRunsOn(c, t) {
			return true
		}
	}
	return false
}

func missingSkip(missing map[string]bool, bin string) string {
	if missing[bin] {
		return "skip"
	}
	return ""
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
