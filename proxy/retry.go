package proxy

import (
	"math/rand/v2"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/stats"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// Retries and circuit breakers: the Retry phase and what decides it.
//
// Two kinds of retry share the phase (stream.retry):
//
//   - the stale-connection retry, always on: a request whose reused
//     upstream connection closed before any response byte is sent once
//     more on a fresh connection when it is idempotent and body-less
//     (upstream.go: retryable; Options.MaxRetries). The upstream may have
//     closed the idle connection as we wrote: that is no failure of the
//     upstream, and Go's net/http and nginx retry it too. It is neither
//     counted against the policy nor capped by max_retries.
//   - the route's retry_policy (router.RetryPolicy), off by default as in
//     Envoy and MOSN: a failure its retry_on covers (wantRetry) is retried
//     up to num_retries times, on another host where the cluster has one
//     (Cluster.PickExcluding), after a jittered exponential back-off on
//     the loop's timer wheel (never a sleeping goroutine), when the
//     request can be replayed (replayable) and max_retries has room.
//     Both upstream protocols hook in the same way: the status retry
//     (retryResponse) where the response head arrives (readResponseHead,
//     h2up.OnResponse), the body replay and the per-try timer
//     (attemptStarted) once the request head went (sendHead, h2upSend).
//
// Circuit breakers (upstream/breaker.go) are counted here on the proxy's
// side for max_requests (from the pool request to the detach of each
// attempt) and max_retries (from the decision to the end of the retried
// attempt); the pool counts max_connections and max_pending_requests. A
// limit that is not set costs one field read.

// retryState is a stream's retry and breaker state, part of requestState
// (one reset clears it). Loop only.
type retryState struct {
	// policy is the route's retry policy, nil for none. Loop only: set
	// when DownRecvHeader runs on the loop, so body bytes that arrived
	// while a worker ran the filter phases are not kept (such a request is
	// not replayable: replayable compares what was kept with reqTotal).
	policy *router.RetryPolicy
	// attempts counts the policy's retries so far.
	attempts int
	// reqSlot is the breaker holding this attempt's max_requests slot.
	reqSlot *upstream.Breaker
	// retrySlot is the breaker holding a max_retries slot for the retried
	// attempt; keepSlot lets the Retry phase's own detach keep it.
	retrySlot *upstream.Breaker
	keepSlot  bool
	// tooLong is set once the request body passed the replay buffer.
	tooLong bool
	// timer says what retryTimer runs for: a back-off or a per-try
	// timeout; gen is the stream generation it was armed for.
	timer timerUse
	gen   uint64
	// grpcTimeout is the request's grpc-timeout, 0 for none (grpc.go).
	grpcTimeout time.Duration
	grpcChecked bool
}

type timerUse uint8

const (
	timerOff timerUse = iota
	timerBackoff
	timerPerTry
)

// retryTimer is a stream as the handler of its retry timer.
type retryTimer stream

// OnTimer implements conn.TimerHandler.
func (t *retryTimer) OnTimer(*conn.Timer) {
	s := (*stream)(t)
	use := s.rt.timer
	if use == timerOff || s.rt.gen != s.gen.Load() || s.ended() || s.onWorker {
		return
	}
	s.rt.timer = timerOff
	switch use {
	case timerBackoff:
		s.resume(DownRecvHeader)
	case timerPerTry:
		if s.respState == stateHead && s.headSent {
			s.srv.stats.perTryTimeouts.Inc()
			s.fail(Error{Source: Upstream, Kind: KindUpstreamTimeout, Err: errPerTryTimeout}, onEvent)
		}
	}
}

// armRetryTimer schedules the retry timer for use after d.
func (s *stream) armRetryTimer(use timerUse, d time.Duration) {
	s.retryT.Init((*retryTimer)(s))
	s.rt.timer, s.rt.gen = use, s.gen.Load()
	s.loop.Schedule(&s.retryT, d)
}

// stopRetryTimer stops it.
func (s *stream) stopRetryTimer() {
	if s.rt.timer != timerOff {
		s.rt.timer = timerOff
		s.loop.Stop(&s.retryT)
	}
}

// admitRequest takes the cluster's max_requests slot for an attempt, and
// reports whether it could. Called only when the limit is set.
func (s *stream) admitRequest() bool {
	if s.rt.reqSlot != nil {
		return true
	}
	b := s.cluster.Breaker()
	if !b.TryAcquire(upstream.LimitRequests, s.cluster.Limit(upstream.LimitRequests)) {
		return false
	}
	s.rt.reqSlot = b
	return true
}

// overloaded is the failure of a request a breaker refused.
func (s *stream) overloaded(l upstream.Limit) Error {
	return Error{Source: Upstream, Kind: KindOverflow, Err: &upstream.LimitError{Cluster: s.cluster.Name(),
		What: l.String(), Max: s.cluster.Limit(l)}}
}

// releaseAttempt runs when an attempt lets go of its upstream
// (detachUpstream): its max_requests slot, a max_retries slot (unless the
// Retry phase is starting the retried attempt), the per-try timer, and a
// back-off the stream no longer waits for (it failed or went away; the
// Retry phase arms its back-off after its own detach).
func (s *stream) releaseAttempt() {
	if b := s.rt.reqSlot; b != nil {
		s.rt.reqSlot = nil
		b.Release(upstream.LimitRequests)
	}
	if s.rt.keepSlot {
		s.rt.keepSlot = false
	} else if b := s.rt.retrySlot; b != nil {
		s.rt.retrySlot = nil
		b.Release(upstream.LimitRetries)
	}
	s.stopRetryTimer()
}

// wantRetry decides whether failure e is retried (fail's step 1).
func (s *stream) wantRetry(e *Error, k *kindInfo) bool {
	if !k.retry || s.onWorker || s.respSent {
		return false
	}
	if e.Retryable {
		return true // the stale-connection retry (upstream.go: retryable)
	}
	p := s.rt.policy
	if p == nil || !retryCovers(p, e) {
		return false
	}
	return s.policyRetry(p)
}

// policyRetry checks what every policy retry needs: an attempt left, a
// replayable request, room under max_retries. It counts a refusal by the
// breaker in upstream_rq_retry_overflow.
func (s *stream) policyRetry(p *router.RetryPolicy) bool {
	if s.rt.attempts >= p.NumRetries {
		return false
	}
	if !s.replayable(p) {
		if s.rt.tooLong && (p.NonIdempotent || s.idempotent()) {
			// Retriable but for its body: say why nothing was retried.
			s.srv.stats.retryBodyTooLarge.Inc()
			s.srv.log.Debug("not retried: the request body passed retry_buffer_limit_bytes", "limit", p.BufferLimit)
		}
		return false
	}
	if s.rt.retrySlot == nil {
		b := s.cluster.Breaker()
		if !b.TryAcquire(upstream.LimitRetries, s.cluster.Limit(upstream.LimitRetries)) {
			s.srv.stats.retryOverflow.Inc()
			return false
		}
		s.rt.retrySlot = b
	}
	s.rt.attempts++
	s.rt.keepSlot = true
	return true
}

// retryCovers reports whether p's retry_on covers failure e.
func retryCovers(p *router.RetryPolicy, e *Error) bool {
	noResponse := router.Retry5xx | router.RetryGatewayError
	switch e.Kind {
	case KindConnectFailed:
		return p.On&(noResponse|router.RetryConnectFailure) != 0
	case KindUpstreamReset:
		return p.On&(noResponse|router.RetryReset) != 0
	case KindUpstreamTimeout:
		// Only a per-try timeout: the route timeout is the whole budget.
		return e.Err == errPerTryTimeout && p.On&(noResponse|router.RetryReset) != 0
	}
	return false
}

// retryStatus reports whether p retries a response with this status.
func retryStatus(p *router.RetryPolicy, status int) bool {
	switch {
	case p.On&router.Retry5xx != 0 && status >= 500 && status <= 599:
		return true
	case p.On&router.RetryGatewayError != 0 && status >= 502 && status <= 504:
		return true
	}
	return p.On&router.RetryStatusCodes != 0 && p.RetriableStatus(status)
}

// retryResponse runs on a response head (readResponseHead): a status the
// policy retries drops the response and its connection and retries; it
// reports whether it did. A response on a retried attempt that is kept
// counts upstream_rq_retry_success.
func (s *stream) retryResponse(status int) bool {
	if s.rt.timer == timerPerTry {
		s.stopRetryTimer()
	}
	if p := s.rt.policy; p != nil && retryStatus(p, status) && !s.onWorker && s.policyRetry(p) {
		s.upReusable = false // its body is never read: the Retry phase's detach closes it
		s.run(Retry)
		return true
	}
	if s.retries > 0 {
		s.srv.stats.retrySuccess.Inc()
	}
	return false
}

// replayable reports whether the request can be sent again: an idempotent
// method (RFC 9110 9.2.2) unless the policy allows any, and no body or one
// received whole, with a Content-Length, within the replay buffer.
func (s *stream) replayable(p *router.RetryPolicy) bool {
	if !p.NonIdempotent && !s.idempotent() {
		return false
	}
	if !s.hasBody() {
		return true
	}
	// An HTTP/2 body of unstated length is re-stated as chunked (Chunked).
	return s.reqState == stateDone && !s.req.Chunked && !s.rt.tooLong &&
		int64(len(s.replay)) == s.reqTotal
}

// keepBody copies request body bytes for a replay while the route has a
// retry policy, up to its buffer limit; past it the request is not
// replayable and the copy is dropped. Called for every body piece
// forwarded (forwardBody). What it keeps is bounded by the limit times the
// streams the listeners admit; a stream on the free list keeps at most
// 16 KiB of it (reset).
func (s *stream) keepBody(b []byte) {
	p := s.rt.policy
	if p == nil || s.rt.tooLong {
		return
	}
	if len(s.replay)+len(b) > p.BufferLimit || !p.NonIdempotent && !s.idempotent() {
		// Past the bound, or a method never replayed: nothing is kept.
		s.rt.tooLong = true
		s.replay = s.replay[:0]
		return
	}
	s.replay = append(s.replay, b...)
}

// attemptStarted runs once an attempt's request head went out
// (sendHead): a retried request's kept body follows the head, and the
// per-try timer starts.
func (s *stream) attemptStarted() {
	p := s.rt.policy
	if s.retries > 0 && len(s.replay) > 0 {
		s.requestLost(s.reqPipe.add(s.replay))
	}
	if p.PerTryTimeout > 0 {
		s.armRetryTimer(timerPerTry, p.PerTryTimeout)
	}
}

// backoff is how long the policy's retry number n (1 for the first) waits:
// a random time in [0, min(max, base × 2^(n-1))) (full jitter; Envoy's
// base 25ms and max 10 × base by default). rnd(n) returns a number in
// [0, n).
func backoff(p *router.RetryPolicy, n int, rnd func(int64) int64) time.Duration {
	ceil := p.BackOffBase
	for i := 1; i < n && ceil < p.BackOffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.BackOffMax)
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(ceil)))
}

// retry is the Retry phase: the request goes again, to another host where
// the cluster has one, after the policy's back-off.
func (s *stream) retry() Phase {
	policy := s.rt.keepSlot // set by policyRetry; the stale-connection retry waits for nothing
	s.retries++
	s.srv.stats.retries.Inc()
	s.mRetry()
	s.detachUpstream(false)
	s.lastHost, s.host = s.host, nil
	s.headSent = false
	s.resp.Reset()
	s.respState = stateHead
	s.reqPipe.reset()
	if p := s.rt.policy; p != nil && policy {
		if d := backoff(p, s.rt.attempts, rand.Int64N); d > 0 {
			s.srv.stats.retryBackoff.Inc()
			s.armRetryTimer(timerBackoff, d)
			return parked // retryTimer resumes at DownRecvHeader
		}
	}
	return DownRecvHeader
}

// retryStats are the counters of retries and overload replies, part of
// Stats.
type retryStats struct {
	retrySuccess   *stats.Counter // a retried request got a response it kept
	retryOverflow  *stats.Counter // a policy retry refused by max_retries
	retryBackoff   *stats.Counter // back-offs waited
	perTryTimeouts *stats.Counter // attempts past the policy's retry_timeout
	// retryBodyTooLarge counts retries the policy wanted but the request
	// body, past retry_buffer_limit_bytes, could not be replayed.
	retryBodyTooLarge *stats.Counter
	// overload counts the overflow replies by the limit that refused
	// (overloadLimits).
	overload [len(overloadLimits)]*stats.Counter
}

// overloadLimits are what an overflow reply names (upstream.LimitError's
// What; index i < upstream.LimitCount is upstream.Limit(i)), each counted
// in overload_<name>.
//
//nolint:gochecknoglobals // read-only
var overloadLimits = [...]string{"max_connections", "max_pending_requests", "max_requests", "max_retries",
	"max_conns_per_host", "worker_pool"}

func newRetryStats(set *stats.Set) retryStats {
	r := retryStats{
		retrySuccess:   set.Counter("upstream_rq_retry_success"),
		retryOverflow:  set.Counter("upstream_rq_retry_overflow"),
		retryBackoff:   set.Counter("upstream_rq_retry_backoff"),
		perTryTimeouts: set.Counter("upstream_rq_per_try_timeout"),

		retryBodyTooLarge: set.Counter("upstream_rq_retry_body_too_large"),
	}
	for i, name := range overloadLimits {
		r.overload[i] = set.Counter("overload_" + name)
	}
	return r
}

// countOverload counts an overflow reply under the limit it names.
func (r *retryStats) countOverload(what string) {
	for i, name := range overloadLimits {
		if name == what {
			r.overload[i].Inc()
			return
		}
	}
}
