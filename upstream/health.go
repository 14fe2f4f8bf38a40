package upstream

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/gopkg/lang/fastrand"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

// HealthProtocol is what an active health check probe speaks.
type HealthProtocol uint8

// Health check protocols.
const (
	// HealthTCP: a probe is a TCP connect; it passes when the connection
	// opens within the timeout.
	HealthTCP HealthProtocol = iota + 1
	// HealthHTTP: a probe is an HTTP/1.1 request on a fresh connection
	// (Connection: close); it passes when the response status is in the
	// expected ranges.
	HealthHTTP
)

// StatusRange is a range of HTTP statuses, [Start, End) as Envoy's
// expected_statuses.
type StatusRange struct{ Start, End int }

// HealthCheckSpec configures a cluster's active health checks.
type HealthCheckSpec struct {
	// Protocol is HealthTCP or HealthHTTP.
	Protocol HealthProtocol
	// Timeout bounds one probe (connect, and for HTTP the response head).
	// Positive, below Interval.
	Timeout time.Duration
	// Interval is the period between two probes of a host. Positive.
	Interval time.Duration
	// IntervalJitter adds a random [0, IntervalJitter) to each period.
	IntervalJitter time.Duration
	// HealthyThreshold is the passes in a row that bring a host back.
	// At least 1.
	HealthyThreshold uint32
	// UnhealthyThreshold is the failures in a row that take a host out
	// of rotation. At least 1.
	UnhealthyThreshold uint32
	// Path is the HTTP request target, origin-form ("/healthz"). Empty
	// means "/".
	Path string
	// Port, when non-zero, is probed instead of the host's port.
	Port int
	// Method is the HTTP method; empty means GET.
	Method string
	// Host is the Host header; empty means the host's address.
	Host string
	// ExpectedStatuses are the passing statuses; empty means 200 only.
	ExpectedStatuses []StatusRange
}

// maxProbeHead bounds the bytes an HTTP probe reads: a response head
// larger than this fails the probe.
const maxProbeHead = 8 << 10

// validate checks the spec; errors name the field (MOSN's or ferry's
// config name under health_check).
func (s *HealthCheckSpec) validate() error {
	switch {
	case s.Protocol != HealthTCP && s.Protocol != HealthHTTP:
		return fmt.Errorf("health_check.protocol: unknown protocol %d", s.Protocol)
	case s.Interval <= 0:
		return fmt.Errorf("health_check.interval: %v is not positive", s.Interval)
	case s.Timeout <= 0:
		return fmt.Errorf("health_check.timeout: %v is not positive", s.Timeout)
	case s.Timeout >= s.Interval:
		return fmt.Errorf("health_check.timeout: %v is not below interval %v", s.Timeout, s.Interval)
	case s.IntervalJitter < 0:
		return fmt.Errorf("health_check.interval_jitter: %v is negative", s.IntervalJitter)
	case s.HealthyThreshold == 0:
		return errors.New("health_check.healthy_threshold: 0, want at least 1")
	case s.UnhealthyThreshold == 0:
		return errors.New("health_check.unhealthy_threshold: 0, want at least 1")
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("health_check.check_config.http_check_config.port: %d is not in 0..65535", s.Port)
	}
	if s.Protocol != HealthHTTP {
		return nil
	}
	if s.Path != "" && (s.Path[0] != '/' || !printable(s.Path)) {
		return fmt.Errorf("health_check.check_config.http_check_config.path: %q is not an origin-form path (\"/...\", no spaces or control characters)", s.Path)
	}
	if s.Method != "" && !http1.IsToken(s.Method) {
		return fmt.Errorf("health_check.method: %q is not an HTTP method token", s.Method)
	}
	if s.Host != "" && !printable(s.Host) {
		return fmt.Errorf("health_check.host: %q has spaces or control characters", s.Host)
	}
	for i, r := range s.ExpectedStatuses {
		if r.Start < 100 || r.End > 600 || r.Start >= r.End {
			return fmt.Errorf("health_check.expected_statuses[%d]: [%d, %d) is not a non-empty range within [100, 600)", i, r.Start, r.End)
		}
	}
	return nil
}

// printable reports whether s has only visible ASCII.
func printable(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// clone returns a copy of s that shares nothing with it.
func (s *HealthCheckSpec) clone() *HealthCheckSpec {
	c := *s
	c.ExpectedStatuses = append([]StatusRange(nil), s.ExpectedStatuses...)
	return &c
}

// expects reports whether status passes the check.
func (s *HealthCheckSpec) expects(status int) bool {
	if len(s.ExpectedStatuses) == 0 {
		return status == 200
	}
	for _, r := range s.ExpectedStatuses {
		if status >= r.Start && status < r.End {
			return true
		}
	}
	return false
}

// healthStats is a host's health check record. Atomics: the probing loop
// writes, admin and metrics read.
type healthStats struct {
	passed, failed atomic.Uint64
	// last is the last probe's verdict: 0 none yet, 1 passed, 2 failed.
	last atomic.Uint32
}

// Health check verdicts, as HealthCheckResult reports them.
const (
	CheckNone   = ""
	CheckPassed = "passed"
	CheckFailed = "failed"
)

// HealthCheckResult is the host's last health check verdict: CheckNone
// (no check yet, or none configured), CheckPassed or CheckFailed. Any
// goroutine.
func (h *Host) HealthCheckResult() string {
	switch h.hc.last.Load() {
	case 1:
		return CheckPassed
	case 2:
		return CheckFailed
	}
	return CheckNone
}

// CheckFailedNow reports whether active health checks hold the host out of
// rotation. Any goroutine.
func (h *Host) CheckFailedNow() bool { return h.down.Load()&downCheck != 0 }

// HealthChecks returns the host's passed and failed probes. Any goroutine.
func (h *Host) HealthChecks() (passed, failed uint64) { return h.hc.passed.Load(), h.hc.failed.Load() }

// HealthCheckerOptions configures a HealthChecker.
type HealthCheckerOptions struct {
	// Clusters is the Manager whose clusters are checked; the checker
	// follows its updates. Required.
	Clusters *Manager
	// Dialer opens the probes' connections. Required.
	Dialer conn.Dialer
	// Loops is the number of event loops: host i is probed on loop
	// i mod Loops. Required.
	Loops int
	// KnownLoops, when set, lists the loops that exist so far (the
	// engine's Loops); the checker adopts those it has not met at every
	// probe and update, so a loop that comes up late takes its share.
	KnownLoops func() []*conn.Loop
}

// HealthChecker runs the active health checks of a Manager's clusters on
// the event loops: every checked host has one probe, owned by one loop
// (the host's creation number mod the loops), driven by a loop timer. No
// goroutine per host or per probe: a dial runs on the Dialer's worker like
// a pooled connection's, and the probe's connection on its loop.
type HealthChecker struct {
	m       *Manager
	dialer  conn.Dialer
	n       int
	knownFn func() []*conn.Loop

	// mu guards loops and assign (control side: updates, adoptions).
	mu     sync.Mutex
	loops  []*loopChecks // by loop index; nil until the loop is met
	assign [][]checkItem // the probes of each loop index
	known  atomic.Int32  // loops met
	// stopped ends every probe at its next event.
	stopped atomic.Bool
}

// checkItem is one host to probe and its cluster's spec.
type checkItem struct {
	h    *Host
	spec *HealthCheckSpec
	// dialer is the cluster's own (ClusterSpec.Dialer: TLS to its
	// hosts), nil for the checker's.
	dialer conn.Dialer
}

// NewHealthChecker returns a checker following o.Clusters. It probes
// nothing until it meets a loop (AddLoop, or KnownLoops at an update).
// Any goroutine.
func NewHealthChecker(o HealthCheckerOptions) (*HealthChecker, error) {
	switch {
	case o.Clusters == nil:
		return nil, errors.New("upstream: health checker: Clusters is required")
	case o.Dialer == nil:
		return nil, errors.New("upstream: health checker: Dialer is required")
	case o.Loops <= 0:
		return nil, fmt.Errorf("upstream: health checker: Loops is %d, want at least 1", o.Loops)
	}
	hc := &HealthChecker{m: o.Clusters, dialer: o.Dialer, n: o.Loops, knownFn: o.KnownLoops,
		loops: make([]*loopChecks, o.Loops)}
	o.Clusters.onChange(hc.update)
	return hc, nil
}

// Enabled reports whether any current cluster has health checks. Any
// goroutine.
func (hc *HealthChecker) Enabled() bool {
	for _, c := range hc.m.Clusters() {
		if c.Spec.HealthCheck != nil {
			return true
		}
	}
	return false
}

// update is Manager.Update's hook: it hands each met loop its new list.
func (hc *HealthChecker) update(list []*Cluster) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.assignLocked(list)
	for i, lc := range hc.loops {
		if lc != nil {
			lc.post(hc.assign[i])
		}
	}
	hc.adoptLocked()
}

// assignLocked splits the checked hosts of list over the loops.
func (hc *HealthChecker) assignLocked(list []*Cluster) {
	assign := make([][]checkItem, hc.n)
	for _, c := range list {
		if c.Spec.HealthCheck == nil {
			continue
		}
		for _, h := range c.b.hosts {
			i := h.seq % uint64(hc.n)
			assign[i] = append(assign[i], checkItem{h: h, spec: c.Spec.HealthCheck, dialer: c.Spec.Dialer})
		}
	}
	hc.assign = assign
}

// AddLoop starts the probes of loop l's share (a no-op for a loop
// already met or past Loops). Any goroutine.
func (hc *HealthChecker) AddLoop(l *conn.Loop) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.addLocked(l)
}

func (hc *HealthChecker) addLocked(l *conn.Loop) {
	if l.Index >= hc.n || hc.loops[l.Index] != nil || hc.stopped.Load() {
		return
	}
	if hc.assign == nil {
		hc.assignLocked(hc.m.snap.Load().list)
	}
	lc := &loopChecks{hc: hc, l: l, probes: map[*Host]*probe{}}
	hc.loops[l.Index] = lc
	hc.known.Add(1)
	lc.post(hc.assign[l.Index])
}

// adoptLocked meets the loops KnownLoops lists.
func (hc *HealthChecker) adoptLocked() {
	if hc.knownFn == nil {
		return
	}
	for _, l := range hc.knownFn() {
		hc.addLocked(l)
	}
}

// maybeAdopt meets new loops when KnownLoops lists more than were met:
// a load and a compare when none came. Any goroutine.
func (hc *HealthChecker) maybeAdopt() {
	if hc.knownFn == nil || len(hc.knownFn()) <= int(hc.known.Load()) {
		return
	}
	hc.mu.Lock()
	hc.adoptLocked()
	hc.mu.Unlock()
}

// Stop ends the checks: probes in flight are abandoned (their connections
// closed on their loops) and none starts again. Call the Dialer's Quiesce
// after it, before stopping the engine. Any goroutine.
func (hc *HealthChecker) Stop() {
	hc.stopped.Store(true)
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, lc := range hc.loops {
		if lc != nil {
			lc.post(nil)
		}
	}
}

// Probes counts the probes of met loops' latest assignments. Any
// goroutine.
func (hc *HealthChecker) Probes() int {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	n := 0
	for i, lc := range hc.loops {
		if lc != nil {
			n += len(hc.assign[i])
		}
	}
	return n
}

// loopChecks are the probes of one loop. Loop only, but post.
type loopChecks struct {
	hc     *HealthChecker
	l      *conn.Loop
	probes map[*Host]*probe
	gen    uint64
}

// post hands the loop its new list. Any goroutine.
func (lc *loopChecks) post(items []checkItem) {
	_ = lc.l.Execute(func() { lc.reconcile(items) }) // fails only when the engine stops: nothing runs then
}

// reconcile starts the probes of new hosts (first one at a random point
// of the interval, so hosts do not probe in step), keeps the probes and
// their counts of kept hosts, and stops the rest. A host that is kept but
// no longer checked (its cluster dropped health_check) returns to
// rotation.
func (lc *loopChecks) reconcile(items []checkItem) {
	lc.gen++
	if lc.hc.stopped.Load() {
		items = nil
	}
	for _, it := range items {
		p := lc.probes[it.h]
		if p == nil {
			p = &probe{lc: lc, h: it.h}
			p.t.Init(p)
			lc.probes[it.h] = p
			p.setSpec(it.spec)
			lc.l.Schedule(&p.t, time.Duration(fastrand.Int63n(int64(it.spec.Interval))))
		} else if p.spec != it.spec {
			p.setSpec(it.spec)
		}
		p.gen, p.dialer = lc.gen, it.dialer
	}
	for h, p := range lc.probes {
		if p.gen == lc.gen {
			continue
		}
		p.stop()
		delete(lc.probes, h)
		h.setDown(downCheck, false)
		h.hc.last.Store(0)
	}
}

// probeState is where a probe is.
type probeState uint8

const (
	probeIdle    probeState = iota // waiting for its next turn
	probeDialing                   // its dial in flight
	probeWaiting                   // HTTP: request sent, response head awaited
)

// probe checks one host from one loop. Loop only.
type probe struct {
	lc    *loopChecks
	h     *Host
	spec  *HealthCheckSpec
	addr  string
	req   []byte
	t     conn.Timer
	state probeState
	gen   uint64
	// dialOut is set while a Dial has not called back; abandoned says
	// its result no longer matters (the probe timed out or stopped).
	dialOut, abandoned, gone bool
	cur                      *probeConn
	// passes and fails are the verdicts in a row.
	passes, fails uint32

	// dialer, when set, is the cluster's (TLS to its hosts): a probe goes
	// as the traffic does, never in plain text to a TLS host.
	dialer conn.Dialer
}

// setSpec takes a (new) spec: the probed address and the request bytes.
func (p *probe) setSpec(s *HealthCheckSpec) {
	p.spec = s
	p.addr = p.h.address
	if s.Port != 0 {
		if host, _, err := net.SplitHostPort(p.h.address); err == nil {
			p.addr = net.JoinHostPort(host, strconv.Itoa(s.Port))
		}
	}
	p.req = nil
	if s.Protocol == HealthHTTP {
		method, path, host := s.Method, s.Path, s.Host
		if method == "" {
			method = "GET"
		}
		if path == "" {
			path = "/"
		}
		if host == "" {
			host = p.addr
		}
		p.req = []byte(method + " " + path + " HTTP/1.1\r\nHost: " + host +
			"\r\nUser-Agent: ferry-health-check\r\nConnection: close\r\n\r\n")
	}
}

// OnTimer implements conn.TimerHandler: a probe's turn, or its timeout.
func (p *probe) OnTimer(*conn.Timer) {
	if p.gone || p.lc.hc.stopped.Load() {
		return
	}
	p.lc.hc.maybeAdopt()
	switch p.state {
	case probeIdle:
		p.start()
	case probeDialing:
		p.abandoned = true // the dial's result is dropped when it comes
		p.state = probeIdle
		p.verdict(false)
		p.next()
	case probeWaiting:
		p.finish(false)
	}
}

// start dials the host.
func (p *probe) start() {
	if p.dialOut {
		p.next() // the last dial has not called back yet: skip this turn
		return
	}
	d := p.lc.hc.dialer
	if p.dialer != nil {
		d = p.dialer
	}
	err := d.Dial(p.lc.l, p.addr, p.spec.Timeout, p)
	switch {
	case err == nil:
		p.dialOut, p.abandoned = true, false
		p.state = probeDialing
		p.lc.l.Schedule(&p.t, p.spec.Timeout)
	case errors.Is(err, conn.ErrBudget) || errors.Is(err, conn.ErrDialerBusy):
		p.next() // ferry's own shortage says nothing of the host
	default:
		p.verdict(false)
		p.next()
	}
}

// next arms the probe's next turn.
func (p *probe) next() {
	d := p.spec.Interval
	if j := p.spec.IntervalJitter; j > 0 {
		d += time.Duration(fastrand.Int63n(int64(j)))
	}
	p.lc.l.Schedule(&p.t, d)
}

// OnDialed implements conn.DialHandler.
func (p *probe) OnDialed(c *conn.Conn) {
	p.dialOut = false
	if p.abandoned || p.gone || p.lc.hc.stopped.Load() {
		p.abandoned = false
		c.Close(filterchain.CloseNow)
		return
	}
	if p.spec.Protocol == HealthTCP {
		c.Close(filterchain.CloseFlush) // connected: a TLS host hears close_notify
		p.state = probeIdle
		p.verdict(true)
		p.next()
		return
	}
	pc := &probeConn{p: p, c: c}
	c.Filters().AddReadFilter(pc)
	c.Filters().AddConnectionCallbacks(pc)
	c.Filters().InitializeReadFilters()
	p.cur = pc
	p.state = probeWaiting // the timer armed at the dial still bounds the probe
	if err := c.Write(p.req); err != nil {
		p.finish(false)
	}
}

// OnDialFailed implements conn.DialHandler.
func (p *probe) OnDialFailed(error) {
	p.dialOut = false
	if p.abandoned || p.gone {
		p.abandoned = false
		return
	}
	p.state = probeIdle
	p.verdict(false)
	p.next()
}

// finish ends an HTTP probe with its verdict.
func (p *probe) finish(ok bool) {
	if pc := p.cur; pc != nil {
		p.cur = nil
		pc.done = true
		mode := filterchain.CloseNow
		if ok {
			mode = filterchain.CloseFlush // a whole answer: close_notify on TLS
		}
		pc.c.Close(mode)
	}
	p.state = probeIdle
	p.verdict(ok)
	if !p.gone {
		p.next()
	}
}

// verdict counts a probe's result and flips the host after the
// thresholds.
func (p *probe) verdict(ok bool) {
	h := p.h
	if ok {
		h.hc.passed.Add(1)
		h.hc.last.Store(1)
		p.fails = 0
		if p.passes++; p.passes >= p.spec.HealthyThreshold && h.down.Load()&downCheck != 0 {
			h.setDown(downCheck, false)
		}
		return
	}
	h.hc.failed.Add(1)
	h.hc.last.Store(2)
	p.passes = 0
	if p.fails++; p.fails >= p.spec.UnhealthyThreshold && h.down.Load()&downCheck == 0 {
		h.setDown(downCheck, true)
	}
}

// stop ends the probe for good: its timer, its connection, and a dial in
// flight is dropped when it calls back.
func (p *probe) stop() {
	p.gone = true
	p.lc.l.Stop(&p.t)
	if p.dialOut {
		p.abandoned = true
	}
	if pc := p.cur; pc != nil {
		p.cur = nil
		pc.done = true
		pc.c.Close(filterchain.CloseNow)
	}
}

// probeConn is an HTTP probe's connection: its read filter parses the
// response head, bounded by maxProbeHead. Loop only.
type probeConn struct {
	p    *probe
	c    *conn.Conn
	resp http1.Response
	done bool
}

// InitReadCallbacks implements filterchain.ReadFilter.
func (pc *probeConn) InitReadCallbacks(filterchain.ReadCallbacks) {}

// OnNewConnection implements filterchain.ReadFilter.
func (pc *probeConn) OnNewConnection() filterchain.Status { return filterchain.Continue }

// OnData implements filterchain.ReadFilter. Bytes are left in the buffer
// until a whole head is there, so nothing is copied.
func (pc *probeConn) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	for !pc.done {
		n, err := pc.resp.Parse(buf.Bytes(), false, http1.Limits{MaxHeaderBytes: maxProbeHead})
		switch {
		case err != nil:
			pc.p.finish(false)
		case n == 0:
			if buf.Len() > maxProbeHead {
				pc.p.finish(false)
			}
			return filterchain.Stop
		case pc.resp.Status < 200:
			buf.Drain(n) // an interim response: the final one follows
		default:
			pc.p.finish(pc.p.spec.expects(pc.resp.Status))
		}
	}
	buf.Drain(buf.Len())
	return filterchain.Stop
}

// OnEvent implements filterchain.ConnectionCallbacks: a close before the
// response head fails the probe.
func (pc *probeConn) OnEvent(filterchain.ConnectionEvent) {
	if !pc.done && pc.p.cur == pc {
		pc.p.finish(false)
	}
}

var (
	_ conn.DialHandler                = (*probe)(nil)
	_ filterchain.ReadFilter          = (*probeConn)(nil)
	_ filterchain.ConnectionCallbacks = (*probeConn)(nil)
)
