package eventloop

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A graceful close of a TLS connection (CloseFlush, CloseLinger) sends
// close_notify before the FIN, so that the peer reads a clean end of the
// stream; an abort (CloseNow) sends none (docs/tls.md, "Closing").

// readToEnd reads c until it ends and returns how many bytes came and the
// error that ended them: nil for a clean end (close_notify), else what
// crypto/tls said (over testutil.StrictEOF, ErrNoCloseNotify for a FIN
// without close_notify).
func readToEnd(c io.Reader) (int64, error) {
	return io.Copy(io.Discard, c) // io.Copy turns io.EOF into nil
}

// dialStrict is env.dialTLS over testutil.StrictEOF: the connection's Read
// returns io.EOF only after ferry's close_notify.
func (env *tlsEnv) dialStrict(t *testing.T, cfg *tls.Config) *tls.Conn {
	t.Helper()
	raw := dial(t, env.addr)
	c := tls.Client(testutil.StrictEOF(raw), cfg)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSCloseNotifyOnGracefulClose: the listener's connections end with
// close_notify after a flushing close (1 MiB queued before it), after a
// lingering one, and when the client closed first with its own; never
// after an abort.
func TestTLSCloseNotifyOnGracefulClose(t *testing.T) {
	env := startTLS(t, 4, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := env.clientConfig()
		cfg.MinVersion, cfg.MaxVersion = v, v
		t.Run(tls.VersionName(v)+"/flush", func(t *testing.T) {
			c := env.dialStrict(t, cfg)
			const n = 1 << 20
			if _, err := io.WriteString(c, "blast "+strconv.Itoa(n)+"\n"); err != nil {
				t.Fatal(err)
			}
			if got, err := readToEnd(c); got != n || err != nil {
				t.Fatalf("read %d bytes, ended by %v; want %d and a clean EOF (close_notify)", got, err, n)
			}
		})
		t.Run(tls.VersionName(v)+"/linger", func(t *testing.T) {
			c := env.dialStrict(t, cfg)
			if _, err := io.WriteString(c, "linger\n"); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			if line, err := r.ReadString('\n'); line != "bye\n" || err != nil {
				t.Fatalf("read %q, %v", line, err)
			}
			if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("the lingering close ended with %v, want io.EOF (close_notify)", err)
			}
		})
		t.Run(tls.VersionName(v)+"/client first", func(t *testing.T) {
			c := env.dialStrict(t, cfg)
			echo(t, c, bufio.NewReader(c), "x")
			if err := c.CloseWrite(); err != nil { // the client's close_notify
				t.Fatal(err)
			}
			if got, err := readToEnd(c); got != 0 || err != nil {
				t.Fatalf("read %d bytes, ended by %v; want a clean EOF (ferry's close_notify)", got, err)
			}
		})
		t.Run(tls.VersionName(v)+"/abort", func(t *testing.T) {
			c := env.dialStrict(t, cfg)
			echo(t, c, bufio.NewReader(c), "x")
			if _, err := io.WriteString(c, "timer 1\n"); err != nil { // CloseNow from a timer
				t.Fatal(err)
			}
			if _, err := readToEnd(c); !errors.Is(err, testutil.ErrNoCloseNotify) {
				t.Fatalf("the abort ended with %v, want no close_notify", err)
			}
		})
	}
}

// TestTLSDialerCloseNotify: an upstream connection closed gracefully sends
// close_notify to the host, one aborted does not.
func TestTLSDialerCloseNotify(t *testing.T) {
	e, l := engineLoop(t)
	cert := testutil.NewCert(t, "127.0.0.1")
	ends := make(chan error, 4)
	scfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	srv := testutil.NewRawServer(t, func(raw net.Conn) {
		c := tls.Server(testutil.StrictEOF(raw), scfg)
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			ends <- err
			return
		}
		if _, err := io.WriteString(c, "pong\n"); err != nil {
			ends <- err
			return
		}
		_, err := readToEnd(r)
		ends <- err
	})
	d := newTLSDialer(t, &tls.Config{RootCAs: cert.Pool}, nil)
	for _, mode := range []filterchain.CloseMode{filterchain.CloseFlush, filterchain.CloseLinger, filterchain.CloseNow} {
		base := e.Tracker().Open()
		p := dialTLS(t, d, l, srv.Addr(), 5*time.Second)
		expectPong(t, p)
		if err := l.Execute(func() { p.c.Close(mode) }); err != nil {
			t.Fatal(err)
		}
		var err error
		select {
		case err = <-ends:
		case <-time.After(20 * time.Second):
			t.Fatalf("mode %d: the host did not see the connection end", mode)
		}
		if mode == filterchain.CloseNow {
			if !errors.Is(err, testutil.ErrNoCloseNotify) {
				t.Fatalf("an abort ended the host's stream with %v, want no close_notify", err)
			}
		} else if err != nil {
			t.Fatalf("mode %d ended the host's stream with %v, want a clean EOF (close_notify)", mode, err)
		}
		testutil.WaitFor(t, 10*time.Second, "the socket to be released", func() bool { return e.Tracker().Open() == base })
	}
}
