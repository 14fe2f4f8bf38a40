package upstream

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// fakeDNS answers lookups from a table the test changes; a name missing
// from it fails to resolve. It records each lookup's network.
type fakeDNS struct {
	mu       sync.Mutex
	table    map[string][]string
	networks []string
	lookups  chan string // each lookup's host, when set
}

func (f *fakeDNS) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.table == nil {
		f.table = map[string][]string{}
	}
	if addrs == nil {
		delete(f.table, name)
		return
	}
	f.table[name] = addrs
}

func (f *fakeDNS) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	f.networks = append(f.networks, network)
	addrs, ok := f.table[host]
	f.mu.Unlock()
	if f.lookups != nil {
		defer func() {
			select {
			case f.lookups <- host:
			default: // nobody waits: the refresher must never block on the test
			}
		}()
	}
	if !ok {
		return nil, errors.New("lookup " + host + ": no such host")
	}
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

func addresses(hs []HostSpec) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.Address
	}
	return strings.Join(s, " ")
}

func TestResolveStrictAndLogical(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("api.test", "10.0.0.2", "10.0.0.1", "::1")
	dns.set("web.test", "10.0.0.1", "10.0.0.3") // 10.0.0.1 is api.test's too
	targets := []HostSpec{{Address: "api.test:80", Weight: 3, MetricsID: 7}, {Address: "web.test:81"}, {Address: "192.0.2.9:82"}}
	for _, tc := range []struct {
		name string
		d    DNSSpec
		want string
	}{
		{"strict, any family", DNSSpec{Mode: StrictDNS}, "10.0.0.1:80 10.0.0.2:80 [::1]:80 10.0.0.3:81 192.0.2.9:82"},
		{"strict, v4 only", DNSSpec{Mode: StrictDNS, Family: V4Only}, "10.0.0.1:80 10.0.0.2:80 10.0.0.3:81 192.0.2.9:82"},
		{"logical: the first address of each name", DNSSpec{Mode: LogicalDNS, Family: V4Only}, "10.0.0.1:80 192.0.2.9:82"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(context.Background(), dns, targets, &tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if addresses(got) != tc.want {
				t.Fatalf("hosts %q, want %q", addresses(got), tc.want)
			}
			if got[0].Weight != 3 || got[0].MetricsID != 7 {
				t.Fatalf("host 0 %+v: want its target's weight 3 and metrics ID 7", got[0])
			}
		})
	}
	if _, err := Resolve(context.Background(), dns, []HostSpec{{Address: "api.test:80"}, {Address: "gone.test:80"}}, &DNSSpec{Mode: StrictDNS}); err == nil ||
		!strings.Contains(err.Error(), `host 1 "gone.test:80"`) || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("an unresolvable name: %v, want an error naming it", err)
	}
	dns.set("v6.test", "::2")
	if _, err := Resolve(context.Background(), dns, []HostSpec{{Address: "v6.test:80"}}, &DNSSpec{Mode: StrictDNS, Family: V4Only}); err == nil ||
		!strings.Contains(err.Error(), "no ip4 address") {
		t.Fatalf("a name with no address of the family: %v", err)
	}
}

func dnsSpec(targets ...string) ClusterSpec {
	s := ClusterSpec{Name: "dns", DNS: &DNSSpec{Mode: StrictDNS, RefreshRate: time.Hour}}
	for _, a := range targets {
		s.Hosts = append(s.Hosts, HostSpec{Address: a})
	}
	return s
}

// TestDNSClusterNeedsResolving: Update refuses a DNS cluster whose names
// were not resolved; ResolveSpecs resolves them, failing with the cluster
// and the name.
func TestDNSClusterNeedsResolving(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("a.test", "10.0.0.1", "10.0.0.2")
	m := NewManager()
	specs := []ClusterSpec{dnsSpec("a.test:80")}
	if err := m.Update(specs); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Fatalf("Update of an unresolved DNS cluster: %v", err)
	}
	if err := m.ResolveSpecs(context.Background(), dns, specs); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(specs); err != nil {
		t.Fatal(err)
	}
	if got := hostAddrs(m.Get("dns")); got != "10.0.0.1:80 10.0.0.2:80" {
		t.Fatalf("hosts %q", got)
	}
	bad := []ClusterSpec{dnsSpec("a.test:80", "nx.test:80")}
	if err := m.ResolveSpecs(context.Background(), dns, bad); err == nil || !strings.Contains(err.Error(), `cluster 0 "dns": host 1 "nx.test:80"`) {
		t.Fatalf("ResolveSpecs with an unresolvable name: %v", err)
	}
}

func hostAddrs(c *Cluster) string {
	s := make([]string, len(c.Hosts()))
	for i, h := range c.Hosts() {
		s[i] = h.Address()
	}
	return strings.Join(s, " ")
}

// TestDNSRefresh: the refresher swaps in a changed set, keeping the *Host
// of an address that stays (its pools and counters); a failed resolution
// keeps the last good set and is counted; a reload with the same names
// keeps the resolved hosts without a lookup.
func TestDNSRefresh(t *testing.T) {
	dns := &fakeDNS{lookups: make(chan string, 16)}
	dns.set("a.test", "10.0.0.1", "10.0.0.2")
	m := NewManager()
	specs := []ClusterSpec{dnsSpec("a.test:80")}
	specs[0].DNS.RefreshRate = time.Millisecond
	if err := m.ResolveSpecs(context.Background(), dns, specs); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(specs); err != nil {
		t.Fatal(err)
	}
	kept := m.Get("dns").Hosts()[1] // 10.0.0.2
	var removed []*Host
	var mu sync.Mutex
	m.onRemove(func(hs []*Host) { mu.Lock(); removed = append(removed, hs...); mu.Unlock() })
	r := NewDNSRefresher(m, dns, nil)
	dns.set("a.test", "10.0.0.2", "10.0.0.3")
	r.Start()
	defer r.Stop()
	testutil.WaitFor(t, 10*time.Second, "the refresher swaps in the new addresses", func() bool {
		return hostAddrs(m.Get("dns")) == "10.0.0.2:80 10.0.0.3:80"
	})
	if m.Get("dns").Hosts()[0] != kept {
		t.Fatal("the address that stayed got a new *Host (its pools and counters would be lost)")
	}
	mu.Lock()
	if len(removed) != 1 || removed[0].Address() != "10.0.0.1:80" || !removed[0].Removed() {
		t.Fatalf("removed %v, want 10.0.0.1:80 marked removed", removed)
	}
	mu.Unlock()
	// The name stops resolving: the hosts stay, the failure is counted.
	dns.set("a.test")
	testutil.WaitFor(t, 10*time.Second, "a failed resolution counted", func() bool { return r.Failures("dns") > 0 })
	if got := hostAddrs(m.Get("dns")); got != "10.0.0.2:80 10.0.0.3:80" {
		t.Fatalf("after failed resolutions the hosts are %q, want the last good set", got)
	}
	// A reload keeping the names keeps the resolved hosts: no lookup needed.
	r.Stop()
	drain(dns.lookups)
	dns.mu.Lock()
	lookups := len(dns.networks)
	dns.mu.Unlock()
	again := []ClusterSpec{dnsSpec("a.test:80")}
	again[0].DNS.RefreshRate = time.Millisecond
	if err := m.ResolveSpecs(context.Background(), dns, again); err != nil {
		t.Fatalf("a reload with unchanged names resolved again: %v", err)
	}
	if got := addresses(again[0].Resolved); got != "10.0.0.2:80 10.0.0.3:80" {
		t.Fatalf("kept resolved %q", got)
	}
	dns.mu.Lock()
	defer dns.mu.Unlock()
	if len(dns.networks) != lookups {
		t.Fatalf("%d lookups for a reload with unchanged names, want none", len(dns.networks)-lookups)
	}
}

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestDNSRefresherFollowsReloads: a reload that drops a DNS cluster stops
// its refreshes; Stop leaves no timer or goroutine behind (goleak).
func TestDNSRefresherFollowsReloads(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("a.test", "10.0.0.1")
	m := NewManager()
	specs := []ClusterSpec{dnsSpec("a.test:80")}
	if err := m.ResolveSpecs(context.Background(), dns, specs); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(specs); err != nil {
		t.Fatal(err)
	}
	r := NewDNSRefresher(m, dns, nil)
	r.Start()
	r.mu.Lock()
	n := len(r.timers)
	r.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d timers, want 1", n)
	}
	if err := m.Update([]ClusterSpec{{Name: "static", Hosts: []HostSpec{{Address: "127.0.0.1:1"}}}}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	n = len(r.timers)
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d timers after the DNS cluster was removed, want 0", n)
	}
	r.Stop()
}
