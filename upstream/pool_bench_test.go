package upstream

import (
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

type benchClient struct{ pc *testConn }

func (c *benchClient) OnPoolReady(pc *testConn) { c.pc = pc }
func (c *benchClient) OnPoolFailure(error)      {}

// BenchmarkPoolCheckout takes an idle connection from the pool of (host,
// loop) and gives it back, as every keep-alive request does.
func BenchmarkPoolCheckout(b *testing.B) {
	pm, loop, cl := benchPoolManager(b)
	p := pm.Pool(loop, cl, cl.Hosts()[0])
	for range 8 { // eight idle connections, as under load
		p.connecting++
		p.host.AddConn(1)
		p.opened(&conn.Conn{})
	}
	c := &benchClient{}
	b.ReportAllocs()
	for b.Loop() {
		p.Acquire(c)
		c.pc.Release(true)
	}
	if p.Idle() != 8 {
		b.Fatalf("%d idle connections, want 8", p.Idle())
	}
}

// BenchmarkPoolLookup finds the pool of (host, loop), as every request
// does before it takes a connection: one map access, no allocation.
//
//	go test -run x -bench BenchmarkPoolLookup -benchmem ./upstream/
func BenchmarkPoolLookup(b *testing.B) {
	pm, loop, cl := benchPoolManager(b)
	h := cl.Hosts()[0]
	p := pm.Pool(loop, cl, h)
	b.ReportAllocs()
	for b.Loop() {
		if pm.Pool(loop, cl, h) != p {
			b.Fatal("another pool")
		}
	}
}

// benchPoolManager is a pool manager over one detached loop, and a
// cluster of one host.
func benchPoolManager(b *testing.B) (*PoolManager[*handler], *conn.Loop, *Cluster) {
	m := NewManager()
	if err := m.Update([]ClusterSpec{{Name: "c", Hosts: []HostSpec{{Address: "127.0.0.1:1"}}}}); err != nil {
		b.Fatal(err)
	}
	loop := conn.NewLoop(nil, 0, conn.NewTracker(0), conn.DefaultOptions(conn.Options{}))
	pm, err := NewPoolManager(PoolManagerOptions[*handler]{Loops: 1, Dialer: &fakeDialer{},
		OnConnect: func(*testConn) *handler { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	return pm, loop, m.Get("c")
}

// TestPoolCheckoutAllocs pins what BenchmarkPoolCheckout reports: taking
// an idle connection and giving it back allocates nothing.
func TestPoolCheckoutAllocs(t *testing.T) {
	e := newPoolEnv(t, 1, ClusterSpec{Name: "c", Hosts: hosts("10.0.0.1:80")})
	p := e.pool(0, "10.0.0.1:80")
	for _, pc := range []*testConn{e.checkout(p), e.checkout(p)} {
		pc.Release(true)
	}
	c := &benchClient{}
	if n := testing.AllocsPerRun(1000, func() {
		p.Acquire(c)
		c.pc.Release(true)
	}); n != 0 {
		t.Fatalf("%v allocations per checkout, want 0", n)
	}
	if p.Idle() != 2 || len(e.d.pending) != 0 {
		t.Fatalf("%d idle, %d dials; the checkouts must reuse the idle connections", p.Idle(), len(e.d.pending))
	}
}
