package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// WorkerStats is what the worker pool reports at a scrape.
type WorkerStats struct {
	// Size is the most tasks that run at once; Busy those running.
	Size, Busy int
	// Queued are the tasks waiting for a worker.
	Queued int
	// Rejected counts tasks refused because every worker was busy and
	// the queue full (the proxy answered 503).
	Rejected uint64
}

// workerCollector exports a worker pool's figures.
type workerCollector struct {
	stats                        func() WorkerStats
	size, busy, queued, rejected *prometheus.Desc
}

// NewWorkerCollector exports the figures stats returns at each scrape;
// stats must be safe from any goroutine. Any goroutine.
func NewWorkerCollector(stats func() WorkerStats) prometheus.Collector {
	return &workerCollector{
		stats:    stats,
		size:     desc("worker_pool_size", "Workers the pool may run at once."),
		busy:     desc("worker_pool_busy", "Workers running a task."),
		queued:   desc("worker_pool_queued", "Tasks waiting for a worker."),
		rejected: desc("worker_pool_rejected_total", "Tasks refused with every worker busy and the queue full."),
	}
}

func (w *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- w.size
	ch <- w.busy
	ch <- w.queued
	ch <- w.rejected
}

func (w *workerCollector) Collect(ch chan<- prometheus.Metric) {
	s := w.stats()
	ch <- prometheus.MustNewConstMetric(w.size, prometheus.GaugeValue, float64(s.Size))
	ch <- prometheus.MustNewConstMetric(w.busy, prometheus.GaugeValue, float64(s.Busy))
	ch <- prometheus.MustNewConstMetric(w.queued, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(w.rejected, prometheus.CounterValue, float64(s.Rejected))
}

// NewGatherer returns a registry holding the Go runtime collector (go_*
// families: goroutines, GC, memory), the process collector (process_*:
// CPU, fds, RSS) and cs. It is the one registry that both the admin API's
// /metrics and a prometheus sink serve. Any goroutine.
func NewGatherer(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}, cs...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
