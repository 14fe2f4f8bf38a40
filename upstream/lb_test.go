package upstream

import (
	"slices"
	"strings"
	"testing"
)

// newTestCluster builds a cluster through a Manager, as production does.
func newTestCluster(t *testing.T, lb LBPolicy, weights ...uint32) *Cluster {
	t.Helper()
	s := ClusterSpec{Name: "c", LB: lb}
	for i, w := range weights {
		s.Hosts = append(s.Hosts, HostSpec{Address: "10.0.0." + string(rune('1'+i)) + ":80", Weight: w})
	}
	m := NewManager()
	if err := m.Update([]ClusterSpec{s}); err != nil {
		t.Fatal(err)
	}
	return m.Get("c")
}

// hostIndex maps each host of c to its index.
func hostIndex(c *Cluster) map[*Host]int {
	idx := map[*Host]int{}
	for i, h := range c.Hosts() {
		idx[h] = i
	}
	return idx
}

// countPicks picks n times and counts the picks per host index.
func countPicks(t *testing.T, c *Cluster, n int) []int {
	t.Helper()
	idx := hostIndex(c)
	counts := make([]int, len(c.Hosts()))
	for range n {
		h := c.Pick()
		if h == nil {
			t.Fatal("Pick returned nil with healthy hosts")
		}
		counts[idx[h]]++
	}
	return counts
}

func TestParseLBPolicy(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    LBPolicy
		wantErr string
	}{
		{name: "round robin", in: "LB_ROUNDROBIN", want: RoundRobin},
		{name: "empty is round robin", in: "", want: RoundRobin},
		{name: "random", in: "LB_RANDOM", want: Random},
		{name: "weighted round robin", in: "LB_WEIGHTED_ROUNDROBIN", want: WeightedRoundRobin},
		{name: "least request", in: "LB_LEAST_REQUEST", want: LeastRequest},
		{name: "least connection", in: "LB_LEAST_CONNECTION", want: LeastConnection},
		{name: "ring hash", in: "LB_RING_HASH", want: RingHash},
		{name: "maglev", in: "LB_MAGLEV", want: Maglev},
		{name: "peak ewma unsupported", in: "LB_PEAKEWMA", wantErr: `upstream: unsupported lb_type "LB_PEAKEWMA" (supported: LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_LEAST_CONNECTION, LB_RING_HASH, LB_MAGLEV)`},
		{name: "case matters", in: "lb_random", wantErr: "unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLBPolicy(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLBPolicyStringRoundTrips(t *testing.T) {
	for p := range lbPolicyCount {
		got, err := ParseLBPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParseLBPolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if s := LBPolicy(200).String(); s != "LBPolicy(200)" {
		t.Errorf("String of unknown = %q", s)
	}
}

func TestRoundRobin(t *testing.T) {
	testPickCounts(t, RoundRobin, []pickCounts{
		{name: "even", weights: []uint32{1, 1, 1}, picks: 300, want: []int{100, 100, 100}},
		{name: "weights ignored", weights: []uint32{1, 5, 9}, picks: 30, want: []int{10, 10, 10}},
		{name: "unhealthy share spreads evenly", weights: []uint32{1, 1, 1}, unhealthy: []int{1}, picks: 300, want: []int{150, 0, 150}},
		{name: "two of four down", weights: []uint32{1, 1, 1, 1}, unhealthy: []int{0, 1}, picks: 100, want: []int{0, 0, 50, 50}},
		{name: "single host", weights: []uint32{1}, picks: 10, want: []int{10}},
	})
}

func TestRoundRobinOrder(t *testing.T) {
	c := newTestCluster(t, RoundRobin, 1, 1, 1)
	idx := hostIndex(c)
	for i := range 9 {
		if got := idx[c.Pick()]; got != i%3 {
			t.Fatalf("pick %d went to host %d, want %d", i, got, i%3)
		}
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	testPickCounts(t, WeightedRoundRobin, []pickCounts{
		{name: "5 1 1", weights: []uint32{5, 1, 1}, picks: 700, want: []int{500, 100, 100}},
		{name: "3 2", weights: []uint32{3, 2}, picks: 50, want: []int{30, 20}},
		{name: "gcd reduced", weights: []uint32{200, 100}, picks: 3, want: []int{2, 1}},
		{name: "uniform is round robin", weights: []uint32{4, 4, 4}, picks: 3, want: []int{1, 1, 1}},
		{name: "zero weight means one", weights: []uint32{0, 2}, picks: 3, want: []int{1, 2}},
		{name: "unhealthy host skipped", weights: []uint32{5, 1, 1}, unhealthy: []int{0}, picks: 700, want: []int{0, 350, 350}},
	})
}

// pickCounts is a case of testPickCounts: picks over hosts of these
// weights, the unhealthy ones (by index) marked so, count want per host.
type pickCounts struct {
	name      string
	weights   []uint32
	unhealthy []int
	picks     int
	want      []int
}

// testPickCounts runs the cases of a balancer whose counts are exact.
func testPickCounts(t *testing.T, policy LBPolicy, tests []pickCounts) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, policy, tc.weights...)
			markUnhealthy(c, tc.unhealthy)
			if got := countPicks(t, c, tc.picks); !slices.Equal(got, tc.want) {
				t.Fatalf("counts = %v, want %v", got, tc.want)
			}
		})
	}
}

// markUnhealthy marks the hosts of c at these indexes unhealthy.
func markUnhealthy(c *Cluster, idx []int) {
	for _, i := range idx {
		c.Hosts()[i].SetHealthy(false)
	}
}

func TestWeightedRoundRobinIsInterleaved(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		want    string // one letter per host, a full cycle
	}{
		{name: "5 1 1", weights: []uint32{5, 1, 1}, want: "AABACAA"},
		{name: "2 1", weights: []uint32{2, 1}, want: "ABA"},
		{name: "3 3 1", weights: []uint32{3, 3, 1}, want: "ABCABAB"},
		{name: "one heavy many light", weights: []uint32{10, 1, 1, 1, 1, 1}, want: "AABAACADAAEAFAA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, WeightedRoundRobin, tc.weights...)
			idx := hostIndex(c)
			var sb strings.Builder
			for range len(tc.want) {
				sb.WriteByte(byte('A' + idx[c.Pick()]))
			}
			if sb.String() != tc.want {
				t.Fatalf("cycle = %s, want %s", sb.String(), tc.want)
			}
		})
	}
}

func TestWeightedScheduleIsSmooth(t *testing.T) {
	weights := []uint64{97, 13, 50, 1, 7, 100, 1, 1, 1}
	sched := buildSchedule(weights)
	var total uint64
	for _, w := range weights {
		total += w
	}
	if uint64(len(sched)) != total {
		t.Fatalf("schedule length %d, want %d", len(sched), total)
	}
	// Every prefix holds each host's share within about one entry: no
	// bursts. (Smooth WRR stays within 1 on most weight sets, 1.1 here.)
	seen := make([]uint64, len(weights))
	for n, i := range sched {
		seen[i]++
		for h, w := range weights {
			ideal := float64(w) * float64(n+1) / float64(total)
			if d := float64(seen[h]) - ideal; d > 1.5 || d < -1.5 {
				t.Fatalf("after %d entries host %d has %d, ideal %.1f", n+1, h, seen[h], ideal)
			}
		}
	}
}

func TestWeightedScheduleIsBounded(t *testing.T) {
	sched := buildSchedule([]uint64{MaxWeight, 1, MaxWeight - 1})
	if len(sched) > maxSchedule+3 {
		t.Fatalf("schedule length %d above %d", len(sched), maxSchedule+3)
	}
	counts := make([]int, 3)
	for _, i := range sched {
		counts[i]++
	}
	if counts[1] != 1 || counts[0] < 8000 || counts[2] < 8000 {
		t.Fatalf("scaled counts = %v", counts)
	}
}

// chiSquare returns the chi-square statistic of counts against weights.
func chiSquare(counts []int, weights []float64) float64 {
	var n, wsum float64
	for i := range counts {
		n += float64(counts[i])
		wsum += weights[i]
	}
	var x float64
	for i := range counts {
		e := n * weights[i] / wsum
		if e == 0 {
			continue
		}
		d := float64(counts[i]) - e
		x += d * d / e
	}
	return x
}

func TestRandomDistribution(t *testing.T) {
	// 60 is far above the 0.001 critical value for 3 degrees of freedom
	// (16.3): a correct picker fails about once in 10^11 runs, while a
	// biased one (10% off on one host) lands in the thousands.
	const picks = 100_000
	const limit = 60
	tests := []struct {
		name      string
		weights   []uint32
		unhealthy []int
		want      []float64 // expected shares
	}{
		{name: "uniform", weights: []uint32{1, 1, 1, 1}, want: []float64{1, 1, 1, 1}},
		{name: "weighted", weights: []uint32{1, 2, 3, 4}, want: []float64{1, 2, 3, 4}},
		{name: "unhealthy keeps relative weights", weights: []uint32{1, 2, 3, 4}, unhealthy: []int{3}, want: []float64{1, 2, 3, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, Random, tc.weights...)
			markUnhealthy(c, tc.unhealthy)
			got := countPicks(t, c, picks)
			for i, w := range tc.want {
				if w == 0 && got[i] != 0 {
					t.Fatalf("host %d picked %d times, want 0", i, got[i])
				}
			}
			if x := chiSquare(got, tc.want); x > limit {
				t.Fatalf("counts %v: chi-square %.1f above %d", got, x, limit)
			}
		})
	}
}

func TestLeastRequestTwoHostsIsDeterministic(t *testing.T) {
	// With two hosts both are always drawn, so the comparison decides.
	tests := []struct {
		name    string
		weights []uint32
		active  []int
		want    int
	}{
		{name: "fewer active wins", weights: []uint32{1, 1}, active: []int{3, 1}, want: 1},
		{name: "weight scales load", weights: []uint32{10, 1}, active: []int{5, 1}, want: 0},
		{name: "weight scales load the other way", weights: []uint32{2, 1}, active: []int{5, 1}, want: 1},
		{name: "unhealthy loses", weights: []uint32{1, 1}, active: []int{0, 9}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, LeastRequest, tc.weights...)
			for i, a := range tc.active {
				for range a {
					c.Hosts()[i].IncActive()
				}
			}
			if tc.name == "unhealthy loses" {
				c.Hosts()[0].SetHealthy(false)
			}
			got := countPicks(t, c, 100)
			if got[tc.want] != 100 {
				t.Fatalf("counts = %v, want all on host %d", got, tc.want)
			}
		})
	}
}

func TestLeastRequestAvoidsBusyHost(t *testing.T) {
	c := newTestCluster(t, LeastRequest, 1, 1, 1, 1)
	for range 50 {
		c.Hosts()[2].IncActive()
	}
	got := countPicks(t, c, 10_000)
	if got[2] != 0 {
		t.Fatalf("busiest host picked %d times: %v", got[2], got)
	}
	// Idle hosts share the rest about evenly (each ~3333).
	for _, i := range []int{0, 1, 3} {
		if got[i] < 2800 || got[i] > 3900 {
			t.Fatalf("counts = %v, want about even on hosts 0, 1, 3", got)
		}
	}
}

func TestPickPanicsWithNoHealthyHost(t *testing.T) {
	for p := range lbPolicyCount {
		t.Run(p.String(), func(t *testing.T) {
			c := newTestCluster(t, p, 1, 2, 3)
			for _, h := range c.Hosts() {
				h.SetHealthy(false)
			}
			// Panic mode: every host is unhealthy, so all of them serve.
			if h := c.Pick(); h == nil {
				t.Fatal("Pick = nil, want a host (panic mode)")
			}
			if h := c.PickExcluding(c.Hosts()[0]); h == nil || h == c.Hosts()[0] {
				t.Fatalf("PickExcluding = %v, want another host (panic mode)", h)
			}
			if n := c.Stats().LBPanics; n != 2 {
				t.Fatalf("LBPanics = %d, want 2", n)
			}
			c.Hosts()[2].SetHealthy(true)
			for range 50 {
				if h := c.Pick(); h != c.Hosts()[2] {
					t.Fatalf("Pick = %v, want the one healthy host", h)
				}
			}
		})
	}
}

func TestPickExcluding(t *testing.T) {
	for p := range lbPolicyCount {
		t.Run(p.String(), func(t *testing.T) {
			c := newTestCluster(t, p, 1, 2, 3)
			hosts := c.Hosts()
			for range 200 {
				if h := c.PickExcluding(hosts[1]); h == hosts[1] || h == nil {
					t.Fatalf("PickExcluding(host 1) = %v", h)
				}
			}
			hosts[0].SetHealthy(false)
			hosts[2].SetHealthy(false)
			if h := c.PickExcluding(hosts[1]); h != hosts[1] {
				t.Fatalf("only healthy host excluded: got %v, want it back", h)
			}
			other := newTestCluster(t, p, 1)
			if h := c.PickExcluding(other.Hosts()[0]); h != hosts[1] {
				t.Fatalf("foreign exclude: got %v", h)
			}
			single := newTestCluster(t, p, 1)
			if h := single.PickExcluding(single.Hosts()[0]); h != single.Hosts()[0] {
				t.Fatalf("single host cluster: got %v", h)
			}
		})
	}
}

func TestPickFallsBackToScan(t *testing.T) {
	// Random draws land on the heavy unhealthy host nearly always; the scan
	// must still find the light healthy one.
	c := newTestCluster(t, Random, MaxWeight, 1)
	c.Hosts()[0].SetHealthy(false)
	for range 100 {
		if h := c.Pick(); h != c.Hosts()[1] {
			t.Fatalf("Pick = %v", h)
		}
	}
}
