package stats

import (
	"sync"
	"testing"
)

func TestSetCountersAreSharedByName(t *testing.T) {
	s := NewSet()
	a := s.Counter("x")
	b := s.Counter("x")
	if a != b {
		t.Fatal("Counter returned two counters for one name")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				a.Inc()
			}
		})
	}
	wg.Wait()
	s.Gauge("g").Add(-3)
	snap := s.Snapshot()
	if len(snap) != 2 || snap[0].Name != "g" || snap[0].Value != -3 || snap[1].Name != "x" || snap[1].Value != 8000 {
		t.Fatalf("snapshot = %+v", snap)
	}
	if v, ok := s.Get("x"); !ok || v != 8000 {
		t.Fatalf("Get(x) = %d, %v", v, ok)
	}
	if _, ok := s.Get("missing"); ok {
		t.Fatal("Get(missing) reported a value")
	}
}
