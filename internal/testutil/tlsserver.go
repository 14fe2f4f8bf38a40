package testutil

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"
)

// TLSServer is a RawServer that speaks TLS: each connection's handshake
// is run with Config, and its outcome recorded, before the script runs on
// the TLS connection. A failed handshake's connection is closed.
type TLSServer struct {
	*RawServer
	mu     sync.Mutex
	states []tls.ConnectionState
	errs   []error
}

// NewTLSServer starts a TLSServer with cfg running handle for each
// connection whose handshake succeeded.
func NewTLSServer(t testing.TB, cfg *tls.Config, handle func(c *tls.Conn)) *TLSServer {
	t.Helper()
	s := &TLSServer{}
	s.RawServer = NewRawServer(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		err := tc.Handshake()
		s.mu.Lock()
		if err != nil {
			s.errs = append(s.errs, err)
		} else {
			s.states = append(s.states, tc.ConnectionState())
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		handle(tc)
	})
	return s
}

// States returns the connection states of the handshakes that succeeded,
// in order.
func (s *TLSServer) States() []tls.ConnectionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tls.ConnectionState(nil), s.states...)
}

// Errors returns the errors of the handshakes that failed, in order.
func (s *TLSServer) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}
