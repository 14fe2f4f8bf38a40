package eventloop

import (
	"bufio"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// What TLS costs on top of plain text, one keep-alive connection, one
// 1 KiB line echoed per round trip (the client's cost included: both run
// in this process), and a full TLS 1.3 handshake with an ECDSA P-256
// certificate. Reproduce:
//
//	go test -run=NONE -bench='Echo|Handshake' -benchmem ./eventloop/

// benchEcho runs the echo round trips on the connection dial opens, and
// closes it.
func benchEcho(b *testing.B, dial func() (net.Conn, error)) {
	b.Helper()
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	line := "echo " + strings.Repeat("x", 1024) + "\n"
	want := len(line) - len("echo ")
	r := bufio.NewReaderSize(c, 4096)
	buf := make([]byte, want)
	round := func() {
		if _, err := io.WriteString(c, line); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
	round()
	b.ReportAllocs()
	b.SetBytes(int64(want))
	b.ResetTimer()
	for range b.N {
		round()
	}
}

func BenchmarkPlainEcho1KiB(b *testing.B) {
	var peak atomic.Int64
	_, addr := startListener(b, nil, []conn.FilterFactory{peakFactory{&peak}, cmdFactory{marks: &marks{}}})
	benchEcho(b, func() (net.Conn, error) { return net.Dial("tcp", addr) })
}

func BenchmarkTLSEcho1KiB(b *testing.B) {
	env := startTLS(b, 4, nil)
	benchEcho(b, func() (net.Conn, error) { return tls.Dial("tcp", env.addr, env.clientConfig()) })
}

func BenchmarkTLSHandshake(b *testing.B) {
	env := startTLS(b, 8, nil)
	cfg := env.clientConfig()
	cfg.MinVersion = tls.VersionTLS13
	d := &net.Dialer{Timeout: 10 * time.Second}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := tls.DialWithDialer(d, "tcp", env.addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}

// The public-key work of one full TLS 1.3 server handshake, without
// crypto/tls: the key share (a key pair and the shared secret with the
// client's share) and the CertificateVerify signature, to set beside
// OpenSSL's own figures for the same operations (`openssl speed -seconds 3
// ecdhx25519 ecdhp256 ecdsap256`). The comparison is in docs/tls.md, "Go's
// crypto against OpenSSL's". Reproduce:
//
//	go test -run=NONE -bench=HandshakeCrypto -benchtime=2s -count=3 ./eventloop/
func BenchmarkHandshakeCrypto(b *testing.B) {
	for _, c := range []struct {
		name  string
		curve ecdh.Curve
	}{{"X25519", ecdh.X25519()}, {"P256", ecdh.P256()}} {
		peer, err := c.curve.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("keyshare-"+c.name, func(b *testing.B) {
			for b.Loop() {
				k, err := c.curve.GenerateKey(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.ECDH(peer.PublicKey()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("sign-ECDSA-P256", func(b *testing.B) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.Sum256([]byte("transcript"))
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, k, h[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
