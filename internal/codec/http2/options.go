package http2

// Options are the limits and windows of one Conn. A zero field takes its
// default; doc.go explains what each limit defends against.
type Options struct {
	// MaxConcurrentStreams is advertised as SETTINGS_MAX_CONCURRENT_STREAMS.
	// A HEADERS frame that would open one stream more is answered with
	// RST_STREAM(REFUSED_STREAM) (which counts as a reset, see
	// MaxResetsPerWindow). It also bounds the streams the Conn tracks.
	// Default 100.
	MaxConcurrentStreams uint32

	// InitialWindowSize is advertised as SETTINGS_INITIAL_WINDOW_SIZE: how
	// many request-body bytes of one stream the peer may send before the
	// handler has Consumed them. Default 256 KiB; at most 2^31-1.
	InitialWindowSize uint32

	// ConnWindowSize is the receive window of the whole connection (raised
	// from the RFC's 65535 by a WINDOW_UPDATE on stream 0 in the server
	// preface). It bounds the request-body bytes delivered to the handler
	// and not yet Consumed, over all streams. Default 1 MiB; at least 65535
	// and at most 2^31-1.
	ConnWindowSize uint32

	// MaxFrameSize is advertised as SETTINGS_MAX_FRAME_SIZE; a larger frame
	// is a FRAME_SIZE_ERROR. The caller must be able to hold one frame
	// (MaxFrameSize+9 bytes) of input. Default 16384; within [16384, 2^24-1].
	MaxFrameSize uint32

	// MaxHeaderListSize is advertised as SETTINGS_MAX_HEADER_LIST_SIZE. A
	// request whose decoded header list (RFC 9113 6.5.2: name + value + 32
	// per field) is larger is reported through Handler.OnRequestError with
	// 431; larger trailers reset the stream. It also bounds one HPACK
	// string. Default 64 KiB.
	MaxHeaderListSize uint32

	// HeaderTableSize is advertised as SETTINGS_HEADER_TABLE_SIZE: the
	// size of the HPACK dynamic table the peer may make us keep. Default
	// 4096 (the RFC default).
	HeaderTableSize uint32

	// MaxHeaderBlockBytes bounds the encoded bytes of one header block
	// (HEADERS plus its CONTINUATION frames) before END_HEADERS; more is a
	// connection error ENHANCE_YOUR_CALM (CONTINUATION flood). Default
	// 2*MaxHeaderListSize.
	MaxHeaderBlockBytes int

	// MaxResetsPerWindow and ResetWindow bound rapid reset: within every
	// ResetWindow streams opened, at most MaxResetsPerWindow streams may end
	// by a RST_STREAM from the peer before the response ended, by a refusal
	// or by a stream error the codec detected; one more is a connection
	// error ENHANCE_YOUR_CALM. Defaults 200 and 1000.
	MaxResetsPerWindow int
	ResetWindow        int

	// MaxEmptyFramesPerWindow and EmptyFrameWindow bound floods of frames
	// that carry nothing (DATA without payload and without END_STREAM,
	// HEADERS or CONTINUATION with an empty fragment and no END_HEADERS):
	// within every EmptyFrameWindow frames received, at most
	// MaxEmptyFramesPerWindow such frames; one more is a connection error
	// ENHANCE_YOUR_CALM. Defaults 100 and 1000.
	MaxEmptyFramesPerWindow int
	EmptyFrameWindow        int

	// MaxControlBytes bounds the frames the codec queues in reply to the
	// peer (PING and SETTINGS acknowledgements, RST_STREAM for refused or
	// broken streams) between two ResetOut calls. A peer that floods such
	// frames while not reading our output gets a connection error
	// ENHANCE_YOUR_CALM instead of growing Out without bound. Default
	// 64 KiB.
	MaxControlBytes int

	// EnableConnectProtocol advertises SETTINGS_ENABLE_CONNECT_PROTOCOL=1
	// (RFC 8441 3): a request may then carry :protocol, on a CONNECT with
	// :scheme, :path and :authority (extended CONNECT, Request.Protocol).
	// Off, :protocol stays an unknown pseudo-header (a malformed request).
	EnableConnectProtocol bool
}

// Defaults of Options.
const (
	DefaultMaxConcurrentStreams    = 100
	DefaultInitialWindowSize       = 256 << 10
	DefaultConnWindowSize          = 1 << 20
	DefaultMaxFrameSize            = 16384
	DefaultMaxHeaderListSize       = 64 << 10
	DefaultHeaderTableSize         = 4096
	DefaultMaxResetsPerWindow      = 200
	DefaultResetWindow             = 1000
	DefaultMaxEmptyFramesPerWindow = 100
	DefaultEmptyFrameWindow        = 1000
	DefaultMaxControlBytes         = 64 << 10
)

// withDefaults fills zero fields and clamps the others into their legal
// ranges.
func (o Options) withDefaults() Options {
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if o.InitialWindowSize == 0 {
		o.InitialWindowSize = DefaultInitialWindowSize
	}
	o.InitialWindowSize = min(o.InitialWindowSize, maxWindow)
	if o.ConnWindowSize == 0 {
		o.ConnWindowSize = DefaultConnWindowSize
	}
	o.ConnWindowSize = min(max(o.ConnWindowSize, defaultWindow), maxWindow)
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	o.MaxFrameSize = min(max(o.MaxFrameSize, minMaxFrameSize), maxMaxFrameSize)
	if o.MaxHeaderListSize == 0 {
		o.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if o.HeaderTableSize == 0 {
		o.HeaderTableSize = DefaultHeaderTableSize
	}
	if o.MaxHeaderBlockBytes <= 0 {
		o.MaxHeaderBlockBytes = 2 * int(o.MaxHeaderListSize)
	}
	if o.MaxResetsPerWindow <= 0 {
		o.MaxResetsPerWindow = DefaultMaxResetsPerWindow
	}
	if o.ResetWindow <= 0 {
		o.ResetWindow = DefaultResetWindow
	}
	if o.MaxEmptyFramesPerWindow <= 0 {
		o.MaxEmptyFramesPerWindow = DefaultMaxEmptyFramesPerWindow
	}
	if o.EmptyFrameWindow <= 0 {
		o.EmptyFrameWindow = DefaultEmptyFrameWindow
	}
	if o.MaxControlBytes <= 0 {
		o.MaxControlBytes = DefaultMaxControlBytes
	}
	return o
}
