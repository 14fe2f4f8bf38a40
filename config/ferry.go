package config

// Ferry is the top-level "ferry" block: settings of ferry's own runtime
// that MOSN has no field for. Every field is optional. A zero value selects
// the default shown on the field, so ApplyDefaults (called by Parse) turns
// the zero Ferry into the documented defaults.
type Ferry struct {
	// EventLoops is the number of gnet event loops; 0 means GOMAXPROCS at
	// start-up (see EventLoopCount).
	EventLoops int `json:"event_loops" yaml:"event_loops"`
	// ReusePort gives each event loop its own SO_REUSEPORT listener, so
	// every loop accepts for itself instead of receiving connections from
	// one accepting goroutine (faster with a new connection per request:
	// docs/performance.md, "reuse_port on"). Default true, as Envoy's
	// listeners; a listener on port 0 (tests) turns it off, since each
	// loop would bind a different port.
	ReusePort *bool `json:"reuse_port,omitempty" yaml:"reuse_port,omitempty"`
	// MaxConnections is the downstream connection budget across all
	// listeners; 0 means derived from RLIMIT_NOFILE at start-up.
	MaxConnections int `json:"max_connections" yaml:"max_connections"`
	// Scheduler decides where request phases run.
	Scheduler Scheduler `json:"scheduler" yaml:"scheduler"`
	// HTTP1 bounds the HTTP/1 codec.
	HTTP1 HTTP1 `json:"http1" yaml:"http1"`
	// Timeouts are the downstream timeouts.
	Timeouts Timeouts `json:"timeouts" yaml:"timeouts"`
	// Buffers bound per-connection memory.
	Buffers Buffers `json:"buffers" yaml:"buffers"`
	// Proxy sets the HTTP proxy headers ferry adds.
	Proxy ProxyHeaders `json:"proxy" yaml:"proxy"`
	// Compat says how ferry treats MOSN fields it does not implement; see
	// docs/mosn-compat.md.
	Compat Compat `json:"compat" yaml:"compat"`
}

// Compat governs MOSN fields that ferry does not implement yet.
type Compat struct {
	// AllowUnimplemented turns the refusal of a behaviour-changing field
	// that ferry does not implement (health_check, retry_policy, …) into a
	// warning, and ferry runs without it: a migration aid, as is the
	// --allow-unimplemented flag of start and validate. A TLS context's
	// fall_back is refused all the same: nothing meant to be TLS is ever
	// sent as plain text. Default false.
	AllowUnimplemented bool `json:"allow_unimplemented" yaml:"allow_unimplemented"`
}

// SchedulerPolicy says where request phases run.
type SchedulerPolicy string

// Scheduler policies.
const (
	// PolicyInline runs every phase on the connection's event loop; stream
	// filters that block are not allowed.
	PolicyInline SchedulerPolicy = "inline"
	// PolicyPool runs every request on the worker pool, as MOSN does.
	PolicyPool SchedulerPolicy = "pool"
	// PolicyAuto runs inline and moves a request to the pool only when a
	// filter in its chain may block. The default.
	PolicyAuto SchedulerPolicy = "auto"
)

// Scheduler configures the worker pool and the inline/pool choice.
type Scheduler struct {
	// Policy is "inline", "pool" or "auto" (the default).
	Policy SchedulerPolicy `json:"policy" yaml:"policy"`
	// Workers is the worker pool size; 0 means 128 × GOMAXPROCS at start-up
	// (see WorkerCount).
	Workers int `json:"workers" yaml:"workers"`
	// Queue is the number of tasks that may wait for a worker before
	// submissions fail with an overload error; 0 means 1024.
	Queue int `json:"queue" yaml:"queue"`
}

// HTTP1 bounds what the HTTP/1 codec accepts from clients. Exceeding a
// limit answers 4xx (431 for headers, 413 for bodies, 414 for the request
// line) and closes the connection.
type HTTP1 struct {
	// MaxRequestLineBytes bounds the request line; 0 means 8192.
	MaxRequestLineBytes int `json:"max_request_line_bytes" yaml:"max_request_line_bytes"`
	// MaxHeaderBytes bounds the header block; 0 means 32768.
	MaxHeaderBytes int `json:"max_header_bytes" yaml:"max_header_bytes"`
	// MaxHeaders bounds the number of header fields; 0 means 100.
	MaxHeaders int `json:"max_headers" yaml:"max_headers"`
	// MaxRequestBodyBytes bounds a request body; 0 means unlimited.
	MaxRequestBodyBytes int64 `json:"max_request_body_bytes" yaml:"max_request_body_bytes"`
	// MaxRequestsPerConnection closes a connection after this many
	// requests; 0 means unlimited.
	MaxRequestsPerConnection int `json:"max_requests_per_connection" yaml:"max_requests_per_connection"`
	// MaxPipelinedBytes bounds the bytes buffered for pipelined requests
	// behind the one in progress; 0 means 1048576.
	MaxPipelinedBytes int `json:"max_pipelined_bytes" yaml:"max_pipelined_bytes"`
}

// Timeouts are downstream timeouts. Zero selects the default; negative
// values are rejected.
type Timeouts struct {
	// RequestHeader bounds receiving a request's headers; default 10s.
	RequestHeader Duration `json:"request_header" yaml:"request_header"`
	// RequestBody bounds each gap between two reads of a request body (as
	// nginx's client_body_timeout): a body that stops arriving for this long
	// gets 408; default 60s. A body that keeps dripping is bounded by
	// Request instead.
	RequestBody Duration `json:"request_body" yaml:"request_body"`
	// Request bounds receiving a whole request, head and body, from its
	// first byte (Envoy's request_timeout): it stops clients that drip a
	// body to hold a connection (slow POST). Default 0: off, so that large
	// uploads over slow links are not cut; set it at the edge.
	Request Duration `json:"request" yaml:"request"`
	// Idle closes a keep-alive connection idle this long; default 75s. A
	// listener's connection_idle_timeout overrides it.
	Idle Duration `json:"idle" yaml:"idle"`
	// Drain bounds a graceful stop; default 15s. servers[0].graceful_timeout
	// overrides it.
	Drain Duration `json:"drain" yaml:"drain"`
	// LingeringClose keeps reading (and discarding) after an error response
	// before closing, so the client sees the response; default 5s.
	LingeringClose Duration `json:"lingering_close" yaml:"lingering_close"`
	// TLSHandshake bounds a TLS listener's handshake, from accept to the
	// client's Finished (a worker is held only while the client's flights
	// are due); default 10s, what request_header allowed before it had a
	// setting of its own (nginx bounds it by client_header_timeout, 60s).
	// Upstream handshakes are bounded by the cluster's connect_timeout,
	// connect and handshake together (docs/tls.md).
	TLSHandshake Duration `json:"tls_handshake" yaml:"tls_handshake"`
}

// Buffers bound per-connection memory. A slow reader of a large response
// holds at most write_high_watermark (plus one read of the upstream, 64
// KiB) in its connection's outbound queue and spill_memory_bytes in its
// spill queue; the rest goes to a temp file. backlog_memory_bytes bounds
// the sum over all connections.
type Buffers struct {
	// WriteHighWatermark is the outbound queue size of a connection past
	// which bytes for it go to its stream's spill queue instead; 0 means
	// 32768, about what nginx's proxy buffers hold for one client.
	WriteHighWatermark int `json:"write_high_watermark" yaml:"write_high_watermark"`
	// WriteLowWatermark is the size the queue must fall to before the
	// spill queue is written out; 0 means 8192. Must be below the high
	// watermark.
	WriteLowWatermark int `json:"write_low_watermark" yaml:"write_low_watermark"`
	// SpillMemoryBytes is the part of a stream's backlog (a request body
	// waiting for its upstream, a response waiting for a slow client or
	// for the worker that owns its stream) kept in memory before the rest
	// spills to a file; 0 means 65536. With the high watermark that is
	// about what nginx's default proxy buffers hold for one client; 16 KiB
	// sent every 64 KiB response of a stream on a worker (scheduler
	// policy pool) through a temp file, a third of its throughput (see
	// docs/performance.md).
	SpillMemoryBytes int64 `json:"spill_memory_bytes" yaml:"spill_memory_bytes"`
	// BacklogMemoryBytes is the process-wide budget for backlogs held in
	// memory (outbound queues and the memory of spill queues together);
	// past it, every backlog spills at once: spill queues take no more
	// memory and connections queue no more than write_low_watermark.
	// 0 means 268435456 (256 MiB): with the defaults, 10,000 slow readers
	// stay well within a 24 GiB machine.
	BacklogMemoryBytes int64 `json:"backlog_memory_bytes" yaml:"backlog_memory_bytes"`
	// SpillDiskBytes is the process-wide budget for the bytes every spill
	// queue holds in its temp file; 0 means 4294967296 (4 GiB). gnet
	// cannot pause reading a socket (docs/gnet.md), so a backlog that
	// never drains (a tunnel's client that stops reading while its
	// upstream sends, an endless response to a stalled client) would
	// otherwise grow its file until the disk is full: past the budget,
	// the stream, tunnel or relay whose backlog would grow a file fails
	// (internal/spill.ErrDiskBudget) instead, as it would on a full disk.
	SpillDiskBytes int64 `json:"spill_disk_bytes" yaml:"spill_disk_bytes"`
	// SpillDir is where spilled bodies go; "" means os.TempDir().
	SpillDir string `json:"spill_dir" yaml:"spill_dir"`
}

// XFFMode says what ferry does with X-Forwarded-For.
type XFFMode string

// X-Forwarded-For modes.
const (
	// XFFAppend appends the client address to the header (the default).
	XFFAppend XFFMode = "append"
	// XFFOverwrite replaces the header with the client address.
	XFFOverwrite XFFMode = "overwrite"
	// XFFOff leaves the header alone.
	XFFOff XFFMode = "off"
)

// ProxyHeaders sets the headers ferry adds to proxied requests.
type ProxyHeaders struct {
	// Via is the pseudonym added to the Via header (RFC 9110 §7.6.3); ""
	// adds no Via header.
	Via string `json:"via" yaml:"via"`
	// XFF is the X-Forwarded-For mode: "append" (default), "overwrite" or
	// "off".
	XFF XFFMode `json:"xff" yaml:"xff"`
	// Path says how request paths are normalised before routing and
	// forwarding.
	Path PathNormalization `json:"path" yaml:"path"`
}

// PathNormalization says how a request path is normalised before it is
// routed and forwarded, so that a route cannot be bypassed with an
// equivalent spelling of a path (/public/../admin, //admin, /%61dmin).
type PathNormalization struct {
	// Normalize decodes percent-encoded unreserved characters and removes
	// dot segments (RFC 3986 6.2.2) before routing, and forwards the
	// normalised path; a path that climbs above the root is rejected with
	// 400. Default false: RFC 9110 7.7 has a proxy forward the path as
	// received. Turn it on when routes are an access-control boundary, or
	// /public/../admin matches the /public route.
	Normalize bool `json:"normalize" yaml:"normalize"`
	// MergeSlashes collapses runs of slashes into one. Default false.
	MergeSlashes bool `json:"merge_slashes" yaml:"merge_slashes"`
	// EscapedSlashes is what to do with %2F and %5C in a path: "keep"
	// (default: forwarded as they are, never decoded), "reject" (400) or
	// "decode" (decoded to / and \ before routing and forwarding).
	EscapedSlashes string `json:"escaped_slashes" yaml:"escaped_slashes"`
}

// Defaults of the ferry block.
const (
	DefaultSchedulerQueue      = 1024
	DefaultWorkersPerProc      = 128
	DefaultMaxRequestLineBytes = 8192
	DefaultMaxHeaderBytes      = 32768
	DefaultMaxHeaders          = 100
	DefaultMaxPipelinedBytes   = 1 << 20
	DefaultWriteHighWatermark  = 32 << 10
	DefaultWriteLowWatermark   = 8 << 10
	DefaultSpillMemoryBytes    = 64 << 10
	DefaultBacklogMemoryBytes  = 256 << 20
	DefaultSpillDiskBytes      = 4 << 30
)

// Default timeouts of the ferry block.
const (
	DefaultRequestHeaderTimeout  = Duration(10e9)
	DefaultRequestBodyTimeout    = Duration(60e9)
	DefaultIdleTimeout           = Duration(75e9)
	DefaultDrainTimeout          = Duration(15e9)
	DefaultLingeringCloseTimeout = Duration(5e9)
	DefaultTLSHandshakeTimeout   = Duration(10e9)
)

// WithDefaults returns f with every zero field that has a default set to
// it. Negative values are kept for Validate to report. Any goroutine.
func (f Ferry) WithDefaults() Ferry {
	def(&f.Scheduler.Policy, PolicyAuto)
	def(&f.Scheduler.Queue, DefaultSchedulerQueue)
	def(&f.HTTP1.MaxRequestLineBytes, DefaultMaxRequestLineBytes)
	def(&f.HTTP1.MaxHeaderBytes, DefaultMaxHeaderBytes)
	def(&f.HTTP1.MaxHeaders, DefaultMaxHeaders)
	def(&f.HTTP1.MaxPipelinedBytes, DefaultMaxPipelinedBytes)
	def(&f.Timeouts.RequestHeader, DefaultRequestHeaderTimeout)
	def(&f.Timeouts.RequestBody, DefaultRequestBodyTimeout)
	def(&f.Timeouts.Idle, DefaultIdleTimeout)
	def(&f.Timeouts.Drain, DefaultDrainTimeout)
	def(&f.Timeouts.LingeringClose, DefaultLingeringCloseTimeout)
	def(&f.Timeouts.TLSHandshake, DefaultTLSHandshakeTimeout)
	def(&f.Buffers.WriteHighWatermark, DefaultWriteHighWatermark)
	def(&f.Buffers.WriteLowWatermark, DefaultWriteLowWatermark)
	def(&f.Buffers.SpillMemoryBytes, DefaultSpillMemoryBytes)
	def(&f.Buffers.BacklogMemoryBytes, DefaultBacklogMemoryBytes)
	def(&f.Buffers.SpillDiskBytes, DefaultSpillDiskBytes)
	def(&f.Proxy.XFF, XFFAppend)
	return f
}

// def sets *p to v when *p is the zero value.
func def[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// EventLoopCount returns the number of event loops to start, given the
// process's GOMAXPROCS. Any goroutine.
func (f *Ferry) EventLoopCount(gomaxprocs int) int {
	if f.EventLoops > 0 {
		return f.EventLoops
	}
	return max(gomaxprocs, 1)
}

// WorkerCount returns the worker pool size, given the process's GOMAXPROCS.
// Any goroutine.
func (s *Scheduler) WorkerCount(gomaxprocs int) int {
	if s.Workers > 0 {
		return s.Workers
	}
	return DefaultWorkersPerProc * max(gomaxprocs, 1)
}
