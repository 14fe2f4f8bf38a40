// Package http2 is the server side of an HTTP/2 connection (RFC 9113, with
// HPACK, RFC 7541, from golang.org/x/net/http2/hpack) as a pure,
// non-blocking, bytes-in / bytes-out state machine for ferry's event loop.
//
// # Ownership and goroutines
//
// A Conn belongs to one connection and to the goroutine (the gnet loop)
// that drives it. It starts no goroutines, takes no locks, never blocks
// and never reads a clock: everything the peer can make it do is bounded
// by counts (see Limits), and timeouts (idle connections, a SETTINGS ACK
// that never comes, a request that never completes) are the caller's.
//
// # Driving a Conn
//
//	c := http2.NewConn(handler, opts) // queues the server preface
//	write(c.Out()); c.ResetOut()
//	for each read:
//		n, err := c.Feed(buf)          // callbacks run in here
//		keep buf[n:] for the next read  // a partial frame
//		write(c.Out()); c.ResetOut()
//		if err != nil || c.Closed() { close }
//
// Feed first consumes the 24-byte client preface, then only whole frames:
// an incomplete frame is left to the caller, who feeds it again with more
// bytes appended, so the caller must be able to hold MaxFrameSize+9 bytes.
// A frame header announcing more than MaxFrameSize is refused before its
// payload arrives. Handler callbacks are made from inside Feed; they may
// call every write method, Consumed, Reset and GoAway, but not Feed.
//
// Out is a gather list for writev. Frame headers, control frames and header
// blocks are copied into fixed-capacity 4 KiB chunks that are never grown
// or moved, so slices handed out stay valid until ResetOut; DATA payloads
// passed to WriteData are referenced, not copied (the caller keeps them
// unchanged until ResetOut). After a connection error Feed returns a
// *ConnError naming the ErrCode and the reason, a GOAWAY is already in
// Out, and every later Feed returns the same error.
//
// # Streams (RFC 9113 5.1)
//
// Only client-initiated (odd) streams exist; the server never pushes. A
// HEADERS frame on an id above every id seen opens the stream (idle →
// open, or straight to half-closed (remote) with END_STREAM); ids must
// increase. The request is reported by OnRequest once the header block is
// complete and valid. END_STREAM from the client makes the stream
// half-closed (remote). Our END_STREAM (WriteData, WriteHeaders or
// WriteTrailers with endStream) closes it; if the request was not
// complete yet, the codec also sends RST_STREAM(NO_ERROR) as RFC 9113 8.1
// allows for a response sent before the whole request, so a stream never
// lingers in half-closed (local). A reset either way closes it too. A
// closed stream is forgotten at once: the Conn tracks only open and
// half-closed streams, at most MaxConcurrentStreams of them.
//
// Frames on streams that are not open are handled as follows:
//
//   - idle (an id above the highest seen, or any even id): DATA,
//     WINDOW_UPDATE and RST_STREAM are a connection error PROTOCOL_ERROR;
//     PRIORITY is accepted.
//   - reset by us (Reset, a stream error, a refusal, an early response):
//     the last 64 such ids are remembered and frames the peer sent before
//     it saw the RST_STREAM are discarded. DATA still counts against the
//     connection window (and is returned at once), HEADERS is still
//     HPACK-decoded to keep the decoder in sync.
//   - otherwise closed: WINDOW_UPDATE, RST_STREAM and PRIORITY are ignored
//     (they may cross our END_STREAM); DATA is a stream error
//     STREAM_CLOSED; HEADERS is a connection error PROTOCOL_ERROR.
//   - half-closed (remote): DATA or HEADERS is a stream error
//     STREAM_CLOSED.
//
// A stream error queues RST_STREAM and, if the handler knew the stream,
// calls OnReset with the code; no callback follows for that id. The
// caller's own Reset has no callback.
//
// # Header blocks and requests
//
// HEADERS and its CONTINUATION frames are decoded fragment by fragment as
// they arrive, so the encoded block is never buffered; any other frame in
// between, or a CONTINUATION for another stream, is a connection error
// PROTOCOL_ERROR. Every block is decoded, also those of refused or
// discarded streams, because HPACK state is shared by the connection. HPACK
// errors, including a single string longer than MaxHeaderListSize, are a
// connection error COMPRESSION_ERROR.
//
// A request is malformed (RFC 9113 8.1.1: stream error PROTOCOL_ERROR, no
// callback) when: a pseudo-header is missing, repeated, unknown (also
// :status, and :protocol unless Options.EnableConnectProtocol) or follows
// a regular field; a name is not a lowercase token; a value holds NUL, CR,
// LF, another control byte but HTAB, or DEL, or starts or ends with SP or
// HTAB; a connection-specific field is present (connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade); te is other than
// "trailers"; :method is not a token; :scheme is not a scheme; :path is
// empty, holds anything but visible ASCII, is "*" for a method other than
// OPTIONS or, for http and https, does not start with "/"; :authority (or
// host) has characters outside the authority grammar, is empty or carries
// userinfo for http and https; there are several host fields, or host and
// :authority disagree; content-length is not a number or repeated with
// different values; END_STREAM comes with a non-zero content-length.
// CONNECT (RFC 9113 8.5) must carry only :method and :authority and is
// delivered with empty Scheme and Path: the caller tunnels or refuses it.
// With Options.EnableConnectProtocol the server preface advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441 3) and an extended CONNECT
// is accepted: :protocol (a token) on a CONNECT that also carries :scheme,
// :path and a non-empty :authority, all checked as for any request, and
// delivered in Request.Protocol (RFC 8441 4). :protocol on any other
// method, or without those, stays malformed.
// The DATA received is checked against content-length (a mismatch is a
// stream error PROTOCOL_ERROR). Trailers must end the stream and hold no
// pseudo-header, invalid field or connection-specific field.
//
// Request headers larger than MaxHeaderListSize (decoded size, RFC 9113
// 6.5.2) are not delivered: decoding goes on without storing fields, and
// OnRequestError(id, 431) lets the caller answer 431; the body of that
// stream is discarded by the codec. Larger trailers reset the stream
// (PROTOCOL_ERROR, as malformed).
//
// Responses: WriteHeaders HPACK-encodes :status and the fields, lowercases
// names, drops pseudo-headers, connection-specific fields and values with
// NUL, CR or LF, and splits the block into HEADERS and CONTINUATION frames
// by the peer's SETTINGS_MAX_FRAME_SIZE. Removing hop-by-hop fields named
// by a Connection header is the caller's job. The peer's
// SETTINGS_HEADER_TABLE_SIZE bounds our encoder's table (never above 4096).
//
// # Flow control (RFC 9113 5.2, 6.9)
//
// Receiving: the server preface advertises InitialWindowSize per stream
// and raises the connection window to ConnWindowSize. Every DATA frame
// (padding included) counts against both; more than the window is a
// stream (or connection) error FLOW_CONTROL_ERROR. The handler returns
// delivered bytes with Consumed once it forwarded them; a WINDOW_UPDATE is
// sent for a window once at least half of it is owed, not per frame.
// Bytes the handler never sees (padding, discarded DATA) are returned by
// the codec itself, and so is the unconsumed share of a stream that
// closes, so Consumed for a closed stream is a no-op and the connection
// window cannot leak. No stream WINDOW_UPDATE is sent once the request
// body is complete. ConnWindowSize is thus the bound on request bytes the
// proxy may have to hold for a connection. Until the peer acknowledges
// our SETTINGS, a stream window smaller than 65535 is enforced leniently
// (the peer may still assume the default).
//
// Sending: WriteData writes what the stream's and the connection's windows
// allow and returns the count; the caller holds the rest. OnWindow(id) is
// called when a window on which a WriteData was cut short grows above zero
// (WINDOW_UPDATE, or a larger SETTINGS_INITIAL_WINDOW_SIZE); OnWindow(0)
// for the connection window, after which the caller retries all its held
// streams. A change of SETTINGS_INITIAL_WINDOW_SIZE adjusts every open
// stream's window by the difference, which may go negative; a window
// above 2^31-1 is a FLOW_CONTROL_ERROR (stream error from WINDOW_UPDATE on
// a stream, connection error otherwise). SendWindow tells how much a
// stream could send now.
//
// # Limits and the attacks they stop
//
// All defaults are in the Default* constants; a zero Options field takes
// its default.
//
//   - MaxConcurrentStreams (100): advertised; extra HEADERS get
//     RST_STREAM(REFUSED_STREAM). Bounds tracked streams and their state.
//   - MaxFrameSize (16384): advertised; a larger frame is a connection error
//     FRAME_SIZE_ERROR as soon as its header arrives, bounding the caller's
//     input buffer.
//   - MaxHeaderListSize (64 KiB): advertised; bounds decoded header bytes
//     kept per block (431 beyond) and each HPACK string (HPACK bombs).
//   - HeaderTableSize (4096): advertised; bounds the decoder's dynamic
//     table.
//   - MaxHeaderBlockBytes (2*MaxHeaderListSize): encoded bytes of one
//     header block before END_HEADERS; more is a connection error
//     ENHANCE_YOUR_CALM. Stops the CONTINUATION flood (CVE-2024-27316 and
//     kin), where a block never ends and costs CPU forever.
//   - MaxResetsPerWindow (200) within ResetWindow (1000) new streams: more
//     streams ended early by the peer's RST_STREAM, by refusal or by a
//     stream error the codec found is a connection error
//     ENHANCE_YOUR_CALM. Stops rapid reset (CVE-2023-44487), where a peer
//     opens and cancels streams to make the proxy start upstream work
//     without any concurrency limit applying; also malformed-request and
//     refused-stream floods.
//   - MaxEmptyFramesPerWindow (100) within EmptyFrameWindow (1000) frames:
//     DATA without payload and END_STREAM, HEADERS/CONTINUATION with an
//     empty fragment and no END_HEADERS; one more is ENHANCE_YOUR_CALM.
//     Stops empty-frame floods (CVE-2019-9518).
//   - MaxControlBytes (64 KiB): the frames queued in reply to the peer
//     (PING and SETTINGS ACKs, RST_STREAM for refused or broken streams)
//     between two ResetOut calls; more is ENHANCE_YOUR_CALM. Stops ping,
//     settings and reset floods from a peer that does not read
//     (CVE-2019-9512, -9515, -9514), so Out cannot grow without bound. It
//     works only if ResetOut means "written": a caller whose transport
//     buffers what the socket refuses must bound that backlog itself.
//   - WINDOW_UPDATE overflow above 2^31-1 is FLOW_CONTROL_ERROR; a peer
//     exceeding our receive windows is FLOW_CONTROL_ERROR.
//   - Memory kept per idle connection is small: no output chunk (they come
//     from gopkg's mcache and go back at ResetOut), the HPACK tables (up
//     to 4 KiB each), an intern table for response field strings that
//     grows with use up to 128 entries of 128 bytes at most; buffers a
//     large header block grew are dropped after it. Through the proxy an
//     idle HTTP/2 connection costs about 4 KiB of RSS (docs/performance.md,
//     "An idle HTTP/2 connection costs about 4 KiB", has the figures and
//     the command).
//
// # The client side (client.go)
//
// ClientConn is the mirror of Conn for HTTP/2 upstreams, with the same
// contract (Feed whole frames, Out/ResetOut, no goroutines, locks or
// clock) and the same frame writer, HPACK and field validation. It writes
// the client preface (SETTINGS with push disabled, our windows, and a
// connection WINDOW_UPDATE) at once, opens odd streams with WriteRequest
// up to the server's SETTINGS_MAX_CONCURRENT_STREAMS (one until the
// server's SETTINGS arrive: CanOpen, MaxStreams), and reports responses
// through ClientHandler: informational and final heads (a malformed one,
// RFC 9113 8.3.2, resets the stream with PROTOCOL_ERROR), DATA checked
// against content-length (not for HEAD, 204 and 304), trailers, resets,
// windows, GOAWAY (the streams above its last id are forgotten and left
// to the caller to send again) and PING answers. Receive windows are
// returned only through Consumed, as on the server side: the caller
// decides how far the server may run ahead of the downstream.
//
// What the two sides share is written once (core.go): both embed a
// connCore by value (output, settings, windows, HPACK state, abuse
// counters) and stream types embed a flow (windows and body accounting).
// The read side is one loop for both (runFeed, feedFrames): each frame is
// checked (an inlined fast case, frameFast, dataFast, and an out-of-line
// rest) and dispatched by type through a table (frameHandlers) to shared
// handling where the frame means the same to both sides (DATA's windows
// and content-length, WINDOW_UPDATE, RST_STREAM, HEADERS framing and
// header block decoding, CONTINUATION) and to the side's own where it
// does not (a block's kind and what it becomes, SETTINGS, PING, GOAWAY,
// PRIORITY, PUSH_PROMISE). The side is seen as a frameProcessor, whose
// methods the shared code calls for what differs: the stream lookup
// (sideStream: either stream type, a pointer in an interface), resets,
// the handler's callbacks. That costs an indirect call or two per frame
// and no allocation (go test ./internal/codec/http2 -bench . -benchmem
// -run '^$': 0 allocs/op for FeedData, ParseGET/indexed and
// WriteResponse, as before). Other differences are parameters:
// connCore.client for which settings apply and whether the peer may open
// streams, the request flag of encodeFields; SETTINGS walks the streams
// through a generic (applySettings), and openStream/closeStream keep
// either side's free list of streams.
//
// # API notes
//
// Field names and values are []byte (not the strings hpack uses) so that
// the proxy can pass spans of its HTTP/1 buffers; decoded fields are
// copied into a per-connection buffer and valid during the callback only.
// Beyond the brief's API the package adds: Handler.OnRequestError (the
// 431 path; a flag in Request was rejected because a callee that ignored
// it would forward a truncated request), Request.Header, Conn.SendWindow,
// Conn.Err, Conn.SettingsAcked (for a SETTINGS timeout), Conn.GoAwayReceived,
// Conn.RemoteClosed (a tunnel's half-close), ConnError, and the Options HeaderTableSize, ResetWindow,
// MaxEmptyFramesPerWindow, EmptyFrameWindow and MaxControlBytes.
package http2
