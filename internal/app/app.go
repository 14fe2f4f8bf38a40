package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/backlog"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/internal/upgrade"
	"github.com/ferry-proxy/ferry/internal/worker"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// Options are what the caller provides besides the configuration.
type Options struct {
	// Logger receives ferry's logs; nil means slog.Default().
	Logger *slog.Logger
	// Filters holds the stream and network filter types that listeners
	// may name; nil means none beyond the built-in proxy filter.
	Filters *filterchain.Registry
	// LogLevel is the level the admin API's update_loglevel changes; nil
	// makes the loglevel endpoints answer 501.
	LogLevel *slog.LevelVar
	// Version is the linked version string ("dev" or empty: the module
	// version from the build info).
	Version string
	// Load re-reads and validates the configuration for a reload (SIGHUP,
	// POST /api/v1/reload); nil means the App cannot reload.
	Load func() (*config.Config, error)
	// AdminAddress, when set, serves the admin API there whatever the
	// config says (tests use 127.0.0.1:0, which the config cannot express:
	// port_value 0 turns the admin API off).
	AdminAddress string
	// MetricsSinkAddress, when set, is where every prometheus sink listens
	// instead of :port (tests use 127.0.0.1:0; see metrics.go).
	MetricsSinkAddress string
	// Inherit are the listening sockets a running ferry handed over
	// (internal/upgrade), served instead of binding; the engine takes
	// copies, the caller closes these (upgrade.go).
	Inherit []upgrade.Listener
}

// App is a configured ferry.
type App struct {
	log       *slog.Logger
	cfg       *config.Config
	workers   *worker.Pool
	clusters  *upstream.Manager
	routers   *router.Registry
	srv       *proxy.Server
	eng       *eventloop.Engine
	listeners []*eventloop.Listener
	policy    proxy.Policy
	reusePort bool
	maxDown   int64
	drain     time.Duration
	// warnings are what the build runs without; see Warnings.
	warnings []string
	// tracker is the socket budget.
	tracker *conn.Tracker
	// health runs the active health checks (health.go).
	health healthState
	// dns refreshes the hosts of DNS clusters (dns.go); nil before Start.
	dns *upstream.DNSRefresher
	// upTLS is TLS to upstreams (upstream_tls.go).
	upTLS upstreamTLSState
	// relaySpill are the spill options of the proxy's bodies and of the
	// tcp_proxy relays (tcpproxy.go).
	relaySpill spill.Options
	// protocols are the listeners' downstream protocols, by index.
	protocols []string
	// level and version are Options.LogLevel and Options.Version.
	level   *slog.LevelVar
	version string
	// adminAddr is where the admin API listens; "" when off.
	adminAddr string
	// admin is the admin API server, nil when off or not started.
	admin *admin.Server
	// backend adapts the App to the admin API and its metrics collector.
	backend *adminBackend
	// metrics are the per-loop counters, the Prometheus registry that
	// /metrics and the sinks serve, and the sinks (metrics.go).
	metrics appMetrics
	// draining is set once Shutdown begins.
	draining atomic.Bool
	// drainReq is closed when the admin API asks for a drain.
	drainReq chan struct{}
	// loader is Options.Load; reload is the reloads' state.
	loader func() (*config.Config, error)
	reload reloadState
	// tls holds the TLS listeners' certificates (tls.go).
	tls tlsState
	// alogs are the listeners' access log files (accesslog.go).
	alogs accessLogs
	// up is the smooth upgrade's state (upgrade.go).
	up upgradeState
}

// fdReserve is kept free of the socket budget for listeners, epoll and
// event fds, logs and spill files.
const fdReserve = 64

// New builds ferry from cfg, which must have passed Validate.
func New(cfg *config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Filters == nil {
		o.Filters = filterchain.NewRegistry()
	}
	if len(cfg.Servers) == 0 || len(cfg.Servers[0].Listeners) == 0 {
		return nil, errors.New("app: servers[0].listeners: no listener configured")
	}
	f := cfg.Ferry.WithDefaults()
	a := &App{log: o.Logger, cfg: cfg, drain: f.Timeouts.Drain.Std(), level: o.LogLevel, version: o.Version,
		drainReq: make(chan struct{}), adminAddr: cfg.AdminAddress(), loader: o.Load}
	a.reload.cur.Store(cfg)
	a.alogs.init(a)
	if o.AdminAddress != "" {
		a.adminAddr = o.AdminAddress
	}
	if gt := cfg.Servers[0].GracefulTimeout; gt > 0 {
		a.drain = gt.Std()
	}
	policy, err := proxy.ParsePolicy(string(f.Scheduler.Policy))
	if err != nil {
		return nil, err
	}
	a.policy = policy
	xff, err := proxy.ParseXFF(string(f.Proxy.XFF))
	if err != nil {
		return nil, err
	}
	total := raiseNoFile() - fdReserve
	a.maxDown = total - max(total/10, fdReserve)
	if f.MaxConnections > 0 {
		a.maxDown = min(int64(f.MaxConnections), total)
	}
	tracker := conn.NewTracker(total)
	// One budget for every backlog held in memory: outbound queues and
	// spill queues alike (config/ferry.go, Buffers).
	budget := backlog.New(f.Buffers.BacklogMemoryBytes)
	a.tracker = tracker
	procs := runtime.GOMAXPROCS(0)
	loops := f.EventLoopCount(procs)
	a.workers, err = worker.New(worker.Options{Size: f.Scheduler.WorkerCount(procs), Queue: f.Scheduler.Queue,
		OnPanic: func(v any) { o.Logger.Error("worker task panicked", "panic", fmt.Sprint(v)) }})
	if err != nil {
		return nil, err
	}
	a.backend = &adminBackend{a: a}
	if err := a.buildMetrics(cfg, loops, o.MetricsSinkAddress); err != nil {
		_ = a.workers.Close(context.Background())
		return nil, err
	}
	if err := a.buildRouting(cfg); err != nil {
		_ = a.workers.Close(context.Background())
		return nil, err
	}
	a.relaySpill = spill.Options{MemLimit: int(f.Buffers.SpillMemoryBytes), Dir: f.Buffers.SpillDir, Budget: budget}
	a.srv, err = proxy.NewServer(proxy.Options{
		Loops: loops, Workers: a.workers, Clusters: a.clusters, Routers: a.routers, Dialer: a.upTLS.tcp,
		Limits:              limits(f.HTTP1),
		MaxRequestBodyBytes: f.HTTP1.MaxRequestBodyBytes, MaxRequestsPerConn: f.HTTP1.MaxRequestsPerConnection,
		MaxPipelinedBytes:    f.HTTP1.MaxPipelinedBytes,
		RequestHeaderTimeout: f.Timeouts.RequestHeader.Std(), RequestBodyTimeout: f.Timeouts.RequestBody.Std(),
		RequestTimeout: f.Timeouts.Request.Std(),
		IdleTimeout:    f.Timeouts.Idle.Std(),
		Spill:          a.relaySpill,
		Via:            f.Proxy.Via, XFF: xff, Path: pathOptions(f.Proxy.Path), Logger: o.Logger,
		Metrics: a.metrics.reg,
	})
	if err == nil {
		err = a.buildListeners(cfg, o.Filters, policy)
	}
	if err == nil {
		err = a.registerTLSMetrics() // tls.go
	}
	if err == nil {
		err = a.registerUpstreamTLSMetrics() // upstream_tls.go
	}
	if err == nil {
		err = a.registerAccessLogMetrics() // accesslog.go
	}
	a.reusePort = reusePort(f.ReusePort, a.listeners)
	var inherit [][]int
	if err == nil && o.Inherit != nil {
		inherit, err = a.inherited(o.Inherit) // upgrade.go
	}
	if err == nil {
		a.eng, err = eventloop.New(a.listeners, eventloop.Options{Inherit: inherit,
			Loops: loops, ReusePort: a.reusePort, Tracker: tracker, MaxDownstream: a.maxDown, Logger: o.Logger,
			Conn: conn.Options{HighWatermark: f.Buffers.WriteHighWatermark, LowWatermark: f.Buffers.WriteLowWatermark,
				LingerTimeout: f.Timeouts.LingeringClose.Std(), Budget: budget, LoopMetrics: a.loopMetrics},
		})
	}
	if err != nil {
		_ = a.workers.Close(context.Background())
		return nil, err
	}
	return a, nil
}

func (a *App) buildRouting(cfg *config.Config) error {
	ids := a.metrics.lookup.Load()
	specs, err := clusterSpecs(&cfg.ClusterManager, ids)
	if err != nil {
		return err
	}
	if err := a.upstreamTLS(&cfg.ClusterManager, specs); err != nil { // upstream_tls.go
		return err
	}
	a.clusters = upstream.NewManager()
	if err := resolveDNS(a.clusters, specs); err != nil { // dns.go
		return err
	}
	if err := a.clusters.Update(specs); err != nil {
		return fmt.Errorf("cluster_manager.clusters: %w", err)
	}
	tables, err := routeTables(cfg.Servers, ids)
	if err != nil {
		return err
	}
	a.routers = router.NewRegistry()
	a.routers.Set(tables)
	return nil
}

// buildListeners turns servers[0].listeners into engine listeners. A
// filter type that is not registered is refused like any setting ferry
// does not implement: an error at its path, or, with allow_unimplemented,
// a warning and the listener runs without it. A listener with bind_port
// false (let through only by allow_unimplemented) is not opened.
func (a *App) buildListeners(cfg *config.Config, reg *filterchain.Registry, policy proxy.Policy) error {
	allow := cfg.Ferry.Compat.AllowUnimplemented
	var p problems
	for li, l := range cfg.Servers[0].Listeners {
		path := fmt.Sprintf("servers[0].listeners[%d]", li)
		if !l.Binds() {
			continue
		}
		var streamFilters []filterchain.StreamFilterFactory
		for fi, sf := range l.StreamFilters {
			fpath := fmt.Sprintf("%s.stream_filters[%d]", path, fi)
			ff, err := reg.NewStream(sf.Type, sf.Config)
			switch {
			case errors.Is(err, filterchain.ErrUnknownType):
				a.refuse(&p, allow, fpath+".type", "requests would pass without the "+strconv.Quote(sf.Type)+" filter",
					"stream filter "+strconv.Quote(sf.Type))
			case err != nil:
				p.add(fpath+".config", err.Error())
			default:
				streamFilters = append(streamFilters, ff)
			}
		}
		var idle time.Duration
		if l.ConnectionIdleTimeout != nil {
			idle = l.ConnectionIdleTimeout.Std()
		}
		el := &eventloop.Listener{Name: l.Name, Address: l.Address}
		alog := a.alogs.listener(&l, path, &p)
		el.TLS = a.listenerTLS(&l, path, cfg.Ferry.WithDefaults().Timeouts.TLSHandshake.Std(), &p)
		for ci, fc := range l.FilterChains {
			for fi, nf := range fc.Filters {
				fpath := fmt.Sprintf("%s.filter_chains[%d].filters[%d]", path, ci, fi)
				if nf.Type == config.ProxyFilterType && nf.Proxy != nil {
					down, up := nf.Proxy.Protocols()
					proto, err := proxy.ParseProtocol(down)
					if err != nil {
						p.add(fpath+".config.downstream_protocol", err.Error())
						continue
					}
					if len(a.protocols) == len(a.listeners) {
						a.protocols = append(a.protocols, down)
					}
					el.Filters = append(el.Filters, a.srv.NewFactory(proxy.FactoryConfig{
						RouterName: nf.Proxy.RouterConfigName, StreamFilters: streamFilters, Policy: policy, Protocol: proto,
						UpstreamHTTP2: up == "Http2", Upgrades: listenerUpgrades(nf.Proxy.UpgradeConfigs),
						IdleTimeout: idle, AccessLog: alog, MetricsID: a.metrics.lookup.Load().listeners[len(a.listeners)]}))
					continue
				}
				if nf.Type == config.TCPProxyFilterType && nf.TCPProxy != nil {
					if tf := a.tcpProxyFactory(nf.TCPProxy, a.metrics.lookup.Load().listeners[len(a.listeners)], fpath, &p); tf != nil {
						el.Filters = append(el.Filters, tf)
					}
					continue
				}
				nff, err := reg.NewNetwork(nf.Type, nf.Config)
				switch {
				case errors.Is(err, filterchain.ErrUnknownType):
					a.refuse(&p, allow, fpath+".type", "connections would not pass through the "+strconv.Quote(nf.Type)+" filter",
						"network filter "+strconv.Quote(nf.Type))
				case err != nil:
					p.add(fpath+".config", err.Error())
				default:
					el.Filters = append(el.Filters, conn.Chain(nff))
				}
			}
		}
		a.listeners = append(a.listeners, el)
	}
	if len(a.listeners) == 0 && len(p.list) == 0 {
		p.add("servers[0].listeners", "no listener to open: every listener has bind_port false")
	}
	return p.err()
}

// refuse records a setting ferry does not implement: a problem, or with
// allow_unimplemented a warning.
func (a *App) refuse(p *problems, allow bool, path, why, what string) {
	if allow {
		a.warnings = append(a.warnings, path+": not implemented: "+why+"; running without it (allow_unimplemented)")
		return
	}
	p.add(path, config.RefusalMsg(why, what))
}

// Warnings lists what the build runs without (with allow_unimplemented),
// each with its config path; config.Config.Warnings lists the rest.
func (a *App) Warnings() []string { return a.warnings }

// Close releases an App that was built but not started (as validate
// does). Control goroutine.
func (a *App) Close() error {
	return a.workers.Close(context.Background())
}

// Start opens the listeners, then the admin API when configured: a
// configured admin address that cannot be bound is an error, and ferry
// stops again.
func (a *App) Start() error {
	if err := a.alogs.start(); err != nil {
		_ = a.alogs.close(context.Background()) // nothing was written: no writer can be stuck
		_ = a.workers.Close(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	if err := a.eng.Start(); err != nil {
		_ = a.alogs.close(context.Background()) // nothing was written: no writer can be stuck
		_ = a.workers.Close(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	a.startCertWatch()
	a.startDNS()
	if err := a.startHealth(); err != nil { // health.go
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	if a.adminAddr != "" {
		s, err := admin.Start(admin.Options{Address: a.adminAddr, Backend: a.backend, Level: a.level, Logger: a.log,
			Gatherer: a.metrics.gatherer, Listener: a.inheritedAdmin()}) // upgrade.go
		if err != nil {
			_ = a.Shutdown(context.Background())
			return fmt.Errorf("start: admin.address: %w", err)
		}
		a.admin = s
	}
	if err := a.startSinks(); err != nil {
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// AdminAddr is the admin API's bound address, or nil when it is off.
func (a *App) AdminAddr() net.Addr {
	if a.admin == nil {
		return nil
	}
	return a.admin.Addr()
}

// DrainRequested is closed when the admin API asks for a graceful drain;
// the process then shuts down as on SIGTERM.
func (a *App) DrainRequested() <-chan struct{} { return a.drainReq }

// Describe is the start-up line naming listeners and clusters.
func (a *App) Describe() string { return describe(a) }

// Addrs are the listeners' bound addresses, in configuration order.
func (a *App) Addrs() []net.Addr { return a.eng.Addrs() }

// Done is closed when the engine stops, requested or not.
func (a *App) Done() <-chan struct{} { return a.eng.Done() }

// Err says why the engine stopped when nobody asked it to.
func (a *App) Err() error { return a.eng.Err() }

// Server is the proxy, for its counters.
func (a *App) Server() *proxy.Server { return a.srv }

// Shutdown drains in-flight requests (up to the drain timeout or ctx),
// then stops the engine and the workers.
func (a *App) Shutdown(ctx context.Context) error {
	a.draining.Store(true)
	a.stopCertWatch()
	a.stopDNS()
	a.stopAccepting() // upgrade.go
	dctx, cancel := context.WithTimeout(ctx, a.drain)
	drainErr := a.drainConns(dctx) // upgrade.go
	cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	healthErr := a.stopHealth(sctx) // before the engine: no probe dial may strand in Enroll
	// The tcp_proxy relays dial through the proxy's TCP dialer, which
	// Drain quiesced; a retry may have started since.
	relayErr := a.quiesceUpstreamDials(sctx)
	stopErr := a.eng.Stop(sctx)
	workErr := a.workers.Close(sctx)
	var adminErr error
	if a.admin != nil {
		adminErr = a.admin.Close(sctx)
	}
	sinkErr := a.closeSinks(sctx)
	logErr := a.alogs.close(sctx) // after the engine: every request's line is queued
	return errors.Join(drainErr, healthErr, relayErr, stopErr, workErr, adminErr, sinkErr, logErr)
}

// reusePort is the reuse_port setting: on unless configured off, and off
// when a listener asks for port 0.
func reusePort(set *bool, listeners []*eventloop.Listener) bool {
	if set != nil && !*set {
		return false
	}
	for _, l := range listeners {
		if strings.HasSuffix(l.Address, ":0") {
			return false
		}
	}
	return true
}

// raiseNoFile lifts RLIMIT_NOFILE to its hard limit and returns the limit
// in force.
func raiseNoFile() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) // best effort: keep the old limit on failure
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return int64(rl.Cur) // fd limits fit in int64
}
