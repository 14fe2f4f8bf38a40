// Package stats holds ferry's counters: plain atomics that the data plane
// bumps without locks and the admin side reads as a snapshot.
//
// Counters are created once at build time through a Set (never on the hot
// path) and handed to the code that bumps them as *Counter fields, so a bump
// is one atomic add with no map lookup.
//
// Goroutines: every method is safe from any goroutine.
//
// Imports: the standard library only.
package stats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing count. The zero value is ready.
type Counter struct{ v atomic.Uint64 }

// Inc adds one. Any goroutine.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n. Any goroutine.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the count. Any goroutine.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down. The zero value is ready.
type Gauge struct{ v atomic.Int64 }

// Add adds d (which may be negative) and returns the new value. Any goroutine.
func (g *Gauge) Add(d int64) int64 { return g.v.Add(d) }

// Load returns the value. Any goroutine.
func (g *Gauge) Load() int64 { return g.v.Load() }

// Set names counters and gauges so that they can be listed.
type Set struct {
	mu       sync.Mutex
	counters map[string]*Counter
	gauges   map[string]*Gauge
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{counters: map[string]*Counter{}, gauges: map[string]*Gauge{}}
}

// Counter returns the counter with this name, creating it on first use.
// Call it at build time, not per request. Any goroutine.
func (s *Set) Counter(name string) *Counter { return named(s, s.counters, name) }

// Gauge returns the gauge with this name, creating it on first use.
// Any goroutine.
func (s *Set) Gauge(name string) *Gauge { return named(s, s.gauges, name) }

// named returns m's value for name, creating a zero one on first use, under
// s.mu.
func named[T any](s *Set, m map[string]*T, name string) *T {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := m[name]
	if !ok {
		v = new(T)
		m[name] = v
	}
	return v
}

// Sample is one named value of a Snapshot.
type Sample struct {
	Name  string
	Value int64
	// Gauge marks a gauge (else a counter).
	Gauge bool
}

// Snapshot lists every counter and gauge, sorted by name. Any goroutine.
func (s *Set) Snapshot() []Sample {
	s.mu.Lock()
	out := make([]Sample, 0, len(s.counters)+len(s.gauges))
	for n, c := range s.counters {
		out = append(out, Sample{Name: n, Value: int64(c.Load())})
	}
	for n, g := range s.gauges {
		out = append(out, Sample{Name: n, Value: g.Load(), Gauge: true})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the value of a named counter or gauge, and whether it exists.
// Any goroutine.
func (s *Set) Get(name string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.counters[name]; ok {
		return int64(c.Load()), true
	}
	if g, ok := s.gauges[name]; ok {
		return g.Load(), true
	}
	return 0, false
}
