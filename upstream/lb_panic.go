package upstream

import (
	"fmt"
	"math"
	"sync/atomic"
)

// panicMode is when a cluster's picks ignore health (panic mode, Envoy's
// healthy_panic_threshold; docs/operations.md, "Panic threshold").
type panicMode uint8

const (
	// panicAtNone: only when no host is healthy (ClusterSpec.PanicThreshold
	// nil, the default: ferry's behaviour before the threshold existed).
	panicAtNone panicMode = iota
	// panicNever: never; a cluster without a healthy host picks nil
	// (threshold 0, as in Envoy).
	panicNever
	// panicBelow: when the healthy share of the hosts is below the
	// threshold (Envoy's semantics).
	panicBelow
)

// healthEpoch counts the changes of any host between healthy and out of
// rotation (Host.setDown). A balancer with a threshold recounts its healthy
// hosts only when it moved, so the pick reads two words instead of every
// host's.
//
//nolint:gochecknoglobals // one counter shared by every cluster: changes are rare, reads are one load
var healthEpoch atomic.Uint64

// validatePanicThreshold checks ClusterSpec.PanicThreshold.
func validatePanicThreshold(t *float64) error {
	if t == nil {
		return nil
	}
	if math.IsNaN(*t) || *t < 0 || *t > 100 {
		return fmt.Errorf("healthy_panic_threshold %v is not a percentage in 0..100", *t)
	}
	return nil
}

// setPanic records the spec's threshold in b: mode, and for panicBelow the
// threshold in hundredths of a percent.
func (b *balancer) setPanic(t *float64) {
	switch {
	case t == nil:
		b.panic = panicAtNone
	case *t == 0:
		b.panic = panicNever
	default:
		b.panic = panicBelow
		b.panicAt = uint64(math.Round(*t * 100))
	}
	b.healthy.Store(math.MaxUint64) // no epoch yet: the first pick counts
}

// panicking reports whether a panicBelow balancer is in panic mode: its
// healthy hosts are fewer than panicAt hundredths of a percent of its
// hosts (Envoy: healthy% < threshold). Two atomic loads while no host
// changed since the last count; a count otherwise. Any goroutine.
func (b *balancer) panicking() bool {
	e := uint32(healthEpoch.Load())
	c := b.healthy.Load()
	if uint32(c>>32) != e || c == math.MaxUint64 {
		c = b.count(e)
	}
	return uint64(uint32(c))*10000 < b.panicAt*uint64(len(b.hosts))
}

// count counts the healthy hosts and stores the count with the epoch e
// read before the count: a change during the count moves the epoch past e,
// so the next pick counts again.
func (b *balancer) count(e uint32) uint64 {
	n := uint64(0)
	for _, h := range b.hosts {
		if h.Healthy() {
			n++
		}
	}
	c := uint64(e)<<32 | n
	b.healthy.Store(c)
	return c
}

// hashPanic is PickHash in panic mode: the host of the key's first entry
// whatever its health, or the next entry's when that host is exclude (a
// retry), counted as pickPanic counts.
func (c *Cluster) hashPanic(t hashTable, pos int, exclude *Host) *Host {
	c.stats.panics.Add(1)
	b, n := c.b, t.size()
	for k := range min(n, maxWalk) {
		if h := b.hosts[t.host((pos+k)%n)]; h != exclude {
			return h
		}
	}
	return exclude
}
