package upstream

import (
	"errors"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

// TestMuxPoolRefusesTLSCluster: a cluster that dials its hosts in TLS with
// a dialer that cannot offer h2 by ALPN (no conn.H2Capable) is never
// dialled by the multiplexed pool, which would reach them in plain text
// (h2c): every waiter fails as a connect failure, and no dialer, the
// manager's or the cluster's, is asked for a connection.
func TestMuxPoolRefusesTLSCluster(t *testing.T) {
	own := &fakeDialer{t: t}
	spec := muxSpec()
	spec.Dialer, spec.Transport = own, "tls"
	e := newMuxEnv(t, spec)
	cs := acquireN(e.mpool(), 3)
	for i, c := range cs {
		if !errors.Is(c.err, ErrConnectFailed) || !errors.Is(c.err, ErrH2OverTLS) {
			t.Fatalf("waiter %d: %v, want a connect failure for want of h2 over TLS", i, c.err)
		}
	}
	if len(e.d.pending) != 0 || len(own.pending) != 0 {
		t.Fatalf("%d plain and %d TLS dials started", len(e.d.pending), len(own.pending))
	}
}

// h2FakeDialer is a cluster's TLS dialer that can dial for HTTP/2.
type h2FakeDialer struct {
	fakeDialer
	h2 *fakeDialer
}

func (d *h2FakeDialer) H2Dialer() conn.Dialer { return d.h2 }

// TestMuxPoolDialsH2OverTLS: a cluster whose TLS dialer offers h2
// (conn.H2Capable) is dialled by the multiplexed pool through its HTTP/2
// dialer alone, neither its HTTP/1.1 one nor the manager's plain one.
func TestMuxPoolDialsH2OverTLS(t *testing.T) {
	own := &h2FakeDialer{fakeDialer: fakeDialer{t: t}, h2: &fakeDialer{t: t}}
	spec := muxSpec()
	spec.Dialer, spec.Transport = own, "tls"
	e := newMuxEnv(t, spec)
	cs := acquireN(e.mpool(), 1)
	if len(own.h2.pending) != 1 || len(own.pending) != 0 || len(e.d.pending) != 0 {
		t.Fatalf("dials: %d h2, %d TLS HTTP/1.1, %d plain; want one h2", len(own.h2.pending), len(own.pending), len(e.d.pending))
	}
	if cs[0].err != nil {
		t.Fatal(cs[0].err)
	}
	own.h2.succeed()
	conn.RunDetached(e.loops[0])
	if e.mpool().Conns() != 1 {
		t.Fatalf("%d connections, want the h2 one", e.mpool().Conns())
	}
}
