package admin

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the backend's counters and gauges to Prometheus at
// scrape time: the data plane keeps its lock-free atomics and pays nothing
// for the exposition. Names get the ferry_ prefix; counters also the
// _total suffix, as Prometheus conventions ask.
type collector struct{ b Backend }

// NewCollector exports b's Stats as /metrics does (ferry_<name>, counters
// with _total), for a registry that the caller builds (Options.Gatherer).
// Any goroutine.
func NewCollector(b Backend) prometheus.Collector { return collector{b: b} }

// Describe sends nothing: the set of names is known only at scrape time,
// which makes this an unchecked collector.
func (collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every sample.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.b.Stats() {
		name, kind := MetricName(s)
		help := s.Help
		if help == "" {
			help = "ferry's " + s.Name + " " + map[bool]string{true: "gauge", false: "counter"}[s.Gauge] + "."
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, nil, nil), kind, float64(s.Value))
	}
}

// MetricName is the Prometheus name and type of a sample:
// ferry_<name>, with _total for a counter. Any goroutine.
func MetricName(s Sample) (string, prometheus.ValueType) {
	name := "ferry_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s.Name)
	if s.Gauge {
		return name, prometheus.GaugeValue
	}
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	return name, prometheus.CounterValue
}
