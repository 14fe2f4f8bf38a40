package upstream

// Consistent hashing: RingHash (lb_ring.go) and Maglev (lb_maglev.go).
//
// Both build their lookup structure once per Cluster, in Manager.Update,
// from the whole host list and the weights; Pick never rebuilds anything.
// Health is applied at pick time instead of by a rebuild: a key whose entry
// names an unhealthy host (or the host a retry avoids) walks on to the
// following entries until one names a usable host. The keys of healthy
// hosts therefore never move when another host fails or recovers, and the
// failed host's keys spread over the others in proportion to their entries.
// The walk is bounded (maxWalk entries); past it the pick scans the host
// list from the last entry's host, still a function of the key.

// maxWalk bounds the entries a hash pick walks past unusable hosts before it
// scans the host list.
const maxWalk = 256

// hashTable is a consistent-hash lookup structure. Immutable.
type hashTable interface {
	// start returns the position of key's entry.
	start(key uint64) int
	// size is the number of entries.
	size() int
	// host returns the index of the host at position pos (0 <= pos < size).
	host(pos int) int
}

func newHashTable(policy LBPolicy, hosts []*Host, weights []uint64) hashTable {
	if policy == Maglev {
		return newMaglev(hosts, weights, maglevSize(len(hosts)))
	}
	return newRing(hosts, weights)
}

// Hashing reports whether the cluster's policy uses a request key
// (RingHash, Maglev): only then does the caller need to compute one for
// PickHash. Any goroutine.
func (c *Cluster) Hashing() bool { return c.b.table != nil }

// PickHash is PickExcluding for a request with hash key key: a consistent
// hash policy maps equal keys to the same host for as long as that host is
// healthy and in the cluster; in panic mode (Pick) a key keeps its host
// whatever the host's health. Any uint64 will do (PickHash mixes it). For the
// other policies it is PickExcluding. Lock-free, no allocation. Any
// goroutine.
func (c *Cluster) PickHash(key uint64, exclude *Host) *Host {
	b := c.b
	if b.table == nil || len(b.hosts) < 2 {
		return c.PickExcluding(exclude)
	}
	t := b.table
	n := t.size()
	pos := t.start(mix64(key))
	if b.panic == panicBelow && b.panicking() {
		return c.hashPanic(t, pos, exclude)
	}
	i := 0
	for k := range min(n, maxWalk) {
		i = t.host((pos + k) % n)
		if h := b.hosts[i]; usable(h, exclude) {
			return h
		}
	}
	if h := b.scan(i+1, exclude); h != nil || b.panic == panicNever {
		return h
	}
	return c.hashPanic(t, pos, exclude)
}

// mix64 is the splitmix64 finalizer: it spreads keys whose bits differ
// little (counters, FNV hashes of similar strings) over the whole range.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString is FNV-1a of s continued from seed h, mixed. Deterministic
// across processes, so ferry instances with the same hosts place them
// alike.
func hashString(h uint64, s string) uint64 {
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return mix64(h)
}

// fnvOffset is the FNV-1a 64-bit offset basis.
const fnvOffset = 0xcbf29ce484222325
