package accesslog

import "time"

// Headers is a read-only view of a request's or response's header block:
// Get returns the first value of name, matched case-insensitively. The
// proxy's header maps satisfy it; formatting reads it on the goroutine
// that calls Log, and keeps nothing.
type Headers interface {
	Get(name string) ([]byte, bool)
}

// Entry is what one request's access log line is made of. The proxy fills
// it at the end of a stream from values it already holds (strings held by
// the connection, the cluster and the host; byte slices of the parsed
// request), so filling it allocates nothing; Log formats it before it
// returns and keeps no reference to it or to anything it points to.
//
// A zero field is not known: it is written "-" in text and null in JSON
// (a zero duration means the stage was never reached, such as
// response_received_duration for a request answered by ferry itself).
type Entry struct {
	// Start is when ferry took the request (its head parsed, the request
	// counted): start_time.
	Start time.Time
	// RequestReceived is from Start to the request head being written
	// upstream: request_received_duration.
	RequestReceived time.Duration
	// ResponseReceived is from Start to the response head being read from
	// the upstream: response_received_duration.
	ResponseReceived time.Duration
	// RequestFinished is from Start to the last byte of the response being
	// handed to the client connection: request_finished_duration.
	RequestFinished time.Duration
	// Duration is from Start to the end of the stream, when the entry is
	// logged: duration.
	Duration time.Duration
	// BytesSent counts the bytes of the response handed to the client
	// connection: head and body (with its chunk framing) on HTTP/1.1, the
	// body on HTTP/2: bytes_sent.
	BytesSent uint64
	// BytesReceived counts the bytes of the request read from the client:
	// head and body (decoded from chunks) on HTTP/1.1, the body on HTTP/2:
	// bytes_received.
	BytesReceived uint64
	// Protocol is the downstream protocol in MOSN's spelling, "Http1" or
	// "Http2": protocol.
	Protocol string
	// ResponseCode is the status sent to the client; 0 when none was
	// (the stream was reset): response_code.
	ResponseCode int
	// Failure names what went wrong (the proxy's error kind, as
	// docs/errors.md names it: "no_route", "upstream_connect_failed", …),
	// empty when nothing did:
	// upstream_transport_failure_reason, and response_flag is true when it
	// is set.
	Failure string
	// Method is the request method: request_method.
	Method []byte
	// URI is the request target as received: request_uri (request_path
	// and request_arg are the parts before and after its '?').
	URI []byte
	// DownstreamLocalAddress is ferry's address the client connected to
	// (the socket's, not the listener's configured one):
	// downstream_local_address.
	DownstreamLocalAddress string
	// DownstreamRemoteAddress is the client's address:
	// downstream_remote_address.
	DownstreamRemoteAddress string
	// UpstreamLocalAddress is ferry's end of the upstream connection:
	// upstream_local_address.
	UpstreamLocalAddress string
	// UpstreamHost is the chosen host's address: upstream_host.
	UpstreamHost string
	// UpstreamCluster is the chosen cluster's name: upstream_cluster.
	UpstreamCluster string
	// RequestHeaders are the request's headers as forwarded (after the
	// filters): request_header_NAME. Nil when there are none.
	RequestHeaders Headers
	// ResponseHeaders are the response's headers as sent:
	// response_header_NAME. Nil when no response was sent.
	ResponseHeaders Headers
}
