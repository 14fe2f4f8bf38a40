package upstream

import (
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

type benchClient struct{ pc *PooledConn }

func (c *benchClient) OnPoolReady(pc *PooledConn) { c.pc = pc }
func (c *benchClient) OnPoolFailure(error)        {}

// BenchmarkPoolCheckout takes an idle connection from the pool of (host,
// loop) and gives it back, as every keep-alive request does.
func BenchmarkPoolCheckout(b *testing.B) {
	m := NewManager()
	if err := m.Update([]ClusterSpec{{Name: "c", Hosts: []HostSpec{{Address: "127.0.0.1:1"}}}}); err != nil {
		b.Fatal(err)
	}
	cl := m.Get("c")
	tracker := conn.NewTracker(0)
	loop := conn.NewLoop(nil, 0, tracker, conn.DefaultOptions(conn.Options{}))
	pm := NewPoolManager(PoolManagerOptions{Loops: 1, Tracker: tracker, OnConnect: func(*PooledConn) {}})
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
