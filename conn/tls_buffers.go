package conn

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// What an idle TLS connection holds (docs/tls.md, "Memory of an idle
// connection"). crypto/tls keeps, per connection, the buffers its record
// layer grew: rawInput (the ciphertext read ahead), input (the plain text
// of the record being read, a view into rawInput) and hand (handshake
// messages), bytes.Buffers it never shrinks (golang/go#43563, open): about
// 4.7 KiB per connection after a handshake with a Go client, whose
// ClientHello carries an X25519MLKEM768 key share. crypto/tls has no API to
// drop them, so ferry reaches the three fields by the offsets reflection
// finds once, checked against the types it expects, and, on the loop
// between read events (crypto/tls is not running then):
//
//   - drops hand and the handshake's rawInput once the handshake is done
//     and they hold nothing;
//   - lends rawInput a buffer from the listener's recordPool for each read
//     event and takes it back when crypto/tls has consumed everything in
//     it, so that an idle connection holds none, as OpenSSL's
//     SSL_MODE_RELEASE_BUFFERS does for nginx.
//
// A Go release that renames or retypes a field leaves tlsFields.ok false:
// nothing is released (the memory is crypto/tls's again) and
// TestTLSBufferFieldsFound fails, so the change is seen.

// tlsFields are the offsets of crypto/tls.Conn's record-layer buffers.
type tlsFields struct {
	rawInput, input, hand uintptr
	ok                    bool
}

var tlsBuf = findTLSFields() //nolint:gochecknoglobals // read-only: crypto/tls.Conn's layout, found once

func findTLSFields() tlsFields {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, want reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		return f.Offset, ok && len(f.Index) == 1 && f.Type == want
	}
	buf, rd := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	var f tlsFields
	var ok1, ok2, ok3 bool
	f.rawInput, ok1 = field("rawInput", buf)
	f.input, ok2 = field("input", rd)
	f.hand, ok3 = field("hand", buf)
	f.ok = ok1 && ok2 && ok3
	return f
}

func (f *tlsFields) rawInputOf(tc *tls.Conn) *bytes.Buffer {
	return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), f.rawInput))
}

func (f *tlsFields) inputOf(tc *tls.Conn) *bytes.Reader {
	return (*bytes.Reader)(unsafe.Add(unsafe.Pointer(tc), f.input))
}

func (f *tlsFields) handOf(tc *tls.Conn) *bytes.Buffer {
	return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), f.hand))
}

// recordChunk is the capacity of a pooled rawInput: crypto/tls grows the
// buffer to hold a whole record (at most 5 + 2^14 + 256 bytes) and
// bytes.MinRead more; with twice that, bytes.Buffer makes room by sliding
// what it holds to the front, never by growing (its grow), so the buffer
// stays the pool's. 40 KiB is Go's size for a 34 KiB allocation.
const recordChunk = 40 << 10

// lendRecordBuffer gives crypto/tls's rawInput a pooled buffer before a
// read event's records when it has none. Loop only, crypto/tls idle.
func (t *TLSConn) lendRecordBuffer() {
	if !tlsBuf.ok || t.rec != nil {
		return
	}
	raw := tlsBuf.rawInputOf(t.tc)
	if raw.Cap() > 0 {
		return // a partial record in the buffer crypto/tls grew itself
	}
	b, ok := t.srv.recordPool.Get().(*[]byte)
	if !ok {
		s := make([]byte, 0, recordChunk)
		b = &s
	}
	t.rec = b
	*raw = *bytes.NewBuffer((*b)[:0])
}

// releaseRecordBuffers takes back what crypto/tls's record layer holds
// once it has consumed all of it: the lent rawInput goes back to the pool,
// a buffer crypto/tls grew itself (the handshake's) and hand are dropped.
// A partial record, or plain text not yet read, keeps them. After a read
// error too (crypto/tls reads no more then). Loop only, crypto/tls idle.
func (t *TLSConn) releaseRecordBuffers() {
	if !tlsBuf.ok || t.tc == nil {
		return
	}
	raw, in := tlsBuf.rawInputOf(t.tc), tlsBuf.inputOf(t.tc)
	if hand := tlsBuf.handOf(t.tc); hand.Len() == 0 && hand.Cap() > 0 {
		*hand = bytes.Buffer{}
	}
	if raw.Len() > 0 || in.Len() > 0 || raw.Cap() == 0 {
		return
	}
	*raw = bytes.Buffer{} // crypto/tls's own (the handshake's, or one it grew): dropped
	in.Reset(nil)
	if t.rec != nil { // crypto/tls no longer refers to the lent array
		t.srv.recordPool.Put(t.rec)
		t.rec = nil
	}
}

// returnRecordBuffer gives the lent rawInput back to the pool when the
// socket closed, whatever it held: crypto/tls reads no more. Loop only,
// not inside a read event (OnClose leaves it to records then).
func (t *TLSConn) returnRecordBuffer() {
	if t.rec == nil {
		return
	}
	*tlsBuf.rawInputOf(t.tc) = bytes.Buffer{}
	tlsBuf.inputOf(t.tc).Reset(nil)
	t.srv.recordPool.Put(t.rec)
	t.rec = nil
}

// RecordBufferBytes is the capacity of crypto/tls's record-layer buffers
// the connection holds (rawInput, hand, and the plain-text view input),
// -1 when this Go release's crypto/tls does not have the fields ferry
// releases. Between read events that consumed all their input it is 0.
// Loop only.
func (t *TLSConn) RecordBufferBytes() int {
	if !tlsBuf.ok {
		return -1
	}
	if t.tc == nil {
		return 0
	}
	return tlsBuf.rawInputOf(t.tc).Cap() + tlsBuf.handOf(t.tc).Cap() + int(tlsBuf.inputOf(t.tc).Size())
}
