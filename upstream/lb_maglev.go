package upstream

// MaglevTableSize is the default Maglev lookup table size, a prime (the
// Maglev paper's and Envoy's default). Clusters with more than
// MaglevTableSize/100 hosts get the first prime above 100 entries per host,
// so that every host's share stays close to its weight.
const MaglevTableSize = 65537

// maglevSize returns the table size for n hosts: MaglevTableSize, or the
// first prime at or above 100n.
func maglevSize(n int) int {
	if 100*n <= MaglevTableSize {
		return MaglevTableSize
	}
	m := 100*n | 1
	for !isPrime(m) {
		m += 2
	}
	return m
}

func isPrime(m int) bool {
	if m < 2 {
		return false
	}
	for d := 2; d*d <= m; d++ {
		if m%d == 0 {
			return false
		}
	}
	return true
}

// maglev is a Maglev lookup table: entry k names the host of the keys
// equal to k modulo the size.
type maglev struct {
	table []uint32
}

// newMaglev fills a table of size m (prime, > len(hosts)) by the Maglev
// paper's algorithm with weights: every host has its own permutation of
// the entries (an offset and a skip from two hashes of its address), and
// the hosts take turns claiming the next free entry of their permutation.
// Weights enter as credit: each turn adds a host's weight to its credit,
// and a host claims an entry for every max-weight of credit, so the hosts'
// entries are proportional to their weights. A host keeps most of its
// entries when another host joins or leaves (TestMaglevConsistency).
// Cost O(m × hosts) at worst, at reload only.
func newMaglev(hosts []*Host, weights []uint64, m int) *maglev {
	n := len(hosts)
	const empty = ^uint32(0)
	table := make([]uint32, m)
	for k := range table {
		table[k] = empty
	}
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	credit := make([]uint64, n)
	var wmax uint64
	for i, h := range hosts {
		offset[i] = hashString(fnvOffset, h.address) % uint64(m)
		skip[i] = hashString(fnvOffset^0x9e3779b97f4a7c15, h.address)%uint64(m-1) + 1
		wmax = max(wmax, weights[i])
	}
	filled := 0
	for filled < m {
		for i := range n {
			credit[i] += weights[i]
			if credit[i] < wmax {
				continue
			}
			credit[i] -= wmax
			for {
				c := (offset[i] + next[i]*skip[i]) % uint64(m)
				next[i]++
				if table[c] == empty {
					table[c] = uint32(i)
					filled++
					break
				}
			}
			if filled == m {
				break
			}
		}
	}
	return &maglev{table: table}
}

func (g *maglev) start(key uint64) int { return int(key % uint64(len(g.table))) }

func (g *maglev) size() int { return len(g.table) }

func (g *maglev) host(pos int) int { return int(g.table[pos]) }
