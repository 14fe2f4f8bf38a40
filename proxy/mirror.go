package proxy

import (
	"errors"
	"strconv"
	"time"

	"github.com/bytedance/gopkg/lang/fastrand"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/stats"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// Request mirroring (a route's request_mirror_policies, router.Mirror):
// a sampled share of a route's requests is copied to a shadow cluster,
// fire and forget, on the request's own loop. docs/life-of-a-request.md,
// section 4, says where the copy forks; docs/operations.md, "Request
// mirroring", what an operator sees.
//
//   - The fork (startMirrors, a mirror per sampled policy of the route)
//     is at the first DownRecvHeader on the loop, once the main request's
//     host is chosen and before any body byte is forwarded: the copy's head is the main request's head as encoded for
//     its upstream (encodeRequestHead: rewrites, mutations, X-Forwarded-*),
//     with "-shadow" added to the Host name (Envoy's), in the mirror's own
//     buffer. The body pieces the stream forwards are appended to it
//     (mirrorBody; a chunked body re-chunked, its trailers dropped), and
//     when the request is whole (requestDone) the mirror takes a
//     connection from the HTTP/1.1 pool of (shadow host, loop) and writes
//     it all at once. The copy outlives the stream (its response comes
//     later), so it owns its bytes: one copy of head and body, bounded.
//   - Never slowing or failing the main request: the main stream does not
//     wait for the mirror at any point; the mirror's response is read and
//     discarded by the connection's read events; a failing shadow (no
//     host, refused connect, reset, malformed response, timeout) is
//     counted and forgotten. The stream drops a mirror it has not sent when
//     it ends first (a failed or aborted request is not copied).
//   - Bounded: at most MirrorOptions.MaxInFlight mirrors per loop and the
//     shadow cluster's max_requests (from the fork to the end), each with
//     at most MaxBodyBytes of body, each ended by the route's timeout;
//     past a bound the copy is skipped and counted (its pool's
//     max_pending_requests and max_connections refuse it as a failure).
//     A route without a mirror pays one length check per request
//     (BenchmarkProxyGETMirror).
//
// Counters (Stats: /api/v1/stats, /metrics): upstream_rq_mirror (copies
// sent), upstream_rq_mirror_success (their response read whole),
// upstream_rq_mirror_failure, upstream_rq_mirror_skipped_sampling,
// upstream_rq_mirror_skipped_overload (MaxInFlight),
// upstream_rq_mirror_skipped_body_too_large (MaxBodyBytes) and
// upstream_rq_mirror_skipped_incomplete (the request ended, or its body
// began, before the copy could be whole).

// MirrorOptions bound request mirroring on each loop. Zero values take the
// defaults noted.
type MirrorOptions struct {
	// MaxInFlight bounds the mirrors of one loop, from the fork until
	// their response is read (256).
	MaxInFlight int
	// MaxBodyBytes bounds the request body a mirror copies (64 KiB); a
	// larger request is not mirrored.
	MaxBodyBytes int
}

func (o *MirrorOptions) defaults() {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
}

// maxFreeMirrors bounds each loop's free list of mirrors; their buffers
// are trimmed to 16 KiB when they go back.
const maxFreeMirrors = 64

// mirrorLoop is a loop's mirrors: the in-flight count and the free list.
// Loop only.
type mirrorLoop struct {
	inFlight int
	free     []*mirror
}

// newMirrorLoops returns the per-loop mirror state, o's defaults applied.
func newMirrorLoops(o *MirrorOptions, loops int) []mirrorLoop {
	o.defaults()
	return make([]mirrorLoop, loops)
}

// mirrorStats are the mirror counters, part of Stats.
type mirrorStats struct {
	mirrorSent, mirrorSuccess, mirrorFailure     *stats.Counter
	mirrorSkipSampling, mirrorSkipOverload       *stats.Counter
	mirrorSkipBodyTooLarge, mirrorSkipIncomplete *stats.Counter
}

func newMirrorStats(set *stats.Set) mirrorStats {
	return mirrorStats{
		mirrorSent:             set.Counter("upstream_rq_mirror"),
		mirrorSuccess:          set.Counter("upstream_rq_mirror_success"),
		mirrorFailure:          set.Counter("upstream_rq_mirror_failure"),
		mirrorSkipSampling:     set.Counter("upstream_rq_mirror_skipped_sampling"),
		mirrorSkipOverload:     set.Counter("upstream_rq_mirror_skipped_overload"),
		mirrorSkipBodyTooLarge: set.Counter("upstream_rq_mirror_skipped_body_too_large"),
		mirrorSkipIncomplete:   set.Counter("upstream_rq_mirror_skipped_incomplete"),
	}
}

// mirror is one shadow request: its bytes, its upstream connection, and
// the parse of the response it discards. Loop only.
type mirror struct {
	srv   *Server
	loop  *conn.Loop
	ml    *mirrorLoop
	timer conn.Timer // the route's timeout, from the send
	// timeout is the route's timeout, read at the fork.
	timeout time.Duration
	// limits are the head limits of the forked stream's listener.
	limits *http1.Limits

	host *upstream.Host
	// brk counts the copy under the shadow cluster's max_requests until
	// done, nil when the cluster has no such limit.
	brk  *upstream.Breaker
	pool *upstream.ConnPool[*upConn]
	pc   *upstream.PooledConn[*upConn]

	buf     []byte // the head, then the body; trimmed past 16 KiB
	body    int    // body bytes in buf
	frame   int    // chunk framing bytes in buf
	chunked bool   // buf's body is re-chunked
	head    bool   // the request is HEAD: the response has no body

	resp     http1.Response
	respDec  http1.ChunkedDecoder
	respLen  int64
	respBody bool // the head is read, the body is being discarded

	// next links the mirrors of one stream that are gathering its body
	// (stream.mir), one per policy of the route.
	next *mirror
}

var errMirrorTimeout = errors.New("mirror: timed out")

// startMirrors applies the route's mirror policies, each drawn and bounded
// on its own. Called once per request of a route with mirrors, on the
// loop, at the first DownRecvHeader with the host chosen (stream.go,
// whose length check is all a route without one pays).
func (s *stream) startMirrors() {
	ms := s.route.Cluster().Mirrors
	for i := range ms {
		s.startMirror(&ms[i])
	}
}

// startMirror decides whether this request is copied to mp's cluster and,
// when it is, builds the copy's head.
func (s *stream) startMirror(mp *router.Mirror) {
	st := &s.srv.stats.mirrorStats
	if mp.Percent < 100 && fastrand.Uint32n(100) >= mp.Percent {
		st.mirrorSkipSampling.Inc()
		return
	}
	o := &s.srv.opts.Mirror
	switch {
	case s.reqTotal > 0: // body bytes went by before the fork (filters on a worker)
		st.mirrorSkipIncomplete.Inc()
		return
	case s.req.ContentLength > int64(o.MaxBodyBytes):
		st.mirrorSkipBodyTooLarge.Inc()
		return
	}
	ml := &s.srv.mirrors[s.loop.Index]
	if ml.inFlight >= o.MaxInFlight {
		st.mirrorSkipOverload.Inc()
		return
	}
	c := s.srv.clusters.Get(mp.Cluster)
	var h *upstream.Host
	if c != nil {
		h = c.Pick()
	}
	if h == nil { // a reload removed the cluster, or it has no host to pick
		st.mirrorFailure.Inc()
		return
	}
	var brk *upstream.Breaker // the shadow cluster's max_requests, as a request routed to it counts
	if limit := c.Limit(upstream.LimitRequests); limit > 0 {
		if !c.Breaker().TryAcquire(upstream.LimitRequests, limit) {
			st.mirrorSkipOverload.Inc()
			return
		}
		brk = c.Breaker()
	}
	m := ml.take(s.srv, s.loop)
	m.brk = brk
	m.host, m.chunked, m.head = h, s.reqLen < 0, s.req.IsHead()
	m.pool = s.srv.pools.Pool(s.loop, c, h)
	m.buf = shadowHost(s.encodeRequestHead(m.buf[:0]))
	m.timeout = s.routeTimeout()
	m.limits = &s.d.f.opts.Limits
	if s.reqState == stateDone {
		m.send()
		return
	}
	m.next, s.mir = s.mir, m
}

// take returns a mirror from the loop's free list, counted in flight.
func (ml *mirrorLoop) take(srv *Server, l *conn.Loop) *mirror {
	ml.inFlight++
	if n := len(ml.free); n > 0 {
		m := ml.free[n-1]
		ml.free[n-1] = nil
		ml.free = ml.free[:n-1]
		return m
	}
	m := &mirror{srv: srv, loop: l, ml: ml}
	m.timer.Init(m)
	return m
}

// mirrorBody appends a forwarded body piece to the stream's mirrors; one
// past MaxBodyBytes of body, or of chunk framing (a body of tiny chunks),
// is dropped. Loop only.
func (s *stream) mirrorBody(b []byte) {
	if len(b) == 0 {
		return
	}
	limit := s.srv.opts.Mirror.MaxBodyBytes
	for p := &s.mir; *p != nil; {
		m := *p
		if m.add(b, limit) {
			p = &m.next
			continue
		}
		*p = m.next
		s.srv.stats.mirrorSkipBodyTooLarge.Inc()
		m.done()
	}
}

// add appends b to the copy's body, re-chunked when the copy is chunked;
// it reports false, appending nothing more, past limit.
func (m *mirror) add(b []byte, limit int) bool {
	l := len(m.buf)
	if m.chunked {
		m.buf = strconv.AppendUint(m.buf, uint64(len(b)), 16)
		m.buf = append(m.buf, crlf...)
		m.frame += len(m.buf) - l + len(crlf)
	}
	if m.body += len(b); m.body > limit || m.frame > limit {
		return false
	}
	m.buf = append(m.buf, b...)
	if m.chunked {
		m.buf = append(m.buf, crlf...)
	}
	return true
}

// mirrorDone sends the stream's mirrors once the request is whole.
func (s *stream) mirrorDone() {
	for m := s.mir; m != nil; m = s.mir {
		s.mir, m.next = m.next, nil
		if m.chunked {
			m.buf = append(m.buf, "0\r\n\r\n"...) // the trailers are not copied
		}
		m.send()
	}
}

// dropMirror forgets the mirrors the stream ends before sending (reset).
func (s *stream) dropMirror() {
	for m := s.mir; m != nil; m = s.mir {
		s.mir, m.next = m.next, nil
		s.srv.stats.mirrorSkipIncomplete.Inc()
		m.done()
	}
}

// shadowHost adds "-shadow" to the host name of the encoded head's Host
// field, before any port (Envoy's: a.example:8080 becomes
// a.example-shadow:8080). The encoder writes exactly one Host field.
func shadowHost(head []byte) []byte {
	const suffix = "-shadow"
	i := 0
	for {
		j := indexCRLF(head[i:])
		if j < 0 {
			return head
		}
		i += j + 2
		if len(head)-i > 5 && equalFoldBytes(head[i:i+5], "host:") {
			break
		}
	}
	end := i + indexCRLF(head[i:])
	v := i + 5
	for v < end && (head[v] == ' ' || head[v] == '\t') {
		v++
	}
	at := end
	for at > v && (head[at-1] == ' ' || head[at-1] == '\t') {
		at--
	}
	for k := at - 1; k >= v; k-- {
		if head[k] == ']' {
			break // an IPv6 literal without a port
		}
		if head[k] == ':' {
			at = k
			break
		}
	}
	head = append(head, suffix...)
	copy(head[at+len(suffix):], head[at:len(head)-len(suffix)])
	copy(head[at:], suffix)
	return head
}

// indexCRLF is the index of the first CRLF in b, or -1.
func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// send takes a connection for the whole copy. Nothing of m is touched
// after Acquire: the pool may call back at once, and a failure there ends
// the mirror.
func (m *mirror) send() {
	m.loop.Schedule(&m.timer, m.timeout)
	m.pool.Acquire(m)
}

// OnPoolReady implements upstream.PoolClient: the copy goes out in one
// write (gnet keeps what the socket does not take).
func (m *mirror) OnPoolReady(pc *upstream.PooledConn[*upConn]) {
	m.pool = nil
	m.pc = pc
	pc.Handler.mir = m
	pc.Host().IncActive()
	m.srv.stats.mirrorSent.Inc()
	m.resp.Reset()
	_ = pc.C.Write(m.buf) // a failed write closed the connection: its close event ended m
}

// OnPoolFailure implements upstream.PoolClient.
func (m *mirror) OnPoolFailure(error) {
	m.pool = nil
	m.fail()
}

// OnTimer implements conn.TimerHandler: the route's timeout passed.
func (m *mirror) OnTimer(*conn.Timer) {
	m.srv.log.Debug("mirror timed out", "host", m.host.Address(), "err", errMirrorTimeout)
	m.fail()
}

// onData reads and discards the shadow's response; at its end the
// connection goes back to its pool (reusable when nothing follows it).
func (m *mirror) onData(buf filterchain.Buffer) {
	for buf.Len() > 0 {
		if !m.respBody {
			n, err := m.resp.Parse(buf.Bytes(), m.head, *m.limits)
			if err != nil {
				m.fail()
				return
			}
			if n == 0 {
				return
			}
			buf.Drain(n)
			if m.resp.Status == 101 { // an upgrade the shadow accepted: nothing to read as HTTP
				m.fail()
				return
			}
			if m.resp.Status < 200 {
				m.resp.Reset()
				continue
			}
			m.respBody, m.respLen = true, m.resp.ContentLength
			m.respDec.Reset()
			if m.resp.Body == http1.BodyNone || m.resp.Body == http1.BodyLength && m.respLen == 0 {
				m.succeed(buf)
				return
			}
			continue
		}
		switch m.resp.Body {
		case http1.BodyLength:
			n := int(min(int64(buf.Len()), m.respLen))
			buf.Drain(n)
			if m.respLen -= int64(n); m.respLen == 0 {
				m.succeed(buf)
				return
			}
		case http1.BodyChunked:
			ev, n, _, err := m.respDec.Next(buf.Bytes())
			if err != nil {
				m.fail()
				return
			}
			buf.Drain(n)
			if ev == http1.ChunkDone {
				m.succeed(buf)
				return
			}
			if ev == http1.ChunkNeedMore && n == 0 {
				return
			}
		default: // until close: onClose ends it
			buf.Drain(buf.Len())
		}
	}
}

// onClose ends a mirror whose connection closed: a response delimited by
// the close is whole, anything else failed.
func (m *mirror) onClose() {
	m.pc.Handler.mir = nil
	if m.respBody && m.resp.Body == http1.BodyUntilClose {
		m.srv.stats.mirrorSuccess.Inc()
	} else {
		m.srv.stats.mirrorFailure.Inc()
	}
	m.release(false)
	m.done()
}

// succeed ends a mirror whose response was read whole. The connection is
// reused only when nothing follows the response and the whole request
// left (a shadow may answer before it read the body: the rest of it must
// not precede the next request).
func (m *mirror) succeed(buf filterchain.Buffer) {
	m.srv.stats.mirrorSuccess.Inc()
	m.pc.Handler.mir = nil
	m.release(m.resp.KeepAlive && buf.Len() == 0 && m.pc.C.OutboundBuffered() == 0)
	m.done()
}

// fail ends a mirror that failed (pool failure, timeout, malformed
// response); its connection, if any, is closed.
func (m *mirror) fail() {
	m.srv.stats.mirrorFailure.Inc()
	if m.pc != nil {
		m.pc.Handler.mir = nil
		m.pc.C.Close(filterchain.CloseNow)
	}
	m.release(false)
	m.done()
}

// release gives the connection back, or leaves the pool's queue.
func (m *mirror) release(reusable bool) {
	if m.pool != nil {
		m.pool.Cancel(m)
		m.pool = nil
	}
	if pc := m.pc; pc != nil {
		m.pc = nil
		pc.Host().DecActive()
		pc.Release(reusable)
	}
}

// done returns m to its loop's free list and out of the in-flight count.
func (m *mirror) done() {
	m.loop.Stop(&m.timer)
	if m.brk != nil {
		m.brk.Release(upstream.LimitRequests)
		m.brk = nil
	}
	ml := m.ml
	ml.inFlight--
	m.host, m.pool, m.pc, m.next = nil, nil, nil, nil
	m.buf = trim(m.buf, 16<<10)
	m.body, m.frame, m.chunked, m.head, m.respBody, m.respLen = 0, 0, false, false, false, 0
	if len(ml.free) < maxFreeMirrors {
		ml.free = append(ml.free, m)
	}
}
