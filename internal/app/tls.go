package app

import (
	"context"
	"crypto/tls"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
)

// certCheckInterval is how often certificate files are compared with the
// last load (size and modification time; docs/tls.md).
const certCheckInterval = 2 * time.Second

// tlsState is the App's TLS: the listeners' certificates and the goroutine
// that reloads them and the TLS clusters' files (upstream_tls.go).
type tlsState struct {
	// collected is set once the TLS counters are registered (at the build,
	// or by the reload that brings the first TLS listener).
	collected bool
	// mu guards stop, done and shut: Start, a reload (which may bring the
	// first cluster with files) and Shutdown.
	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
	shut bool // Shutdown stopped the watcher: nothing starts it again
	// logged is when each load failure was last logged, by its message:
	// a file that stays bad is logged once a minute, not at every check.
	logMu  sync.Mutex
	logged map[string]time.Time
}

// certErrorEvery is how often a load failure that persists is logged again.
const certErrorEvery = time.Minute

// listenerTLS builds the TLS of listener l, found at path, with the same
// checks Validate makes (config.ListenerTLS), and its certificates'
// reloaders; nil without TLS.
func (a *App) listenerTLS(l *config.Listener, path string, handshake time.Duration, p *problems) (*conn.TLSServer, []*conn.CertReloader) {
	st := config.ListenerTLS(l, path, p.add)
	if st == nil {
		return nil, nil
	}
	ctxs := make([]conn.SNIContext, 0, len(st.Contexts))
	certs := make([]*conn.CertReloader, 0, len(st.Contexts))
	for _, sc := range st.Contexts {
		r, err := conn.NewCertReloader(sc.Load, sc.Files)
		if err != nil {
			p.add(sc.Path, err.Error())
			return nil, nil
		}
		certs = append(certs, r)
		cfg := sc.Config.Clone()
		cfg.GetCertificate = r.GetCertificate
		ctxs = append(ctxs, conn.SNIContext{Config: cfg, Names: sc.Names})
	}
	cfg, err := conn.SNIConfig(ctxs)
	if err != nil {
		p.add(path, err.Error())
		return nil, nil
	}
	return &conn.TLSServer{Config: cfg, Inspector: st.Inspector, HandshakeTimeout: handshake, Submit: a.workers.Submit}, certs
}

// listenerCerts are the running TLS listeners' certificate reloaders, in
// listener and context order. Any goroutine.
func (a *App) listenerCerts() []*conn.CertReloader {
	var out []*conn.CertReloader
	if ls := a.lstate.Load(); ls != nil {
		for _, st := range *ls {
			out = append(out, st.certs...)
		}
	}
	return out
}

// watchedFiles is what the certificate watcher checks: the listeners'
// certificates and the current TLS clusters' files. Any goroutine.
func (a *App) watchedFiles() []conn.FileChecker {
	certs := a.listenerCerts()
	list := make([]conn.FileChecker, 0, len(certs))
	for _, r := range certs {
		list = append(list, r)
	}
	if m := a.upTLS.clusters.Load(); m != nil {
		for _, cd := range *m {
			if cd.watch != nil {
				list = append(list, cd.watch)
			}
		}
	}
	return list
}

// startCertWatch starts the goroutine that reloads changed certificate
// files, if there are any to watch: a TLS listener's, or a TLS cluster's.
// A reload calls it again, for a cluster it added.
func (a *App) startCertWatch() {
	a.tls.mu.Lock()
	defer a.tls.mu.Unlock()
	if a.tls.stop != nil || a.tls.shut || len(a.watchedFiles()) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.tls.stop, a.tls.done = cancel, make(chan struct{})
	go func() {
		defer close(a.tls.done)
		conn.WatchFiles(ctx, certCheckInterval, a.watchedFiles, a.certLoadFailed)
	}()
}

// certLoadFailed logs a certificate file that failed to load: at once,
// then once every certErrorEvery while the same failure persists. Entries
// of failures that stopped go at the next log. Any goroutine.
func (a *App) certLoadFailed(err error) {
	msg, now := err.Error(), time.Now()
	a.tls.logMu.Lock()
	if a.tls.logged == nil {
		a.tls.logged = map[string]time.Time{}
	}
	last, seen := a.tls.logged[msg]
	if seen && now.Sub(last) < certErrorEvery {
		a.tls.logMu.Unlock()
		return
	}
	for m, t := range a.tls.logged {
		if now.Sub(t) >= certErrorEvery {
			delete(a.tls.logged, m)
		}
	}
	a.tls.logged[msg] = now
	a.tls.logMu.Unlock()
	a.log.Error("certificate files failed to load; what was loaded before stays in use", "err", err)
}

// stopCertWatch stops the reload goroutine and waits for it.
func (a *App) stopCertWatch() {
	a.tls.mu.Lock()
	defer a.tls.mu.Unlock()
	a.tls.shut = true
	if a.tls.stop == nil {
		return
	}
	a.tls.stop()
	<-a.tls.done
	a.tls.stop = nil
}

// reloadCerts re-reads every certificate whose files changed, as a config
// reload does, and starts the watcher if the reload brought the first
// files to watch; a failure keeps the old material and is logged.
func (a *App) reloadCerts() {
	for _, r := range a.listenerCerts() {
		if _, err := r.Check(); err != nil {
			a.certLoadFailed(err)
		}
	}
	a.startCertWatch()
}

// TLSCertificates are the certificates the TLS listeners serve now, in
// listener and context order (tests and the admin API). Any goroutine.
func (a *App) TLSCertificates() []*tls.Certificate {
	certs := a.listenerCerts()
	out := make([]*tls.Certificate, len(certs))
	for i, r := range certs {
		out[i] = r.Current()
	}
	return out
}

// tlsCollector exports the TLS listeners' counters (conn.TLSStats) as
// ferry_tls_events_total{listener, event}.
type tlsCollector struct {
	a    *App
	desc *prometheus.Desc
}

func newTLSCollector(a *App) *tlsCollector {
	return &tlsCollector{a: a, desc: prometheus.NewDesc("ferry_tls_events_total",
		"TLS events on a listener: handshakes (resumed among them), failures, timeouts, shed handshakes, "+
			"input that was not TLS (plain HTTP among it), plain text served by the inspector, renegotiation "+
			"attempts and bad records (docs/tls.md, Bad input).",
		[]string{"listener", "event"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *tlsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Any goroutine.
func (c *tlsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.a.engListeners() {
		if l.Spare() || l.Chain().TLS == nil {
			continue
		}
		ts := l.Chain().TLS
		s := &ts.Stats
		for _, e := range []struct {
			name string
			v    uint64
		}{
			{"handshake", s.Handshakes.Load()}, {"resumed", s.Resumed.Load()},
			{"handshake_error", s.HandshakeErrors.Load()}, {"handshake_timeout", s.HandshakeTimeouts.Load()},
			{"shed", s.Shed.Load()}, {"not_tls", s.NotTLS.Load()}, {"plain_http", s.PlainHTTP.Load()},
			{"plain_text", s.PlainText.Load()}, {"renegotiation", s.Renegotiations.Load()},
			{"record_error", s.RecordErrors.Load()},
		} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(e.v), l.Name, e.name)
		}
	}
}

// registerTLSMetrics adds the TLS counters to the gatherer once a
// listener has TLS (at the build, or at the reload that brings the
// first). A listener whose TLS a reload rebuilt counts from zero again
// (a counter reset, which Prometheus's rate and increase handle).
// Control goroutine.
func (a *App) registerTLSMetrics() error {
	if a.tls.collected {
		return nil
	}
	for _, l := range a.engListeners() {
		if !l.Spare() && l.Chain().TLS != nil {
			a.tls.collected = true
			return a.metrics.gatherer.Register(newTLSCollector(a))
		}
	}
	return nil
}
