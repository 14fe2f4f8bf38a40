package upstream

import (
	"errors"
	"sync"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

// TestBreakerNeverOvershoots: loops racing for the last slots of a limit
// never pass it together, and every refusal is counted.
func TestBreakerNeverOvershoots(t *testing.T) {
	var b Breaker
	const limit, workers, tries = 10, 8, 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak, refused := int64(0), 0
	for range workers {
		wg.Go(func() {
			for range tries {
				if !b.TryAcquire(LimitRequests, limit) {
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				if n := b.Open(LimitRequests); n > limit {
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
				b.Release(LimitRequests)
			}
		})
	}
	wg.Wait()
	if peak > 0 {
		t.Fatalf("open reached %d past the limit %d", peak, limit)
	}
	if b.Open(LimitRequests) != 0 || b.Overflows(LimitRequests) != uint64(refused) {
		t.Fatalf("open %d, overflows %d (refused %d)", b.Open(LimitRequests), b.Overflows(LimitRequests), refused)
	}
	if !b.TryAcquire(LimitRetries, 0) || b.Open(LimitRetries) != 1 {
		t.Fatal("no limit (0) must always count")
	}
}

// TestPoolQueuesWhenTheDialerIsBusy: a dial the process refuses (no
// worker, no socket) leaves the request waiting for its loop's connection
// to the host to come back and serve it: the default sheds nothing a
// healthy upstream can take.
func TestPoolQueuesWhenTheDialerIsBusy(t *testing.T) {
	for _, refuse := range []error{conn.ErrDialerBusy, conn.ErrBudget} {
		e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80")})
		p := e.pool(0, "10.0.0.1:80")
		a := &client{}
		p.Acquire(a)
		e.d.succeed()
		if a.pc == nil {
			t.Fatal("first request not served")
		}
		e.d.refuse = refuse
		w := &client{}
		p.Acquire(w)
		if w.err != nil || w.pc != nil || p.Pending() != 1 {
			t.Fatalf("%v: waiter err %v, pending %d; want it waiting", refuse, w.err, p.Pending())
		}
		a.pc.Release(true)
		if w.pc != a.pc {
			t.Fatalf("%v: the released connection did not go to the waiter", refuse)
		}
		if brk := e.cluster().Breaker(); brk.Open(LimitPending) != 0 || brk.Open(LimitConnections) != 1 {
			t.Fatalf("%v: breaker pending %d, connections %d; want 0, 1", refuse, brk.Open(LimitPending), brk.Open(LimitConnections))
		}
	}
}

// TestPoolMaxConnectionsAcrossHostsAndLoops: max_connections counts every
// host's connections on every loop; past it requests wait on a loop that
// has a connection and fail, naming the limit, on one that has none.
func TestPoolMaxConnectionsAcrossHostsAndLoops(t *testing.T) {
	e := newPoolEnv(t, 2, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80", "10.0.0.2:80"),
		Breakers: Thresholds{MaxConnections: 2}})
	p0a, p0b := e.pool(0, "10.0.0.1:80"), e.pool(0, "10.0.0.2:80")
	a, b, w := &client{}, &client{}, &client{}
	p0a.Acquire(a)
	p0b.Acquire(b)
	e.d.succeed()
	e.d.succeed()
	p0a.Acquire(w) // at the limit: waits for a's connection
	if w.err != nil || len(e.d.pending) != 0 {
		t.Fatalf("waiter err %v, %d dials; want waiting, none", w.err, len(e.d.pending))
	}
	other := &client{}
	e.pool(1, "10.0.0.1:80").Acquire(other)
	var le *LimitError
	if !errors.As(other.err, &le) || le.What != "max_connections" || le.Max != 2 || le.Cluster != "c" {
		t.Fatalf("loop with no connection at the limit: %v, want max_connections (2) of c", other.err)
	}
	a.pc.Release(true)
	if w.pc == nil {
		t.Fatal("waiter not served by the release")
	}
	brk := e.cluster().Breaker()
	if brk.Open(LimitConnections) != 2 || brk.Overflows(LimitConnections) != 2 {
		t.Fatalf("connections %d, overflows %d; want 2, 2", brk.Open(LimitConnections), brk.Overflows(LimitConnections))
	}
	// Closing a connection frees its slot for the other loop.
	w.pc.Release(false)
	conn.RunDetached(e.loops[0])
	if brk.Open(LimitConnections) != 1 {
		t.Fatalf("after a close: %d connections, want 1", brk.Open(LimitConnections))
	}
	late := &client{}
	e.pool(1, "10.0.0.1:80").Acquire(late)
	if late.err != nil || len(e.d.pending) != 1 {
		t.Fatalf("after a close: %v, %d dials; want a dial", late.err, len(e.d.pending))
	}
}

// TestBreakerKeptAcrossReload: a reload that keeps a cluster's name keeps
// its Breaker, so what is in flight stays counted against the new limits;
// a cluster that is new gets its own.
func TestBreakerKeptAcrossReload(t *testing.T) {
	m := NewManager()
	if err := m.Update([]ClusterSpec{{Name: "c", Hosts: hosts("10.0.0.1:80"), Breakers: Thresholds{MaxRequests: 1}}}); err != nil {
		t.Fatal(err)
	}
	old := m.Get("c")
	if !old.Breaker().TryAcquire(LimitRequests, old.Limit(LimitRequests)) {
		t.Fatal("first request refused")
	}
	if err := m.Update([]ClusterSpec{{Name: "c", Hosts: hosts("10.0.0.2:80"), Breakers: Thresholds{MaxRequests: 2}},
		{Name: "d", Hosts: hosts("10.0.0.3:80")}}); err != nil {
		t.Fatal(err)
	}
	c := m.Get("c")
	if c.Breaker() != old.Breaker() || c.Limit(LimitRequests) != 2 || m.Get("d").Breaker() == c.Breaker() {
		t.Fatal("the reload did not keep the cluster's breaker with the new limit, or shared it")
	}
	if !c.Breaker().TryAcquire(LimitRequests, c.Limit(LimitRequests)) || c.Breaker().TryAcquire(LimitRequests, c.Limit(LimitRequests)) {
		t.Fatal("the request in flight before the reload is not counted against the new limit of 2")
	}
	for range 2 {
		c.Breaker().Release(LimitRequests)
	}
	if c.Breaker().Open(LimitRequests) != 0 {
		t.Fatalf("%d open after every release", c.Breaker().Open(LimitRequests))
	}
}
