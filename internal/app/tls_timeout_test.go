package app

import (
	"io"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestTLSHandshakeTimeoutSetting: ferry.timeouts.tls_handshake, not
// request_header, bounds a listener's handshake. With request_header at an
// hour, a client that sends half a ClientHello is closed by the handshake
// timer and counted.
func TestTLSHandshakeTimeoutSetting(t *testing.T) {
	ta := startTLSAppTuned(t, "", "", func(c *config.Config) {
		c.Ferry.Timeouts.RequestHeader = config.Duration(time.Hour)
		c.Ferry.Timeouts.TLSHandshake = config.Duration(200 * time.Millisecond)
	})
	if got := ta.srv.HandshakeTimeout; got != 200*time.Millisecond {
		t.Fatalf("the listener's handshake timeout is %v, want tls_handshake's 200ms", got)
	}
	c := testutil.DialTCP(t, ta.addr, 30*time.Second)
	// A handshake record of 512 bytes opening a ClientHello, cut short.
	if _, err := c.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the stalled handshake was not closed: %v", err)
	}
	if n := ta.srv.Stats.HandshakeTimeouts.Load(); n != 1 {
		t.Fatalf("%d handshake timeouts counted, want 1", n)
	}

	// The default is 10s.
	if d := (config.Ferry{}).WithDefaults().Timeouts.TLSHandshake; d != config.DefaultTLSHandshakeTimeout || d.Std() != 10*time.Second {
		t.Fatalf("default tls_handshake %v", d)
	}
}
