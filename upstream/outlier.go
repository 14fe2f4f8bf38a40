package upstream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// OutlierSpec configures a cluster's outlier detection: passive health
// checking from the outcomes of real requests. The field names are
// Envoy's (outlier_detection); MOSN has none. A zero detector threshold
// turns that detector off.
type OutlierSpec struct {
	// Consecutive5xx ejects a host after this many 5xx answers in a row
	// (any response status from 500 to 599, and the 502/504 ferry
	// records for an upstream reset or timeout).
	Consecutive5xx uint32
	// ConsecutiveGatewayFailure ejects a host after this many 502, 503 or
	// 504 in a row.
	ConsecutiveGatewayFailure uint32
	// ConsecutiveConnectFailure ejects a host after this many failed
	// connection attempts in a row. ferry's name: Envoy's closest is
	// consecutive_local_origin_failure (with
	// split_external_local_origin_errors), which also counts resets and
	// timeouts; ferry counts those as 502/504 answers instead.
	ConsecutiveConnectFailure uint32
	// Interval is how fast a host's ejection multiplier decays: it drops
	// by one for every Interval the host stays in rotation (Envoy lowers
	// it once per sweep interval). Required.
	Interval time.Duration
	// BaseEjectionTime is the first ejection's length; the n-th ejection
	// in a row lasts n times as long. Required.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection's length; at least
	// BaseEjectionTime.
	MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of the cluster's hosts ejected at
	// once, 0..100; one host may always be ejected (as in Envoy).
	MaxEjectionPercent uint32
}

// validate checks the spec; errors name the field (Envoy's name).
func (s *OutlierSpec) validate() error {
	switch {
	case s.Consecutive5xx == 0 && s.ConsecutiveGatewayFailure == 0 && s.ConsecutiveConnectFailure == 0:
		return errors.New("outlier_detection: every detector is off (consecutive_5xx, consecutive_gateway_failure and consecutive_connect_failure are 0)")
	case s.Interval <= 0:
		return fmt.Errorf("outlier_detection.interval: %v is not positive", s.Interval)
	case s.BaseEjectionTime <= 0:
		return fmt.Errorf("outlier_detection.base_ejection_time: %v is not positive", s.BaseEjectionTime)
	case s.MaxEjectionTime < s.BaseEjectionTime:
		return fmt.Errorf("outlier_detection.max_ejection_time: %v is below base_ejection_time %v", s.MaxEjectionTime, s.BaseEjectionTime)
	case s.MaxEjectionPercent > 100:
		return fmt.Errorf("outlier_detection.max_ejection_percent: %d is above 100", s.MaxEjectionPercent)
	}
	return nil
}

// outlierDetector is one cluster's outlier detection, built with the
// Cluster (so immutable but for its lock). Hosts point at it
// (outlierHost.det) until a reload builds the next one.
type outlierDetector struct {
	spec  OutlierSpec
	hosts []*Host
	stats *clusterStats
	// mu serialises ejections, so that two loops ejecting at once cannot
	// both pass max_ejection_percent. Ejections are rare; Pick never
	// takes it.
	mu sync.Mutex
}

// outlierHost is a host's outlier detection state. The counters are
// atomics: the requests of one host run on every loop.
type outlierHost struct {
	det atomic.Pointer[outlierDetector]
	// c5xx, cgw and cconn are the consecutive 5xx, gateway failures and
	// connect failures.
	c5xx, cgw, cconn atomic.Uint32
	// mult is the ejection multiplier (ejections in a row, decayed).
	mult atomic.Uint32
	// until is when the current ejection ends (unix ns), 0 when in.
	until atomic.Int64
	// back is when the host last returned (unix ns), for the decay.
	back atomic.Int64
	// total counts the host's ejections.
	total atomic.Uint64
	// timer ends the ejection. It is armed by the loop that ejected the
	// host, and only while the host is ejected: an ejection excludes the
	// next, so one loop at a time owns it.
	timer conn.Timer
}

// returnTimer is a Host as the handler of its ejection timer.
type returnTimer Host

// OnTimer implements conn.TimerHandler: the ejection is over.
func (r *returnTimer) OnTimer(*conn.Timer) { (*Host)(r).uneject() }

// Outcome records the status of a response the host answered, or the
// status ferry stands in for a failure (502 for a reset, 504 for a
// timeout), for outlier detection. l is the loop of the request (an
// ejection arms its return there). Without outlier_detection it costs a
// load and a nil check. Any goroutine.
func (h *Host) Outcome(l *conn.Loop, status int) {
	d := h.od.det.Load()
	if d == nil {
		return
	}
	d.outcome(h, l, status)
}

// ConnectFailed records a failed connection attempt for outlier detection
// (consecutive_connect_failure). Any goroutine.
func (h *Host) ConnectFailed(l *conn.Loop) {
	d := h.od.det.Load()
	if d == nil {
		return
	}
	o := &h.od
	if t := d.spec.ConsecutiveConnectFailure; t > 0 && o.cconn.Add(1) >= t {
		o.cconn.Store(0)
		d.eject(h, l)
	}
}

func (d *outlierDetector) outcome(h *Host, l *conn.Loop, status int) {
	o := &h.od
	if status < 500 {
		// A success: stores only when a count is running, so that a
		// healthy host's counters stay read-only (shared cache lines).
		if o.c5xx.Load() != 0 {
			o.c5xx.Store(0)
		}
		if o.cgw.Load() != 0 {
			o.cgw.Store(0)
		}
		if o.cconn.Load() != 0 {
			o.cconn.Store(0)
		}
		return
	}
	eject := false
	if t := d.spec.Consecutive5xx; t > 0 && o.c5xx.Add(1) >= t {
		o.c5xx.Store(0)
		eject = true
	}
	if status >= 502 && status <= 504 {
		if t := d.spec.ConsecutiveGatewayFailure; t > 0 && o.cgw.Add(1) >= t {
			o.cgw.Store(0)
			eject = true
		}
	} else if o.cgw.Load() != 0 {
		o.cgw.Store(0)
	}
	if eject {
		d.eject(h, l)
	}
}

// eject takes h out of rotation for BaseEjectionTime × its multiplier
// (capped by MaxEjectionTime), unless it is out already or
// MaxEjectionPercent of the cluster is ejected. The return is a timer on
// l. Any goroutine.
func (d *outlierDetector) eject(h *Host, l *conn.Loop) {
	d.mu.Lock()
	if h.down.Load()&downEjected != 0 || h.Removed() {
		d.mu.Unlock()
		return
	}
	ejected := 0
	for _, x := range d.hosts {
		if x.down.Load()&downEjected != 0 {
			ejected++
		}
	}
	if ejected > 0 && (ejected+1)*100 > int(d.spec.MaxEjectionPercent)*len(d.hosts) {
		d.mu.Unlock()
		d.stats.ejectionsCapped.Add(1)
		return
	}
	now := time.Now().UnixNano()
	o := &h.od
	mult := o.mult.Load()
	if back := o.back.Load(); back > 0 && mult > 0 {
		decay := uint64((now - back) / int64(d.spec.Interval))
		mult -= uint32(min(uint64(mult), decay))
	}
	mult++
	o.mult.Store(mult)
	dur := min(d.spec.BaseEjectionTime*time.Duration(mult), d.spec.MaxEjectionTime)
	o.until.Store(now + int64(dur))
	o.total.Add(1)
	d.stats.ejections.Add(1)
	h.setDown(downEjected, true)
	d.mu.Unlock()
	if err := l.Execute(func() { l.Schedule(&o.timer, dur) }); err != nil {
		h.uneject() // the engine is stopping: nobody would bring it back
	}
}

// uneject puts the host back in rotation. The down bit is cleared last:
// it hands the timer over to whichever loop ejects the host next.
func (h *Host) uneject() {
	o := &h.od
	o.back.Store(time.Now().UnixNano())
	o.until.Store(0)
	h.setDown(downEjected, false)
}

// Ejected reports whether outlier detection holds the host out of
// rotation. Any goroutine.
func (h *Host) Ejected() bool { return h.down.Load()&downEjected != 0 }

// EjectedUntil is when the host's current ejection ends, or the zero
// time when it is in rotation. Any goroutine.
func (h *Host) EjectedUntil() time.Time {
	if u := h.od.until.Load(); u != 0 {
		return time.Unix(0, u)
	}
	return time.Time{}
}

// Ejections is the number of times outlier detection ejected the host.
// Any goroutine.
func (h *Host) Ejections() uint64 { return h.od.total.Load() }

// EjectionMultiplier is the host's current ejection multiplier (its
// ejections in a row, before the decay of the next one). Any goroutine.
func (h *Host) EjectionMultiplier() uint32 { return h.od.mult.Load() }

// clusterStats are a cluster's counters; a reload that keeps the cluster
// name keeps them.
type clusterStats struct {
	// panics counts picks made in panic mode (no healthy host).
	panics atomic.Uint64
	// ejections counts outlier ejections; ejectionsCapped the ejections
	// max_ejection_percent prevented.
	ejections       atomic.Uint64
	ejectionsCapped atomic.Uint64
}

// ClusterStats is a snapshot of a cluster's counters.
type ClusterStats struct {
	// LBPanics counts picks made in panic mode: no host was healthy, so
	// the pick ignored health (upstream_cluster_lb_panic).
	LBPanics uint64
	// Ejections counts outlier ejections.
	Ejections uint64
	// EjectionsCapped counts the ejections max_ejection_percent
	// prevented.
	EjectionsCapped uint64
	// Healthy and Unhealthy count the hosts in and out of rotation.
	Healthy, Unhealthy int
	// CheckFailed counts the hosts that active health checks hold out.
	CheckFailed int
	// Ejected counts the hosts that outlier detection holds out.
	Ejected int
	// ChecksPassed and ChecksFailed sum the hosts' health check results.
	ChecksPassed, ChecksFailed uint64
}

// Stats returns the cluster's counters and host states. Any goroutine.
func (c *Cluster) Stats() ClusterStats {
	s := ClusterStats{LBPanics: c.stats.panics.Load(), Ejections: c.stats.ejections.Load(),
		EjectionsCapped: c.stats.ejectionsCapped.Load()}
	for _, h := range c.b.hosts {
		d := h.down.Load()
		if d == 0 {
			s.Healthy++
		} else {
			s.Unhealthy++
		}
		if d&downCheck != 0 {
			s.CheckFailed++
		}
		if d&downEjected != 0 {
			s.Ejected++
		}
		s.ChecksPassed += h.hc.passed.Load()
		s.ChecksFailed += h.hc.failed.Load()
	}
	return s
}

// pickPanic is the pick of a cluster in panic mode (no healthy host, or
// fewer than ClusterSpec.PanicThreshold: lb_panic.go): the policy's draw,
// health ignored, avoiding exclude when another host exists. Counted in
// ClusterStats.LBPanics.
func (c *Cluster) pickPanic(exclude *Host) *Host {
	b := c.b
	n := len(b.hosts)
	if n == 0 {
		return nil
	}
	c.stats.panics.Add(1)
	if n == 1 {
		return b.hosts[0]
	}
	i := b.draw(exclude)
	if b.hosts[i] == exclude {
		i = (i + 1) % n
	}
	return b.hosts[i]
}

// attachOutlier points the hosts of a freshly built cluster at its
// detector, or at none.
func (c *Cluster) attachOutlier() {
	var d *outlierDetector
	if c.Spec.Outlier != nil {
		d = &outlierDetector{spec: *c.Spec.Outlier, hosts: c.b.hosts, stats: c.stats}
	}
	for _, h := range c.b.hosts {
		h.od.det.Store(d)
	}
}
