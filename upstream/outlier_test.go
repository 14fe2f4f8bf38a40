package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// outlierCluster is a round-robin cluster of n hosts with outlier
// detection o, and a detached loop the test plays.
func outlierCluster(t *testing.T, n int, o *OutlierSpec) (*Manager, *Cluster, *conn.Loop) {
	t.Helper()
	s := ClusterSpec{Name: "c", Outlier: o}
	for i := range n {
		s.Hosts = append(s.Hosts, HostSpec{Address: "10.0.1." + string(rune('1'+i)) + ":80"})
	}
	m := NewManager()
	if err := m.Update([]ClusterSpec{s}); err != nil {
		t.Fatal(err)
	}
	l := conn.NewDetachedLoop(0, conn.NewTracker(0), conn.DefaultOptions(conn.Options{}))
	return m, m.Get("c"), l
}

func spec5xx(n uint32, base time.Duration, pct uint32) *OutlierSpec {
	return &OutlierSpec{Consecutive5xx: n, Interval: time.Hour, BaseEjectionTime: base, MaxEjectionTime: time.Hour,
		MaxEjectionPercent: pct}
}

// play runs the loop's queued work and its due timers.
func play(l *conn.Loop) {
	conn.RunDetached(l)
	l.Sweep()
}

func TestOutlierEjectsAtThresholdAndReturns(t *testing.T) {
	_, c, l := outlierCluster(t, 2, spec5xx(3, 50*time.Millisecond, 50))
	bad, good := c.Hosts()[0], c.Hosts()[1]
	bad.Outcome(l, 503)
	bad.Outcome(l, 500)
	bad.Outcome(l, 200) // a success resets the run
	bad.Outcome(l, 502)
	bad.Outcome(l, 500)
	if bad.Ejected() {
		t.Fatal("ejected before 3 consecutive 5xx")
	}
	bad.Outcome(l, 599)
	if !bad.Ejected() || bad.Healthy() || bad.EjectedUntil().IsZero() || bad.Ejections() != 1 {
		t.Fatalf("after the 3rd 5xx: ejected %v until %v ejections %d", bad.Ejected(), bad.EjectedUntil(), bad.Ejections())
	}
	for range 20 {
		if h := c.Pick(); h != good {
			t.Fatalf("picked %v while %v is ejected", h, bad)
		}
	}
	if s := c.Stats(); s.Ejections != 1 || s.Ejected != 1 || s.Healthy != 1 || s.LBPanics != 0 {
		t.Fatalf("stats %+v", s)
	}
	testutil.WaitFor(t, 5*time.Second, "the ejected host to return", func() bool {
		play(l)
		return !bad.Ejected()
	})
	if !bad.Healthy() || !bad.EjectedUntil().IsZero() {
		t.Fatal("returned but not healthy")
	}
	// The next ejection lasts twice as long (multiplier 2: the interval
	// of an hour has not decayed it).
	for range 3 {
		bad.Outcome(l, 500)
	}
	if !bad.Ejected() || bad.EjectionMultiplier() != 2 {
		t.Fatalf("second ejection: ejected %v multiplier %d", bad.Ejected(), bad.EjectionMultiplier())
	}
	if d := time.Until(bad.EjectedUntil()); d < 60*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("second ejection ends in %v, want about 100ms", d)
	}
	testutil.WaitFor(t, 5*time.Second, "the second return", func() bool { play(l); return !bad.Ejected() })
}

func TestOutlierGatewayAndConnectFailures(t *testing.T) {
	_, c, l := outlierCluster(t, 3, &OutlierSpec{ConsecutiveGatewayFailure: 2, ConsecutiveConnectFailure: 2,
		Interval: time.Hour, BaseEjectionTime: time.Hour, MaxEjectionTime: time.Hour, MaxEjectionPercent: 100})
	h0, h1 := c.Hosts()[0], c.Hosts()[1]
	h0.Outcome(l, 504)
	h0.Outcome(l, 500) // not a gateway failure: the run restarts
	h0.Outcome(l, 502)
	if h0.Ejected() {
		t.Fatal("500 did not break the gateway failure run")
	}
	h0.Outcome(l, 503)
	if !h0.Ejected() {
		t.Fatal("2 gateway failures in a row did not eject")
	}
	h1.ConnectFailed(l)
	h1.Outcome(l, 200)
	h1.ConnectFailed(l)
	if h1.Ejected() {
		t.Fatal("a response did not break the connect failure run")
	}
	h1.ConnectFailed(l)
	if !h1.Ejected() {
		t.Fatal("2 connect failures in a row did not eject")
	}
	conn.RunDetached(l)
}

func TestOutlierMaxEjectionPercent(t *testing.T) {
	for _, tc := range []struct {
		pct  uint32
		want int
	}{{pct: 0, want: 1}, {pct: 25, want: 1}, {pct: 50, want: 2}, {pct: 100, want: 4}} {
		_, c, l := outlierCluster(t, 4, spec5xx(1, time.Hour, tc.pct))
		for _, h := range c.Hosts() {
			h.Outcome(l, 500)
		}
		s := c.Stats()
		if s.Ejected != tc.want || s.EjectionsCapped != uint64(4-tc.want) {
			t.Errorf("max_ejection_percent %d: %d ejected, %d capped; want %d ejected", tc.pct, s.Ejected, s.EjectionsCapped, tc.want)
		}
		conn.RunDetached(l)
	}
}

func TestPanicModeRoutesToAllHosts(t *testing.T) {
	_, c, l := outlierCluster(t, 2, spec5xx(1, time.Hour, 100))
	for _, h := range c.Hosts() {
		h.Outcome(l, 500)
	}
	seen := map[*Host]int{}
	for range 100 {
		seen[c.Pick()]++
	}
	if len(seen) != 2 || seen[nil] != 0 {
		t.Fatalf("panic picks %v, want both hosts", seen)
	}
	if s := c.Stats(); s.LBPanics != 100 || s.Unhealthy != 2 {
		t.Fatalf("stats %+v, want 100 panics", s)
	}
	conn.RunDetached(l)
}

func TestOutlierOffAndReload(t *testing.T) {
	m, c, l := outlierCluster(t, 2, nil)
	h := c.Hosts()[0]
	for range 100 {
		h.Outcome(l, 500)
		h.ConnectFailed(l)
	}
	if h.Ejected() || conn.RunDetached(l) != 0 {
		t.Fatal("outlier detection off, yet the host was ejected")
	}
	// A reload that turns it on keeps the host and starts counting.
	s := c.Spec
	s.Outlier = spec5xx(2, time.Hour, 100)
	if err := m.Update([]ClusterSpec{s}); err != nil {
		t.Fatal(err)
	}
	if m.Get("c").Hosts()[0] != h {
		t.Fatal("reload replaced the host")
	}
	h.Outcome(l, 500)
	h.Outcome(l, 500)
	if !h.Ejected() {
		t.Fatal("not ejected after the reload turned outlier detection on")
	}
	conn.RunDetached(l)
}

func TestOutlierSpecValidation(t *testing.T) {
	ok := OutlierSpec{Consecutive5xx: 1, Interval: time.Second, BaseEjectionTime: time.Second, MaxEjectionTime: time.Second}
	for _, tc := range []struct {
		name string
		mod  func(*OutlierSpec)
		want string
	}{
		{"all off", func(s *OutlierSpec) { s.Consecutive5xx = 0 }, "every detector is off"},
		{"interval", func(s *OutlierSpec) { s.Interval = 0 }, "outlier_detection.interval"},
		{"base", func(s *OutlierSpec) { s.BaseEjectionTime = 0 }, "outlier_detection.base_ejection_time"},
		{"max", func(s *OutlierSpec) { s.MaxEjectionTime = time.Millisecond }, "outlier_detection.max_ejection_time"},
		{"percent", func(s *OutlierSpec) { s.MaxEjectionPercent = 101 }, "outlier_detection.max_ejection_percent"},
	} {
		s := ok
		tc.mod(&s)
		err := NewManager().Update([]ClusterSpec{{Name: "c", Hosts: []HostSpec{{Address: "a:1"}}, Outlier: &s}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
