package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/proxy"
)

// appMetrics is the App's side of the metrics: the per-loop registry the
// data plane counts into, the label IDs of the running configuration, the
// one Prometheus registry that the admin API's /metrics and every
// prometheus sink serve, and the sinks' servers.
type appMetrics struct {
	reg *metrics.Registry
	// lookup holds the label sets' IDs of the running configuration,
	// which the build puts in the listeners' factories, the route tables
	// and the cluster specs for the proxy to count under; a reload swaps
	// it.
	lookup atomic.Pointer[metricIDs]
	// gatherer holds every family: ferry's flat counters (admin's
	// collector), the per-label families, the worker pool, the Go runtime
	// and the process.
	gatherer *prometheus.Registry
	// sinks are the prometheus sinks' servers, started by Start.
	sinks []*sinkServer
}

// localReplyCauses names the proxy's failure kinds by their number, the
// cause label of ferry_listener_local_replies_total; a kind answered by a
// reset, not a reply (Status 0), gets no name and so no series.
func localReplyCauses() []string {
	causes := make([]string, 1, metrics.MaxCauses)
	for k := proxy.Kind(1); int(k) < metrics.MaxCauses; k++ {
		name := k.String()
		if name == "unknown" {
			break
		}
		if k.Status() == 0 {
			name = ""
		}
		causes = append(causes, name)
	}
	return causes
}

// metricLabels lists the label sets of cfg: listeners that bind, virtual
// hosts by router, clusters and their hosts.
func metricLabels(cfg *config.Config) metrics.Labels {
	var l metrics.Labels
	for si, srv := range cfg.Servers {
		if si == 0 {
			for _, ln := range srv.Listeners {
				if ln.Binds() {
					l.Listeners = append(l.Listeners, listenerLabel(&ln))
				}
			}
		}
		for _, rc := range srv.Routers {
			for vi, vh := range rc.VirtualHosts {
				l.VirtualHosts = append(l.VirtualHosts, metrics.VirtualHost{Router: rc.RouterConfigName, Name: vhostLabel(vi, vh.Name)})
			}
		}
	}
	for _, c := range cfg.ClusterManager.Clusters {
		l.Clusters = append(l.Clusters, c.Name)
		for _, h := range c.Hosts {
			l.Hosts = append(l.Hosts, metrics.HostLabel{Cluster: c.Name, Address: h.Address})
		}
	}
	return l
}

// listenerLabel is a listener's name, or its address when it has none.
func listenerLabel(l *config.Listener) string {
	if l.Name != "" {
		return l.Name
	}
	return l.Address
}

// buildMetrics sets up a.metrics for cfg with one shard per loop; the
// sinks' servers are made but not started. sinkAddr, when set, is where
// every sink listens instead of :port (tests use 127.0.0.1:0).
func (a *App) buildMetrics(cfg *config.Config, loops int, sinkAddr string) error {
	reg, err := metrics.New(metrics.Options{Loops: loops, Causes: localReplyCauses()})
	if err != nil {
		return err
	}
	ids, err := reg.Update(metricLabels(cfg))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	workers := metrics.NewWorkerCollector(func() metrics.WorkerStats {
		s := a.workers.Stats()
		return metrics.WorkerStats{Size: a.workers.Cap(), Busy: s.Running, Queued: s.Queued, Rejected: s.Busy}
	})
	g, err := metrics.NewGatherer(admin.NewCollector(a.backend), reg.NewCollector(), workers,
		newClusterHealthCollector(a)) // health.go
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	a.metrics.reg, a.metrics.gatherer = reg, g
	a.metrics.lookup.Store(newMetricIDs(metricLabels(cfg), ids))
	for i, s := range cfg.PrometheusSinks() {
		addr := ":" + strconv.Itoa(s.Port)
		if sinkAddr != "" {
			addr = sinkAddr
		}
		a.metrics.sinks = append(a.metrics.sinks, &sinkServer{
			path: fmt.Sprintf("metrics.sinks[%d]", i), addr: addr, cfg: s, g: sinkGatherer(g, s),
		})
	}
	return nil
}

// loopMetrics is loop i's counters (conn.Options.LoopMetrics), nil past
// the shards (the engine runs as many loops as the registry has shards).
func (a *App) loopMetrics(i int) *metrics.Loop {
	if i >= a.metrics.reg.Loops() {
		return nil
	}
	return a.metrics.reg.Shard(i).Loop()
}

// updateMetrics makes next's label sets the exported ones (a reload): a
// label set that stays keeps its counts. It changes nothing when it
// fails.
func (a *App) updateMetrics(next *config.Config) error {
	l := metricLabels(next)
	ids, err := a.metrics.reg.Update(l)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	a.metrics.lookup.Store(newMetricIDs(l, ids))
	return nil
}

// sinkGatherer is g without the families the sink leaves out.
func sinkGatherer(g prometheus.Gatherer, s config.PrometheusSink) prometheus.Gatherer {
	if !s.DisableCollectGo && !s.DisableCollectProcess {
		return g
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		fams, err := g.Gather()
		out := fams[:0]
		for _, f := range fams {
			if s.DisableCollectGo && strings.HasPrefix(f.GetName(), "go_") ||
				s.DisableCollectProcess && strings.HasPrefix(f.GetName(), "process_") {
				continue
			}
			out = append(out, f)
		}
		return out, err
	})
}

// sinkServer is one prometheus sink: an HTTP server off the data path
// (net/http's goroutines) that serves the exposition at the configured
// endpoint and 404 elsewhere.
type sinkServer struct {
	path string
	addr string
	cfg  config.PrometheusSink
	g    prometheus.Gatherer
	ln   net.Listener
	srv  *http.Server
	err  chan error
}

// start listens and serves until close.
func (s *sinkServer) start(a *App) error {
	ln, err := a.sinkListener(s.addr) // upgrade.go: the running ferry's socket in a smooth upgrade
	if err != nil {
		return fmt.Errorf("%s.config.port: %w", s.path, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+s.cfg.Endpoint, promhttp.HandlerFor(s.g, promhttp.HandlerOpts{ErrorLog: sinkLog{a}}))
	s.ln, s.err = ln, make(chan error, 1)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.err <- s.srv.Serve(ln) }()
	return nil
}

// close stops the server, waiting for handlers up to ctx.
func (s *sinkServer) close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// sinkLog adapts the App's logger to promhttp's error log.
type sinkLog struct{ a *App }

func (l sinkLog) Println(v ...any) { l.a.log.Warn("metrics sink", "err", fmt.Sprint(v...)) }

// startSinks starts every sink; on failure it stops those started.
func (a *App) startSinks() error {
	for _, s := range a.metrics.sinks {
		if err := s.start(a); err != nil {
			return err
		}
	}
	return nil
}

// closeSinks stops the sinks.
func (a *App) closeSinks(ctx context.Context) error {
	var err error
	for _, s := range a.metrics.sinks {
		err = errors.Join(err, s.close(ctx))
	}
	return err
}

// MetricsSinkAddrs are the bound addresses of the prometheus sinks, in
// configuration order (nil for one not started). Any goroutine after
// Start.
func (a *App) MetricsSinkAddrs() []net.Addr {
	out := make([]net.Addr, len(a.metrics.sinks))
	for i, s := range a.metrics.sinks {
		if s.ln != nil {
			out[i] = s.ln.Addr()
		}
	}
	return out
}

// Metrics is the per-loop registry the data plane counts into, and IDs
// the label sets' IDs of the running configuration. Any goroutine.
func (a *App) Metrics() (*metrics.Registry, metrics.IDs) {
	return a.metrics.reg, a.metrics.lookup.Load().ids
}

// metricIDs finds the ID of a label set by its label values, at build and
// reload time (the data path holds the IDs themselves).
type metricIDs struct {
	ids       metrics.IDs
	listeners []metrics.ID
	vhosts    map[[2]string]metrics.ID
	clusters  map[string]metrics.ID
	hosts     map[[2]string]metrics.ID
}

// newMetricIDs indexes ids, which Registry.Update returned for l.
func newMetricIDs(l metrics.Labels, ids metrics.IDs) *metricIDs {
	m := &metricIDs{ids: ids, listeners: ids.Listeners, vhosts: map[[2]string]metrics.ID{},
		clusters: map[string]metrics.ID{}, hosts: map[[2]string]metrics.ID{}}
	for i, v := range l.VirtualHosts {
		m.vhosts[[2]string{v.Router, v.Name}] = ids.VirtualHosts[i]
	}
	for i, c := range l.Clusters {
		m.clusters[c] = ids.Clusters[i]
	}
	for i, h := range l.Hosts {
		m.hosts[[2]string{h.Cluster, h.Address}] = ids.Hosts[i]
	}
	return m
}

// vhost, cluster and host return the ID of a label set of the
// configuration they were built from (every one is there: both come from
// the same config).
func (m *metricIDs) vhost(router, name string) uint32 {
	return uint32(m.vhosts[[2]string{router, name}])
}

func (m *metricIDs) cluster(name string) uint32 { return uint32(m.clusters[name]) }

func (m *metricIDs) host(cluster, address string) uint32 {
	return uint32(m.hosts[[2]string{cluster, address}])
}

// vhostLabel is a virtual host's label: its name, or its place in the
// router config when it has none.
func vhostLabel(i int, name string) string {
	if name != "" {
		return name
	}
	return "virtual_hosts[" + strconv.Itoa(i) + "]"
}
