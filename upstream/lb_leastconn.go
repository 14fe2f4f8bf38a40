package upstream

import "github.com/bytedance/gopkg/lang/fastrand"

// twoChoicesConns is twoChoices for LeastConnection: it compares open
// connections (Host.Conns, summed over all loops) per unit of weight
// instead of requests in flight. n >= 2.
func (b *balancer) twoChoicesConns(exclude *Host) int {
	n := len(b.hosts)
	i := fastrand.Intn(n)
	j := fastrand.Intn(n - 1)
	if j >= i {
		j++
	}
	ui, uj := usable(b.hosts[i], exclude), usable(b.hosts[j], exclude)
	switch {
	case ui && uj:
		// (ci+1)/wi <= (cj+1)/wj, without division.
		ci, cj := connLoad(b.hosts[i]), connLoad(b.hosts[j])
		if ci*b.weights[j] <= cj*b.weights[i] {
			return i
		}
		return j
	case uj:
		return j
	default:
		return i
	}
}

// connLoad is Conns()+1, never below 1.
func connLoad(h *Host) uint64 {
	c := h.Conns()
	if c < 0 {
		c = 0
	}
	return uint64(c) + 1
}
