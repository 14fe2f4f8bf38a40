package http1

// Span locates bytes inside a message's Raw slice.
type Span struct{ Off, Len uint32 }

// span builds the Span of buf[start:end].
func span(start, end int) Span {
	return Span{Off: uint32(start), Len: uint32(end - start)} // offsets are bounded by Limits.MaxHeaderBytes <= 1<<31
}

// bytesOf returns raw[s.Off:s.Off+s.Len].
func bytesOf(raw []byte, s Span) []byte {
	return raw[s.Off : s.Off+s.Len : s.Off+s.Len]
}

// Header is one field line of a head. Name and Value point into Raw; Value
// has its surrounding whitespace removed.
type Header struct {
	Name, Value Span
	Flags       HeaderFlags
}

// HeaderFlags classifies a header field.
type HeaderFlags uint8

// Header flags. A proxy drops every field marked FlagHopByHop before
// forwarding (RFC 9110 7.6.1).
const (
	// FlagHopByHop marks Connection, Proxy-Connection, Keep-Alive, TE,
	// Transfer-Encoding, Upgrade, Trailer, Proxy-Authenticate and
	// Proxy-Authorization (the RFC 9110 7.6.1 list plus the fields Go's
	// httputil.ReverseProxy also strips), and every field named by a
	// Connection option.
	FlagHopByHop HeaderFlags = 1 << iota
	// FlagConnectionOption marks a field that a Connection option names.
	FlagConnectionOption
	// FlagHost marks Host.
	FlagHost
	// FlagContentLength marks Content-Length.
	FlagContentLength
	// FlagTransferEncoding marks Transfer-Encoding.
	FlagTransferEncoding
	// FlagConnection marks Connection.
	FlagConnection
	// FlagTE marks TE (a proxy may forward "TE: trailers" on its own).
	FlagTE
	// FlagUpgrade marks Upgrade.
	FlagUpgrade
)

// Limits bounds a head. A zero or negative field takes its default.
type Limits struct {
	// MaxRequestLine bounds the start line, CRLF excluded (default 8 KiB).
	// It is clamped to MaxHeaderBytes-16 so that a too-long start line is
	// always reported as such (414), however the bytes arrive.
	MaxRequestLine int
	// MaxHeaderBytes bounds the whole head, start line and final CRLFCRLF
	// included (default 32 KiB, floor 64 bytes).
	MaxHeaderBytes int
	// MaxHeaders bounds the number of field lines (default 100).
	MaxHeaders int
}

// Default limits.
const (
	defaultMaxRequestLine = 8 << 10
	defaultMaxHeaderBytes = 32 << 10
	defaultMaxHeaders     = 100
	minHeaderBytes        = 64
	maxLeadingEmptyLines  = 4 // RFC 9112 2.2: ignore at least one empty line
)

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestLine: defaultMaxRequestLine,
		MaxHeaderBytes: defaultMaxHeaderBytes,
		MaxHeaders:     defaultMaxHeaders,
	}
}

// norm fills defaults and enforces the relations between the limits.
func (l Limits) norm() Limits {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = defaultMaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxHeaderBytes < minHeaderBytes {
		l.MaxHeaderBytes = minHeaderBytes
	}
	// Spans are uint32.
	l.MaxHeaderBytes = min(l.MaxHeaderBytes, 1<<31)
	l.MaxRequestLine = min(l.MaxRequestLine, l.MaxHeaderBytes-16)
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = defaultMaxHeaders
	}
	return l
}

// BodyKind says how a response body is delimited (RFC 9112 6.3).
type BodyKind uint8

// Body kinds.
const (
	BodyNone       BodyKind = iota // no body: HEAD, 1xx, 204, 304
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // read until the server closes
)

// String returns the kind's name.
func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "BodyNone"
	case BodyLength:
		return "BodyLength"
	case BodyChunked:
		return "BodyChunked"
	case BodyUntilClose:
		return "BodyUntilClose"
	}
	return "BodyKind(?)"
}

// ChunkEvent is what ChunkedDecoder.Next produced.
type ChunkEvent uint8

// Chunk events.
const (
	ChunkNeedMore ChunkEvent = iota // more input needed
	ChunkData                       // payload bytes
	ChunkDone                       // last-chunk and trailer section consumed
)

// String returns the event's name.
func (e ChunkEvent) String() string {
	switch e {
	case ChunkNeedMore:
		return "ChunkNeedMore"
	case ChunkData:
		return "ChunkData"
	case ChunkDone:
		return "ChunkDone"
	}
	return "ChunkEvent(?)"
}
