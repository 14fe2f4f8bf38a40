//go:build !race

package upstream

import (
	"strconv"
	"testing"
)

func benchClusters(b testing.TB) []*Cluster {
	return clustersPerPolicy(b, []HostSpec{
		{Address: "10.0.0.1:80", Weight: 1}, {Address: "10.0.0.2:80", Weight: 3},
		{Address: "10.0.0.3:80", Weight: 5}, {Address: "10.0.0.4:80", Weight: 2},
	})
}

// clustersPerPolicy is one cluster per policy, each of these hosts.
func clustersPerPolicy(b testing.TB, hosts []HostSpec) []*Cluster {
	specs := make([]ClusterSpec, 0, lbPolicyCount)
	for p := range lbPolicyCount {
		specs = append(specs, ClusterSpec{Name: p.String(), LB: p, Hosts: hosts})
	}
	m := NewManager()
	if err := m.Update(specs); err != nil {
		b.Fatal(err)
	}
	return m.Clusters()
}

// benchPick runs the sub-benchmark name: Pick on c, 0 allocs expected.
func benchPick(b *testing.B, name string, c *Cluster) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Pick() == nil {
				b.Fatal("nil host")
			}
		}
	})
}

func BenchmarkPick(b *testing.B) {
	for _, c := range benchClusters(b) {
		benchPick(b, c.Name(), c)
	}
}

// benchClusters100 is one cluster per policy with 100 hosts of weights
// 1..5.
func benchClusters100(b testing.TB) []*Cluster {
	hosts := make([]HostSpec, 100)
	for i := range hosts {
		hosts[i] = HostSpec{Address: "10.0.1." + strconv.Itoa(i+1) + ":80", Weight: uint32(i%5 + 1)}
	}
	return clustersPerPolicy(b, hosts)
}

// BenchmarkPick100 picks from 100 hosts: Pick for every policy, and
// PickHash with a new key each time for the hash policies. Target: at most
// 100 ns/op and 0 allocs/op for each.
//
//	go test -run x -bench BenchmarkPick100 -benchmem ./upstream/
func BenchmarkPick100(b *testing.B) {
	for _, c := range benchClusters100(b) {
		benchPick(b, c.Name(), c)
		if c.Hashing() {
			b.Run(c.Name()+"/key", func(b *testing.B) {
				b.ReportAllocs()
				var k uint64
				for b.Loop() {
					k++
					if c.PickHash(k, nil) == nil {
						b.Fatal("nil host")
					}
				}
			})
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, c := range benchClusters(b) {
		b.Run(c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h := c.Pick()
					h.IncActive()
					h.DecActive()
				}
			})
		})
	}
}

func BenchmarkManagerGet(b *testing.B) {
	m := NewManager()
	if err := m.Update([]ClusterSpec{{Name: "svc", Hosts: []HostSpec{{Address: "a:1"}}}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if m.Get("svc") == nil {
			b.Fatal("nil cluster")
		}
	}
}

func TestPickAllocs(t *testing.T) {
	for _, c := range append(benchClusters(t), benchClusters100(t)...) {
		t.Run(c.Name(), func(t *testing.T) {
			c.Hosts()[1].SetHealthy(false) // exercise the redraw path too
			prev := c.Hosts()[2]
			if n := testing.AllocsPerRun(1000, func() {
				_ = c.Pick()
				_ = c.PickExcluding(prev)
				_ = c.PickHash(12345, prev)
			}); n != 0 {
				t.Fatalf("%v allocs per Pick, want 0", n)
			}
		})
	}
}

// BenchmarkPickPanicThreshold picks from 100 hosts with Envoy's
// threshold of 50 %: "healthy" with every host healthy (the threshold's
// test on each pick, its count cached), "panic" with 60 of them out of
// rotation (every pick in panic mode). Target: as BenchmarkPick100, at
// most 100 ns/op and 0 allocs/op.
//
//	go test -run x -bench BenchmarkPickPanicThreshold -benchmem ./upstream/
func BenchmarkPickPanicThreshold(b *testing.B) {
	for _, c := range benchClusters100(b) {
		thr := 50.0
		s := c.Spec
		s.PanicThreshold = &thr
		m := NewManager()
		if err := m.Update([]ClusterSpec{s}); err != nil {
			b.Fatal(err)
		}
		c = m.Get(s.Name)
		benchPick(b, c.Name()+"/healthy", c)
		for _, h := range c.Hosts()[:60] {
			h.SetHealthy(false)
		}
		benchPick(b, c.Name()+"/panic", c)
	}
}
