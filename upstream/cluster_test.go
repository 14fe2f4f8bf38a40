package upstream

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func hosts(addrs ...string) []HostSpec {
	hs := make([]HostSpec, len(addrs))
	for i, a := range addrs {
		hs[i] = HostSpec{Address: a}
	}
	return hs
}

func TestUpdateValidation(t *testing.T) {
	ok := ClusterSpec{Name: "ok", Hosts: hosts("127.0.0.1:80")}
	tests := []struct {
		name    string
		specs   []ClusterSpec
		wantErr string
	}{
		{name: "empty name", specs: []ClusterSpec{ok, {Hosts: hosts("a:1")}},
			wantErr: "upstream: cluster 1: empty name"},
		{name: "duplicate name", specs: []ClusterSpec{ok, ok},
			wantErr: `upstream: cluster 1 "ok": name repeats cluster 0`},
		{name: "no hosts", specs: []ClusterSpec{{Name: "a"}},
			wantErr: `upstream: cluster 0 "a": no hosts`},
		{name: "missing port", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:1", "10.0.0.1")}},
			wantErr: `upstream: cluster 0 "a": host 1: address "10.0.0.1": want host:port`},
		{name: "empty host", specs: []ClusterSpec{{Name: "a", Hosts: hosts(":80")}},
			wantErr: `upstream: cluster 0 "a": host 0: address ":80": empty host`},
		{name: "port zero", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:0")}},
			wantErr: `host 0: address "a:0": port "0" is not a number in 1..65535`},
		{name: "port too big", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:65536")}},
			wantErr: `port "65536" is not a number in 1..65535`},
		{name: "named port", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:http")}},
			wantErr: `port "http" is not a number`},
		{name: "space in host", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a b:80")}},
			wantErr: "invalid character in host"},
		{name: "duplicate address", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:1", "b:2", "a:1")}},
			wantErr: `upstream: cluster 0 "a": host 2: address "a:1" repeats host 0`},
		{name: "weight too big", specs: []ClusterSpec{{Name: "a", Hosts: []HostSpec{{Address: "a:1", Weight: MaxWeight + 1}}}},
			wantErr: `host 0: weight 65536 above the maximum 65535`},
		{name: "negative timeout", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:1"), ConnectTimeout: -time.Second}},
			wantErr: `upstream: cluster 0 "a": connect_timeout is negative`},
		{name: "negative max pending", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:1"), MaxPending: -1}},
			wantErr: "max_pending is negative (-1)"},
		{name: "unknown policy", specs: []ClusterSpec{{Name: "a", Hosts: hosts("a:1"), LB: 9}},
			wantErr: "unknown lb policy 9"},
		{name: "valid ipv6 and names", specs: []ClusterSpec{ok, {Name: "b", Hosts: hosts("[::1]:8080", "svc.local:65535")}}},
		{name: "empty set", specs: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			err := m.Update(tc.specs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if len(m.Clusters()) != 0 {
				t.Fatal("a failed Update published clusters")
			}
		})
	}
}

func TestUpdateAppliesDefaultsAndCopies(t *testing.T) {
	specs := []ClusterSpec{{Name: "a", Hosts: hosts("a:1", "b:2"), MaxPending: 7}}
	m := NewManager()
	if err := m.Update(specs); err != nil {
		t.Fatal(err)
	}
	specs[0].Hosts[0].Address = "mutated:1"
	got := m.Get("a").Spec
	want := ClusterSpec{
		Name: "a", LB: RoundRobin,
		Hosts:           []HostSpec{{Address: "a:1", Weight: 1}, {Address: "b:2", Weight: 1}},
		ConnectTimeout:  DefaultConnectTimeout,
		IdleTimeout:     DefaultIdleTimeout,
		MaxConnsPerHost: 0, // no limit of its own: the socket budget binds
		MaxIdlePerHost:  DefaultMaxIdlePerHost,
		MaxPending:      7,
	}
	if got.Name != want.Name || got.ConnectTimeout != want.ConnectTimeout || got.IdleTimeout != want.IdleTimeout ||
		got.MaxConnsPerHost != want.MaxConnsPerHost || got.MaxIdlePerHost != want.MaxIdlePerHost ||
		got.MaxPending != want.MaxPending || got.MaxRequestsPerConn != 0 ||
		len(got.Hosts) != 2 || got.Hosts[0] != want.Hosts[0] || got.Hosts[1] != want.Hosts[1] {
		t.Fatalf("Spec = %+v\nwant %+v", got, want)
	}
	if a := m.Get("a").Hosts()[0].Address(); a != "a:1" {
		t.Fatalf("host address %q changed with the caller's slice", a)
	}
}

func TestUpdateKeepsHosts(t *testing.T) {
	m := NewManager()
	first := []ClusterSpec{
		{Name: "a", Hosts: hosts("h1:80", "h2:80", "h3:80")},
		{Name: "b", Hosts: hosts("h1:80")},
	}
	if err := m.Update(first); err != nil {
		t.Fatal(err)
	}
	a1 := m.Get("a").Hosts()
	b1 := m.Get("b").Hosts()
	a1[0].IncActive()
	a1[0].AddConn(2)
	a1[1].SetHealthy(false)

	second := []ClusterSpec{
		{Name: "b2", Hosts: hosts("h1:80")}, // renamed: new host
		{Name: "a", LB: WeightedRoundRobin, Hosts: []HostSpec{
			{Address: "h2:80", Weight: 3}, {Address: "h1:80"}, {Address: "h4:80"},
		}},
	}
	if err := m.Update(second); err != nil {
		t.Fatal(err)
	}
	a2 := m.Get("a").Hosts()
	tests := []struct {
		name string
		got  *Host
		want *Host
	}{
		{name: "h1 kept", got: a2[1], want: a1[0]},
		{name: "h2 kept", got: a2[0], want: a1[1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("host %s is a new *Host", tc.want.Address())
			}
			if tc.got.Removed() {
				t.Fatal("kept host marked removed")
			}
		})
	}
	if a2[1].Active() != 1 || a2[1].Conns() != 2 || a2[1].Requests() != 1 {
		t.Errorf("counters lost: active %d conns %d requests %d", a2[1].Active(), a2[1].Conns(), a2[1].Requests())
	}
	if a2[0].Healthy() || a2[0].Weight() != 3 {
		t.Errorf("h2: healthy %v weight %d, want false 3", a2[0].Healthy(), a2[0].Weight())
	}
	if !a1[2].Removed() || !b1[0].Removed() {
		t.Error("dropped hosts (a/h3, b/h1) not marked removed")
	}
	if a2[2].Removed() || !a2[2].Healthy() || a2[2].ClusterName() != "a" {
		t.Error("new host h4 in a bad state")
	}
	if h := m.Get("b2").Hosts()[0]; h == b1[0] || h.ClusterName() != "b2" {
		t.Error("renamed cluster reused the old cluster's host")
	}
	if m.Get("b") != nil {
		t.Error("cluster b still present")
	}
	names := []string{}
	for _, c := range m.Clusters() {
		names = append(names, c.Name())
	}
	if strings.Join(names, ",") != "b2,a" {
		t.Errorf("Clusters() = %v, want spec order b2,a", names)
	}
}

func TestFailedUpdateKeepsState(t *testing.T) {
	m := NewManager()
	if err := m.Update([]ClusterSpec{{Name: "a", Hosts: hosts("h1:80")}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("a")
	err := m.Update([]ClusterSpec{{Name: "a", Hosts: hosts("h2:80")}, {Name: "bad"}})
	if err == nil {
		t.Fatal("Update accepted a cluster without hosts")
	}
	if m.Get("a") != c || c.Hosts()[0].Removed() {
		t.Fatal("failed Update changed the published clusters")
	}
}

func TestGetUnknown(t *testing.T) {
	m := NewManager()
	if m.Get("nope") != nil || len(m.Clusters()) != 0 {
		t.Fatal("new Manager is not empty")
	}
	if !errors.Is(ErrNoHealthyHost, ErrNoHealthyHost) || !strings.HasPrefix(ErrNoHealthyHost.Error(), "upstream: ") {
		t.Fatal("sentinel not prefixed")
	}
}

func TestConcurrentPickDuringUpdate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	specs := [][]ClusterSpec{
		{{Name: "a", Hosts: hosts("h1:80", "h2:80", "h3:80")}},
		{{Name: "a", LB: Random, Hosts: []HostSpec{{Address: "h1:80", Weight: 5}, {Address: "h3:80"}}}},
		{{Name: "a", LB: WeightedRoundRobin, Hosts: []HostSpec{{Address: "h2:80", Weight: 2}, {Address: "h4:80"}}}},
		{{Name: "a", LB: LeastRequest, Hosts: hosts("h1:80", "h2:80", "h4:80")}},
	}
	m := NewManager()
	if err := m.Update(specs[0]); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var picks atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				h := m.Get("a").Pick()
				if h == nil {
					t.Error("Pick returned nil")
					return
				}
				h.IncActive()
				h.SetHealthy(true)
				h.DecActive()
				picks.Add(1)
			}
		})
	}
	for i := 0; i < 400 || picks.Load() < 10_000; i++ {
		if err := m.Update(specs[i%len(specs)]); err != nil {
			t.Error(err)
		}
		_ = m.Clusters() // exercised for the race detector only
	}
	stop.Store(true)
	wg.Wait()
	if picks.Load() == 0 {
		t.Fatal("no picks ran")
	}
}
