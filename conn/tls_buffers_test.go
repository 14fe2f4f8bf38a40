package conn

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestTLSBufferFieldsFound: this Go release's crypto/tls.Conn has the
// record-layer buffers ferry releases, under the names and types it
// expects. A release that changed them fails here (and ferry's idle TLS
// connections would hold crypto/tls's buffers again).
func TestTLSBufferFieldsFound(t *testing.T) {
	if !tlsBuf.ok {
		t.Fatalf("crypto/tls.Conn lacks rawInput (bytes.Buffer), input (bytes.Reader) or hand (bytes.Buffer): %+v", tlsBuf)
	}
}

// TestTLSRecordBuffersReleased drives crypto/tls's server over a pipe the
// way the loop does: the handshake's buffers are dropped once it is done,
// each read borrows a pooled rawInput and gives it back once everything
// is consumed, and plain text not yet read keeps it.
func TestTLSRecordBuffersReleased(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	cs, ss := net.Pipe()
	defer func() { _ = cs.Close() }()
	defer func() { _ = ss.Close() }()
	srv := &TLSConn{srv: &TLSServer{}, tc: tls.Server(ss, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})}
	cli := tls.Client(cs, &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"})
	sent := make(chan error, 1)
	go func() {
		err := cli.Handshake()
		for _, n := range []int{1 << 10, 40 << 10} { // one record, then three
			if err == nil {
				_, err = cli.Write(make([]byte, n))
			}
		}
		sent <- err
	}()
	if err := srv.tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if srv.RecordBufferBytes() == 0 {
		t.Fatal("the handshake left no buffer to release: the test proves nothing")
	}
	srv.releaseRecordBuffers()
	if n := srv.RecordBufferBytes(); n != 0 {
		t.Fatalf("after the handshake %d bytes of buffers stay", n)
	}
	read := func(n int) {
		t.Helper()
		srv.lendRecordBuffer()
		if srv.rec == nil {
			t.Fatal("no buffer lent")
		}
		if _, err := io.ReadFull(srv.tc, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		srv.releaseRecordBuffers()
	}
	read(1 << 10)
	if n := srv.RecordBufferBytes(); n != 0 || srv.rec != nil {
		t.Fatalf("after a consumed record %d bytes stay (lent %v)", n, srv.rec != nil)
	}
	read(100) // of the first 16 KiB record: the rest waits in input
	if n := srv.RecordBufferBytes(); n < 16<<10 || srv.rec == nil {
		t.Fatalf("with plain text unread, %d bytes held (lent %v): the buffer was taken back under it", n, srv.rec != nil)
	}
	read(40<<10 - 100)
	if n := srv.RecordBufferBytes(); n != 0 || srv.rec != nil {
		t.Fatalf("after every record was read %d bytes stay (lent %v)", n, srv.rec != nil)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
