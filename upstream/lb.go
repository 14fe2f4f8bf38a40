package upstream

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/bytedance/gopkg/lang/fastrand"
)

// LBPolicy is a cluster's load-balancing policy. The zero value is
// RoundRobin, MOSN's default.
type LBPolicy uint8

// The load-balancing policies. Every policy skips unhealthy hosts and picks
// nil when no host is healthy.
const (
	// RoundRobin cycles through the hosts in spec order with one atomic
	// counter per cluster shared by all loops. Weights are ignored. Traffic
	// meant for an unhealthy host moves on to the following pick, so the
	// healthy hosts keep equal shares.
	RoundRobin LBPolicy = iota
	// Random picks a host at random, in proportion to its weight
	// (bytedance/gopkg fastrand). Unhealthy hosts are rejected and drawn
	// again, so the healthy hosts keep their relative weights.
	Random
	// WeightedRoundRobin walks a cycle precomputed at reload by nginx's
	// smooth weighted round robin: each host appears Weight times per
	// cycle, interleaved with the others rather than in bursts (weights
	// 5,1,1 give A A B A C A A). Weights are divided by their GCD and, when
	// the cycle would be long, scaled down (each at least 1). One atomic
	// counter per cluster walks the cycle.
	WeightedRoundRobin
	// LeastRequest draws two distinct hosts at random and takes the one
	// with fewer requests in flight per unit of weight, (Active+1)/Weight
	// ("power of two choices"). Ties go to the first draw.
	LeastRequest
	// LeastConnection is LeastRequest on open connections instead of
	// requests in flight: two distinct random hosts, the one with fewer
	// (Conns+1)/Weight wins (lb_leastconn.go).
	LeastConnection
	// RingHash places Weight-proportional points of every host on a hash
	// ring (Karger et al.) and sends a request key to the first point at or
	// after it (lb_ring.go). A request without a key is a weighted random
	// pick. ferry's name; MOSN has no ring hash.
	RingHash
	// Maglev fills a lookup table of a prime size (65537 by default) by
	// Google's Maglev permutations, each host in proportion to its weight,
	// and sends a request key to table[key mod size] (lb_maglev.go). A
	// request without a key is a weighted random pick.
	Maglev

	lbPolicyCount
)

// lbNames holds the MOSN name of each policy.
//
//nolint:gochecknoglobals // read-only
var lbNames = [lbPolicyCount]string{
	RoundRobin:         "LB_ROUNDROBIN",
	Random:             "LB_RANDOM",
	WeightedRoundRobin: "LB_WEIGHTED_ROUNDROBIN",
	LeastRequest:       "LB_LEAST_REQUEST",
	LeastConnection:    "LB_LEAST_CONNECTION",
	RingHash:           "LB_RING_HASH",
	Maglev:             "LB_MAGLEV",
}

// String returns the policy's MOSN name, which ParseLBPolicy accepts. Any
// goroutine.
func (p LBPolicy) String() string {
	if p < lbPolicyCount {
		return lbNames[p]
	}
	return fmt.Sprintf("LBPolicy(%d)", uint8(p))
}

// ParseLBPolicy maps a MOSN lb_type name to a policy. The empty string is
// RoundRobin, as in MOSN. Other names, including MOSN policies ferry does not
// implement (LB_ORIGINAL_DST, LB_PEAKEWMA, ...), are an error that lists the
// supported names. Any goroutine.
func ParseLBPolicy(mosnName string) (LBPolicy, error) {
	if mosnName == "" {
		return RoundRobin, nil
	}
	for p, name := range lbNames {
		if name == mosnName {
			return LBPolicy(p), nil
		}
	}
	return 0, fmt.Errorf("upstream: unsupported lb_type %q (supported: %s)", mosnName, strings.Join(lbNames[:], ", "))
}

const (
	// maxDraws bounds the draws a Pick makes before it falls back to a
	// linear scan for a healthy host.
	maxDraws = 32
	// maxSchedule bounds the entries of a WeightedRoundRobin cycle (before
	// the at-least-one-entry-per-host clamp).
	maxSchedule = 1 << 14
	// maxScheduleWork bounds cycle length × hosts, the cost of building a
	// cycle, for clusters with many hosts.
	maxScheduleWork = 1 << 24
)

// balancer is a cluster's immutable host list and load-balancing state.
// Only next is written after construction.
type balancer struct {
	policy  LBPolicy
	hosts   []*Host
	weights []uint64 // per host, from the spec (at least 1)
	uniform bool     // all weights equal

	// cum holds the running sums of weights for Random; total is the last.
	cum   []uint64
	total uint64
	// schedule is the WeightedRoundRobin cycle of host indices.
	schedule []uint32
	// table is the RingHash or Maglev lookup state (lb_hash.go), nil for
	// the other policies.
	table hashTable
	// panic says when picks ignore health, panicAt is panicBelow's
	// threshold in hundredths of a percent, and healthy caches the healthy
	// hosts (low 32 bits) counted at healthEpoch (high 32 bits) for it
	// (lb_panic.go). Written only when a host changed health.
	panic   panicMode
	panicAt uint64
	healthy atomic.Uint64

	// next is the RoundRobin/WeightedRoundRobin position, shared by all
	// loops. The padding keeps its cache line, written on every pick,
	// apart from the read-only fields above and from other clusters.
	_    [64]byte
	next atomic.Uint64
	_    [56]byte
}

func newBalancer(policy LBPolicy, hosts []*Host, weights []uint64) *balancer {
	b := &balancer{policy: policy, hosts: hosts, weights: weights, uniform: true}
	for _, w := range weights {
		if w != weights[0] {
			b.uniform = false
		}
	}
	switch policy {
	case RingHash, Maglev:
		b.table = newHashTable(policy, hosts, weights)
		fallthrough // a request without a key draws at random
	case Random:
		b.cum = make([]uint64, len(weights))
		for i, w := range weights {
			b.total += w
			b.cum[i] = b.total
		}
	case WeightedRoundRobin:
		if !b.uniform {
			b.schedule = buildSchedule(weights)
		}
	}
	return b
}

// usable reports whether h may take a request that must avoid exclude.
func usable(h, exclude *Host) bool { return h != exclude && h.Healthy() }

// pick returns a healthy host other than exclude, or exclude itself when it
// is the only healthy host of the cluster, or nil.
func (b *balancer) pick(exclude *Host) *Host {
	n := len(b.hosts)
	switch n {
	case 0:
		return nil
	case 1:
		if h := b.hosts[0]; h.Healthy() {
			return h
		}
		return nil
	}
	i := 0
	for range b.draws() {
		i = b.draw(exclude)
		if h := b.hosts[i]; usable(h, exclude) {
			return h
		}
	}
	return b.scan(i+1, exclude)
}

// draws is how many candidates pick draws before it scans. Round robin
// covers every host in n consecutive draws; the other policies draw
// independently, so more draws keep their proportions when heavy hosts are
// unhealthy (a host with share p takes all maxDraws draws with
// probability p^maxDraws).
func (b *balancer) draws() int {
	if b.policy == RoundRobin || b.uniform && b.policy == WeightedRoundRobin {
		return min(len(b.hosts), maxDraws)
	}
	return maxDraws
}

// draw returns one candidate index; the caller checks it.
func (b *balancer) draw(exclude *Host) int {
	n := len(b.hosts)
	switch b.policy {
	case Random, RingHash, Maglev:
		if b.uniform {
			return fastrand.Intn(n)
		}
		return b.search(fastrand.Uint64n(b.total))
	case WeightedRoundRobin:
		if b.uniform {
			return int((b.next.Add(1) - 1) % uint64(n))
		}
		return int(b.schedule[(b.next.Add(1)-1)%uint64(len(b.schedule))])
	case LeastRequest:
		return b.twoChoices(exclude, activeRequests)
	case LeastConnection:
		return b.twoChoices(exclude, openConns)
	default:
		return int((b.next.Add(1) - 1) % uint64(n))
	}
}

// search returns the first index whose running weight sum exceeds r.
func (b *balancer) search(r uint64) int {
	lo, hi := 0, len(b.cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if b.cum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// twoChoices draws two distinct hosts and returns the less loaded usable
// one by m (requests in flight for LeastRequest, open connections for
// LeastConnection), or an unusable one when neither is usable. n >= 2.
// The measure is a constant switch rather than a func value so that load
// inlines and the pick stays a direct call.
func (b *balancer) twoChoices(exclude *Host, m loadMeasure) int {
	n := len(b.hosts)
	i := fastrand.Intn(n)
	j := fastrand.Intn(n - 1)
	if j >= i {
		j++
	}
	ui, uj := usable(b.hosts[i], exclude), usable(b.hosts[j], exclude)
	switch {
	case ui && uj:
		// (ai+1)/wi <= (aj+1)/wj, without division.
		ai, aj := m.load(b.hosts[i]), m.load(b.hosts[j])
		if ai*b.weights[j] <= aj*b.weights[i] {
			return i
		}
		return j
	case uj:
		return j
	default:
		return i
	}
}

// loadMeasure is what twoChoices compares per unit of weight.
type loadMeasure uint8

const (
	activeRequests loadMeasure = iota // Host.Active: LeastRequest
	openConns                         // Host.Conns, summed over all loops: LeastConnection
)

// load is the host's measure plus one, never below 1.
func (m loadMeasure) load(h *Host) uint64 {
	var a int64
	if m == openConns {
		a = h.Conns()
	} else {
		a = h.Active()
	}
	if a < 0 {
		a = 0
	}
	return uint64(a) + 1
}

// scan returns the first usable host from index start on, wrapping around;
// failing that, exclude if it is a healthy host of this cluster; or nil.
func (b *balancer) scan(start int, exclude *Host) *Host {
	n := len(b.hosts)
	found := false
	for k := range n {
		h := b.hosts[(start+k)%n]
		if usable(h, exclude) {
			return h
		}
		found = found || h == exclude
	}
	if found && exclude.Healthy() {
		return exclude
	}
	return nil
}

// buildSchedule returns a WeightedRoundRobin cycle by nginx's smooth
// weighted round robin: each step adds every host's weight to its current
// value, emits the host with the largest (first on ties) and subtracts the
// total from it. Every prefix of the cycle stays within about one pick of
// each host's exact share. Cost is O(cycle × hosts), at reload only.
func buildSchedule(weights []uint64) []uint32 {
	w := scaleWeights(weights)
	var total int64
	for _, x := range w {
		total += int64(x)
	}
	cur := make([]int64, len(w))
	sched := make([]uint32, total)
	for s := range sched {
		best := 0
		for i, x := range w {
			cur[i] += int64(x)
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		sched[s] = uint32(best)
	}
	return sched
}

// scaleWeights divides weights by their GCD and, when the sum still exceeds
// maxSchedule, scales them down proportionally (each at least 1).
func scaleWeights(weights []uint64) []uint64 {
	g := weights[0]
	for _, x := range weights[1:] {
		g = gcd(g, x)
	}
	w := make([]uint64, len(weights))
	var total uint64
	for i, x := range weights {
		w[i] = x / g
		total += w[i]
	}
	limit := uint64(max(len(w), min(maxSchedule, maxScheduleWork/len(w))))
	if total > limit {
		for i := range w {
			w[i] = max(1, w[i]*limit/total)
		}
	}
	return w
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
