// Package proxy is ferry's HTTP proxy: the terminal network filter of a
// listener (HTTP/1.1, and HTTP/2 cleartext to clients), the per-request
// phase machine, and the client side of pooled upstream connections:
// HTTP/1.1 (upstream.go), or HTTP/2 cleartext (upstream_h2.go, described
// in docs/life-of-a-request.md section 10).
//
// # The hot path, file by file
//
//	eventloop/handler.go  OnTraffic → conn.Conn.OnTraffic
//	conn/conn.go          Peek gnet's input once, run the read filters, Discard what they drained
//	filterchain/manager.go  read filters in order, stop on Stop or on close
//	proxy/downstream.go   OnData: parse the head in place (internal/codec/http1), copy it once, start a stream
//	proxy/request.go      startRequest; request bodies into the request pipe
//	proxy/stream.go       run: the one switch over the phases, one method per phase
//	proxy/route_actions.go  the route's cluster (weighted, header), hash key, header mutations: a nil check without them
//	proxy/front.go        the stream's client side: HTTP/1.1 here, an HTTP/2 stream in h2.go
//	upstream/pool.go      an idle connection of (host, loop), or a conn.Dialer dial on a worker + Enroll into this loop
//	proxy/headers.go      the request head for the upstream (hop-by-hop out, X-Forwarded-* in)
//	proxy/pipe.go         batched writes (one writev per callback), spill when the peer is slow
//	proxy/upstream.go     upConn.OnData: response head and body, back to the stream's phases
//	conn/conn.go          Write/Writev: guarded, watermarked
//	proxy/accesslog.go    at End: the listener's access log entry, queued for its file (internal/accesslog)
//	proxy/metrics.go      on the loop: the per-label counts (begin, connection, End) into loop N's internal/metrics shard
//
// # HTTP/2 (h2.go)
//
// A listener's Protocol decides what its clients speak: Http1, Http2 (h2c
// with prior knowledge) or Auto, where the first bytes decide (the HTTP/2
// connection preface, or anything else for HTTP/1.1). An HTTP/2 connection
// is an h2conn driving internal/codec/http2, a bytes-in/bytes-out state
// machine; each HTTP/2 stream is one proxy stream on the same phase
// machine as an HTTP/1 request, whose front (front.go: response head,
// local replies, resets, End) is the h2conn instead of the downstream.
// Its head is re-stated as an HTTP/1.1 head (Host from :authority, cookie
// crumbs joined, chunked framing for a body of unknown length) and parsed by the HTTP/1 codec, so that routing,
// header rules, limits, filters and the upstream see one representation.
// The response goes back through h2sink, which the response pipe writes
// to like a connection: DATA frames as far as the flow-control windows
// allow, the rest held (h2pend) while the sink reports itself stalled, so
// the pipe spills; END_STREAM rides on the last DATA frame. The request
// body's window is credited back to the client only once its bytes left
// the spill queue towards the upstream, so a slow upstream slows the
// client. A failure after the response started resets that stream alone.
// Connection-level rules: the idle timeout runs while no stream is open
// and no finished stream's reply waits for window, then GOAWAY and a
// lingering close; a drain or max_requests_per_connection sends GOAWAY at
// once (streams in flight finish, new ones are refused) and closes when
// the connection is empty; RequestBodyTimeout is a gap timeout per stream
// (the connection's timer is its idle timer); a connection error aborts
// every stream before the lingering close.
// 1xx responses other than 100 reach HTTP/2 clients as a HEADERS frame
// before the final one (h2Informational), from either upstream protocol.
// WebSocket over HTTP/2 (RFC 8441 extended CONNECT) is offered where
// websocket is allowed: see Upgrades, and CONNECT where configured (see
// CONNECT). Not yet: server push, extended CONNECT to HTTP/2 upstreams,
// the Upgrade: h2c dance.
//
// # Upgrades (upgrade.go)
//
// An HTTP/1.1 request with an Upgrade the route or listener allows
// (websocket by default) is forwarded with it; the upstream's 101 goes to
// the client and both connections go to an internal/relay Relay (bytes
// both ways, spill-bounded, half-close, the listener's idle timeout). The
// stream stays active until the relay ends and its access log line then
// says 101 with the tunnel's bytes. A token nobody allows is dropped with
// the hop-by-hop fields (plain HTTP, Envoy's behaviour); any answer but
// 101 is an ordinary response. An HTTP/2 client upgrades with an extended
// CONNECT (RFC 8441; SETTINGS_ENABLE_CONNECT_PROTOCOL is advertised where
// the listener, or a route of its table, allows websocket and the listener
// speaks HTTP/1.1 upstream): it goes
// upstream as the HTTP/1.1 upgrade with a key ferry makes, a route that
// does not allow it is answered 403, and after the checked 101 the
// client gets :status 200 and the stream's DATA and the upstream's bytes
// move through the stream's pipes, under the HTTP/2 windows
// (h2tunnel.go).
//
// # CONNECT (connect.go)
//
// A CONNECT (authority-form, no body) is terminated where configured:
// routed by its authority to the routes with a connect match
// (router.Table.MatchConnect), and where the route (else the listener)
// allows CONNECT, ferry opens a pooled connection to a host of the
// route's cluster, never to the authority the client named (no open
// proxy), answers "200 Connection established" and relays the bytes as
// after a 101, those the client sent before the 200 first; an HTTP/2
// client's gets ":status 200" and its stream carries the bytes as an
// extended CONNECT's does (h2tunnel.go). Until then it is an ordinary
// request (404, 503, a direct response), and every answer but the 200
// closes an HTTP/1.1 connection. Elsewhere CONNECT is answered 501.
//
// # Phases and scheduling
//
// phase.go lists MOSN's phases in order. stream.run steps through them. The
// filter phases (DownFilter, MatchRoute, DownFilterAfterRoute, UpFilter) run
// on the loop with the inline policy and with the auto policy when no
// stream filter of the listener declares itself blocking; otherwise the
// stream hops to the worker pool (schedule.go) for them and back to its
// loop for everything that does I/O. Exactly one goroutine owns a stream at
// a time. WaitNotify holds no goroutine: the stream parks and the upstream
// connection's read event resumes it. A saturated pool answers 503.
//
// # Filters
//
// A stream filter sees the stream through filterchain.StreamHandle,
// implemented in handle.go, which says which goroutine may call each
// method: SendLocalReply and Resume from any goroutine (hopped to the
// loop), the rest during the callback only. Every filter phase runs under
// one guard (runFilters): a filter that panics, inline on the loop or on a
// worker, is answered through fail (KindFilterPanic: 500, the connection
// closes), and its OnDestroy's panic is recovered too, so a filter never
// takes a loop down. The network filter Manager recovers its filters'
// panics the same way (filterchain), closing the connection.
//
// # Bodies and memory
//
// Bodies stream: each read is forwarded as it arrives, with no copy when
// the destination socket takes it. Request and response bodies that cannot
// be written yet (no connection yet, phases on a worker, the peer above its
// high watermark) are copied into a per-stream spill queue, memory first
// and then an unlinked temp file, so memory stays bounded although gnet
// cannot stop reading. The queue drains when the loop sweep reports the
// destination below its low watermark.
//
// # Failures
//
// One failure path (errors.go, reply.go): every failure is built as an
// Error{Source, Kind, Retryable, Err} where it is detected and answered
// once, by stream.fail, which decides between a retry (Retryable), a
// local reply with the kind's status and a short body naming the cause,
// a reset of the client's side (once response bytes went out, SO_LINGER 0
// or RST_STREAM, so that a truncated message never reads as complete) and
// deferral to a worker's hand-back; it counts the failure by Kind. The
// table of kinds (status, counter, retryable) is docs/errors.md, generated
// from the code by TestErrorsDoc. Direct responses, redirects and
// filters' replies are not failures but share the one writer, writeReply.
// A reused upstream connection that closes before answering a body-less
// idempotent request is retried once on a fresh connection; the route's
// retry_policy retries what its retry_on covers (retry.go: conditions,
// replayable bodies, back-off on the loop's timer, max_requests and
// max_retries breakers). A gRPC request's local reply is a gRPC error
// (grpc_reply.go: 200, trailers-only, grpc-status by Kind).
//
// A route's mirror policy (mirror.go) copies a sampled share of its
// requests to a shadow cluster on the request's loop, fire and forget:
// the copy forks at the first DownRecvHeader, gathers the body the stream
// forwards, goes out once the request is whole, and its response is read
// and discarded; it never delays or fails the main request, and its count
// and body are bounded per loop (MirrorOptions).
//
// # Stream state
//
// A stream's fields are grouped by lifetime and owner (stream.go): fixed
// (server, loop), atomic (gen, the filters' handle state), reused across
// requests (codecs, header views, pipes, buffers: their capacity is kept
// on purpose, trimmed past a bound at reset), and per request
// (requestState, reset by one assignment), split into loop-only fields and
// the owner's (the loop, or a worker during offloaded filter phases).
//
// The lifecycle is one field, life (lifecycle.go), loop only:
//
//	from                     event                                 to
//	lifeNew                  begin: the request is counted         lifeActive
//	lifeNew                  abort: the client went away           lifeAbortedNew
//	lifeAbortedNew           begin                                 lifeAborted
//	lifeActive               abort                                 lifeAborted
//	below lifeDone           end: the End phase                    lifeDone
//	lifeAbortedNew/Aborted   finishAbort: the outermost exit, the  lifeDone, then
//	                         hand-back, or abort at depth 0        lifeReleased
//	lifeDone                 front.streamDone, at the end of end   lifeReleased
//	lifeReleased             recycle: the outermost exit resets    lifeNew
//
// An abort of a stream that ended changes nothing; TestLifeTransitions
// walks the table.
//
// Goroutines: everything runs on the event loop of the downstream
// connection, except filter phases of offloaded streams (a worker) and
// Server.Drain (any goroutine).
//
// Imports: conn, filterchain, router, upstream, internal/*. It must not
// import eventloop, config or admin.
package proxy
