//go:build !race

package upstream

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// outlierBench is a 4-host round-robin cluster with outlier detection on
// or off, and a detached loop for Outcome.
func outlierBench(b testing.TB, on bool) (*Cluster, *conn.Loop) {
	s := ClusterSpec{Name: "c", Hosts: []HostSpec{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80"},
		{Address: "10.0.0.3:80"}, {Address: "10.0.0.4:80"}}}
	if on {
		s.Outlier = &OutlierSpec{Consecutive5xx: 5, ConsecutiveConnectFailure: 5, Interval: 10 * time.Second,
			BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 10}
	}
	m := NewManager()
	if err := m.Update([]ClusterSpec{s}); err != nil {
		b.Fatal(err)
	}
	return m.Get("c"), conn.NewDetachedLoop(0, conn.NewTracker(0), conn.DefaultOptions(conn.Options{}))
}

// BenchmarkPickOutlier is one request's share of outlier detection: a
// pick and the report of its 200. "on" stays within a few ns of "off":
// the pick reads the same one word per host, and a success with no run of
// failures only loads the counters.
//
//	go test -run '^$' -bench PickOutlier -count 5 ./upstream
func BenchmarkPickOutlier(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			c, l := outlierBench(b, on)
			b.ReportAllocs()
			for b.Loop() {
				h := c.Pick()
				h.Outcome(l, 200)
			}
		})
	}
}

func TestPickOutlierAllocs(t *testing.T) {
	for _, on := range []bool{false, true} {
		c, l := outlierBench(t, on)
		if n := testing.AllocsPerRun(1000, func() { c.Pick().Outcome(l, 200) }); n != 0 {
			t.Errorf("outlier detection %v: %v allocations per pick and outcome, want 0", on, n)
		}
	}
}
