package conn

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/filterchain"
)

// TLS termination (docs/tls.md). A listener with TLS wraps each accepted
// gnet.Conn in a TLSConn before the Conn is built over it, so that the Conn
// and its filters see plain text through the same Peek, Discard, Write and
// Writev they use on a plain socket. A connection goes through phases:
//
//   - hello: the loop buffers the ClientHello (never a worker: a client
//     that sends half of one and stalls costs its bytes and a timer);
//     anything that is not a TLS handshake record is answered (a 400 for
//     plain HTTP, an alert otherwise) and closed, or, with the inspector,
//     served as plain text;
//   - handshake: crypto/tls runs the handshake on a worker over an
//     in-memory transport that the loop feeds; the worker blocks only on
//     that transport, and the handshake timer fails it;
//   - open: the record layer runs on the loop. A read event decrypts what
//     gnet holds into a plain-text buffer for the filters; a write encrypts
//     into a scratch buffer sent with one gnet write. No goroutine is held.
//
// The filters' OnNewConnection runs when the handshake is done.

// TLSServer is one listener's TLS. Its fields are set before the engine
// starts and not changed after, except the counters.
type TLSServer struct {
	// Config is the handshake's configuration (certificates by SNI,
	// versions, ALPN, client authentication, session tickets).
	Config *tls.Config
	// Inspector serves a connection whose first byte does not open a TLS
	// handshake record as plain text (MOSN's listener inspector).
	Inspector bool
	// HandshakeTimeout bounds the time from accept to a finished
	// handshake. Zero means 10s.
	HandshakeTimeout time.Duration
	// MaxHandshakeBytes bounds what is buffered for a connection before
	// its handshake is done: the ClientHello on the loop, then the
	// client's next flight. Zero means 64 KiB, crypto/tls's own bound on
	// a handshake message.
	MaxHandshakeBytes int
	// MaxPlaintext bounds the decrypted input held for the filters: past
	// it, ciphertext stays in gnet until the filters drain (as unread
	// plain text does). Zero means 64 KiB.
	MaxPlaintext int
	// Submit runs a handshake on a worker of a bounded pool and fails at
	// once when the pool is full. Required.
	Submit func(func()) error
	// Stats counts what happened on the listener.
	Stats TLSStats

	plainPool  sync.Pool // *[]byte of tlsChunk capacity: decrypted input
	writePool  sync.Pool // *[]byte of tlsChunk capacity: ciphertext to send
	recordPool sync.Pool // *[]byte of recordChunk capacity: crypto/tls's rawInput, lent (tls_buffers.go)
}

// TLSStats are a TLS listener's counters. Any goroutine.
type TLSStats struct {
	// Handshakes counts finished handshakes; Resumed those that resumed a
	// session (a ticket).
	Handshakes, Resumed atomic.Uint64
	// HandshakeErrors counts handshakes crypto/tls failed (bad or
	// unsupported ClientHello, no shared version or cipher, a client
	// certificate that does not verify, …).
	HandshakeErrors atomic.Uint64
	// HandshakeTimeouts counts connections closed for not finishing the
	// handshake in time (half a ClientHello included).
	HandshakeTimeouts atomic.Uint64
	// Shed counts handshakes refused because the worker pool was full.
	Shed atomic.Uint64
	// NotTLS counts connections whose first bytes were neither a TLS
	// handshake nor plain HTTP (answered with an alert), or an oversized
	// ClientHello.
	NotTLS atomic.Uint64
	// PlainHTTP counts plain HTTP requests sent to the TLS port
	// (answered with a 400 saying so).
	PlainHTTP atomic.Uint64
	// PlainText counts connections the inspector served as plain text.
	PlainText atomic.Uint64
	// Renegotiations counts handshake records received after the
	// handshake (a renegotiation attempt; refused with an alert).
	Renegotiations atomic.Uint64
	// RecordErrors counts connections closed for a bad record after the
	// handshake (bad MAC, a flood of empty records, an unexpected
	// message, …), renegotiation included.
	RecordErrors atomic.Uint64
}

const (
	tlsChunk             = 16 << 10 // a full TLS record's plain text
	defaultTLSMaxBuffer  = 64 << 10
	defaultTLSHandshake  = 10 * time.Second
	recordHeaderLen      = 5
	recordTypeAlert      = 21
	recordTypeHandshake  = 22
	handshakeClientHello = 1
	maxPlaintextRecord   = 1 << 14
)

func (s *TLSServer) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return defaultTLSHandshake
}

func (s *TLSServer) maxHandshake() int {
	if s.MaxHandshakeBytes > 0 {
		return s.MaxHandshakeBytes
	}
	return defaultTLSMaxBuffer
}

func (s *TLSServer) maxPlaintext() int {
	if s.MaxPlaintext > 0 {
		return s.MaxPlaintext
	}
	return defaultTLSMaxBuffer
}

// getBuf takes a chunk from pool p.
func getBuf(p *sync.Pool) *[]byte {
	if b, ok := p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, tlsChunk)
	return &b
}

// putBuf gives b back to p unless it grew past a chunk.
func putBuf(p *sync.Pool, b *[]byte) {
	if cap(*b) != tlsChunk {
		return
	}
	*b = (*b)[:0]
	p.Put(b)
}

type tlsPhase uint8

const (
	phaseHello     tlsPhase = iota // buffering the ClientHello on the loop
	phaseHandshake                 // crypto/tls handshakes on a worker
	phaseOpen                      // the record layer runs on the loop
	phasePlain                     // the inspector chose plain text
	phaseRefused                   // not TLS: answered and closing
)

// TLSConn is the gnet.Conn that a Conn of a TLS listener reads and writes
// through: Peek and Discard see decrypted input, Write and Writev encrypt.
// Every other method is the socket's. Loop only, except where the
// handshake worker reaches its transport.
type TLSConn struct {
	gnet.Conn // the socket

	srv   *TLSServer
	c     *Conn
	phase tlsPhase
	tc    *tls.Conn
	tr    tlsTransport
	timer Timer

	// plain holds decrypted input from plainOff on, for the filters; nil
	// while empty (the chunk is back in the pool).
	plain    *[]byte
	plainOff int
	// eof is set once the client sent close_notify.
	eof bool
	// reading is set while records runs: a close then (a write that
	// failed: docs/gnet.md, "Close inside a write") must not pool the
	// buffer being read.
	reading bool
	// full is set when decryption last stopped at MaxPlaintext rather than
	// at the end of the input.
	full bool
	// fatal is set once crypto/tls sent a fatal alert after the handshake
	// (a bad record): no close_notify follows it.
	fatal bool
	alpn  string
	vers  uint16
	// dial is set on a connection a TLSDialer opened (tls_client.go): the
	// client side, whose handshake ends in its DialHandler.
	dial *tlsDial
	// rec is the pooled buffer lent to crypto/tls's rawInput for the
	// records being read, nil while none is (tls_buffers.go).
	rec *[]byte
}

// NewTLS wraps gc, accepted on a listener with TLS srv. The Conn built over
// the result is given to Start in place of Conn.Open. Loop only.
func NewTLS(gc gnet.Conn, srv *TLSServer) *TLSConn {
	t := &TLSConn{Conn: gc, srv: srv}
	t.tr.t = t
	t.tr.cond.L = &t.tr.mu
	return t
}

// TLS returns the connection's TLS layer, nil for a plain socket. Loop only.
func (c *Conn) TLS() *TLSConn {
	t, _ := c.gc.(*TLSConn)
	return t
}

// Start arms the handshake timer of c, built over t. The filters'
// OnNewConnection waits for the handshake. Loop only.
func (t *TLSConn) Start(c *Conn) {
	t.c = c
	t.timer.Init(t)
	c.loop.Schedule(&t.timer, t.srv.handshakeTimeout())
}

// ALPN is the protocol the handshake chose: "" if none, or on a plain
// connection (t nil, as Conn.TLS returns for one). Loop only.
func (t *TLSConn) ALPN() string {
	if t == nil {
		return ""
	}
	return t.alpn
}

// Version is the negotiated TLS version (tls.VersionTLS12, …), zero
// before the handshake is done or for a plain-text connection. Loop only.
func (t *TLSConn) Version() uint16 { return t.vers }

// Encrypted reports whether the connection finished a TLS handshake.
// Loop only.
func (t *TLSConn) Encrypted() bool { return t.phase == phaseOpen }

// OnTimer implements TimerHandler: the handshake did not finish in time.
func (t *TLSConn) OnTimer(*Timer) {
	if t.phase != phaseHello && t.phase != phaseHandshake {
		return
	}
	t.srv.Stats.HandshakeTimeouts.Add(1)
	if t.dial != nil {
		t.dialTimedOut()
		return
	}
	t.tr.fail(errHandshakeTimeout)
	t.c.Close(filterchain.CloseNow)
}

// errHandshakeTimeout fails the handshake's transport when the timer fires.
var errHandshakeTimeout = errors.New("conn: TLS handshake timed out")

// errConnClosed fails the handshake's transport when the socket closes.
var errConnClosed = errors.New("conn: connection closed during the TLS handshake")

// closeNotify writes the close_notify alert (RFC 8446, 6.1) of a graceful
// close to the socket, from Conn.Close before its flush starts, so that
// the flush covers it (gnet drops unsent bytes on close: docs/gnet.md).
// The peer then reads a clean end of the stream rather than a truncation,
// and OpenSSL keeps the session resumable: it drops the session of a
// connection that ended without one (docs/tls.md, "Closing"). Only a
// connection whose handshake is done sends it, once (crypto/tls keeps
// count), and none after a fatal alert; an abort (CloseNow) sends none.
// A failed write closes the socket inside the call (docs/gnet.md, "Close
// inside a write"). Loop only.
func (t *TLSConn) closeNotify() {
	if t.phase != phaseOpen || t.fatal {
		return
	}
	_ = t.tc.CloseWrite() // the record goes straight to gnet: no write is in progress
}

// OnClose releases what the TLS layer holds: the timer, a waiting
// handshake worker, the plain-text buffer. Called by the event handler
// when gnet closes the socket. Loop only.
func (t *TLSConn) OnClose() {
	if t.c != nil {
		t.c.loop.Stop(&t.timer)
	}
	t.tr.fail(errConnClosed)
	if !t.reading {
		t.releasePlain()
		t.returnRecordBuffer()
	}
	if t.dial != nil {
		t.dialClosed()
	}
}

// OnTraffic handles a read event of a TLS listener's connection: the
// handshake, or decryption before the filters. Loop only.
func (t *TLSConn) OnTraffic() gnet.Action {
	c := t.c
	if c.state != stateOpen {
		// Input is no longer wanted (flushing or lingering), or the
		// socket is closing: drop it, plain and cipher, as a plain
		// Conn drops gnet's.
		t.releasePlain()
		_, _ = t.Conn.Discard(-1)
		return c.OnTraffic()
	}
	switch t.phase {
	case phaseHello:
		return t.hello()
	case phaseHandshake:
		return t.handshaking()
	case phaseOpen:
		return t.records()
	case phasePlain:
		return c.OnTraffic()
	default:
		_, _ = t.Conn.Discard(-1)
		return gnet.None
	}
}

// hello buffers the ClientHello, or answers what is not one.
func (t *TLSConn) hello() gnet.Action {
	data, _ := t.Conn.Peek(-1)
	if len(data) == 0 {
		return gnet.None
	}
	if data[0] != recordTypeHandshake {
		if t.srv.Inspector {
			return t.servePlain()
		}
		return t.refuse(data)
	}
	switch clientHello(data, t.srv.maxHandshake()) {
	case helloPartial:
		return gnet.None
	case helloBad:
		t.srv.Stats.NotTLS.Add(1)
		t.alertAndClose(alertDecodeError)
		return gnet.None
	}
	// The whole ClientHello is here: hand it, and whatever followed it
	// within the bound, to the handshake.
	n := min(len(data), t.srv.maxHandshake())
	t.tr.in = append(t.tr.in, data[:n]...)
	_, _ = t.Conn.Discard(n)
	t.tr.hs = true
	t.tc = tls.Server(&t.tr, t.srv.Config)
	t.phase = phaseHandshake
	if err := t.srv.Submit(t.handshake); err != nil {
		t.srv.Stats.Shed.Add(1)
		t.phase = phaseRefused
		t.tr.fail(err)
		t.c.Close(filterchain.CloseNow)
	}
	return gnet.None
}

// servePlain hands the connection to the filters unencrypted (inspector).
func (t *TLSConn) servePlain() gnet.Action {
	t.srv.Stats.PlainText.Add(1)
	t.phase = phasePlain
	t.c.loop.Stop(&t.timer)
	if t.c.Open() == gnet.Close {
		return gnet.Close
	}
	return t.c.OnTraffic()
}

// plainHTTPReply is nginx's answer to plain HTTP on a TLS port, in words.
const plainHTTPReply = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 52\r\nConnection: close\r\n\r\n" +
	"400 Bad Request: plain HTTP was sent to a TLS port\r\n"

// refuse answers a first byte that opens no TLS handshake: plain HTTP gets
// a 400 that says so, anything else an alert. Both close.
func (t *TLSConn) refuse(data []byte) gnet.Action {
	switch looksLikeHTTP(data) {
	case httpMaybe:
		return gnet.None // wait for the method's end
	case httpYes:
		t.srv.Stats.PlainHTTP.Add(1)
		t.phase = phaseRefused
		t.c.loop.Stop(&t.timer)
		_, _ = t.Conn.Discard(-1)
		if _, err := t.Conn.Write([]byte(plainHTTPReply)); err != nil {
			return gnet.None // gnet closed the socket
		}
		t.c.Close(filterchain.CloseLinger)
		return gnet.None
	}
	t.srv.Stats.NotTLS.Add(1)
	t.alertAndClose(alertDecodeError)
	return gnet.None
}

// alertDecodeError is the alert ferry sends itself to what is no TLS
// handshake, before crypto/tls has a say.
const alertDecodeError = 50

// alertAndClose sends a fatal alert in a plain-text record and closes
// after it is written.
func (t *TLSConn) alertAndClose(desc byte) {
	t.phase = phaseRefused
	t.c.loop.Stop(&t.timer)
	_, _ = t.Conn.Discard(-1)
	rec := [7]byte{recordTypeAlert, 3, 1, 0, 2, 2, desc}
	if _, err := t.Conn.Write(rec[:]); err != nil {
		return
	}
	t.c.Close(filterchain.CloseFlush)
}

// handshake runs on a worker: crypto/tls over the transport the loop
// feeds. It ends by waking the loop, which reads the outcome.
func (t *TLSConn) handshake() {
	t.tr.mu.Lock()
	gone := t.tr.err // closed or timed out while the task waited in the queue
	t.tr.mu.Unlock()
	err := gone
	if gone == nil {
		err = t.tc.Handshake()
	}
	t.tr.mu.Lock()
	t.tr.done = true
	t.tr.hsErr = err
	t.handshakeEnded()
	t.tr.mu.Unlock()
	_ = t.Conn.Wake(nil) // a no-op once the socket is closed
}

// handshaking moves input to the handshake, sends what it wrote, and
// takes over on the loop once it is done.
func (t *TLSConn) handshaking() gnet.Action {
	tr := &t.tr
	tr.mu.Lock()
	out := tr.out
	tr.out = nil
	done, hsErr := tr.done, tr.hsErr
	if !done {
		tr.more = false
		if room := t.srv.maxHandshake() - len(tr.in); room > 0 {
			data, _ := t.Conn.Peek(-1)
			n := min(len(data), room)
			if n > 0 {
				tr.in = append(tr.in, data[:n]...)
				_, _ = t.Conn.Discard(n)
				tr.cond.Signal()
			}
		}
		tr.more = t.Conn.InboundBuffered() > 0
	}
	tr.mu.Unlock()
	if len(out) > 0 {
		if _, err := t.Conn.Write(out); err != nil {
			return gnet.None
		}
	}
	if !done {
		return gnet.None
	}
	t.c.loop.Stop(&t.timer)
	if hsErr != nil && t.dial != nil {
		t.dialHandshakeFailed(hsErr)
		return gnet.None
	}
	if hsErr != nil {
		t.srv.Stats.HandshakeErrors.Add(1)
		t.phase = phaseRefused
		t.c.Close(filterchain.CloseFlush) // after the alert crypto/tls wrote
		return gnet.None
	}
	// The handshake is done: the record layer moves to the loop. What the
	// client sent after its Finished is still in tr.in.
	tr.hs = false
	if len(tr.in) == 0 {
		tr.in = nil // drained, but its array (the ClientHello's copy) would stay
	}
	t.releaseRecordBuffers() // the handshake's: they hold nothing now
	st := t.tc.ConnectionState()
	t.alpn, t.vers = st.NegotiatedProtocol, st.Version
	t.srv.Stats.Handshakes.Add(1)
	if st.DidResume {
		t.srv.Stats.Resumed.Add(1)
	}
	t.phase = phaseOpen
	var a gnet.Action
	if t.dial != nil {
		a = t.dialDone() // the client side: the dialler takes the connection
	} else {
		a = t.c.Open()
	}
	if a == gnet.Close {
		return gnet.Close
	}
	return t.records()
}

// records decrypts what gnet holds and hands the plain text to the
// filters. Decryption stopped at MaxPlaintext may leave whole records in
// crypto/tls (it reads ahead) or gnet with no read event to come for them,
// so as long as the bound stopped it and the filters drain, it goes on.
func (t *TLSConn) records() gnet.Action {
	// A write that fails closes the socket re-entrantly (docs/gnet.md), inside
	// crypto/tls (an alert, a KeyUpdate answer) or inside the filters:
	// OnClose then leaves the plain-text buffer to this function.
	t.reading = true
	defer func() {
		t.reading = false
		if t.c.state == stateClosed {
			t.releasePlain()
			t.returnRecordBuffer()
		}
	}()
	for {
		err := t.decrypt()
		drained := false
		if t.plain != nil && len(*t.plain) > t.plainOff {
			before := len(*t.plain) - t.plainOff
			a := t.c.OnTraffic()
			left := len(*t.plain) - t.plainOff
			drained = left < before
			if left == 0 {
				t.releasePlain()
			}
			if a == gnet.Close {
				return a
			}
		}
		switch {
		case err == nil:
		case t.eof:
			t.c.Close(filterchain.CloseFlush) // close_notify: as a FIN would
			return gnet.None
		default:
			// crypto/tls answered with an alert, sent once the close
			// flushes. A renegotiation starts with a ClientHello, which it
			// refuses by the message's type (TLS 1.2 and 1.3 alike).
			if strings.Contains(err.Error(), "clientHelloMsg") {
				t.srv.Stats.Renegotiations.Add(1)
			}
			t.srv.Stats.RecordErrors.Add(1)
			t.fatal = true
			t.c.Close(filterchain.CloseFlush)
			return gnet.None
		}
		// Filters that drained nothing wait for something else and ask
		// for the rest with ContinueReading (the plain text they hold
		// counts in InboundBuffered).
		if !t.full || !drained || t.c.state != stateOpen {
			return gnet.None
		}
	}
}

// decrypt runs crypto/tls's record layer over gnet's input until it needs
// more, or the plain text reaches its bound. It returns the error that
// ends the connection (io.EOF after close_notify), nil otherwise.
func (t *TLSConn) decrypt() error {
	if t.eof {
		return nil
	}
	data, _ := t.Conn.Peek(-1)
	tr := &t.tr
	tr.src, tr.used = data, 0
	var err error
	t.full = false
	limit := t.srv.maxPlaintext()
	t.lendRecordBuffer()
	for {
		if t.plain == nil {
			t.plain = getBuf(&t.srv.plainPool)
			t.plainOff = 0
		}
		p := *t.plain
		if len(p)-t.plainOff >= limit {
			t.full = true
			break
		}
		if cap(p)-len(p) < 1024 {
			p = t.growPlain()
		}
		n, e := t.tc.Read(p[len(p):cap(p)])
		*t.plain = p[:len(p)+n]
		if e != nil {
			if !isWouldBlock(e) {
				err = e
				t.eof = errors.Is(e, io.EOF)
			}
			break
		}
	}
	if tr.used > 0 {
		_, _ = t.Conn.Discard(tr.used)
	}
	tr.src, tr.used = nil, 0
	t.releaseRecordBuffers()
	return err
}

// growPlain makes room in the plain-text buffer: drained bytes first, then
// a bigger array (the bound keeps it below MaxPlaintext plus a record).
func (t *TLSConn) growPlain() []byte {
	p := *t.plain
	if t.plainOff > 0 {
		n := copy(p, p[t.plainOff:])
		p = p[:n]
		t.plainOff = 0
		if cap(p)-len(p) >= 1024 {
			*t.plain = p
			return p
		}
	}
	np := make([]byte, len(p), 2*cap(p)+tlsChunk)
	copy(np, p)
	putBuf(&t.srv.plainPool, t.plain)
	t.plain = &np
	return np
}

func (t *TLSConn) releasePlain() {
	if t.plain != nil {
		putBuf(&t.srv.plainPool, t.plain)
		t.plain = nil
		t.plainOff = 0
	}
}

// Peek implements gnet.Conn over the decrypted input.
func (t *TLSConn) Peek(n int) ([]byte, error) {
	if t.phase == phasePlain {
		return t.Conn.Peek(n)
	}
	if t.plain == nil {
		return nil, nil
	}
	p := (*t.plain)[t.plainOff:]
	if n >= 0 && n < len(p) {
		p = p[:n]
	}
	return p, nil
}

// Discard implements gnet.Conn over the decrypted input.
func (t *TLSConn) Discard(n int) (int, error) {
	if t.phase == phasePlain {
		return t.Conn.Discard(n)
	}
	if t.plain == nil {
		return 0, nil
	}
	avail := len(*t.plain) - t.plainOff
	if n < 0 || n >= avail {
		t.plainOff = len(*t.plain)
		return avail, nil
	}
	t.plainOff += n
	return n, nil
}

// InboundBuffered implements gnet.Conn: the plain text not yet drained and
// the ciphertext not yet decrypted.
func (t *TLSConn) InboundBuffered() int {
	if t.phase == phasePlain {
		return t.Conn.InboundBuffered()
	}
	n := t.Conn.InboundBuffered()
	if t.plain != nil {
		n += len(*t.plain) - t.plainOff
	}
	return n
}

// Write implements gnet.Conn: p is sent in TLS records with one socket
// write.
func (t *TLSConn) Write(p []byte) (int, error) {
	switch t.phase {
	case phasePlain:
		return t.Conn.Write(p)
	case phaseOpen:
	default:
		return 0, ErrClosed
	}
	t.tr.beginWrite(&t.srv.writePool)
	_, err := t.tc.Write(p)
	return len(p), t.tr.endWrite(&t.srv.writePool, err)
}

// Writev implements gnet.Conn: small pieces are sealed into one record,
// and the records go out with one socket write.
func (t *TLSConn) Writev(bs [][]byte) (int, error) {
	switch t.phase {
	case phasePlain:
		return t.Conn.Writev(bs)
	case phaseOpen:
	default:
		return 0, ErrClosed
	}
	total := 0
	for _, b := range bs {
		total += len(b)
	}
	t.tr.beginWrite(&t.srv.writePool)
	var err error
	if len(bs) > 1 && total <= tlsChunk {
		joined := getBuf(&t.srv.plainPool)
		j := *joined
		for _, b := range bs {
			j = append(j, b...)
		}
		_, err = t.tc.Write(j)
		*joined = j
		putBuf(&t.srv.plainPool, joined)
	} else {
		for _, b := range bs {
			if _, err = t.tc.Write(b); err != nil {
				break
			}
		}
	}
	return total, t.tr.endWrite(&t.srv.writePool, err)
}

// tlsTransport is the net.Conn under crypto/tls. During the handshake
// (hs) it is shared with the worker: the loop appends input to in and
// sends out; afterwards it is the loop's alone, reading the input of the
// read event in progress (src) and collecting records in wbuf.
type tlsTransport struct {
	t *TLSConn

	mu    sync.Mutex
	cond  sync.Cond
	hs    bool
	in    []byte // input not yet read by crypto/tls (handshake; leftovers after)
	out   []byte // handshake output for the loop to send
	err   error  // why the loop gave up on the handshake
	done  bool   // the handshake returned
	hsErr error  // what it returned
	more  bool   // input waits in gnet for room in in

	// Loop mode.
	src  []byte  // the socket's input of this read event
	used int     // how much of src crypto/tls took
	wbuf *[]byte // records of the write in progress, nil between writes
}

// wouldBlock is the transport's "no more input now": a temporary
// net.Error, which crypto/tls's record layer returns without recording it
// as the connection's error (docs/tls.md, "Go's crypto/tls on the loop").
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "conn: TLS input exhausted" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

func isWouldBlock(err error) bool {
	_, ok := err.(wouldBlock) // crypto/tls returns the transport's error as is
	return ok
}

// fail ends a waiting handshake with err. Any goroutine.
func (tr *tlsTransport) fail(err error) {
	tr.mu.Lock()
	if tr.err == nil {
		tr.err = err
	}
	tr.cond.Broadcast()
	tr.mu.Unlock()
}

// Read implements net.Conn for crypto/tls.
func (tr *tlsTransport) Read(p []byte) (int, error) {
	if !tr.hs {
		if len(tr.in) > 0 { // sent after the client's Finished
			n := copy(p, tr.in)
			tr.in = tr.in[n:]
			if len(tr.in) == 0 {
				tr.in = nil
			}
			return n, nil
		}
		rest := tr.src[tr.used:]
		if len(rest) == 0 {
			return 0, wouldBlock{}
		}
		n := copy(p, rest)
		tr.used += n
		return n, nil
	}
	tr.mu.Lock()
	for len(tr.in) == 0 && tr.err == nil {
		tr.cond.Wait()
	}
	if len(tr.in) == 0 {
		err := tr.err
		tr.mu.Unlock()
		return 0, err
	}
	n := copy(p, tr.in)
	tr.in = tr.in[n:]
	wake := tr.more
	tr.more = false
	tr.mu.Unlock()
	if wake {
		_ = tr.t.Conn.Wake(nil) // input waits in gnet: have the loop move it
	}
	return n, nil
}

// Write implements net.Conn for crypto/tls.
func (tr *tlsTransport) Write(p []byte) (int, error) {
	if tr.hs {
		tr.mu.Lock()
		tr.out = append(tr.out, p...)
		tr.mu.Unlock()
		_ = tr.t.Conn.Wake(nil) // the loop sends it
		return len(p), nil
	}
	if tr.wbuf == nil { // an alert or a KeyUpdate answer, while reading
		return tr.t.Conn.Write(p)
	}
	b := *tr.wbuf
	if len(b) > 0 && len(b)+len(p) > defaultTLSMaxBuffer {
		if _, err := tr.t.Conn.Write(b); err != nil {
			return 0, err
		}
		b = b[:0]
	}
	*tr.wbuf = append(b, p...)
	return len(p), nil
}

func (tr *tlsTransport) beginWrite(pool *sync.Pool) { tr.wbuf = getBuf(pool) }

// endWrite sends the records of the write and returns err, or the
// socket's error.
func (tr *tlsTransport) endWrite(pool *sync.Pool, err error) error {
	b := tr.wbuf
	tr.wbuf = nil
	if len(*b) > 0 {
		if _, werr := tr.t.Conn.Write(*b); werr != nil && err == nil {
			err = werr
		}
	}
	putBuf(pool, b)
	return err
}

// Close implements net.Conn; the socket is the Conn's to close.
func (tr *tlsTransport) Close() error { return nil }

// LocalAddr implements net.Conn.
func (tr *tlsTransport) LocalAddr() net.Addr { return tr.t.Conn.LocalAddr() }

// RemoteAddr implements net.Conn.
func (tr *tlsTransport) RemoteAddr() net.Addr { return tr.t.Conn.RemoteAddr() }

// SetDeadline implements net.Conn; the handshake timer is the deadline.
func (tr *tlsTransport) SetDeadline(time.Time) error { return nil }

// SetReadDeadline implements net.Conn.
func (tr *tlsTransport) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.Conn.
func (tr *tlsTransport) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*tlsTransport)(nil)

// helloStatus is what the bytes buffered so far say about a ClientHello.
type helloStatus uint8

const (
	helloPartial helloStatus = iota // a prefix of a ClientHello so far
	helloDone                       // a whole ClientHello
	helloBad                        // not a ClientHello, or too big
)

// clientHello walks the handshake records at the start of data and says
// whether they hold a whole ClientHello. The message may span records;
// a message longer than limit, or more than limit bytes of records that
// do not finish one, is refused.
func clientHello(data []byte, limit int) helloStatus {
	var hdr [4]byte // the handshake message's header
	got := 0        // payload bytes seen
	need := -1      // the message's length with its header, once known
	off := 0
	for len(data)-off >= recordHeaderLen {
		h := data[off : off+recordHeaderLen]
		n := int(h[3])<<8 | int(h[4])
		if h[0] != recordTypeHandshake || h[1] != 3 || n == 0 || n > maxPlaintextRecord {
			return helloBad
		}
		body := data[off+recordHeaderLen : min(len(data), off+recordHeaderLen+n)]
		for i := 0; got+i < len(hdr) && i < len(body); i++ {
			hdr[got+i] = body[i]
		}
		got += len(body)
		if need < 0 && got >= len(hdr) {
			if hdr[0] != handshakeClientHello {
				return helloBad
			}
			need = len(hdr) + (int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3]))
			if need > limit {
				return helloBad
			}
		}
		if len(body) < n {
			break // the rest of the record is still on its way
		}
		off += recordHeaderLen + n
		if need >= 0 && got >= need {
			return helloDone
		}
	}
	if len(data) > limit+256 { // tiny records that never finish a hello
		return helloBad
	}
	return helloPartial
}

// httpGuess is whether input starts like an HTTP request line.
type httpGuess uint8

const (
	httpNo httpGuess = iota
	httpYes
	httpMaybe
)

// looksLikeHTTP reports whether data opens with an HTTP method and a
// space: an upper-case token of at most 16 letters.
func looksLikeHTTP(data []byte) httpGuess {
	for i, b := range data {
		switch {
		case b == ' ' && i > 0:
			return httpYes
		case b < 'A' || b > 'Z' || i >= 16:
			return httpNo
		}
	}
	return httpMaybe
}
