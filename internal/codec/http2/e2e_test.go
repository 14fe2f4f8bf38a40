package http2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// echoStream is the response state of one stream of the echo server.
type echoStream struct {
	pending  [][]byte // body bytes not yet taken by WriteData
	end      bool     // the request body is complete
	trailers []Field  // request trailers, echoed as response trailers
}

// echo is a Handler that answers every request with its headers (as
// x-echo-NAME fields) and streams its body back, honouring flow control
// in both directions: request bytes are Consumed only once WriteData took
// them.
type echo struct {
	c  *Conn
	st map[uint32]*echoStream
	// Counts of OnWindow calls for streams and for the connection.
	streamWindows, connWindows int
}

func (e *echo) OnRequest(id uint32, r *Request, end bool) {
	fields := []Field{
		{Name: []byte("x-method"), Value: r.Method},
		{Name: []byte("x-path"), Value: r.Path},
		{Name: []byte("x-authority"), Value: r.Authority},
	}
	for _, f := range r.Fields {
		fields = append(fields, Field{Name: append([]byte("x-echo-"), f.Name...), Value: f.Value})
	}
	e.c.WriteHeaders(id, 200, fields, false)
	e.st[id] = &echoStream{end: end}
	e.flush(id)
}

func (e *echo) OnRequestError(id uint32, status int) { e.c.WriteHeaders(id, status, nil, true) }

func (e *echo) OnData(id uint32, data []byte, end bool) {
	s := e.st[id]
	if len(data) > 0 {
		s.pending = append(s.pending, bytes.Clone(data))
	}
	s.end = end
	e.flush(id)
}

func (e *echo) OnTrailers(id uint32, fields []Field) {
	s := e.st[id]
	for _, f := range fields {
		s.trailers = append(s.trailers, Field{Name: bytes.Clone(f.Name), Value: bytes.Clone(f.Value)})
	}
	s.end = true
	e.flush(id)
}

func (e *echo) OnReset(id uint32, code ErrCode) { delete(e.st, id) }

func (e *echo) OnWindow(id uint32) {
	if id != 0 {
		e.streamWindows++
		e.flush(id)
		return
	}
	e.connWindows++
	for id := range e.st {
		e.flush(id)
	}
}

func (e *echo) flush(id uint32) {
	s := e.st[id]
	if s == nil {
		return
	}
	for len(s.pending) > 0 {
		p := s.pending[0]
		last := len(s.pending) == 1 && s.end && s.trailers == nil
		n := e.c.WriteData(id, p, last)
		e.c.Consumed(id, n)
		if n < len(p) {
			s.pending[0] = p[n:]
			return
		}
		s.pending = s.pending[1:]
		if last {
			delete(e.st, id)
			return
		}
	}
	if s.end {
		if s.trailers != nil {
			e.c.WriteTrailers(id, s.trailers)
		} else {
			e.c.WriteData(id, nil, true)
		}
		delete(e.st, id)
	}
}

// serveConn is the tiny event loop of the end-to-end test: read, Feed,
// write Out with writev, ResetOut.
func serveConn(nc net.Conn, o Options, e *echo) error {
	e.st = map[uint32]*echoStream{}
	c := NewConn(e, o)
	e.c = c
	flush := func() error {
		if c.OutLen() == 0 {
			return nil
		}
		bufs := append(net.Buffers(nil), c.Out()...)
		_, err := bufs.WriteTo(nc)
		c.ResetOut()
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	in := make([]byte, 0, 64<<10)
	rd := make([]byte, 16<<10)
	for {
		k, err := nc.Read(rd)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		in = append(in, rd[:k]...)
		n, ferr := c.Feed(in)
		in = append(in[:0], in[n:]...)
		if err := flush(); err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
	}
}

func TestEndToEndXNetClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	e := &echo{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = nc.Close() }() // served: its close error tells nothing
				// Windows smaller than the bodies, in both directions.
				if err := serveConn(nc, Options{InitialWindowSize: 65535, ConnWindowSize: 131072}, e); err != nil {
					t.Errorf("server: %v", err)
				}
			}()
		}
	}()

	t1 := &http.Transport{HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 20000, MaxReceiveBufferPerConnection: 65535}}
	tr, err := http2.ConfigureTransports(t1)
	if err != nil {
		t.Fatal(err)
	}
	// ConfigureTransports links tr to t1 for its settings (the small
	// receive windows above) and leaves dialing to t1; dropping its pool
	// makes tr dial by itself, with DialTLSContext: h2c prior knowledge.
	tr.ConnPool = nil
	tr.AllowHTTP = true
	tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "http://" + ln.Addr().String()

	const n = 8
	errs := make(chan error, n+2)
	var cwg sync.WaitGroup
	for i := range n {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			body := bytes.Repeat([]byte(fmt.Sprintf("%c%d", 'a'+i, i)), 150<<10+i*777)
			req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/echo/%d?x=1", base, i), bytes.NewReader(body))
			req.Header.Set("X-Test", fmt.Sprint("v", i))
			req.Header.Add("Cookie", "a=1")
			req.Header.Add("Cookie", "b=2")
			if i%2 == 1 {
				req.Trailer = http.Header{"X-Trail": {fmt.Sprint("t", i)}}
				req.ContentLength = -1
			}
			errs <- checkEcho(client, req, body, i)
		}()
	}
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/get", nil)
		errs <- checkEcho(client, req, nil, -1)
	}()
	cwg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	tr.CloseIdleConnections()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if accepted != 1 {
		t.Fatalf("%d connections, want all requests on one", accepted)
	}
	// The client's windows (20000 per stream, 65535 for the connection)
	// are far below the bodies, so the echo is held back; how often
	// depends on scheduling, so it is only logged.
	t.Logf("OnWindow calls: %d for streams, %d for the connection", e.streamWindows, e.connWindows)
}

func checkEcho(client *http.Client, req *http.Request, body []byte, i int) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("request %d: %w", i, err)
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("request %d body: %w", i, err)
	}
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		return fmt.Errorf("request %d: %s %s", i, resp.Proto, resp.Status)
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("request %d: echoed %d bytes, sent %d", i, len(got), len(body))
	}
	if resp.Header.Get("X-Method") != req.Method || resp.Header.Get("X-Path") != req.URL.RequestURI() ||
		resp.Header.Get("X-Authority") != req.URL.Host {
		return fmt.Errorf("request %d: pseudo-headers echoed as %v", i, resp.Header)
	}
	if i >= 0 {
		if resp.Header.Get("X-Echo-X-Test") != fmt.Sprint("v", i) || strings.Join(resp.Header.Values("X-Echo-Cookie"), ";") == "" {
			return fmt.Errorf("request %d: headers echoed as %v", i, resp.Header)
		}
		if i%2 == 1 && resp.Trailer.Get("X-Trail") != fmt.Sprint("t", i) {
			return fmt.Errorf("request %d: trailers %v", i, resp.Trailer)
		}
	}
	return nil
}
