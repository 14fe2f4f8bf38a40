//go:build !race

package metrics

import (
	"testing"
	"time"
)

// TestRequestAllocatesNothing pins the data path's budget: a request's
// worth of updates allocates nothing (BenchmarkRequest measures its time).
func TestRequestAllocatesNothing(t *testing.T) {
	r, ids := newTestRegistry(t, 2)
	s := r.Shard(1)
	n := testing.AllocsPerRun(1000, func() {
		request(s, ids.Listeners[0], ids.VirtualHosts[1], ids.Clusters[1], ids.Hosts[2], 503, 7*time.Millisecond)
		s.Cluster(ids.Clusters[1]).ConnectFailures.Inc()
		s.Listener(ids.Listeners[0]).LocalReply(2)
		s.Loop().BytesRead.Add(10)
	})
	if n != 0 {
		t.Fatalf("a request's updates allocate %v times", n)
	}
}
