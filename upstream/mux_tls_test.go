package upstream

import (
	"errors"
	"testing"
)

// TestMuxPoolRefusesTLSCluster: a cluster that dials its hosts in TLS is
// never dialled by the multiplexed (h2c) pool, which would reach them in
// plain text: every waiter fails as a connect failure, and no dialer,
// the manager's or the cluster's, is asked for a connection.
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
