package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/proxy"
)

// accessLogs are the listeners' access log files (internal/accesslog):
// built with the listeners, so that validate refuses a bad format or path
// as start does, opened by Start, reopened by ReopenAccessLogs (SIGUSR1),
// closed after the engine stops so every request's line is written.
type accessLogs struct {
	files *accesslog.Files
	// collected is set once the files' counters are registered.
	collected bool
}

// init prepares the set of files; errors are logged by the writer
// goroutines, once when a file starts failing (and counted).
func (al *accessLogs) init(a *App) {
	al.files = accesslog.NewFiles(accesslog.Options{OnError: func(path string, err error) {
		a.log.Error("access log write failed; lines are dropped until it recovers", "path", path, "err", err)
	}})
}

// listener builds the logger of listener l (at path) for its proxy
// filter, or nil (no logger, not a nil *Logger) when it has no
// access_logs. A format that does not compile and a path that cannot be a
// log file are problems at their paths. Control goroutine.
func (al *accessLogs) listener(l *config.Listener, path string, p *problems) proxy.AccessLogger {
	if len(l.AccessLogs) == 0 {
		return nil
	}
	sinks := make([]accesslog.Sink, 0, len(l.AccessLogs))
	for i := range l.AccessLogs {
		c := &l.AccessLogs[i]
		ap := fmt.Sprintf("%s.access_logs[%d]", path, i)
		enc, err := accesslog.ParseEncoding(c.Encoding)
		if err != nil {
			p.add(ap+".log_encoding", err.Error())
			continue
		}
		f, err := accesslog.Compile(c.Format, enc)
		if err != nil {
			p.add(ap+".log_format", err.Error())
			continue
		}
		if err := accesslog.CheckPath(c.Path); err != nil {
			p.add(ap+".log_path", err.Error())
			continue
		}
		sinks = append(sinks, accesslog.Sink{Format: f, Writer: al.files.Add(c.Path)})
	}
	return accesslog.NewLogger(sinks...)
}

// start opens the files. Control goroutine.
func (al *accessLogs) start() error {
	if err := al.files.Start(); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}

// close writes every queued line and closes the files, waiting until ctx
// is done for a writer stuck in a write. Control goroutine.
func (al *accessLogs) close(ctx context.Context) error { return al.files.Close(ctx) }

// reopenTimeout bounds how long SIGUSR1 waits for a writer stuck in a
// write, so that the signal loop goes on serving SIGTERM.
const reopenTimeout = 5 * time.Second

// ReopenAccessLogs closes and reopens every access log file, after
// logrotate renamed them (cmd/ferry does it on SIGUSR1; see
// docs/operations.md). A file that cannot be reopened is logged and its
// lines are dropped and counted until a later reopen succeeds. Control
// goroutine.
func (a *App) ReopenAccessLogs() error {
	ctx, cancel := context.WithTimeout(context.Background(), reopenTimeout)
	defer cancel()
	err := a.alogs.files.Reopen(ctx)
	if err != nil {
		a.log.Error("access log reopen failed", "err", err)
		return err
	}
	a.log.Info("access logs reopened")
	return nil
}

// AccessLogStats returns each access log file's counters: lines written,
// lines dropped (a slow file, or one that could not be opened) and write
// errors. Any goroutine.
func (a *App) AccessLogStats() []accesslog.Stats { return a.alogs.files.Stats() }

// accessLogCollector exports the access log files' counters at scrape
// time (the writers count with atomics; nothing is added to a request).
type accessLogCollector struct {
	a           *App
	lines, errs *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *accessLogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lines
	ch <- c.errs
}

// Collect implements prometheus.Collector. Any goroutine.
func (c *accessLogCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.a.AccessLogStats() {
		ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(s.Lines), s.Path, "written")
		ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(s.Dropped), s.Path, "dropped")
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(s.Errors), s.Path)
	}
}

// registerAccessLogMetrics adds the access log counters to the gatherer
// when a listener has access logs: ferry_access_log_lines_total{path,
// result="written"|"dropped"} and ferry_access_log_errors_total{path}.
func (a *App) registerAccessLogMetrics() error {
	if a.alogs.collected || len(a.alogs.files.Stats()) == 0 {
		return nil
	}
	a.alogs.collected = true // a reload may bring the first file
	return a.metrics.gatherer.Register(&accessLogCollector{a: a,
		lines: prometheus.NewDesc("ferry_access_log_lines_total",
			"Access log lines per file: written (handed to the file's buffer) or dropped (the file was slower than "+
				"the requests and every line buffer was queued, or it could not be opened; docs/operations.md).",
			[]string{"path", "result"}, nil),
		errs: prometheus.NewDesc("ferry_access_log_errors_total",
			"Failed writes, flushes and reopens of an access log file.", []string{"path"}, nil)})
}
