package proxy

import (
	"errors"
	"fmt"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// Source says which side an error came from.
type Source uint8

// Sources.
const (
	// Downstream is the client's request: its head, its body, its pace.
	// The client connection closes after the answer: the rest of the
	// request on the wire cannot be trusted or is never read.
	Downstream Source = iota + 1
	// Upstream is the chosen host or its connection. The upstream
	// connection is closed: its framing is lost or its state unknown.
	Upstream
	// Internal is ferry itself: routing, scheduling, buffering, filters.
	Internal
)

func (s Source) String() string {
	switch s {
	case Downstream:
		return "downstream"
	case Upstream:
		return "upstream"
	case Internal:
		return "internal"
	}
	return "unknown"
}

// Kind classifies a proxy failure. Its kindInfo (below) is the whole of
// what a failure of that kind does: the status of the local reply (or a
// reset when there is none), the counter, and whether a retry may help.
// docs/errors.md is generated from the table (TestErrorsDoc).
type Kind uint8

// Kinds.
const (
	KindBadRequest Kind = iota + 1
	KindNoRoute
	KindNoCluster
	KindNoHealthyHost
	KindOverflow
	KindConnectFailed
	KindUpstreamTimeout
	KindBadResponse
	KindUpstreamReset
	KindBodyTooLarge
	KindRequestTimeout
	KindUpstreamResetMidBody
	KindResponseLost
	KindFilterPanic
	kindCount // not a kind: the size of the tables
)

// kindInfo is what a Kind means.
type kindInfo struct {
	// name is the kind's name (String), and what a reply's body starts
	// with unless text says otherwise.
	name string
	// status is the local reply's status; 0 means no reply can be made
	// (part of the upstream's response is already consumed): the client's
	// side is reset. KindBadRequest answers with the codec's verdict
	// (400, 414, 431, 501, 505) when the cause carries one.
	status int
	// counter is the counter every failure of the kind increments,
	// answered with a reply or a reset.
	counter string
	// retry says that a failure of this kind may be retried; whether one
	// is, is decided where it is detected (Error.Retryable).
	retry bool
	// closes says that the client connection closes after the reply,
	// whatever the Source.
	closes bool
	// text, when set, is what the reply's body starts with instead of
	// name.
	text string
	// extra are header lines ("Name: value\r\n") the local reply carries.
	extra string
	// grpc is the gRPC status a gRPC request's local reply carries
	// (grpc.go): the kind's own (no route 12 UNIMPLEMENTED, unavailable 14,
	// timeouts 4 DEADLINE_EXCEEDED, overload 8 RESOURCE_EXHAUSTED), else
	// gRPC's HTTP-to-gRPC mapping of the status.
	grpc uint8
	// when says when the kind happens, for docs/errors.md.
	when string
}

//nolint:gochecknoglobals // read-only
var kinds = [kindCount]kindInfo{
	KindBadRequest: {name: "bad_request", status: 400, counter: "local_reply_bad_request",
		grpc: 13, when: "the HTTP codec refused the request head, body framing or target; the status is its verdict (400, 414, 431, 501, 505)"},
	KindNoRoute: {name: "no_route", status: 404, counter: "local_reply_no_route",
		grpc: 12, when: "no route matched, or the listener's route table is missing"},
	KindNoCluster: {name: "no_cluster", status: 503, counter: "local_reply_no_cluster",
		grpc: 14, when: "the route names a cluster that does not exist"},
	KindNoHealthyHost: {name: "no_healthy_upstream", status: 503, counter: "local_reply_no_healthy_upstream",
		grpc: 14, when: "the cluster has no healthy host (other than the one a retry avoids)"},
	KindOverflow: {name: "overflow", status: 503, counter: "local_reply_overflow", extra: "x-ferry-overloaded: true\r\n",
		grpc: 8, when: "a circuit breaker of the cluster refused the request (max_pending_requests, max_requests; max_connections only on a loop holding no connection to the host, else requests wait), or the worker pool was closed (the engine stopping; a busy pool is waited for), or a request body could not be buffered; the reply carries x-ferry-overloaded: true and its body names the limit, counted in overload_<limit>. Without circuit_breakers nothing is refused: requests wait for a connection (a dial the process cannot start now is tried again), bounded by the listeners' admission"},
	KindConnectFailed: {name: "upstream_connect_failed", status: 503, counter: "local_reply_upstream_connect_failed", retry: true,
		grpc: 14, when: "the upstream connection could not be opened; retried under a retry_policy with connect-failure, 5xx or gateway-error"},
	KindUpstreamTimeout: {name: "upstream_timeout", status: 504, counter: "local_reply_upstream_timeout", retry: true,
		grpc: 4, when: "the upstream did not answer within the route timeout (also counted in upstream_rq_timeout; a gRPC request's grpc-timeout caps it), or within the retry_policy's retry_timeout (upstream_rq_per_try_timeout), which is retried under reset, 5xx or gateway-error"},
	KindBadResponse: {name: "upstream_bad_response", status: 502, counter: "local_reply_upstream_bad_response",
		grpc: 14, when: "the upstream's response head or chunked framing is malformed, or it switched protocols"},
	KindUpstreamReset: {name: "upstream_reset", status: 502, counter: "local_reply_upstream_reset", retry: true,
		grpc: 14, when: "the upstream closed before a complete response head; retried on a fresh connection (Options.MaxRetries, 1 by default) when the connection was reused and the request is idempotent and body-less, and under a retry_policy with reset, 5xx or gateway-error"},
	KindBodyTooLarge: {name: "request_body_too_large", status: 413, counter: "local_reply_request_body_too_large",
		grpc: 2, when: "the request body is larger than max_request_body_bytes"},
	KindRequestTimeout: {name: "request_timeout", status: 408, counter: "local_reply_request_timeout",
		grpc: 4, when: "the request head or body was not received in time"},
	KindUpstreamResetMidBody: {name: "upstream_reset_mid_body", counter: "upstream_rq_reset_mid_body",
		when: "the upstream closed in the middle of the response body"},
	KindResponseLost: {name: "response_lost", counter: "downstream_rq_response_lost",
		when: "response body bytes could not be buffered (spill queue write failed)"},
	KindFilterPanic: {name: "filter_panic", status: 500, counter: "scheduler_filter_panics", closes: true,
		text: "internal error", grpc: 2, when: "a stream filter panicked"},
}

func (k Kind) info() *kindInfo {
	if k > 0 && k < kindCount {
		return &kinds[k]
	}
	return &kindInfo{name: "unknown", status: 500}
}

func (k Kind) String() string { return k.info().name }

// Status is the HTTP status a local reply for this kind carries, or 0 when
// a failure of this kind resets the client's side instead.
func (k Kind) Status() int { return k.info().status }

// Error is a proxy failure: where it came from, what kind, whether a retry
// may help, and the cause. Every failure ferry detects is built as an
// Error where it is detected and answered by stream.fail (reply.go).
type Error struct {
	Source    Source
	Kind      Kind
	Retryable bool
	// Err is the cause. Its message is the detail of the local reply's
	// body; an *http1.Error's status is the reply's status for
	// KindBadRequest.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("proxy: %s: %s", e.Source, e.Kind)
	}
	return fmt.Sprintf("proxy: %s: %s: %v", e.Source, e.Kind, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// reply is the local reply that answers e: its status and body, "<kind>:
// <detail>\n", or for a bad request "<status text>: <reason>\n".
func (e *Error) reply() pendingReply {
	k := e.Kind.info()
	status, prefix, detail := k.status, k.name, ""
	if k.text != "" {
		prefix = k.text
	}
	if he := verdict(e); he != nil {
		status, detail = he.Status, he.Reason
	} else if e.Err != nil {
		detail = e.Err.Error()
	}
	if e.Kind == KindBadRequest {
		prefix = http1.StatusText(status)
	}
	return pendingReply{status: status, body: prefix + ": " + detail + "\n", extra: k.extra}
}

// verdict is the HTTP codec's verdict behind a bad request, or nil. A
// function of its own: the target errors.As fills escapes, and would cost
// every other reply an allocation.
func verdict(e *Error) *http1.Error {
	if e.Kind != KindBadRequest {
		return nil
	}
	var he *http1.Error
	if errors.As(e.Err, &he) {
		return he
	}
	return nil
}

// The causes ferry names in its local replies. Sentinels, so that building
// an Error for them allocates nothing.
var (
	errNoRouteMatched    = errors.New("no route matched")
	errBadTarget         = errors.New("the request target is not a path or http(s) URI ferry can route, or it climbs above the root")
	errBodyTooLarge      = errors.New("the request body is larger than the limit")
	errRequestSlow       = errors.New("the request was not received in time")
	errWorkersClosed     = errors.New("worker pool closed")
	errUpstreamSlow      = errors.New("upstream did not answer in time")
	errUpstreamMalformed = errors.New("malformed response from upstream")
	errUpstreamChunked   = errors.New("malformed chunked body from upstream")
	errUpstreamSwitched  = errors.New("upstream switched protocols without an upgrade request")
	errUpstream1xx       = errors.New("upstream's 1xx heads passed max_header_bytes")
	errUpstreamClosed    = errors.New("upstream closed the connection before the response")
	errUpstreamMidBody   = errors.New("upstream closed the connection in the middle of the response body")
	errFilterPanic       = errors.New("filter panic")
	errPerTryTimeout     = errors.New("upstream did not answer within the retry_timeout")
)

// Causes that name what they miss (a route table, a cluster). Each is a
// pointer to the configuration it names, so that building an Error
// allocates nothing; the message is built only for the reply.
type (
	errNoRouteTable Factory
	errNoCluster    router.ClusterAction
	errNoHealthy    upstream.Cluster
	errPoolBusy     upstream.Cluster
	errConnect      upstream.Cluster
)

func (f *errNoRouteTable) Error() string { return "no route table " + f.routerName }
func (c *errNoCluster) Error() string    { return "cluster " + c.Cluster + " not found" }
func (c *errNoHealthy) Error() string    { return "no healthy upstream in " + c.Spec.Name }
func (c *errPoolBusy) Error() string     { return "too many requests waiting for " + c.Spec.Name }
func (c *errConnect) Error() string      { return "could not connect to an upstream of " + c.Spec.Name }
