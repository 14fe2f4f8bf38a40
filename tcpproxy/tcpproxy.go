package tcpproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/internal/relay"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/upstream"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Min, Max uint16 }

// Route sends the connections that match every criterion it has to
// Cluster; a criterion left empty matches any connection (Envoy's
// semantics).
type Route struct {
	Cluster string
	// Sources and Destinations match the client's address and the
	// address it connected to.
	Sources, Destinations []netip.Prefix
	// SourcePorts and DestinationPorts match their ports.
	SourcePorts, DestinationPorts []PortRange
}

// Config is one tcp_proxy filter.
type Config struct {
	// Cluster, when set, takes every connection; Routes are then unused
	// (MOSN's order).
	Cluster string
	// Routes are tried in order; the first match names the cluster. A
	// connection no route matches is closed.
	Routes []Route
	// IdleTimeout closes both connections when no byte moved either way
	// for that long. Zero means none.
	IdleTimeout time.Duration
	// MaxConnectAttempts bounds the hosts tried per connection, each
	// picked by the cluster's balancer away from the last failed one.
	// Zero means 1 (Envoy's default).
	MaxConnectAttempts int
	// MetricsID is the listener's label set in Metrics.
	MetricsID uint32
}

// Deps are what the filter's connections share.
type Deps struct {
	// Clusters resolves the cluster at each connection, so a reload's
	// hosts are used by the next connection. Required.
	Clusters *upstream.Manager
	// Dialer opens upstream connections on the client's loop, for the
	// clusters without a Dialer of their own (upstream.ClusterSpec.Dialer,
	// which a cluster with TLS to its hosts has). Required.
	Dialer conn.Dialer
	// Spill configures the queues of what one side cannot take yet.
	Spill spill.Options
	// Metrics, when set, counts per listener and per cluster.
	Metrics *metrics.Registry
}

// Stats are a factory's counters, for tests and logs. Any goroutine.
type Stats struct {
	// Connections counts downstream connections; Active those open.
	Connections, Active atomic.Int64
	// ConnectFailures counts failed dials; NoUpstream connections closed
	// because no host could be reached, NoRoute those no route matched.
	ConnectFailures, NoUpstream, NoRoute atomic.Int64
	// HighMark is the most bytes one relay held in memory, over the
	// relays that ended.
	HighMark atomic.Int64
	// Idle counts relays ended by the idle timeout.
	Idle atomic.Int64
}

// Factory builds the filter of each new connection (conn.FilterFactory).
// Any goroutine.
type Factory struct {
	cfg   Config
	deps  Deps
	ropts relay.Options
	Stats Stats
}

// ErrNoRoute is the error of a connection that no route matched.
var ErrNoRoute = errors.New("tcp_proxy: no route matches the connection")

// ErrNoHost is the error of a connection whose cluster has no usable host.
var ErrNoHost = errors.New("tcp_proxy: no healthy host")

// NewFactory checks cfg and returns its factory.
func NewFactory(cfg Config, deps Deps) (*Factory, error) {
	switch {
	case deps.Clusters == nil:
		return nil, errors.New("tcp_proxy: Deps.Clusters is required")
	case deps.Dialer == nil:
		return nil, errors.New("tcp_proxy: Deps.Dialer is required")
	case cfg.Cluster == "" && len(cfg.Routes) == 0:
		return nil, errors.New("tcp_proxy: a cluster or routes are required")
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("tcp_proxy: idle timeout %v is negative", cfg.IdleTimeout)
	case cfg.MaxConnectAttempts < 0:
		return nil, fmt.Errorf("tcp_proxy: max connect attempts %d is negative", cfg.MaxConnectAttempts)
	}
	if cfg.MaxConnectAttempts == 0 {
		cfg.MaxConnectAttempts = 1
	}
	return &Factory{cfg: cfg, deps: deps, ropts: relay.Options{IdleTimeout: cfg.IdleTimeout, Spill: deps.Spill}}, nil
}

// CreateFilters implements conn.FilterFactory.
func (f *Factory) CreateFilters(c *conn.Conn) {
	s := &session{f: f, down: c}
	c.Filters().AddReadFilter(s) // and its OnEvent: the Manager registers read filters' callbacks
}

// route names the cluster of a connection from remote to local, "" for
// none.
func (f *Factory) route(remote net.Addr, local netip.AddrPort) string {
	if f.cfg.Cluster != "" {
		return f.cfg.Cluster
	}
	src, dst := addrPort(remote), local
	for i := range f.cfg.Routes {
		if r := &f.cfg.Routes[i]; r.matches(src, dst) {
			return r.Cluster
		}
	}
	return ""
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

func (r *Route) matches(src, dst netip.AddrPort) bool {
	return inPrefixes(r.Sources, src.Addr()) && inPorts(r.SourcePorts, src.Port()) &&
		inPrefixes(r.Destinations, dst.Addr()) && inPorts(r.DestinationPorts, dst.Port())
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func inPorts(rs []PortRange, port uint16) bool {
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if port >= r.Min && port <= r.Max {
			return true
		}
	}
	return false
}

// session is one client connection and its upstream. Loop only.
type session struct {
	f       *Factory
	down    *conn.Conn
	r       *relay.Relay
	cluster *upstream.Cluster
	host    *upstream.Host // the host dialled or connected
	tries   int
	ended   bool
	counted bool // the host's connection count holds this session
}

// upSide is the session as its upstream connection's filter.
type upSide session

// InitReadCallbacks implements filterchain.ReadFilter. The connection
// came with the filter (Factory.CreateFilters).
func (s *session) InitReadCallbacks(filterchain.ReadCallbacks) {}

// OnNewConnection implements filterchain.ReadFilter: route, then dial
// while the client's bytes wait in the relay.
func (s *session) OnNewConnection() filterchain.Status {
	f := s.f
	f.Stats.Connections.Add(1)
	f.Stats.Active.Add(1)
	if l := s.listener(); l != nil {
		l.Connections.Inc()
		l.ActiveConnections.Inc()
		s.down.SetByteCounters(&l.BytesReceived, &l.BytesSent)
	}
	s.r = relay.New(s.down.Loop(), &f.ropts, s)
	if err := s.r.Attach(relay.Down, s.down); err != nil {
		s.r.Abort(err, true)
		return filterchain.Stop
	}
	// gnet's LocalAddr is the listener's configured address: the
	// socket's own says which address and port the client reached.
	local, _ := netip.ParseAddrPort(s.down.SocketLocalAddr())
	name := f.route(s.down.RemoteAddr(), local)
	if name == "" {
		f.Stats.NoRoute.Add(1)
		if l := s.listener(); l != nil {
			l.TCPNoUpstream.Inc()
		}
		s.r.Abort(ErrNoRoute, false)
		return filterchain.Stop
	}
	s.cluster = f.deps.Clusters.Get(name)
	if s.cluster == nil {
		f.Stats.NoRoute.Add(1)
		s.r.Abort(fmt.Errorf("tcp_proxy: cluster %q is gone", name), false)
		return filterchain.Stop
	}
	s.dial(nil)
	return filterchain.Stop
}

// dial tries the next host, away from prev.
func (s *session) dial(prev *upstream.Host) {
	for s.tries < s.f.cfg.MaxConnectAttempts {
		s.tries++
		h := s.cluster.PickExcluding(prev)
		if h == nil && prev != nil {
			h = s.cluster.Pick() // a one-host cluster tries its host again
		}
		if h == nil {
			break
		}
		s.host = h
		d := s.f.deps.Dialer
		if cd := s.cluster.Spec.Dialer; cd != nil {
			d = cd // the cluster's own: TLS to its hosts (conn.TLSDialer)
		}
		err := d.Dial(s.down.Loop(), h.Address(), s.cluster.Spec.ConnectTimeout, (*upDial)(s))
		if err == nil {
			return
		}
		s.connectFailed()
		prev = h
	}
	s.f.Stats.NoUpstream.Add(1)
	if l := s.listener(); l != nil {
		l.TCPNoUpstream.Inc()
	}
	s.r.Abort(ErrNoHost, false)
}

func (s *session) connectFailed() {
	s.f.Stats.ConnectFailures.Add(1)
	if c := s.clusterCells(); c != nil {
		c.ConnectFailures.Inc()
	}
	if l := s.listener(); l != nil {
		l.TCPConnectFailures.Inc()
	}
}

// upDial is the session as the DialHandler of its dials.
type upDial session

// OnDialed implements conn.DialHandler.
func (d *upDial) OnDialed(c *conn.Conn) {
	s := (*session)(d)
	if s.r.Ended() {
		c.Close(filterchain.CloseNow)
		return
	}
	s.host.AddConn(1)
	s.counted = true
	if cc := s.clusterCells(); cc != nil {
		c.SetByteCounters(&cc.BytesReceived, &cc.BytesSent)
	}
	c.Filters().AddReadFilter((*upSide)(s)) // and its OnEvent
	c.Filters().InitializeReadFilters()
	if err := s.r.Attach(relay.Up, c); err != nil {
		s.r.Abort(err, true)
	}
}

// OnDialFailed implements conn.DialHandler: the next host, or the end.
func (d *upDial) OnDialFailed(error) {
	s := (*session)(d)
	if s.r.Ended() {
		return
	}
	s.connectFailed()
	s.dial(s.host)
}

// OnData implements filterchain.ReadFilter for the client's connection.
func (s *session) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	s.r.Read(relay.Down, buf)
	return filterchain.Stop
}

// OnEvent implements filterchain.ConnectionCallbacks for the client's
// connection.
func (s *session) OnEvent(ev filterchain.ConnectionEvent) {
	if s.r != nil {
		s.r.Closed(relay.Down, ev)
	}
}

// InitReadCallbacks implements filterchain.ReadFilter.
func (u *upSide) InitReadCallbacks(filterchain.ReadCallbacks) {}

// OnNewConnection implements filterchain.ReadFilter.
func (u *upSide) OnNewConnection() filterchain.Status { return filterchain.Continue }

// OnData implements filterchain.ReadFilter for the upstream connection.
func (u *upSide) OnData(buf filterchain.Buffer, _ bool) filterchain.Status {
	u.r.Read(relay.Up, buf)
	return filterchain.Stop
}

// OnEvent implements filterchain.ConnectionCallbacks for the upstream
// connection.
func (u *upSide) OnEvent(ev filterchain.ConnectionEvent) { u.r.Closed(relay.Up, ev) }

// OnRelayEnd implements relay.Handler.
func (s *session) OnRelayEnd(r *relay.Relay) {
	if s.ended {
		return
	}
	s.ended = true
	f := s.f
	f.Stats.Active.Add(-1)
	if errors.Is(r.Err(), relay.ErrIdle) {
		f.Stats.Idle.Add(1)
	}
	for hm := int64(r.HighMark()); ; {
		cur := f.Stats.HighMark.Load()
		if hm <= cur || f.Stats.HighMark.CompareAndSwap(cur, hm) {
			break
		}
	}
	if s.counted {
		s.host.AddConn(-1)
	}
	if l := s.listener(); l != nil {
		l.ActiveConnections.Dec()
	}
}

// listener is the listener's cells on the session's loop, or nil.
func (s *session) listener() *metrics.Listener {
	if m := s.f.deps.Metrics; m != nil {
		return m.Shard(s.down.Loop().Index).Listener(metrics.ID(s.f.cfg.MetricsID))
	}
	return nil
}

// clusterCells is the cluster's cells on the session's loop, or nil.
func (s *session) clusterCells() *metrics.Cluster {
	if m := s.f.deps.Metrics; m != nil && s.cluster != nil {
		return m.Shard(s.down.Loop().Index).Cluster(metrics.ID(s.cluster.Spec.MetricsID))
	}
	return nil
}

var (
	_ conn.FilterFactory              = (*Factory)(nil)
	_ filterchain.ReadFilter          = (*session)(nil)
	_ filterchain.ConnectionCallbacks = (*session)(nil)
	_ filterchain.ReadFilter          = (*upSide)(nil)
	_ conn.DialHandler                = (*upDial)(nil)
	_ relay.Handler                   = (*session)(nil)
)
