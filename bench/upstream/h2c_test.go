package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// startH2C serves an h2c server on a port of 127.0.0.1 until the test
// ends, then stops it, failing the test if Stop or Serve return an error.
func startH2C(t *testing.T) *h2cServer {
	t.Helper()
	srv, err := newH2CServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv
}

// TestH2CServesOverHTTP2 serves requests over h2c with prior knowledge
// (golang.org/x/net/http2's Transport dialing plain TCP): the canned sizes,
// HEAD, a 404, the advertised stream limit, and the per-protocol counts.
func TestH2CServesOverHTTP2(t *testing.T) {
	srv := startH2C(t)

	tr := &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	base := "http://" + srv.Addr()
	for _, tc := range []struct {
		method, path string
		status, len  int
	}{
		{"GET", "/1k", 200, 1024},
		{"GET", "/0", 200, 0},
		{"GET", "/64k", 200, 65536},
		{"GET", "/size/70000?x=1", 200, 70000},
		{"HEAD", "/1k", 200, 0},
		{"GET", "/nope", 404, -1},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.status || (tc.len >= 0 && len(body) != tc.len) {
			t.Errorf("%s %s: %s %d, %d body bytes; want HTTP/2 %d, %d bytes",
				tc.method, tc.path, resp.Proto, resp.StatusCode, len(body), tc.status, tc.len)
		}
		if tc.method == "HEAD" && resp.ContentLength != 1024 {
			t.Errorf("HEAD /1k: Content-Length %d, want 1024", resp.ContentLength)
		}
	}
	if h2, h1 := srv.Counts(); h2 != 6 || h1 != 0 {
		t.Errorf("counts: %d HTTP/2, %d HTTP/1.x; want 6 and 0", h2, h1)
	}

	// The readiness probe's HTTP/1.1 GET is answered too, and counted as such.
	resp, err := http.Get(base + "/") // no context: bounded by the server's answer on loopback
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1 GET /: %s %d", resp.Proto, resp.StatusCode)
	}
	if _, h1 := srv.Counts(); h1 != 1 {
		t.Errorf("HTTP/1.x count %d, want 1", h1)
	}
}

// TestH2CAdvertisesMaxStreams reads the server's first SETTINGS frame after
// the client preface: SETTINGS_MAX_CONCURRENT_STREAMS is h2cMaxStreams.
func TestH2CAdvertisesMaxStreams(t *testing.T) {
	srv := startH2C(t)
	conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // test connection
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f.Header().Type)
	}
	if v, ok := sf.Value(http2.SettingMaxConcurrentStreams); !ok || v != h2cMaxStreams {
		t.Errorf("MAX_CONCURRENT_STREAMS %d (%v), want %d", v, ok, h2cMaxStreams)
	}
}
