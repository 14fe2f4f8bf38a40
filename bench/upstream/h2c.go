package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// h2cMaxStreams is the SETTINGS_MAX_CONCURRENT_STREAMS the h2c mode
// advertises: far above what a proxy multiplexes on one connection in the
// benchmark, so that the upstream never makes a proxy queue streams.
const h2cMaxStreams = 1000

// h2cServer is the -h2c mode: the same canned bodies as the gnet server,
// served by net/http over HTTP/2 cleartext with prior knowledge (HTTP/1.1
// too, for readiness probes), counting requests per protocol so that a run
// can show which protocol the proxies spoke.
type h2cServer struct {
	srv    *http.Server
	ln     net.Listener
	bodies map[int][]byte // canned bodies by size
	h2, h1 atomic.Int64   // requests served over HTTP/2 and HTTP/1.x
}

// newH2CServer listens on addr and returns the server, not yet serving.
func newH2CServer(addr string) (*h2cServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &h2cServer{ln: ln, bodies: make(map[int][]byte, len(cannedSizes))}
	for _, size := range cannedSizes {
		s.bodies[size] = bytes.Repeat([]byte("x"), size)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		Protocols:         p,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: h2cMaxStreams},
		ReadHeaderTimeout: 10 * time.Second,
	}
	return s, nil
}

// Addr is the bound listener address.
func (s *h2cServer) Addr() string { return s.ln.Addr().String() }

// Serve serves until Stop; it returns nil after a Stop.
func (s *h2cServer) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stop closes the listener and every connection, waiting for in-flight
// requests until ctx ends.
func (s *h2cServer) Stop(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// Counts returns the requests served over HTTP/2 and over HTTP/1.x.
func (s *h2cServer) Counts() (h2, h1 int64) { return s.h2.Load(), s.h1.Load() }

// serve answers like the gnet server: 200 with the body the path chooses
// (no body for HEAD; a request body is discarded), 404 for an unknown path.
func (s *h2cServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 {
		s.h2.Add(1)
	} else {
		s.h1.Add(1)
	}
	h := w.Header()
	h["Server"] = []string{"ferry-bench-upstream"}
	size, ok := bodySize([]byte(r.URL.Path))
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	h["Content-Type"] = []string{"application/octet-stream"}
	h["Content-Length"] = []string{strconv.Itoa(size)}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	body, ok := s.bodies[size]
	if !ok {
		body = bytes.Repeat([]byte("x"), size)
	}
	_, _ = w.Write(body) // a client gone mid-body is not the server's error
}
