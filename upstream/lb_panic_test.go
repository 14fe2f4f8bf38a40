package upstream

import (
	"math"
	"strings"
	"testing"
)

// panicCluster builds a cluster of n hosts of weight 1 under policy lb with
// the panic threshold t (nil: the default).
func panicCluster(t *testing.T, m *Manager, lb LBPolicy, n int, thr *float64) *Cluster {
	t.Helper()
	c := hashCluster(t, m, lb, n, nil, -1) // any policy: hashCluster only names the hosts
	s := c.Spec
	s.PanicThreshold = thr
	if err := m.Update([]ClusterSpec{s}); err != nil {
		t.Fatal(err)
	}
	return m.Get("c")
}

// pickSet picks n times (by key k when the cluster hashes, so that a
// panic pick of a key is seen to stay put) and returns the hosts seen.
func pickSet(t *testing.T, c *Cluster, n int, byKey bool) map[*Host]int {
	t.Helper()
	seen := map[*Host]int{}
	for k := range n {
		var h *Host
		switch {
		case byKey:
			h = c.PickHash(uint64(k), nil)
		case k%2 == 0:
			h = c.Pick()
		default:
			h = c.PickExcluding(nil)
		}
		if h == nil {
			t.Fatalf("pick %d: nil", k)
		}
		seen[h]++
	}
	return seen
}

func pct(v float64) *float64 { return &v }

// TestPanicThresholdEveryPolicy: with Envoy's 50 %, two of four hosts
// down (50 % healthy) keeps the picks on the healthy two; three down
// (25 %) routes across all four, health ignored, each pick counted; a host
// back ends panic mode.
func TestPanicThresholdEveryPolicy(t *testing.T) {
	for p := range lbPolicyCount {
		for _, byKey := range []bool{false, true} {
			if byKey && p != RingHash && p != Maglev {
				continue
			}
			name := p.String()
			if byKey {
				name += "/key"
			}
			t.Run(name, func(t *testing.T) {
				c := panicCluster(t, NewManager(), p, 4, pct(50))
				hs := c.Hosts()
				hs[0].SetHealthy(false)
				hs[1].SetHealthy(false)
				for h := range pickSet(t, c, 2000, byKey) {
					if !h.Healthy() {
						t.Fatalf("50%% healthy, threshold 50: picked unhealthy %v", h)
					}
				}
				if s := c.Stats(); s.LBPanics != 0 {
					t.Fatalf("no panic expected: %+v", s)
				}
				hs[2].SetHealthy(false)
				seen := pickSet(t, c, 4000, byKey)
				if len(seen) != 4 {
					t.Fatalf("25%% healthy, threshold 50: picks reached %d of 4 hosts: %v", len(seen), seen)
				}
				if s := c.Stats(); s.LBPanics != 4000 {
					t.Fatalf("panic picks counted %d, want 4000", s.LBPanics)
				}
				if byKey {
					for k := range uint64(100) {
						if a, b := c.PickHash(k, nil), c.PickHash(k, nil); a != b {
							t.Fatalf("key %d moved in panic mode: %v then %v", k, a, b)
						}
					}
				}
				hs[1].SetHealthy(true)
				for h := range pickSet(t, c, 2000, byKey) {
					if !h.Healthy() {
						t.Fatalf("back to 50%%: picked unhealthy %v", h)
					}
				}
			})
		}
	}
}

// TestPanicThresholdRetryAvoidsPrev: in panic mode a retry still avoids
// the host that failed.
func TestPanicThresholdRetryAvoidsPrev(t *testing.T) {
	for _, p := range []LBPolicy{RoundRobin, Random, Maglev} {
		c := panicCluster(t, NewManager(), p, 3, pct(100))
		hs := c.Hosts()
		hs[0].SetHealthy(false) // 66 % healthy < 100 %: panic
		for k := range uint64(500) {
			if h := c.PickExcluding(hs[1]); h == hs[1] || h == nil {
				t.Fatalf("%v: PickExcluding(prev) = %v", p, h)
			}
			if h := c.PickHash(k, hs[1]); h == hs[1] || h == nil {
				t.Fatalf("%v: PickHash(%d, prev) = %v", p, k, h)
			}
		}
	}
}

// TestPanicThresholdZeroNeverPanics: 0 turns panic mode off: without a
// healthy host every pick is nil (the proxy's no-healthy-host reply), and
// nothing is counted.
func TestPanicThresholdZeroNeverPanics(t *testing.T) {
	for _, p := range []LBPolicy{RoundRobin, LeastRequest, RingHash, Maglev} {
		m := NewManager()
		c := panicCluster(t, m, p, 3, pct(0))
		hs := c.Hosts()
		for _, h := range hs {
			h.SetHealthy(false)
		}
		if h := c.Pick(); h != nil {
			t.Fatalf("%v: Pick = %v, want nil", p, h)
		}
		if h := c.PickExcluding(hs[0]); h != nil {
			t.Fatalf("%v: PickExcluding = %v, want nil", p, h)
		}
		if h := c.PickHash(7, nil); h != nil {
			t.Fatalf("%v: PickHash = %v, want nil", p, h)
		}
		if s := c.Stats(); s.LBPanics != 0 {
			t.Fatalf("%v: panics counted %d", p, s.LBPanics)
		}
		hs[2].SetHealthy(true)
		if h := c.Pick(); h != hs[2] {
			t.Fatalf("%v: one healthy host: Pick = %v", p, h)
		}
		one := panicCluster(t, NewManager(), p, 1, pct(0))
		one.Hosts()[0].SetHealthy(false)
		if h := one.Pick(); h != nil {
			t.Fatalf("%v: one unhealthy host, threshold 0: Pick = %v", p, h)
		}
	}
}

// TestPanicThresholdDefault: without a threshold panic mode starts only
// when no host is healthy (ferry's behaviour before the threshold).
func TestPanicThresholdDefault(t *testing.T) {
	c := panicCluster(t, NewManager(), Random, 4, nil)
	hs := c.Hosts()
	for _, h := range hs[:3] {
		h.SetHealthy(false)
	}
	for h := range pickSet(t, c, 500, false) {
		if h != hs[3] {
			t.Fatalf("25%% healthy, no threshold: picked %v", h)
		}
	}
	hs[3].SetHealthy(false)
	if len(pickSet(t, c, 2000, false)) != 4 || c.Stats().LBPanics != 2000 {
		t.Fatalf("none healthy: no panic spread, stats %+v", c.Stats())
	}
}

// TestPanicThresholdFraction: the comparison is Envoy's healthy% <
// threshold, to a hundredth of a percent.
func TestPanicThresholdFraction(t *testing.T) {
	for _, tc := range []struct {
		thr   float64
		panic bool
	}{{33.4, true}, {33.3, false}, {33.34, true}, {33.33, false}} {
		c := panicCluster(t, NewManager(), RoundRobin, 3, pct(tc.thr))
		hs := c.Hosts()
		hs[0].SetHealthy(false)
		hs[1].SetHealthy(false) // 1 of 3 healthy: 33.33…%
		_ = c.Pick()
		if got := c.Stats().LBPanics == 1; got != tc.panic {
			t.Errorf("threshold %v with 1 of 3 healthy: panic %v, want %v", tc.thr, got, tc.panic)
		}
	}
}

// TestPanicThresholdReload: a reload that sets, changes or clears the
// threshold applies it at once to the kept hosts' current health.
func TestPanicThresholdReload(t *testing.T) {
	m := NewManager()
	c := panicCluster(t, m, RoundRobin, 4, nil)
	c.Hosts()[0].SetHealthy(false)
	c.Hosts()[1].SetHealthy(false)
	for _, tc := range []struct {
		thr   *float64
		panic bool
	}{{pct(75), true}, {pct(50), false}, {nil, false}, {pct(60), true}, {pct(0), false}} {
		c := panicCluster(t, m, RoundRobin, 4, tc.thr)
		before := c.Stats().LBPanics
		_ = c.Pick()
		if got := c.Stats().LBPanics > before; got != tc.panic {
			t.Errorf("threshold %v, 2 of 4 healthy after reload: panic %v, want %v", tc.thr, got, tc.panic)
		}
	}
}

func TestPanicThresholdValidation(t *testing.T) {
	for _, v := range []float64{-1, 100.5, math.NaN(), math.Inf(1)} {
		s := ClusterSpec{Name: "c", Hosts: []HostSpec{{Address: "10.0.0.1:80"}}, PanicThreshold: pct(v)}
		err := NewManager().Update([]ClusterSpec{s})
		if err == nil || !strings.Contains(err.Error(), "healthy_panic_threshold") {
			t.Errorf("threshold %v: error %v", v, err)
		}
	}
	for _, v := range []float64{0, 0.5, 50, 100} {
		s := ClusterSpec{Name: "c", Hosts: []HostSpec{{Address: "10.0.0.1:80"}}, PanicThreshold: pct(v)}
		if err := NewManager().Update([]ClusterSpec{s}); err != nil {
			t.Errorf("threshold %v: %v", v, err)
		}
	}
}
