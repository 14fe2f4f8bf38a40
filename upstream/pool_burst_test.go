package upstream

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// A connection released past MaxIdlePerHost stays idle for
// BurstIdleTimeout, not IdleTimeout, and is reused (after the ones below
// the cap) by the next burst instead of a new dial; when its timer fires
// it closes and the connections below the cap stay
// (docs/performance.md, "Idle connections past the cap").
func TestIdlePastTheCapIsKeptThroughABurst(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80"), MaxIdlePerHost: 1, IdleTimeout: time.Minute})
	p := e.pool(0, "10.0.0.1:80")
	a, b := e.checkout(p), e.checkout(p)
	if e.handlers != 2 {
		t.Fatalf("%d dials for two connections in use, want 2", e.handlers)
	}
	a.Release(true)
	b.Release(true)
	if p.Idle() != 2 || a.C.Closed() || b.C.Closed() {
		t.Fatalf("%d idle (a closed %v, b closed %v): want both kept", p.Idle(), a.C.Closed(), b.C.Closed())
	}
	now := conn.Now()
	if left := time.Duration(a.idleT.When() - now); left <= BurstIdleTimeout {
		t.Errorf("the connection under the cap expires in %v, want IdleTimeout (%v)", left, time.Minute)
	}
	if left := time.Duration(b.idleT.When() - now); left > BurstIdleTimeout {
		t.Errorf("the connection past the cap expires in %v, want at most BurstIdleTimeout (%v)", left, BurstIdleTimeout)
	}

	// The next burst takes both, oldest first, and dials nothing.
	if c, d := e.checkout(p), e.checkout(p); c != a || d != b || e.handlers != 2 {
		t.Fatalf("burst got %p, %p after %d dials; want the idle %p, %p and no dial", c, d, e.handlers, a, b)
	}
	a.Release(true)
	b.Release(true)
	b.OnTimer(&b.idleT) // as the wheel does after BurstIdleTimeout
	conn.RunDetached(e.loops[0])
	if !b.C.Gone() || a.C.Closed() || p.Idle() != 1 {
		t.Fatalf("after the burst timeout: past-the-cap gone %v, under-the-cap closed %v, %d idle; want gone, open, 1",
			b.C.Gone(), a.C.Closed(), p.Idle())
	}
}
