// Package http1 is ferry's incremental, zero-copy, strict HTTP/1.1 parser:
// request and response heads (Request, Response), the chunked transfer
// coding (ChunkedDecoder, AppendChunkHeader) and reason phrases for local
// replies (StatusText).
//
// # Ownership and goroutines
//
// The package owns parsing only; framing decisions are reported, never
// acted on. It starts no goroutines, holds no mutable globals (only
// read-only lookup tables) and never blocks, so its methods run on the gnet
// event loop that owns the connection, inside OnTraffic. A Request,
// Response or ChunkedDecoder belongs to one connection and is not safe for
// concurrent use. The package imports only the standard library (the
// layout table allows internal/buffer and nothing else).
//
// # Incremental parsing and lifetimes
//
// Parse is given the bytes peeked from the connection. When the head is
// incomplete it returns n == 0 and a nil error; the caller leaves the bytes
// in gnet's buffer and calls Parse again later with a longer slice starting
// at the same first byte. The scan state (line start, LF search offset,
// field count, framing facts) is kept in the message, so each byte is
// examined a bounded number of times however the head is dribbled in; each
// field line is parsed once, as soon as its CRLF arrives. A complete head
// or an error ends the message: the next Parse starts afresh, which makes
// pipelining "parse buf, then buf[n:]".
//
// Spans are offsets into Raw, which Parse sets to the slice it was given.
// That slice is gnet's and dies when OnTraffic returns: before returning,
// the caller must be done with Raw or copy Raw[:n] into storage it owns and
// set Raw to the copy. Spans stay valid across that copy. The chunked
// decoder keeps no pointer into its input; the payload and trailer slices it
// returns are sub-slices of the input and share its lifetime.
//
// Steady-state parsing allocates nothing: Reset keeps the Headers array,
// and errors (which end the connection) are the only allocations.
//
// # Strictness (RFC 9112, RFC 9110)
//
// Requests are rejected with the status to answer; every response error is
// 502; chunked-body errors are 400 (431 for an oversized trailer section),
// which the proxy maps to 502 on the response side.
//
//   - Line endings are CRLF only (RFC 9112 2.2). A bare LF is reported as
//     soon as it arrives; a bare CR when its line completes. Up to 4 empty
//     lines before the start line are skipped (RFC 9112 2.2 says at least
//     one); this applies to responses too.
//   - Request line (RFC 9112 3): the method is a token; single SPs; the
//     target is visible ASCII only (CTLs, SP, DEL and bytes >= 0x80 are
//     400: RFC 3986 has no raw non-ASCII); its form must suit the method
//     (RFC 9112 3.2: authority-form for CONNECT only and always,
//     asterisk-form for OPTIONS only, otherwise origin- or absolute-form).
//     The version is exactly HTTP/1.0 or HTTP/1.1; another well-formed
//     HTTP/d.d is 505, anything else 400. A line longer than MaxRequestLine
//     is 414 as soon as the excess bytes arrive, before the CRLF.
//   - Field lines (RFC 9112 5): the name is a token immediately followed by
//     ":" (whitespace before the colon is 400, RFC 9112 5.1); obs-fold and
//     whitespace before the first field are 400 (RFC 9112 5.2, 2.2); the
//     value has OWS trimmed and may hold obs-text but no CTL except HTAB
//     and no DEL (RFC 9110 5.5). More than MaxHeaders fields or a head over
//     MaxHeaderBytes is 431 (RFC 6585 5), detected while bytes arrive.
//   - Content-Length (RFC 9110 8.6): 1*DIGIT, no sign or space, no
//     overflow of int64. Several fields or a list are accepted only when
//     all values are equal.
//   - Transfer-Encoding in a request (RFC 9112 6.1, 6.3): with
//     Content-Length, in HTTP/1.0, chunked twice or not last, empty, or
//     chunked with parameters is 400; any other coding is 501. Empty list
//     elements are ignored (RFC 9110 5.6.1).
//   - Host (RFC 9112 3.2): required once in HTTP/1.1, never twice; its
//     value holds only reg-name, IP-literal and port characters (no
//     whitespace, "/", "@", "?", "#"). An empty value is allowed. The
//     parser does not reconcile Host with an absolute-form target; RFC 9112
//     3.2.2 says the target wins and the proxy applies that.
//   - Expect (RFC 9110 10.1.1): 100-continue, case-insensitive, sets
//     Expect100 on HTTP/1.1 (ignored on HTTP/1.0); any other expectation is
//     417; an empty value is ignored.
//   - Connection (RFC 9110 7.6.1, RFC 9112 9.3): options must be tokens.
//     close ends persistence; HTTP/1.0 persists only with keep-alive.
//     Upgrade is set for HTTP/1.1 with an "upgrade" option and an Upgrade
//     field (RFC 9110 7.8). Fields named by an option are marked
//     FlagHopByHop|FlagConnectionOption, except Host, Content-Length and
//     Transfer-Encoding, which a client must not be able to strip.
//   - Hop-by-hop fields (FlagHopByHop): Connection, Proxy-Connection,
//     Keep-Alive, TE, Transfer-Encoding, Upgrade (RFC 9110 7.6.1) plus
//     Trailer, Proxy-Authenticate and Proxy-Authorization, as Go's
//     httputil.ReverseProxy strips them (ferry does no proxy
//     authentication, so proxy credentials must not leak upstream; a proxy
//     that forwards trailers re-announces them itself).
//   - Status line (RFC 9112 4): HTTP/1.0 or HTTP/1.1, a code in 100-599
//     (RFC 9110 15), SP and a reason of field-value bytes. "HTTP/1.1 200"
//     without the second SP is accepted, as Go and nginx accept it.
//   - Response framing (RFC 9112 6.3): a HEAD request, 1xx, 204 and 304
//     have no body; 101 also clears KeepAlive (the connection changes
//     protocol). Otherwise chunked, then Content-Length, then
//     BodyUntilClose (which clears KeepAlive). Content-Length with
//     Transfer-Encoding, differing lengths, Transfer-Encoding in HTTP/1.0
//     and any final coding other than chunked are 502: stricter than rule
//     4's read-until-close, as nginx does, since a proxy cannot forward a
//     hop-by-hop coding it does not decode. Host and Expect are not
//     interpreted in responses.
//   - Chunked coding (RFC 9112 7.1): chunk-size is 1*HEXDIG with at most 16
//     digits (leading zeros included) and no int64 overflow. No whitespace
//     before the size or before CRLF; BWS only around ";" and "=" inside
//     extensions, which must be name[=token|quoted-string] and are
//     validated and skipped. A size line over 4 KiB is 400. chunk-data must
//     be followed by CRLF exactly. The trailer section is validated like
//     field lines and bounded to 16 KiB and 100 fields (431); it is handed
//     back raw and not interpreted.
package http1
