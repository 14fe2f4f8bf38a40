package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
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
	// fdTotal is the socket budget (RLIMIT_NOFILE less fdReserve).
	fdTotal int64
	// maxDown and drain are the max_connections budget and the drain
	// timeout at start, for the start-up summary (build.go); live holds
	// them as a reload changes them.
	maxDown int64
	drain   time.Duration
	live    struct {
		// maxDown and drain (nanoseconds) are in force (reload.go).
		maxDown, drain atomic.Int64
	}
	// protocols are the listeners' downstream protocols at start, by
	// index, for the start-up summary; protocol(i) is the one in force.
	protocols []string
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
	// lstate is each engine listener's build state, by index
	// (listeners.go); a.listeners are the listeners built at start, and
	// eng.Listeners() those and the spare slots reloads may use.
	lstate atomic.Pointer[[]listenerState]
	// openAdded opens a listener a reload adds on its spare slot
	// (PendingListener.Open; tests make it fail).
	openAdded func(*eventloop.PendingListener) (*eventloop.Listener, int, error)
	// filters are the filter types listeners may name (Options.Filters).
	filters *filterchain.Registry
	// settings are the proxy filters' ferry-wide settings in force.
	settings proxy.Settings
	// ldrain are the drains of listeners a reload removed (listeners.go).
	ldrain listenerDrains
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
	a := &App{log: o.Logger, cfg: cfg, level: o.LogLevel, version: o.Version,
		drainReq: make(chan struct{}), adminAddr: cfg.AdminAddress(), loader: o.Load,
		ldrain: listenerDrains{stop: make(chan struct{})}, openAdded: (*eventloop.PendingListener).Open}
	a.drain = drainTimeout(cfg)
	a.live.drain.Store(int64(a.drain))
	a.reload.cur.Store(cfg)
	a.alogs.init(a)
	if o.AdminAddress != "" {
		a.adminAddr = o.AdminAddress
	}
	policy, err := proxy.ParsePolicy(string(f.Scheduler.Policy))
	if err != nil {
		return nil, err
	}
	a.policy = policy
	if a.settings, err = proxySettings(cfg.Ferry); err != nil {
		return nil, err
	}
	total := raiseNoFile() - fdReserve
	a.fdTotal = total
	a.maxDown = a.downBudget(f.MaxConnections)
	a.live.maxDown.Store(a.maxDown)
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
	a.relaySpill = spill.Options{MemLimit: int(f.Buffers.SpillMemoryBytes), Dir: f.Buffers.SpillDir, Budget: budget,
		DiskBudget: backlog.New(f.Buffers.SpillDiskBytes)}
	a.srv, err = proxy.NewServer(proxy.Options{
		Loops: loops, Workers: a.workers, Clusters: a.clusters, Routers: a.routers, Dialer: a.upTLS.tcp,
		Settings: a.settings, Spill: a.relaySpill, Logger: o.Logger, Metrics: a.metrics.reg,
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
		a.eng, err = eventloop.New(a.listeners, eventloop.Options{Inherit: inherit, Spare: spareListeners,
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

// Addrs are the bound addresses of the listeners that run, in the order
// they were opened (configuration order, less those a reload removed,
// then those reloads added).
func (a *App) Addrs() []net.Addr {
	all, ls := a.eng.Addrs(), a.eng.Listeners()
	out := all[:0]
	for i, addr := range all {
		if !ls[i].Removed() && !ls[i].Spare() {
			out = append(out, addr)
		}
	}
	return out
}

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
	a.stopListenerDrains() // listeners.go: the drain below covers their connections
	a.stopAccepting()      // upgrade.go
	dctx, cancel := context.WithTimeout(ctx, time.Duration(a.live.drain.Load()))
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

// drainTimeout is how long a stop waits for in-flight requests:
// servers[0].graceful_timeout, else ferry.timeouts.drain.
func drainTimeout(cfg *config.Config) time.Duration {
	if gt := cfg.Servers[0].GracefulTimeout; gt > 0 {
		return gt.Std()
	}
	return cfg.Ferry.WithDefaults().Timeouts.Drain.Std()
}

// downBudget is the max_connections budget: mc within the socket budget,
// or with mc 0 the socket budget less a tenth (at least fdReserve) kept
// for upstream sockets.
func (a *App) downBudget(mc int) int64 {
	if mc > 0 {
		return min(int64(mc), a.fdTotal)
	}
	return a.fdTotal - max(a.fdTotal/10, fdReserve)
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
