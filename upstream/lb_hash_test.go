package upstream

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// hashCluster builds a cluster of n hosts named h0..h(n-1) with the given
// weights (all 1 when nil).
func hashCluster(t testing.TB, m *Manager, lb LBPolicy, n int, weights []uint32, skip int) *Cluster {
	t.Helper()
	s := ClusterSpec{Name: "c", LB: lb}
	for i := range n {
		if i == skip {
			continue
		}
		w := uint32(1)
		if weights != nil {
			w = weights[i]
		}
		s.Hosts = append(s.Hosts, HostSpec{Address: fmt.Sprintf("10.0.%d.%d:80", i/200, i%200+1), Weight: w})
	}
	if err := m.Update([]ClusterSpec{s}); err != nil {
		t.Fatal(err)
	}
	return m.Get("c")
}

// keyCounts picks with keys 0..keys-1 and counts per host index.
func keyCounts(t *testing.T, c *Cluster, keys int) []int {
	t.Helper()
	idx := hostIndex(c)
	counts := make([]int, len(c.Hosts()))
	for k := range keys {
		h := c.PickHash(uint64(k), nil)
		if h == nil {
			t.Fatal("PickHash returned nil with healthy hosts")
		}
		counts[idx[h]]++
	}
	return counts
}

// TestHashDistribution checks that keys spread in proportion to weights.
// Tolerance: each host's share of 200k keys is within 25% (ring) or 5%
// (Maglev) of its weight's share. The placement is deterministic (FNV of
// the addresses), so the test cannot flake; the margins are what a ring of
// 160 points per unit of weight (a share's standard deviation is about
// 1/sqrt(160), 8%) and a 65537-entry Maglev table give.
func TestHashDistribution(t *testing.T) {
	for _, tc := range []struct {
		lb  LBPolicy
		tol float64
	}{{RingHash, 0.25}, {Maglev, 0.05}} {
		for _, weights := range [][]uint32{{1, 1, 1, 1, 1}, {1, 2, 3, 4, 10}} {
			t.Run(fmt.Sprintf("%v/%v", tc.lb, weights), func(t *testing.T) {
				c := hashCluster(t, NewManager(), tc.lb, len(weights), weights, -1)
				const keys = 200_000
				got := keyCounts(t, c, keys)
				var wsum float64
				for _, w := range weights {
					wsum += float64(w)
				}
				for i, w := range weights {
					want := keys * float64(w) / wsum
					if d := float64(got[i])/want - 1; d > tc.tol || d < -tc.tol {
						t.Errorf("host %d: %d keys, want %.0f ±%.0f%%", i, got[i], want, tc.tol*100)
					}
				}
			})
		}
	}
}

// TestHashConsistency removes one of N=10 hosts and checks that the keys
// of the others stay put: at least (1-1/N) × 0.97 of all keys keep their
// host (the removed host's share varies around 1/N by a few percent), and
// of the keys on the remaining hosts none moves on the ring (removing a
// host frees only its own points) and at most 1% of all keys move with
// Maglev (the paper reports a few per cent of the table reshuffled).
func TestHashConsistency(t *testing.T) {
	const n, keys = 10, 100_000
	for _, tc := range []struct {
		lb       LBPolicy
		maxMoved int
	}{{RingHash, 0}, {Maglev, keys / 100}} {
		t.Run(tc.lb.String(), func(t *testing.T) {
			before := hashCluster(t, NewManager(), tc.lb, n, nil, -1)
			after := hashCluster(t, NewManager(), tc.lb, n, nil, 3)
			removed := before.Hosts()[3].Address()
			same, moved := 0, 0
			for k := range keys {
				a := before.PickHash(uint64(k), nil).Address()
				b := after.PickHash(uint64(k), nil).Address()
				switch {
				case a == b:
					same++
				case a != removed:
					moved++
				}
			}
			floor := keys * (1 - 1.0/n) * 0.97
			if float64(same) < floor {
				t.Errorf("%d of %d keys kept their host, want at least %.0f", same, keys, floor)
			}
			if moved > tc.maxMoved {
				t.Errorf("%d keys of remaining hosts moved, want at most %d", moved, tc.maxMoved)
			}
			t.Logf("%s: %d/%d kept, %d of remaining hosts moved", tc.lb, same, keys, moved)
		})
	}
}

// TestHashUnhealthyWalks marks a host unhealthy: its keys go elsewhere,
// every other key stays, and the keys come back when it recovers.
func TestHashUnhealthyWalks(t *testing.T) {
	for _, lb := range []LBPolicy{RingHash, Maglev} {
		t.Run(lb.String(), func(t *testing.T) {
			c := hashCluster(t, NewManager(), lb, 5, nil, -1)
			const keys = 20_000
			first := make([]*Host, keys)
			for k := range keys {
				first[k] = c.PickHash(uint64(k), nil)
			}
			sick := c.Hosts()[2]
			sick.SetHealthy(false)
			for k := range keys {
				h := c.PickHash(uint64(k), nil)
				switch {
				case h == sick:
					t.Fatalf("key %d went to the unhealthy host", k)
				case first[k] != sick && h != first[k]:
					t.Fatalf("key %d moved from healthy %v to %v", k, first[k], h)
				}
			}
			sick.SetHealthy(true)
			for k := range keys {
				if h := c.PickHash(uint64(k), nil); h != first[k] {
					t.Fatalf("key %d: %v after recovery, want %v", k, h, first[k])
				}
			}
		})
	}
}

func TestHashExcludeAndNoHealthy(t *testing.T) {
	for _, lb := range []LBPolicy{RingHash, Maglev} {
		t.Run(lb.String(), func(t *testing.T) {
			c := hashCluster(t, NewManager(), lb, 3, nil, -1)
			for k := range uint64(1000) {
				h := c.PickHash(k, nil)
				if h2 := c.PickHash(k, h); h2 == h || h2 == nil {
					t.Fatalf("key %d: exclude %v gave %v", k, h, h2)
				}
			}
			hs := c.Hosts()
			hs[0].SetHealthy(false)
			hs[1].SetHealthy(false)
			if h := c.PickHash(7, hs[2]); h != hs[2] {
				t.Fatalf("only healthy host excluded: got %v, want it anyway", h)
			}
			hs[2].SetHealthy(false)
			// No healthy host: panic mode (Pick's), the key keeps its host.
			if h := c.PickHash(7, nil); h == nil || h != c.PickHash(7, nil) || c.Stats().LBPanics != 2 {
				t.Fatalf("no healthy host: got %v, then %v, stats %+v", h, c.PickHash(7, nil), c.Stats())
			}
		})
	}
}

// TestHashKeylessIsWeightedRandom: Pick (no key) on a hash cluster draws
// at random by weight.
func TestHashKeylessIsWeightedRandom(t *testing.T) {
	for _, lb := range []LBPolicy{RingHash, Maglev} {
		c := newTestCluster(t, lb, 1, 2, 3, 4)
		if x := chiSquare(countPicks(t, c, 100_000), []float64{1, 2, 3, 4}); x > 60 {
			t.Errorf("%v: chi-square %.1f above 60", lb, x)
		}
	}
}

func TestPickHashOnOtherPolicies(t *testing.T) {
	c := newTestCluster(t, RoundRobin, 1, 1)
	if c.Hashing() {
		t.Fatal("round robin claims to hash")
	}
	if c.PickHash(1, nil) == nil {
		t.Fatal("nil host")
	}
	if !newTestCluster(t, Maglev, 1, 1).Hashing() {
		t.Fatal("maglev does not hash")
	}
}

func TestMaglevSize(t *testing.T) {
	if got := maglevSize(100); got != MaglevTableSize {
		t.Fatalf("maglevSize(100) = %d", got)
	}
	if !isPrime(MaglevTableSize) {
		t.Fatal("default size not prime")
	}
	got := maglevSize(1000)
	if got < 100_000 || !isPrime(got) {
		t.Fatalf("maglevSize(1000) = %d, want a prime >= 100000", got)
	}
}

// TestLeastConnectionAvoidsBusyHost: with two hosts both are drawn, so the
// one with fewer connections per weight wins.
func TestLeastConnectionAvoidsBusyHost(t *testing.T) {
	c := newTestCluster(t, LeastConnection, 1, 1)
	hs := c.Hosts()
	hs[0].AddConn(5)
	for range 100 {
		if h := c.Pick(); h != hs[1] {
			t.Fatalf("picked %v with 5 conns over an idle host", h)
		}
	}
	hs[1].AddConn(20) // 21/1 > 6/1
	if h := c.Pick(); h != hs[0] {
		t.Fatalf("picked %v", h)
	}
}

// TestLeastConnectionWeights: hosts whose connections track their picks
// settle at shares proportional to their weights (connections per weight
// balanced), within 5% of each share over 20k picks.
func TestLeastConnectionWeights(t *testing.T) {
	weights := []uint32{1, 2, 3, 4}
	c := newTestCluster(t, LeastConnection, weights...)
	idx := hostIndex(c)
	counts := make([]int, len(weights))
	const picks = 20_000
	for range picks {
		h := c.Pick()
		h.AddConn(1) // connections accumulate: each pick opens one
		counts[idx[h]]++
	}
	for i, w := range weights {
		want := picks * float64(w) / 10
		if d := float64(counts[i])/want - 1; d > 0.05 || d < -0.05 {
			t.Errorf("host %d: %d picks, want %.0f ±5%%", i, counts[i], want)
		}
	}
}

func TestLeastConnectionUnhealthy(t *testing.T) {
	c := newTestCluster(t, LeastConnection, 1, 1, 1)
	c.Hosts()[0].SetHealthy(false)
	for range 1000 {
		if h := c.Pick(); h == c.Hosts()[0] {
			t.Fatal("picked the unhealthy host")
		}
	}
}

// TestRingStartMatchesSearch compares the indexed lookup with a linear
// search for the first point at or after the key.
func TestRingStartMatchesSearch(t *testing.T) {
	c := hashCluster(t, NewManager(), RingHash, 7, []uint32{1, 3, 2, 5, 1, 1, 4}, -1)
	r := c.b.table.(*ring)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []uint64{0, ^uint64(0), r.hashes[0], r.hashes[len(r.hashes)-1], r.hashes[5] + 1}
	for range 10_000 {
		keys = append(keys, rng.Uint64())
	}
	for _, k := range keys {
		want := 0
		for i, h := range r.hashes {
			if h >= k {
				want = i
				break
			}
		}
		if got := r.start(k); got != want {
			t.Fatalf("start(%#x) = %d, want %d", k, got, want)
		}
	}
}
