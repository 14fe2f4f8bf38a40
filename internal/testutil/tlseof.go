package testutil

import (
	"errors"
	"io"
	"net"
)

// ErrNoCloseNotify is what a TLS connection over StrictEOF returns when
// the peer closed the socket without sending close_notify first.
var ErrNoCloseNotify = errors.New("testutil: the socket ended without close_notify")

// StrictEOF wraps a socket for crypto/tls so that a TLS peer's missing
// close_notify shows. Go's crypto/tls forgives an EOF at a record
// boundary: it returns io.EOF for it, as for a close_notify
// (crypto/tls/conn.go, readRecordOrCCS: "popular web sites seem to do
// this"). Over StrictEOF the socket's end reads as ErrNoCloseNotify
// instead, which crypto/tls passes through, so that tls.Conn.Read returns
// io.EOF only after a close_notify (which it acts on without reading the
// socket further).
func StrictEOF(c net.Conn) net.Conn { return strictEOF{c} }

type strictEOF struct{ net.Conn }

func (c strictEOF) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		err = ErrNoCloseNotify
	}
	return n, err
}
