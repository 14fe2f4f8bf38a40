package proxy

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// reqState and respState track the bytes of each side of a stream.
type bodyState uint8

const (
	stateHead bodyState = iota // head not complete
	stateBody                  // body streaming
	stateDone                  // message complete
)

// stream is one request and its response: the phase machine. Streams are
// reused through a per-loop free list; gen changes on every reuse so that a
// late callback (a worker's hand-back, a filter's Resume) for an old request
// is recognised and dropped.
//
// Its fields are grouped by lifetime and by which goroutine may touch them:
//
//   - fixed: set when the stream is allocated or taken, the same for its
//     whole life (a free list is per loop); any goroutine may read them;
//   - atomic: gen and the filters' handle state, any goroutine;
//   - reused: codecs, header views, pipes, the filter chain and byte
//     buffers, which keep their capacity across requests on purpose (a
//     warm stream allocates nothing); reset empties them and trims a
//     buffer that grew past its bound;
//   - per request (requestState): everything else, zeroed by one
//     assignment in reset. Within it, loop-only fields are touched by the
//     loop even while a worker owns the stream; owner fields by whichever
//     goroutine runs the phases (the loop, or a worker during offloaded
//     filter phases, onWorker), which the loop leaves alone meanwhile.
//
// Exactly one goroutine owns a stream at a time (docs/life-of-a-request.md,
// section 7).
type stream struct {
	// Fixed.
	srv  *Server
	loop *conn.Loop

	// Atomic. gen changes on every reuse: Resume and SendLocalReply read it
	// on whatever goroutine a filter calls them from.
	gen atomic.Uint64
	hs  handleState // what filters reach from other goroutines (handle.go)

	// Reused, loop only: the timers (initialised once; stopped, never
	// re-made), the request and response pipes, the encoded heads.
	timeout  conn.Timer // the route timeout (lifecycle.go)
	retryT   conn.Timer // a retry's back-off or per-try timeout (retry.go)
	replay   []byte     // the request body kept for a retry (retry.go); trimmed past 16 KiB
	reqTimer conn.Timer // the whole-request timeout (RequestTimeout)
	reqPipe  pipe
	respPipe pipe
	out      []byte // the encoded request head (and local replies); trimmed past 16 KiB
	respOut  []byte // the encoded response head; trimmed past 16 KiB
	respHead []byte // the response head as received, copied once
	h2pend   []byte // HTTP/2 response bytes waiting for flow-control window; trimmed past 64 KiB
	// respTrailers are a chunked response's trailer lines, sent as an
	// HTTP/2 trailing HEADERS frame.
	respTrailers []byte
	// HTTP/2 upstream request bytes (upstream_h2.go): held for lack of
	// window, a partial chunk line, trailers waiting behind hupPend.
	// Trimmed past 64 KiB.
	hupPend, hupCarry, hupTrailers []byte

	// Reused, owner: the request and response as parsed, their header
	// views, the filter chain, and the path buffers.
	req      http1.Request
	head     []byte // the request head, copied once; trimmed past 16 KiB
	resp     http1.Response
	reqHdrs  headerMap
	respHdrs headerMap
	chain    filterchain.StreamChain
	pathBuf  []byte // trimmed past 4 KiB
	normBuf  []byte // the normalised path (normalize.go); trimmed past 4 KiB
	// alEntry is the access log entry, refilled at each End (accesslog.go).
	alEntry accesslog.Entry

	requestState
}

// requestState is a stream's per-request state, reset by one assignment
// (stream.reset): a new field needs no reset code.
type requestState struct {
	// Loop only, even while a worker owns the stream: the lifecycle, the
	// client and upstream sides, the bodies.

	life  life // lifecycle.go: the states and their transitions
	depth int  // nesting of event entries (enter/exit)
	// onWorker is set while a worker runs the filter phases. The loop
	// writes it, when it hands the stream over and when it takes it back;
	// the worker reads it.
	onWorker bool
	// workerGen is the generation handed to the worker.
	workerGen uint64
	// resumeWanted records a Resume that arrived while the stream was on a
	// worker; the hand-back honours it.
	resumeWanted bool
	// loopReply is a failure the loop detected while a worker owned the
	// stream (a bad body, a timeout); the hand-back answers it (fail).
	loopReply pendingReply
	offload   bool // filter phases run on a worker
	d         *downstream
	// front is the client side: d for HTTP/1.1, the h2conn for an HTTP/2
	// stream (front.go).
	front front

	reqState   bodyState
	reqLen     int64 // Content-Length left, or -1 for chunked
	reqDec     http1.ChunkedDecoder
	reqTotal   int64
	reqDiscard bool // drop the rest of a request body whose upstream is gone
	expect     bool // answer 100 Continue before the body

	pool *upstream.ConnPool[*upConn]
	pc   *upstream.PooledConn[*upConn]
	up   *upConn
	// acquiring is set during pool.Acquire, when OnPoolReady may be
	// called synchronously.
	acquiring bool
	poolErr   error
	retries   int
	headSent  bool // request head written upstream

	respState  bodyState
	respLen    int64
	respDec    http1.ChunkedDecoder
	respKind   http1.BodyKind
	respSent   bool // response head written downstream
	respClose  bool // close the downstream after this response
	upReusable bool
	// infoBytes is the size of the 1xx heads forwarded for the request,
	// bounded by max_header_bytes (upstream.go: informationalBound).
	infoBytes int
	// upgrade: the request's Upgrade was forwarded; tun is the relay
	// after the upstream's 101 (upgrade.go).
	upgrade bool
	tun     *tunnel
	// connect: the request is a CONNECT to terminate (connect.go).
	connect bool

	// HTTP/2 (h2.go): set when the stream is one stream of an HTTP/2
	// client connection.
	h2      *h2conn
	h2id    uint32
	h2held  int  // request body bytes not yet returned to the client's window
	h2ended bool // END_STREAM sent
	h2reset bool // the stream was reset, either way

	// hu is the stream's HTTP/2 upstream side (upstream_h2.go), used
	// instead of pool/pc/up when the listener speaks HTTP/2 upstream.
	hu h2upState

	// m is the request's metrics state (metrics.go).
	m streamMetrics
	// rt is the request's retry and circuit breaker state (retry.go).
	rt retryState

	// Owner: the loop, or the worker during offloaded filter phases.

	path      []byte // origin-form path used for routing and forwarding (target.go)
	authority []byte // the absolute-form target's authority, or nil
	maxFwd    int    // the Max-Forwards value to forward, or -1
	route     *router.Route
	cluster   *upstream.Cluster
	host      *upstream.Host
	lastHost  *upstream.Host // the host a retry or RechooseHost avoids
	resumeAt  Phase          // where a stopped filter resumes, or parked
	// pending is a reply decided while a worker owned the stream (a filter
	// phase's failure or reply), written at the hand-back.
	pending pendingReply
	ctx     context.Context
	cancel  context.CancelFunc
	// al is what the access log needs that the rest does not keep
	// (accesslog.go); its start is zero when the listener logs nothing.
	al accessState
	// reqMutated and respMutated record that the route's header
	// mutations were applied (route_actions.go), so a retry or a resumed
	// phase does not apply them twice.
	reqMutated, respMutated bool
	// mirForked records that the route's mirror policy was applied, and
	// mir is the copy gathering the request body until it is whole
	// (mirror.go). Loop only.
	mirForked bool
	mir       *mirror
}

// newRequestState is the state a stream starts each request with.
//
//nolint:gochecknoglobals // read-only
var newRequestState = requestState{maxFwd: -1, resumeAt: parked}

// reset clears a stream for reuse. The per-request state goes by one
// assignment; the reused parts keep their memory (a buffer that grew past
// its bound is dropped, so one large request does not pin it).
func (s *stream) reset() {
	if s.mir != nil {
		s.dropMirror() // the request ended before it was whole: not copied
	}
	s.gen.Add(1)
	s.clearHandle()
	s.requestState = newRequestState
	s.resetChain()
	s.req.Reset()
	s.resp.Reset()
	s.reqHdrs.reset()
	s.respHdrs.reset()
	s.reqPipe.reset()
	s.respPipe.reset()
	s.reqPipe.enc, s.respPipe.enc = encRaw, encRaw
	s.head = trim(s.head, 16<<10)
	s.out = trim(s.out, 16<<10)
	s.respOut = trim(s.respOut, 16<<10)
	s.respHead = trim(s.respHead, 16<<10)
	s.pathBuf = trim(s.pathBuf, 4<<10)
	s.normBuf = trim(s.normBuf, 4<<10)
	s.h2pend = trim(s.h2pend, 64<<10)
	s.replay = trim(s.replay, 16<<10)
	s.respTrailers = s.respTrailers[:0]
	s.hupPend = trim(s.hupPend, 64<<10)
	s.hupCarry = trim(s.hupCarry, 64<<10)
	s.hupTrailers = trim(s.hupTrailers, 64<<10)
}

// trim empties b, keeping its memory unless it grew past bound.
func trim(b []byte, bound int) []byte {
	if cap(b) > bound {
		return nil
	}
	return b[:0]
}

// run drives the stream from phase p on its loop until it parks or ends.
// A filter phase of an offloaded stream goes to a worker (workerRun) and
// run returns at once. While a worker owns the stream, run does nothing:
// loop events that must answer record it through fail (reply.go), and the hand-back
// acts on them. Loop only.
func (s *stream) run(p Phase) {
	if s.onWorker {
		return
	}
	s.enter()
	defer s.exit()
	for p != parked && !s.aborted() {
		if s.offload && s.filterPhase(p) {
			if p = s.toWorker(p); p == parked {
				return // the worker owns the stream now
			}
			continue
		}
		p = s.step(p)
	}
}

// resume runs the stream from an event that is not one of its own read
// callbacks (a hand-back, Resume, a pool event, a close, a timer): nothing
// else flushes what the phases gathered, so it does. Loop only.
func (s *stream) resume(p Phase) {
	s.enter()
	defer s.exit()
	s.run(p)
	s.flushPipes()
}

// filterPhase reports whether p runs stream filters, and so may run on a
// worker. DownRecvHeader counts until the host is chosen: choosing it runs
// the AfterChooseHost filters.
func (s *stream) filterPhase(p Phase) bool {
	return p.filterPhase() || (p == DownRecvHeader && s.host == nil && !s.chain.Empty())
}

// enter and exit bracket every entry into the stream from an event. A
// close provoked by one of our own writes runs re-entrantly (docs/gnet.md, "Close inside a write") and
// only marks the stream aborted; the outermost exit finishes the abort and
// returns the stream to its free list, so no frame above ever holds a
// recycled stream. Loop only.
func (s *stream) enter() { s.depth++ }

func (s *stream) exit() {
	if s.depth--; s.depth > 0 || s.onWorker {
		return
	}
	if s.aborted() {
		s.finishAbort()
	}
	if s.life == lifeReleased {
		s.srv.recycle(s)
	}
}

// step runs one phase and returns the next. One case per phase, one method
// each.
func (s *stream) step(p Phase) Phase {
	switch p {
	case InitPhase:
		return s.initPhase()
	case DownFilter:
		return s.receivers(filterchain.BeforeRoute, DownFilter, MatchRoute)
	case MatchRoute:
		return s.matchRoute()
	case DownFilterAfterRoute:
		return s.receivers(filterchain.AfterRoute, DownFilterAfterRoute, DownRecvHeader)
	case DownRecvHeader:
		return s.downRecvHeader()
	case DownRecvData:
		return s.downRecvData()
	case DownRecvTrailer:
		return WaitNotify // trailers travel with the last chunk of the body
	case Oneway:
		return End // HTTP/1 has no one-way requests; kept for the contract
	case Retry:
		return s.retry()
	case WaitNotify:
		return s.waitNotify()
	case UpFilter:
		return s.upFilter()
	case UpRecvHeader:
		return s.upRecvHeader()
	case UpRecvData:
		return s.upRecvData()
	case UpRecvTrailer:
		return End
	case End:
		s.end()
		return parked
	}
	return parked
}

// initPhase sets the stream up once its request head is parsed.
func (s *stream) initPhase() Phase {
	if !s.chain.Empty() {
		return DownFilter
	}
	return MatchRoute
}

// receivers runs one receive phase's filters (BeforeRoute, AfterRoute,
// AfterChooseHost) and maps the chain's status to the next phase: next on
// Continue, MatchRoute on Reroute (the host is chosen again), host choice
// on RechooseHost (avoiding this host), self once a stopped filter
// resumes.
func (s *stream) receivers(rp filterchain.ReceivePhase, self, next Phase) Phase {
	if s.chain.Empty() {
		return next
	}
	st, p, answered := s.runFilters(rp, false)
	if answered {
		return p // SendLocalReply, or a filter panic's 500
	}
	switch st {
	case filterchain.StreamContinue:
		return next
	case filterchain.StreamReroute:
		s.host = nil
		return MatchRoute
	case filterchain.StreamRechooseHost:
		s.lastHost, s.host = s.host, nil
		return DownRecvHeader
	default: // StreamStop: Resume or SendLocalReply will come
		s.resumeAt = self
		return parked
	}
}

// matchRoute picks the route and acts on direct responses and redirects.
func (s *stream) matchRoute() Phase {
	if p := s.maxForwards(); p != parked {
		return p
	}
	if len(s.path) == 1 && s.path[0] == '*' { // OPTIONS * is about ferry itself (RFC 9112 3.2.4)
		return s.writeReply(200, "", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n")
	}
	tbl := s.d.f.routes()
	if tbl == nil {
		return s.fail(Error{Source: Internal, Kind: KindNoRoute, Err: (*errNoRouteTable)(s.d.f)}, inPhase)
	}
	if !s.connect {
		s.route = tbl.Match(s.routeHost(), s.path, (*routeHeaders)(s))
	} else if p := s.matchConnect(tbl); p != parked { // connect.go
		return p
	}
	if s.route == nil {
		return s.fail(Error{Source: Internal, Kind: KindNoRoute, Err: errNoRouteMatched}, inPhase)
	}
	if dr := s.route.Direct(); dr != nil {
		return s.directReply(dr.Status, dr.Body)
	}
	if rd := s.route.Redirect(); rd != nil {
		return s.redirect(rd)
	}
	s.cluster = s.pickCluster()
	s.srv.stats.routed.Inc()
	if s.cluster == nil {
		return s.fail(Error{Source: Internal, Kind: KindNoCluster, Err: s.noClusterErr()}, inPhase)
	}
	if s.h2ext() {
		if err := s.extConnectRefusal(); err != nil { // h2tunnel.go
			return s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: err}, inPhase)
		}
	}
	return DownFilterAfterRoute
}

// downRecvHeader chooses a host (running the AfterChooseHost filters,
// possibly on a worker), then, on the loop, gets a connection from the
// pool of (host, loop) and sends the head.
func (s *stream) downRecvHeader() Phase {
	if s.host == nil {
		return s.chooseHost()
	}
	// On the loop from here: the body path reads the policy (retry.go).
	if ca := s.route.Cluster(); ca != nil {
		s.rt.policy = ca.Retry
	}
	if !s.mirForked { // once per request, before any body byte is forwarded (mirror.go)
		s.mirForked = true
		if len(s.route.Cluster().Mirrors) > 0 {
			s.startMirrors()
		}
	}
	if s.cluster.Spec.Breakers.MaxRequests > 0 && !s.admitRequest() {
		return s.fail(s.overloaded(upstream.LimitRequests), inPhase)
	}
	if s.d.f.upH2 {
		return s.h2upHeader()
	}
	if s.pc == nil {
		if !s.timeout.Armed() && s.reqState == stateDone {
			s.loop.Schedule(&s.timeout, s.routeTimeout())
		}
		s.pool = s.srv.pools.Pool(s.loop, s.cluster, s.host)
		s.acquiring = true
		s.pool.Acquire(s)
		s.acquiring = false
		if s.poolErr != nil {
			err := s.poolErr
			s.poolErr = nil
			return s.fail(s.poolError(err), inPhase)
		}
		if s.pc == nil {
			s.mPending()
			return parked // OnPoolReady resumes here
		}
	}
	return s.sendHead()
}

// chooseHost picks the host and runs the AfterChooseHost filters.
func (s *stream) chooseHost() Phase {
	if s.host = s.pickHost(); s.host == nil {
		return s.fail(Error{Source: Upstream, Kind: KindNoHealthyHost, Err: (*errNoHealthy)(s.cluster)}, inPhase)
	}
	s.mutateRequest()
	return s.receivers(filterchain.AfterChooseHost, DownRecvHeader, DownRecvHeader)
}

// sendHead writes the request head upstream and opens the body pipe.
func (s *stream) sendHead() Phase {
	s.up = s.pc.Handler
	s.up.attach(s)
	if s.connect {
		return s.openTunnel() // connect.go: no head goes upstream
	}
	s.out = s.encodeRequestHead(s.out[:0])
	if err := s.reqPipe.start(s.pc.C, s.out); err != nil {
		return parked // the write closed the connection; its close event retried or answered
	}
	s.headSent = true
	s.al.sent(s)
	if s.rt.policy != nil {
		s.attemptStarted()
	}
	s.h2credit()
	if s.expect && s.reqState != stateDone {
		s.expect = false
		_ = s.d.c.Write(continue100) // the client may now send the body
	}
	return DownRecvData
}

// downRecvData lets the request body stream; the downstream read path
// feeds the pipe while the stream waits for the response.
func (s *stream) downRecvData() Phase {
	if s.reqState == stateDone {
		return DownRecvTrailer
	}
	return WaitNotify
}

// waitNotify parks until the upstream's response head (or a failure)
// resumes the stream. No goroutine waits: the upstream connection's read
// event does.
func (s *stream) waitNotify() Phase {
	if s.respState == stateHead {
		return parked
	}
	return UpFilter
}

// upFilter runs the sender filters on the response head, after the
// route's response header mutations.
func (s *stream) upFilter() Phase {
	s.mutateResponse()
	if s.chain.Empty() {
		return UpRecvHeader
	}
	st, p, answered := s.runFilters(0, true)
	if answered {
		return p
	}
	if st == filterchain.StreamStop {
		s.resumeAt = UpFilter
		return parked
	}
	return UpRecvHeader
}

// upRecvHeader writes the response head downstream and opens the body pipe.
func (s *stream) upRecvHeader() Phase {
	return s.front.sendHead(s)
}

// upRecvData waits for the body to complete; the upstream read path moves
// it and resumes at UpRecvTrailer.
func (s *stream) upRecvData() Phase {
	if s.respState == stateDone && s.respQueued() == 0 {
		return UpRecvTrailer
	}
	return parked
}

// routeTimeout is the route's timeout, or the server default.
func (s *stream) routeTimeout() time.Duration {
	t := s.srv.opts.RouteTimeout
	if s.route != nil {
		if rt := s.route.Timeout(); rt > 0 {
			t = rt
		}
	}
	if g := s.grpcTimeout(); g > 0 && g < t { // a gRPC deadline caps it (grpc_reply.go)
		t = g
	}
	return t
}

var (
	_ filterchain.StreamHandle     = (*stream)(nil)
	_ upstream.PoolClient[*upConn] = (*stream)(nil)
)
