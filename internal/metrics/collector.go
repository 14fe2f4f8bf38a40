package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Prefix starts every family name.
const Prefix = "ferry_"

// classLabels are the code_class label values, by class index.
var classLabels = [NumClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"} //nolint:gochecknoglobals // read-only table

// family is one exported family over one kind of cells: its description
// and how to read a cells' value on one shard.
type family[T any] struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	// get reads one shard's value (gauges as two's complement).
	get func(c *T) uint64
}

// classFamily is a family with a code_class label.
type classFamily[T any] struct {
	desc *prometheus.Desc
	get  func(c *T) *Responses
}

// histFamily is a histogram family.
type histFamily[T any] struct {
	desc *prometheus.Desc
	get  func(c *T) *Histogram
}

// kindFamilies are the families of one kind of cells.
type kindFamilies[T any] struct {
	plain   []family[T]
	classes []classFamily[T]
	hists   []histFamily[T]
}

func (f *kindFamilies[T]) describe(ch chan<- *prometheus.Desc) {
	for _, p := range f.plain {
		ch <- p.desc
	}
	for _, c := range f.classes {
		ch <- c.desc
	}
	for _, h := range f.hists {
		ch <- h.desc
	}
}

// collect sends every family for the live IDs of n, summing the shards'
// cells that at reads.
func (f *kindFamilies[T]) collect(ch chan<- prometheus.Metric, shards []*Shard, n *names,
	at func(s *Shard, id ID) *T) {
	for i, live := range n.live {
		if !live {
			continue
		}
		id, labels := ID(i), n.labels[i] // i < MaxLabelSets < 2^32
		for _, p := range f.plain {
			var v uint64
			for _, s := range shards {
				v += p.get(at(s, id))
			}
			val := float64(v)
			if p.kind == prometheus.GaugeValue {
				val = float64(int64(v)) // shards' parts of a gauge may be negative; their sum is not
			}
			ch <- prometheus.MustNewConstMetric(p.desc, p.kind, val, labels...)
		}
		for _, c := range f.classes {
			var v [NumClasses]uint64
			for _, s := range shards {
				r := c.get(at(s, id))
				for k := range v {
					v[k] += r.classes[k].Load()
				}
			}
			for k, cl := range classLabels {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v[k]), append(labels[:len(labels):len(labels)], cl)...)
			}
		}
		for _, h := range f.hists {
			var counts [NumBuckets + 1]uint64
			var sum uint64
			for _, s := range shards {
				h.get(at(s, id)).snapshot(&counts, &sum)
			}
			ch <- constHistogram(h.desc, &counts, sum, labels)
		}
	}
}

// constHistogram turns per-bucket counts into Prometheus's cumulative
// buckets.
func constHistogram(d *prometheus.Desc, counts *[NumBuckets + 1]uint64, sumNS uint64, labels []string) prometheus.Metric {
	buckets := make(map[float64]uint64, NumBuckets)
	var cum uint64
	for i, b := range bucketBounds {
		cum += counts[i]
		buckets[float64(b)/1e9] = cum
	}
	cum += counts[NumBuckets]
	return prometheus.MustNewConstHistogram(d, cum, float64(sumNS)/1e9, buckets, labels...)
}

// Collector exports a Registry to Prometheus: at each scrape it sums the
// shards of every live label set into const metrics. It is a checked
// collector: Describe lists every family. Any goroutine.
type Collector struct {
	r *Registry

	listeners kindFamilies[Listener]
	routes    kindFamilies[Route]
	clusters  kindFamilies[Cluster]
	hosts     kindFamilies[Host]
	loops     []family[Loop]

	listenerCodes, listenerLocal *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Prefix+name, help, labels, nil)
}

func counter[T any](name, help string, labels []string, get func(*T) *Counter) family[T] {
	return family[T]{desc: desc(name, help, labels...), kind: prometheus.CounterValue,
		get: func(c *T) uint64 { return get(c).Load() }}
}

func gauge[T any](name, help string, labels []string, get func(*T) *Gauge) family[T] {
	return family[T]{desc: desc(name, help, labels...), kind: prometheus.GaugeValue,
		get: func(c *T) uint64 { return uint64(get(c).Load()) }} // two's complement, summed then read back as int64
}

// NewCollector returns the Collector of r. Any goroutine.
func (r *Registry) NewCollector() *Collector {
	c := &Collector{r: r}
	l := []string{"listener"}
	c.listeners = kindFamilies[Listener]{
		plain: []family[Listener]{
			counter("listener_downstream_connections_total", "Downstream connections accepted.", l,
				func(x *Listener) *Counter { return &x.Connections }),
			gauge("listener_downstream_connections_active", "Downstream connections open.", l,
				func(x *Listener) *Gauge { return &x.ActiveConnections }),
			counter("listener_requests_total", "Downstream requests begun.", l,
				func(x *Listener) *Counter { return &x.Requests }),
			gauge("listener_requests_active", "Downstream requests in flight.", l,
				func(x *Listener) *Gauge { return &x.ActiveRequests }),
			counter("listener_received_bytes_total", "Request bytes received from clients.", l,
				func(x *Listener) *Counter { return &x.BytesReceived }),
			counter("listener_sent_bytes_total", "Response bytes sent to clients.", l,
				func(x *Listener) *Counter { return &x.BytesSent }),
			counter("listener_tcp_proxy_connect_failures_total", "Failed upstream connection attempts of the listener's tcp_proxy.", l,
				func(x *Listener) *Counter { return &x.TCPConnectFailures }),
			counter("listener_tcp_proxy_no_upstream_total", "Connections the listener's tcp_proxy closed because no route matched or no host could be reached.", l,
				func(x *Listener) *Counter { return &x.TCPNoUpstream }),
		},
		hists: []histFamily[Listener]{{
			desc: desc("listener_request_duration_seconds",
				"Downstream request duration: the request's first byte to its response's last byte handed to the socket.", l...),
			get: func(x *Listener) *Histogram { return &x.Duration }}},
	}
	c.listenerCodes = desc("listener_responses_total", "Responses sent to clients, by status code.", "listener", "code")
	c.listenerLocal = desc("listener_local_replies_total", "Responses ferry made itself instead of the upstream's, by cause.",
		"listener", "cause")

	v := []string{"router", "virtual_host"}
	c.routes = kindFamilies[Route]{
		plain: []family[Route]{
			counter("route_requests_total", "Requests that matched the virtual host, counted when they end.", v,
				func(x *Route) *Counter { return &x.Requests }),
		},
		classes: []classFamily[Route]{{desc: desc("route_responses_total", "Responses of the virtual host, by class.",
			"router", "virtual_host", "code_class"), get: func(x *Route) *Responses { return &x.Responses }}},
	}

	k := []string{"cluster"}
	c.clusters = kindFamilies[Cluster]{
		plain: []family[Cluster]{
			counter("cluster_upstream_requests_total", "Requests sent to the cluster's hosts (a retry is another).", k,
				func(x *Cluster) *Counter { return &x.Requests }),
			gauge("cluster_upstream_requests_active", "Upstream requests in flight.", k,
				func(x *Cluster) *Gauge { return &x.ActiveRequests }),
			gauge("cluster_upstream_requests_pending", "Requests waiting for an upstream connection.", k,
				func(x *Cluster) *Gauge { return &x.Pending }),
			counter("cluster_upstream_retries_total", "Upstream requests retried.", k,
				func(x *Cluster) *Counter { return &x.Retries }),
			counter("cluster_upstream_timeouts_total", "Upstream requests that timed out.", k,
				func(x *Cluster) *Counter { return &x.Timeouts }),
			counter("cluster_upstream_connect_failures_total", "Upstream connection attempts that failed.", k,
				func(x *Cluster) *Counter { return &x.ConnectFailures }),
			counter("cluster_upstream_sent_bytes_total", "Bytes sent to the cluster's hosts.", k,
				func(x *Cluster) *Counter { return &x.BytesSent }),
			counter("cluster_upstream_received_bytes_total", "Bytes received from the cluster's hosts.", k,
				func(x *Cluster) *Counter { return &x.BytesReceived }),
		},
		classes: []classFamily[Cluster]{{desc: desc("cluster_upstream_responses_total", "Upstream responses, by class.",
			"cluster", "code_class"), get: func(x *Cluster) *Responses { return &x.Responses }}},
		hists: []histFamily[Cluster]{{desc: desc("cluster_upstream_response_time_seconds",
			"Upstream response time: the request sent to the response's last byte read.", k...),
			get: func(x *Cluster) *Histogram { return &x.ResponseTime }}},
	}

	h := []string{"cluster", "host"}
	c.hosts = kindFamilies[Host]{
		plain: []family[Host]{
			counter("host_upstream_requests_total", "Requests sent to the host.", h,
				func(x *Host) *Counter { return &x.Requests }),
			gauge("host_upstream_requests_active", "Requests to the host in flight.", h,
				func(x *Host) *Gauge { return &x.ActiveRequests }),
			counter("host_upstream_connect_failures_total", "Connection attempts to the host that failed.", h,
				func(x *Host) *Counter { return &x.ConnectFailures }),
			gauge("host_upstream_connections_active", "Connections to the host open.", h,
				func(x *Host) *Gauge { return &x.ActiveConnections }),
		},
		classes: []classFamily[Host]{{desc: desc("host_upstream_responses_total", "Responses of the host, by class.",
			"cluster", "host", "code_class"), get: func(x *Host) *Responses { return &x.Responses }}},
	}

	lp := []string{"loop"}
	c.loops = []family[Loop]{
		counter("loop_connections_total", "Connections opened on the event loop, downstream and upstream.", lp,
			func(x *Loop) *Counter { return &x.Connections }),
		gauge("loop_connections_active", "Connections open on the event loop.", lp,
			func(x *Loop) *Gauge { return &x.Active }),
		counter("loop_read_bytes_total", "Bytes read from sockets by the event loop.", lp,
			func(x *Loop) *Counter { return &x.BytesRead }),
		counter("loop_written_bytes_total", "Bytes written to sockets by the event loop.", lp,
			func(x *Loop) *Counter { return &x.BytesWritten }),
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.listeners.describe(ch)
	ch <- c.listenerCodes
	ch <- c.listenerLocal
	c.routes.describe(ch)
	c.clusters.describe(ch)
	c.hosts.describe(ch)
	for _, f := range c.loops {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c.listeners.collect(ch, r.shards, &r.names[kindListener], (*Shard).Listener)
	c.collectListenerExtras(ch)
	c.routes.collect(ch, r.shards, &r.names[kindRoute], (*Shard).Route)
	c.clusters.collect(ch, r.shards, &r.names[kindCluster], (*Shard).Cluster)
	c.hosts.collect(ch, r.shards, &r.names[kindHost], (*Shard).Host)
	for i, s := range r.shards {
		loop := strconv.Itoa(i)
		for _, f := range c.loops {
			v := float64(f.get(&s.loop))
			if f.kind == prometheus.GaugeValue {
				v = float64(int64(f.get(&s.loop))) // two's complement of a per-loop gauge
			}
			ch <- prometheus.MustNewConstMetric(f.desc, f.kind, v, loop)
		}
	}
}

// collectListenerExtras sends the by-code and by-cause families of each
// live listener: a code never counted has no sample (so the family is
// absent until the first response), every named cause has one. r.mu held.
func (c *Collector) collectListenerExtras(ch chan<- prometheus.Metric) {
	n := &c.r.names[kindListener]
	for i, live := range n.live {
		if !live {
			continue
		}
		id, name := ID(i), n.labels[i][0] // i < MaxLabelSets < 2^32
		var codes [MaxCode - MinCode + 1]uint64
		var local [MaxCauses]uint64
		for _, s := range c.r.shards {
			l := s.Listener(id)
			for k := range codes {
				codes[k] += l.codes[k].Load()
			}
			for k := range local {
				local[k] += l.local[k].Load()
			}
		}
		for k, v := range codes {
			if v != 0 {
				ch <- prometheus.MustNewConstMetric(c.listenerCodes, prometheus.CounterValue, float64(v), name, strconv.Itoa(k+MinCode))
			}
		}
		for k, cause := range c.r.causes {
			if cause != "" {
				ch <- prometheus.MustNewConstMetric(c.listenerLocal, prometheus.CounterValue, float64(local[k]), name, cause)
			}
		}
	}
}
