package app

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/upstream"
)

// Active health checks and outlier detection (upstream/health.go,
// upstream/outlier.go) are wired here: the specs from the config, the
// checker and its dialer, the loops it runs on, and the per-cluster
// metrics.
//
// The checker runs on the event loops, and eventloop knows a loop only
// once it has had a connection (gnet exposes a loop only through one). So
// when a cluster has health checks, Start connects to ferry's own first
// plain-text listener (a TLS one when there is none) from one short-lived
// goroutine until every loop is up, at most 4 connections per loop, each
// closed at once: they count as downstream connections and carry no
// request. A loop that still comes up later joins at its first connection
// (HealthChecker's KnownLoops).

// healthState is the App's health checking.
type healthState struct {
	hc     *upstream.HealthChecker
	dialer *conn.TCPDialer
	// warm is the loop warm-up goroutine, waited for by stopHealth.
	warm sync.WaitGroup
	// stop ends the warm-up early.
	stop chan struct{}
}

// healthSpecs translates a cluster's health_check and outlier_detection
// (validated) into upstream's specs.
func healthSpecs(c *config.Cluster) (*upstream.HealthCheckSpec, *upstream.OutlierSpec) {
	var hs *upstream.HealthCheckSpec
	if h := c.HealthCheck; h != nil {
		hs = &upstream.HealthCheckSpec{Protocol: upstream.HealthTCP, Timeout: h.ProbeTimeout(), Interval: h.Interval.Std(),
			IntervalJitter: h.IntervalJitter.Std(), HealthyThreshold: h.HealthyThreshold, UnhealthyThreshold: h.UnhealthyThreshold}
		if h.Kind() == config.HealthKindHTTP1 {
			hc := h.HTTP()
			hs.Protocol, hs.Path, hs.Port, hs.Method, hs.Host = upstream.HealthHTTP, hc.Path, int(hc.Port), h.Method, h.Host
			for _, r := range h.ExpectedStatuses {
				hs.ExpectedStatuses = append(hs.ExpectedStatuses, upstream.StatusRange{Start: r.Start, End: r.End})
			}
		}
	}
	var os *upstream.OutlierSpec
	if o := c.OutlierDetection; o != nil {
		v := o.Values()
		os = &upstream.OutlierSpec{Consecutive5xx: v.Consecutive5xx, ConsecutiveGatewayFailure: v.ConsecutiveGatewayFailure,
			ConsecutiveConnectFailure: v.ConsecutiveConnectFailure, Interval: v.Interval, BaseEjectionTime: v.BaseEjectionTime,
			MaxEjectionTime: v.MaxEjectionTime, MaxEjectionPercent: v.MaxEjectionPercent}
	}
	return hs, os
}

// startHealth creates the checker over the clusters (it follows their
// reloads) and, when some cluster is checked, brings the loops up for it.
// Control goroutine, after the engine started.
func (a *App) startHealth() error {
	d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: a.workers.Submit, KeepAlive: -1})
	if err != nil {
		return err
	}
	hc, err := upstream.NewHealthChecker(upstream.HealthCheckerOptions{Clusters: a.clusters, Dialer: d,
		Loops: a.eng.NumLoops(), KnownLoops: a.eng.Loops})
	if err != nil {
		return err
	}
	a.health.hc, a.health.dialer, a.health.stop = hc, d, make(chan struct{})
	for _, l := range a.eng.Loops() {
		hc.AddLoop(l)
	}
	if !hc.Enabled() || len(a.eng.Loops()) >= a.eng.NumLoops() {
		return nil
	}
	a.health.warm.Add(1)
	go func() {
		defer a.health.warm.Done()
		a.warmLoops()
	}()
	return nil
}

// warmLoops connects to ferry's own listener until every loop is up, and
// hands each loop to the checker as it comes.
func (a *App) warmLoops() {
	addr := a.warmAddr()
	want := a.eng.NumLoops()
	for i := 0; i < 4*want && addr != "" && len(a.eng.Loops()) < want; i++ {
		n := len(a.eng.Loops())
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		// The loop that accepts it comes up in its OnOpen: wait for that
		// (or a moment), then let the connection go.
		deadline := time.Now().Add(200 * time.Millisecond)
		for len(a.eng.Loops()) == n && time.Now().Before(deadline) {
			select {
			case <-a.health.stop:
				_ = c.Close()
				return
			case <-time.After(time.Millisecond):
			}
		}
		_ = c.Close()
		for _, l := range a.eng.Loops() {
			a.health.hc.AddLoop(l)
		}
	}
}

// warmAddr is a dialable address of ferry's first plain-text listener
// (else its first), or "".
func (a *App) warmAddr() string {
	addrs := a.eng.Addrs()
	pick := -1
	ls := a.eng.Listeners()
	for i, l := range ls {
		if i < len(addrs) && addrs[i] != nil && !l.Removed() && !l.Spare() &&
			(pick < 0 || l.Chain().TLS == nil && ls[pick].Chain().TLS != nil) {
			pick = i
		}
	}
	if pick < 0 {
		return ""
	}
	ta, ok := addrs[pick].(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if ta.IP != nil && ta.IP.To4() == nil {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// stopHealth stops the probes and waits for their dials, before the
// engine stops (a dial stranded in gnet's Enroll would leak). Control
// goroutine.
func (a *App) stopHealth(ctx context.Context) error {
	if a.health.hc == nil {
		return nil
	}
	close(a.health.stop)
	a.health.warm.Wait()
	a.health.hc.Stop()
	return a.health.dialer.Quiesce(ctx)
}

// clusterHealthCollector exports each cluster's host health, health
// check results, outlier ejections and panic-mode picks, read at scrape
// time.
type clusterHealthCollector struct {
	a                                                 *App
	healthy, unhealthy, checkFailed, ejected          *prometheus.Desc
	checksOK, checksFailed, ejections, capped, panics *prometheus.Desc
}

func newClusterHealthCollector(a *App) *clusterHealthCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("ferry_cluster_"+name, help, []string{"cluster"}, nil)
	}
	return &clusterHealthCollector{a: a,
		healthy:      d("hosts_healthy", "Hosts in rotation."),
		unhealthy:    d("hosts_unhealthy", "Hosts out of rotation: failed health checks, ejected, or both."),
		checkFailed:  d("hosts_health_check_failed", "Hosts that active health checks hold out of rotation."),
		ejected:      d("hosts_ejected", "Hosts that outlier detection holds out of rotation."),
		checksOK:     d("health_check_success_total", "Health check probes that passed."),
		checksFailed: d("health_check_failure_total", "Health check probes that failed."),
		ejections:    d("outlier_ejections_total", "Outlier ejections."),
		capped:       d("outlier_ejections_capped_total", "Ejections that max_ejection_percent prevented."),
		panics:       d("lb_panic_total", "Picks made in panic mode: no host was healthy, so every host could be picked (Envoy's upstream_cluster_lb_panic)."),
	}
}

// Describe implements prometheus.Collector.
func (c *clusterHealthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.healthy, c.unhealthy, c.checkFailed, c.ejected, c.checksOK, c.checksFailed,
		c.ejections, c.capped, c.panics} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *clusterHealthCollector) Collect(ch chan<- prometheus.Metric) {
	if c.a.clusters == nil {
		return
	}
	for _, cl := range c.a.clusters.Clusters() {
		s, name := cl.Stats(), cl.Name()
		g := func(d *prometheus.Desc, v int) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), name)
		}
		n := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		}
		g(c.healthy, s.Healthy)
		g(c.unhealthy, s.Unhealthy)
		g(c.checkFailed, s.CheckFailed)
		g(c.ejected, s.Ejected)
		n(c.checksOK, s.ChecksPassed)
		n(c.checksFailed, s.ChecksFailed)
		n(c.ejections, s.Ejections)
		n(c.capped, s.EjectionsCapped)
		n(c.panics, s.LBPanics)
	}
}
