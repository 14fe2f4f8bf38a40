package upstream

import (
	"math/bits"
	"slices"
	"strconv"
)

// Ring sizes: every host gets ringPerWeight points per unit of weight, so
// a host's points depend on its own address and weight only and a host
// joining or leaving moves no other host's keys (TestHashConsistency). When
// the weights sum past ringMax/ringPerWeight, the points per weight shrink
// to keep the ring within ringMax (each host keeps at least one), and the
// other hosts' keys move on such a change. With 160 points per unit a
// host's share of keys stays within about ±20% of its weight's share
// (TestHashDistribution).
const (
	ringPerWeight = 160
	ringMax       = 1 << 20
)

// ring is a RingHash lookup structure: points sorted by hash, each naming
// a host index. index narrows the binary search: index[b] is the first
// point whose hash's top bits are at least b (a ring of 48k points takes
// 99 ns to search whole, 28 with the index: go test -run x -bench
// BenchmarkPick100/LB_RING_HASH -benchmem ./upstream/).
type ring struct {
	hashes []uint64
	hosts  []uint32
	index  []uint32
	shift  uint
}

func newRing(hosts []*Host, weights []uint64) *ring {
	var total uint64
	for _, w := range weights {
		total += w
	}
	per := uint64(ringPerWeight)
	if total*per > ringMax {
		per = 0 // scaled below: ringMax × weight / total
	}
	type point struct {
		hash uint64
		host uint32
	}
	pts := make([]point, 0, min(total*ringPerWeight, ringMax)+uint64(len(hosts)))
	var buf []byte
	for i, h := range hosts {
		n := per * weights[i]
		if per == 0 {
			n = max(1, ringMax*weights[i]/total)
		}
		for r := range n {
			// A point's hash depends on the host's address and its replica
			// number only, so a host keeps its points whatever the others.
			buf = strconv.AppendUint(append(append(buf[:0], h.address...), '#'), r, 10)
			pts = append(pts, point{hash: hashString(fnvOffset, string(buf)), host: uint32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.host) - int(b.host)
	})
	r := &ring{hashes: make([]uint64, len(pts)), hosts: make([]uint32, len(pts))}
	for k, p := range pts {
		r.hashes[k], r.hosts[k] = p.hash, p.host
	}
	b := bits.Len(uint(len(pts)))
	r.shift = uint(64 - b)
	r.index = make([]uint32, 1<<b+1)
	k := 0
	for bucket := range r.index {
		for k < len(pts) && r.hashes[k]>>r.shift < uint64(bucket) {
			k++
		}
		r.index[bucket] = uint32(k)
	}
	return r
}

// start returns the first point at or after key, wrapping to 0.
func (r *ring) start(key uint64) int {
	bucket := key >> r.shift
	lo, hi := int(r.index[bucket]), int(r.index[bucket+1])
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.hashes[mid] < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.hashes) {
		return 0
	}
	return lo
}

func (r *ring) size() int { return len(r.hashes) }

func (r *ring) host(pos int) int { return int(r.hosts[pos]) }
