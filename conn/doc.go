// Package conn is ferry's connection over a gnet.Conn, for downstream and
// upstream sockets alike, and the per-loop state those connections share.
//
// It closes the gaps gnet leaves (docs/gnet.md lists each, with the test
// that pins the workaround):
//
//   - Read ownership: a read event peeks gnet's input once, hands it to the
//     network filter Manager as a filterchain.Buffer, and discards exactly
//     what the filters drained. Unconsumed bytes stay in gnet for the next
//     event; the filters bound how much they leave there (gnet cannot pause
//     reading).
//   - Write guard: every write checks the connection's state first, so a
//     connection closed (or closing) never writes again, and a stale pointer
//     can never reach whoever reuses the fd.
//   - Write watermarks: gnet has no high-water mark. After a write whose
//     outbound queue passes the high watermark, the connection tells its
//     WatermarkListener and joins its loop's watch list; the loop sweep
//     reports when it drains below the low watermark. Bytes gnet could not
//     write at once are counted against the process-wide backlog budget
//     (internal/backlog) until the sweep sees them drained; once the budget
//     is used up, every connection is full above its low watermark, so
//     that new backlog goes to the writers' spill files.
//   - Close after flush: CloseFlush and CloseLinger keep the socket open
//     until queued bytes are written (gnet drops them on close), bounded
//     by a timeout; CloseLinger then half-closes and discards input for a
//     while, so that a reply sent before the request was read in full is not
//     destroyed by a reset.
//   - Timers: each Loop has a timing wheel driving idle, header, body and
//     upstream timeouts with no goroutine or runtime timer per connection
//     (gnet has no deadlines).
//   - A connection budget (Tracker) keeps ferry's sockets below the process
//     fd limit: accept failing with EMFILE stops a gnet engine for good.
//   - TLS (tls.go, docs/tls.md): gnet has none. On a TLS listener a
//     TLSConn wraps the gnet.Conn under the Conn, so Peek and Discard see
//     decrypted input and Write/Writev seal records: the ClientHello is
//     buffered on the loop, crypto/tls handshakes on a worker over an
//     in-memory transport the loop feeds, and the record layer then runs on
//     the loop with no goroutine; a graceful close (CloseFlush,
//     CloseLinger) queues a close_notify alert before the flush, an abort
//     none. CertReloader (tls_certs.go) swaps
//     certificates whose files changed, FileWatch loads a cluster's files
//     again for TLSDialer.SetConfig. TLSDialer (tls_client.go) is the
//     client side, for upstreams: the same TLSConn over a dialled socket,
//     whose handshake ends in the DialHandler (OnDialed, or OnDialFailed
//     with the reason once the socket is closed); the negotiated ALPN is
//     Conn.TLS().ALPN(). Its H2Dialer offers h2 alone and hands over only
//     a connection whose host chose it (HTTP/2 upstreams over TLS).
//   - Dialling: a Dialer opens an upstream connection on a given loop and
//     delivers it, or the failure, on that loop (dial.go), so the layers
//     above never touch gnet. TCPDialer connects on a worker with a timeout
//     (gnet's Register has none) and enrolls the socket into the loop; the
//     worker, never a loop, waits for the enroll, which runs on the loop.
//     Quiesce waits for dials in flight, because gnet's Enroll strands its
//     goroutine if the engine stops first.
//   - Detached loops and connections (detached.go) have no engine behind
//     them: tests of the layers above play the loop with RunDetached.
//
// Goroutines: a Conn and its Loop belong to one gnet event loop. Methods are
// Loop only unless their doc says otherwise. Two ways in from other
// goroutines: Loop.Execute queues a function for the loop, and
// Conn.ResumeReading queues a gnet Wake, after which the loop runs a read
// event over whatever input gnet holds for the connection (possibly none),
// in order with the functions queued by Execute; the filters then resume
// where filterchain's ContinueReading left them. A Wake for a socket gnet
// has closed does nothing.
//
// Imports: filterchain, internal/backlog, internal/metrics (the loop's
// counters, counters.go) and gnet. It must not import eventloop, proxy,
// router or upstream.
package conn
