package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/codec/http2"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/internal/ratelog"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/internal/worker"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// XFFMode is how X-Forwarded-For is written upstream.
type XFFMode uint8

// X-Forwarded-For modes.
const (
	// XFFAppend keeps the client's X-Forwarded-For and appends the peer.
	XFFAppend XFFMode = iota
	// XFFOverwrite replaces it with the peer address (edge deployments
	// that do not trust clients).
	XFFOverwrite
	// XFFOff leaves it as the client sent it.
	XFFOff
)

// ParseXFF maps a configuration value to an XFFMode.
func ParseXFF(s string) (XFFMode, error) {
	switch s {
	case "", "append":
		return XFFAppend, nil
	case "overwrite":
		return XFFOverwrite, nil
	case "off":
		return XFFOff, nil
	}
	return 0, fmt.Errorf("proxy: unknown xff mode %q (want append, overwrite or off)", s)
}

// Options configures a Server. Zero values take the defaults noted.
type Options struct {
	// Loops is the number of event loops (for the per-loop tables).
	Loops int
	// Workers runs offloaded filter phases and upstream dials.
	Workers *worker.Pool
	// Dialer opens upstream connections; nil means a conn.TCPDialer on
	// Workers with a 30s TCP keep-alive. A dial reserves its socket in
	// the tracker of the loop it is for (the engine's), which its close
	// releases.
	Dialer conn.Dialer
	// Clusters and Routers are the live configuration.
	Clusters *upstream.Manager
	Routers  *router.Registry
	// Settings are what every listener's connections read per connection
	// and per request; a listener's proxy filter may have its own
	// (FactoryConfig.Settings: a hot reload's).
	Settings
	// RouteTimeout is the upstream timeout of routes that set none (15s).
	RouteTimeout time.Duration
	// MaxRetries is how often a request is re-sent after a reused upstream
	// connection closed before answering (1).
	MaxRetries int
	// Spill configures the per-stream overflow queues.
	Spill spill.Options
	// HTTP2 are the limits and windows of HTTP/2 client connections.
	HTTP2 http2.Options
	// H2Upstream are the limits and windows of HTTP/2 upstream
	// connections; its InitialWindowSize bounds the response bytes ferry
	// holds per stream for a slow client (upstream_h2.go).
	H2Upstream http2.Options
	// H2PingInterval and H2PingTimeout are the keep-alive PING of idle
	// HTTP/2 upstream connections (upstream.MuxManagerOptions; 30s, 10s).
	H2PingInterval, H2PingTimeout time.Duration
	// Logger receives debug and error events; nil means slog.Default().
	Logger *slog.Logger
	// Mirror bounds request mirroring per loop (mirror.go).
	Mirror MirrorOptions
	// Metrics, when set, is where the proxy counts per listener, virtual
	// host, cluster and host (metrics.go), under the IDs in FactoryConfig,
	// the route tables and the cluster specs; it has a shard per loop.
	Metrics *metrics.Registry
}

func (o *Options) defaults() {
	if o.MaxPipelinedBytes <= 0 {
		o.MaxPipelinedBytes = 1 << 20
	}
	if o.RequestHeaderTimeout <= 0 {
		o.RequestHeaderTimeout = 10 * time.Second
	}
	if o.RequestBodyTimeout <= 0 {
		o.RequestBodyTimeout = 60 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 75 * time.Second
	}
	if o.RouteTimeout <= 0 {
		o.RouteTimeout = 15 * time.Second
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	} else if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTP2.MaxHeaderListSize == 0 {
		// Advertise the limit the re-stated HTTP/1 head is held to, so
		// that clients know it before they send.
		mh := o.Limits.MaxHeaderBytes
		if mh <= 0 {
			mh = http1.DefaultLimits().MaxHeaderBytes
		}
		o.HTTP2.MaxHeaderListSize = uint32(mh)
	}
}

// Server is the HTTP/1.1 proxy shared by every listener: configuration,
// upstream pools, counters and the per-loop stream free lists.
type Server struct {
	opts Options
	log  *slog.Logger
	// failLog limits logFailure to a line per Kind a second (faillog.go).
	failLog  *ratelog.Limiter
	clusters *upstream.Manager
	pools    *upstream.PoolManager[*upConn]
	mux      *upstream.MuxManager[*h2up]
	workers  *worker.Pool
	stats    *Stats
	loops    []loopState
	// mirrors are the loops' request mirrors (mirror.go).
	mirrors  []mirrorLoop
	draining atomic.Bool
}

// loopState is per-loop: touched only by its loop.
type loopState struct {
	free []*stream
	// conns lists the loop's open client connections (drain.go).
	conns *downstream
	// wait holds the loop's streams waiting for a worker (schedule.go).
	wait workerWait
	_    [32]byte // keep loops' states on separate cache lines
}

// maxFreeStreams bounds each loop's free list.
const maxFreeStreams = 1024

// NewServer builds the proxy.
func NewServer(o Options) (*Server, error) {
	o.defaults()
	if o.Loops <= 0 || o.Workers == nil || o.Clusters == nil || o.Routers == nil {
		return nil, errors.New("proxy: Loops, Workers, Clusters and Routers are required")
	}
	srv := &Server{opts: o, log: o.Logger, clusters: o.Clusters, workers: o.Workers,
		stats: newStats(), loops: make([]loopState, o.Loops), failLog: newFailLog()}
	dialer := o.Dialer
	if dialer == nil {
		d, err := conn.NewTCPDialer(conn.TCPDialerOptions{Submit: o.Workers.Submit, KeepAlive: 30 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		dialer = d
	}
	pools, err := upstream.NewPoolManager(upstream.PoolManagerOptions[*upConn]{
		Loops: o.Loops, Dialer: dialer, OnConnect: srv.onUpstreamConnect, Clusters: o.Clusters,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	srv.pools = pools
	srv.mirrors = newMirrorLoops(&srv.opts.Mirror, o.Loops)
	if err := srv.newMuxManager(dialer); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return srv, nil
}

// Stats returns the counters. Any goroutine.
func (srv *Server) Stats() *Stats { return srv.stats }

// Drain makes every response close its connection, then waits until no
// request and no upstream dial is in flight, or ctx ends. Any goroutine.
func (srv *Server) Drain(ctx context.Context) error {
	srv.draining.Store(true)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for srv.stats.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("proxy: drain: %d requests still in flight: %w", srv.stats.active.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return srv.pools.Quiesce(ctx) // a dial left in flight would outlive the engine
}

// newStream takes a stream from the loop's free list.
func (srv *Server) newStream(d *downstream) *stream {
	ls := &srv.loops[d.c.Loop().Index]
	var s *stream
	if n := len(ls.free); n > 0 {
		s = ls.free[n-1]
		ls.free[n-1] = nil
		ls.free = ls.free[:n-1]
	} else {
		s = &stream{srv: srv}
		s.timeout.Init(s)
		s.reqTimer.Init(s)
		s.reqPipe.qopts = &srv.opts.Spill
		s.respPipe.qopts = &srv.opts.Spill
	}
	s.d, s.front = d, d
	s.loop = d.c.Loop()
	s.offload = d.f.offload
	if t := d.f.opts.RequestTimeout; t > 0 {
		s.loop.Schedule(&s.reqTimer, t)
	}
	for _, f := range d.f.filters {
		f.CreateFilters(&s.chain)
	}
	return s
}

// recycle resets a finished stream and returns it to its loop's list.
// Only the outermost exit (or abort at depth 0) calls it.
func (srv *Server) recycle(s *stream) {
	ls := &srv.loops[s.loop.Index]
	s.loop.Stop(&s.reqTimer)
	s.reset()
	if len(ls.free) < maxFreeStreams {
		ls.free = append(ls.free, s)
	} else {
		s.reqPipe.release()
		s.respPipe.release()
	}
}

// Settings are the Options a listener's connections read per connection
// and per request, which a hot reload may change for the connections a
// listener accepts from then on (FactoryConfig.Settings); zero values take
// the defaults noted.
type Settings struct {
	// Limits bound request and response heads.
	Limits http1.Limits
	// MaxRequestBodyBytes answers 413 above it; 0 means no limit.
	MaxRequestBodyBytes int64
	// MaxRequestsPerConn closes a client connection after that many
	// requests; 0 means no limit.
	MaxRequestsPerConn int
	// MaxPipelinedBytes bounds the pipelined input waiting behind the
	// request in flight (default 1 MiB); past it the connection closes
	// after the current response.
	MaxPipelinedBytes int
	// RequestHeaderTimeout bounds the arrival of a request head (10s).
	RequestHeaderTimeout time.Duration
	// RequestBodyTimeout bounds the gap between request body reads (60s).
	RequestBodyTimeout time.Duration
	// RequestTimeout bounds a whole request, head and body, from its first
	// byte; 0 means no bound.
	RequestTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request (75s).
	IdleTimeout time.Duration
	// Via, when set, adds a Via field naming this proxy.
	Via string
	// XFF is the X-Forwarded-For mode.
	XFF XFFMode
	// Path configures path normalisation before routing.
	Path PathOptions
}

// Factory is the `proxy` network filter of one listener.
type Factory struct {
	srv *Server
	// opts are the server's Options with the factory's Settings: what its
	// connections and their streams read (never srv.opts for a Settings
	// field). One copy per factory, nothing per request.
	opts *Options
	// viaH2 is the Via value of responses to HTTP/2 clients ("2 name"),
	// built once rather than per response.
	viaH2 []byte
	// drain is shared by every Factory its listener had (drain.go).
	drain      *ListenerDrain
	routerName string
	filters    []filterchain.StreamFilterFactory
	offload    bool
	proto      Protocol
	upH2       bool // upstream_protocol Http2 (upstream_h2.go)
	// idle is the listener's keep-alive idle timeout.
	idle time.Duration
	// alog receives each request's access log entry; nil when the
	// listener has no access_logs (accesslog.go).
	alog AccessLogger
	// metricsID is FactoryConfig.MetricsID.
	metricsID metrics.ID
	// upgrades are FactoryConfig.Upgrades; tunnel the relays' options
	// (upgrade.go).
	upgrades []string
	tunnel   relay.Options
	// extConnect: HTTP/2 clients may use extended CONNECT (RFC 8441) for
	// websocket, advertised in SETTINGS (h2tunnel.go).
	extConnect bool
}

// FactoryConfig configures one listener's proxy filter.
type FactoryConfig struct {
	// RouterName names the route table (router_config_name).
	RouterName string
	// StreamFilters are the listener's stream filters, in order.
	StreamFilters []filterchain.StreamFilterFactory
	// Policy is where filter phases run.
	Policy Policy
	// Protocol is what the listener's clients speak.
	Protocol Protocol
	// UpstreamHTTP2 makes the listener speak HTTP/2 (h2c) to upstream
	// hosts (upstream_protocol: Http2).
	UpstreamHTTP2 bool
	// AccessLog receives each request's access log entry at its end (the
	// listener's access_logs); nil logs nothing, at the cost of one nil
	// check per request.
	AccessLog AccessLogger
	// IdleTimeout overrides Options.IdleTimeout for this listener (MOSN's
	// connection_idle_timeout); zero keeps the server's.
	IdleTimeout time.Duration
	// MetricsID is the listener's label set in Options.Metrics.
	MetricsID metrics.ID
	// Upgrades are the Upgrade protocols forwarded (upgrade.go), lower
	// case; nil means websocket only, empty none.
	Upgrades []string
	// Settings, when set, replace the server's Options fields of the same
	// names for this listener (a hot reload's new limits); nil keeps the
	// server's.
	Settings *Settings
	// Drain is the listener's drain switch, shared by the factories a hot
	// reload builds for the same listener (drain.go); nil makes a new one.
	Drain *ListenerDrain
}

// ListenerDrain drains one listener's connections, whichever of its
// factories built them, when a hot reload removes the listener
// (Server.CloseListener). Any goroutine.
type ListenerDrain struct{ on atomic.Bool }

// NewListenerDrain returns a listener's drain switch, off.
func NewListenerDrain() *ListenerDrain { return &ListenerDrain{} }

// NewFactory builds a listener's proxy filter factory.
func (srv *Server) NewFactory(c FactoryConfig) *Factory {
	f := &Factory{srv: srv, opts: srv.settings(c.Settings), routerName: c.RouterName, filters: c.StreamFilters,
		proto: c.Protocol, idle: c.IdleTimeout, alog: c.AccessLog, metricsID: c.MetricsID, upH2: c.UpstreamHTTP2}
	if f.idle <= 0 {
		f.idle = f.opts.IdleTimeout
	}
	if f.opts.Via != "" {
		f.viaH2 = []byte("2 " + f.opts.Via)
	}
	if f.drain = c.Drain; f.drain == nil {
		f.drain = NewListenerDrain()
	}
	f.upgrades = upgradeList(c.Upgrades)
	f.tunnel = relay.Options{IdleTimeout: f.idle, Spill: srv.opts.Spill}
	f.extConnect = !f.upH2 && f.allowsUpgrade([]byte("websocket"))
	switch c.Policy {
	case PolicyPool:
		f.offload = true
	case PolicyAuto:
		for _, sf := range c.StreamFilters {
			f.offload = f.offload || sf.Blocking()
		}
	}
	return f
}

// settings returns the server's Options with st's fields, defaulted as
// NewServer defaults them; nil st is the server's own.
func (srv *Server) settings(st *Settings) *Options {
	if st == nil {
		return &srv.opts
	}
	o := srv.opts
	o.Settings = *st
	if o.Limits.MaxHeaderBytes != srv.opts.Limits.MaxHeaderBytes {
		o.HTTP2.MaxHeaderListSize = 0 // advertised from the new head limit (defaults)
	}
	o.defaults()
	return &o
}

// routes returns the listener's current route table.
func (f *Factory) routes() *router.Table { return f.srv.opts.Routers.Get(f.routerName) }

// CreateFilters implements conn.FilterFactory.
func (f *Factory) CreateFilters(c *conn.Conn) {
	c.Filters().AddReadFilter(&downstream{f: f, c: c})
}

var _ conn.FilterFactory = (*Factory)(nil)
