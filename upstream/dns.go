package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DNS cluster defaults.
const (
	// DefaultDNSRefreshRate is how often a DNS cluster's names are
	// resolved again (Envoy's dns_refresh_rate default).
	DefaultDNSRefreshRate = 5 * time.Second
	// DefaultDNSTimeout bounds one resolution of a cluster's names.
	DefaultDNSTimeout = 5 * time.Second
)

// DNSMode says how a DNS cluster turns names into hosts.
type DNSMode uint8

// DNS modes.
const (
	// StrictDNS makes every address of every name a host (Envoy's and
	// MOSN's STRICT_DNS): a name behind a round-robin DNS record becomes as
	// many hosts, balanced by the cluster's policy.
	StrictDNS DNSMode = iota + 1
	// LogicalDNS makes each name one host, at the first address it
	// resolves to (Envoy's LOGICAL_DNS): for a large web service behind
	// one name, whose addresses rotate. Connections already open stay
	// where they are when the address changes; new ones go to the new
	// address.
	LogicalDNS
)

// DNSFamily restricts the addresses a name resolves to.
type DNSFamily uint8

// DNS families.
const (
	// AnyFamily takes IPv4 and IPv6 addresses.
	AnyFamily DNSFamily = iota
	// V4Only takes IPv4 addresses only (dns_lookup_family V4_ONLY).
	V4Only
	// V6Only takes IPv6 addresses only (V6_ONLY).
	V6Only
)

// DNSSpec makes a cluster's hosts names that are resolved off the event
// loops and again every RefreshRate. The cluster's Hosts are then targets,
// "name:port" (an IP literal target stands for itself), each with the
// weight its addresses take.
type DNSSpec struct {
	Mode   DNSMode
	Family DNSFamily
	// RefreshRate is the time between resolutions. Zero means
	// DefaultDNSRefreshRate.
	RefreshRate time.Duration
	// Timeout bounds one resolution of all the cluster's names. Zero means
	// DefaultDNSTimeout.
	Timeout time.Duration
}

func (d *DNSSpec) validate() error {
	if d.Mode != StrictDNS && d.Mode != LogicalDNS {
		return fmt.Errorf("dns: unknown mode %d", d.Mode)
	}
	if d.Family > V6Only {
		return fmt.Errorf("dns: unknown family %d", d.Family)
	}
	if d.RefreshRate < 0 || d.Timeout < 0 {
		return errors.New("dns: refresh rate and timeout must not be negative")
	}
	return nil
}

func (d DNSSpec) withDefaults() *DNSSpec {
	if d.RefreshRate == 0 {
		d.RefreshRate = DefaultDNSRefreshRate
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultDNSTimeout
	}
	return &d
}

// Lookup resolves a host name to addresses, as net.Resolver.LookupNetIP
// does (network "ip", "ip4" or "ip6"). net.DefaultResolver is one.
type Lookup interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Resolve turns the targets of a DNS cluster into hosts: every address of
// each name (StrictDNS) or its first (LogicalDNS), in a stable order
// (targets in spec order, addresses sorted), each carrying its target's
// weight and metrics ID (a host's counters are labelled by the name it came
// from). An address two targets share is one host, the first target's. It
// fails, naming the target, if any name does not resolve or resolves to no
// address of the family: a cluster keeps its last good hosts rather than
// lose a name's share. Blocking: never on a loop. Any goroutine.
func Resolve(ctx context.Context, l Lookup, targets []HostSpec, d *DNSSpec) ([]HostSpec, error) {
	network := [...]string{AnyFamily: "ip", V4Only: "ip4", V6Only: "ip6"}[d.Family]
	var out []HostSpec
	seen := map[netip.Addr]bool{}
	for i, t := range targets {
		host, port, err := net.SplitHostPort(t.Address)
		if err != nil {
			return nil, fmt.Errorf("host %d %q: %w", i, t.Address, err)
		}
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else if addrs, err = l.LookupNetIP(ctx, network, host); err != nil {
			return nil, fmt.Errorf("host %d %q: %w", i, t.Address, err)
		}
		addrs = slices.DeleteFunc(slices.Clone(addrs), func(a netip.Addr) bool {
			a = a.Unmap()
			return d.Family == V4Only && !a.Is4() || d.Family == V6Only && !a.Is6()
		})
		if len(addrs) == 0 {
			return nil, fmt.Errorf("host %d %q: no %s address", i, t.Address, network)
		}
		slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		if d.Mode == LogicalDNS {
			addrs = addrs[:1]
		}
		for _, a := range addrs {
			a = a.Unmap()
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, HostSpec{Address: net.JoinHostPort(a.String(), port), Weight: t.Weight, MetricsID: t.MetricsID})
		}
	}
	return out, nil
}

// DNSRefresher resolves the names of a Manager's DNS clusters again every
// refresh rate and swaps in the new hosts when they changed (hosts kept by
// address keep their pools, counters and health: Manager.Update). A failed
// resolution keeps the last good hosts, is logged and counted. It holds no
// goroutine between resolutions: each cluster's next resolution is a
// time.AfterFunc.
type DNSRefresher struct {
	m      *Manager
	lookup Lookup
	log    *slog.Logger

	mu       sync.Mutex
	timers   map[string]*time.Timer // by cluster name
	failures map[string]uint64      // failed resolutions, by cluster name
	stopped  bool
	// running counts resolutions in progress, for Stop.
	running sync.WaitGroup
}

// NewDNSRefresher returns a refresher for m's DNS clusters; Start runs it.
// A nil lookup is net.DefaultResolver, a nil log slog.Default().
func NewDNSRefresher(m *Manager, lookup Lookup, log *slog.Logger) *DNSRefresher {
	if lookup == nil {
		lookup = net.DefaultResolver
	}
	if log == nil {
		log = slog.Default()
	}
	return &DNSRefresher{m: m, lookup: lookup, log: log, timers: map[string]*time.Timer{}, failures: map[string]uint64{}}
}

// Start schedules every DNS cluster's next resolution, now and after each
// later Update (a reload adds, removes or changes DNS clusters). Any
// goroutine.
func (r *DNSRefresher) Start() {
	r.m.onChange(r.schedule)
	r.schedule(r.m.snap.Load().list)
}

// Failures counts the failed resolutions of cluster name since Start. Any
// goroutine.
func (r *DNSRefresher) Failures(name string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[name]
}

// Stop cancels the scheduled resolutions and waits for a running one.
// Any goroutine.
func (r *DNSRefresher) Stop() {
	r.mu.Lock()
	r.stopped = true
	for name, t := range r.timers {
		t.Stop()
		delete(r.timers, name)
	}
	r.mu.Unlock()
	r.running.Wait()
}

// schedule gives every DNS cluster of list a timer and stops those of
// clusters that are gone or no longer DNS. Called with Update's lock
// held: it must not block or call back into the Manager.
func (r *DNSRefresher) schedule(list []*Cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	live := map[string]bool{}
	for _, c := range list {
		if c.Spec.DNS == nil {
			continue
		}
		live[c.Spec.Name] = true
		if r.timers[c.Spec.Name] == nil {
			name, every := c.Spec.Name, c.Spec.DNS.RefreshRate
			r.timers[name] = time.AfterFunc(every, func() { r.refresh(name) })
		}
	}
	for name, t := range r.timers {
		if !live[name] {
			t.Stop()
			delete(r.timers, name)
		}
	}
}

// refresh resolves one cluster's names and, when its hosts changed, swaps
// them in; then it schedules the next resolution.
func (r *DNSRefresher) refresh(name string) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.running.Add(1)
	r.mu.Unlock()
	defer r.running.Done()
	c := r.m.Get(name)
	if c == nil || c.Spec.DNS == nil {
		return // removed meanwhile; schedule dropped its timer
	}
	d := c.Spec.DNS
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	hosts, err := Resolve(ctx, r.lookup, c.targets, d)
	cancel()
	if err != nil {
		r.mu.Lock()
		r.failures[name]++
		r.mu.Unlock()
		r.log.Warn("DNS resolution failed: the cluster keeps its last hosts", "cluster", name, "err", err)
	} else if err := r.m.setResolved(name, c, hosts); err != nil {
		r.log.Warn("DNS update of the cluster failed", "cluster", name, "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.timers[name]; t != nil && !r.stopped {
		t.Reset(d.RefreshRate)
	}
}

// setResolved swaps in hosts as the resolved hosts of cluster name, if it
// is still was (not reloaded meanwhile) and they differ from its current
// ones. Any goroutine.
func (m *Manager) setResolved(name string, was *Cluster, hosts []HostSpec) error {
	if sameHosts(was.Spec.Hosts, hosts) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.snap.Load()
	if cur.byName[name] != was {
		return nil // reloaded meanwhile: its own resolution comes next
	}
	specs := make([]ClusterSpec, len(cur.list))
	for i, c := range cur.list {
		specs[i] = c.SourceSpec()
		if c == was {
			specs[i].Resolved = hosts
		}
	}
	return m.update(specs)
}

// sameHosts reports whether a and b list the same hosts with the same
// weights (zero is 1), in the same order (Resolve's order is stable).
func sameHosts(a, b []HostSpec) bool {
	return slices.EqualFunc(a, b, func(x, y HostSpec) bool { return x.Address == y.Address && max(x.Weight, 1) == max(y.Weight, 1) })
}

// SourceSpec is the spec c was built from, as Update takes it again: for a
// DNS cluster the names as Hosts and the addresses they resolved to as
// Resolved (Spec has the addresses as Hosts). Any goroutine.
func (c *Cluster) SourceSpec() ClusterSpec {
	s := c.Spec
	if s.DNS != nil {
		s.Resolved = s.Hosts
		s.Hosts = c.targets
	}
	return s
}

// ResolveSpecs fills in Resolved for the DNS clusters of specs that do not
// have it and whose names m does not already hold resolved (a reload that
// keeps a DNS cluster's names and DNS settings keeps its hosts until the
// next refresh). It is what the composition root runs before Update, at
// start and on reload; an error names the cluster and the target that did
// not resolve. Blocking: never on a loop. Any goroutine.
func (m *Manager) ResolveSpecs(ctx context.Context, l Lookup, specs []ClusterSpec) error {
	if l == nil {
		l = net.DefaultResolver
	}
	for i := range specs {
		s := &specs[i]
		if s.DNS == nil || len(s.Resolved) > 0 {
			continue
		}
		if prev := m.Get(s.Name); prev != nil && prev.Spec.DNS != nil && *prev.Spec.DNS == *s.DNS.withDefaults() &&
			sameHosts(prev.targets, s.Hosts) {
			s.Resolved = prev.Spec.Hosts
			continue
		}
		d := s.DNS.withDefaults()
		rctx, cancel := context.WithTimeout(ctx, d.Timeout)
		hosts, err := Resolve(rctx, l, s.Hosts, d)
		cancel()
		if err != nil {
			return fmt.Errorf("upstream: cluster %d %q: %w", i, s.Name, err)
		}
		s.Resolved = hosts
	}
	return nil
}
