package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/ferry-proxy/ferry/filterchain"
)

// This file is the stream as its filters see it: the
// filterchain.StreamHandle methods, which goroutine may call each, and the
// guard every filter callback runs under (runFilters).
//
// The owner of a stream is the one goroutine that runs its phases at a
// time: its loop, or a worker during offloaded filter phases (schedule.go).
// A filter callback (OnReceive, Append) runs on the owner. The handle is
// the stream itself, which is reused for later requests once the filters'
// OnDestroy has run, so a filter must stop using it by then.

// handleState is what filters reach from other goroutines.
type handleState struct {
	// inFilter is true while the stream's owner runs its filter phases and
	// will look for a reply at the next filter boundary (runFilters). It
	// is set by the first filter callback of a request (one atomic store
	// per request with filters) and cleared when a filter stops the
	// stream; a reply sent while it is false hops to the loop. The owner
	// clears it before it looks for a reply, and SendLocalReply stores
	// the reply before it reads it, so no reply falls between the two
	// (both are sequentially consistent atomics).
	inFilter atomic.Bool
	// has is set when reply holds a reply not yet written.
	has   atomic.Bool
	mu    sync.Mutex // guards reply and gen
	reply pendingReply
	gen   uint64 // the stream generation the reply was sent for
}

// put records a filter's reply for generation gen; a later one replaces
// it. has is set under the lock, so that it never says "a reply" about a
// slot a concurrent take has just emptied. Any goroutine.
func (h *handleState) put(r pendingReply, gen uint64) {
	h.mu.Lock()
	h.reply, h.gen = r, gen
	h.has.Store(true)
	h.mu.Unlock()
}

// take returns the recorded reply and its generation, once. Any
// goroutine; the owner calls it. Without a reply it costs one load.
func (h *handleState) take() (pendingReply, uint64, bool) {
	if !h.has.Load() {
		return pendingReply{}, 0, false
	}
	h.mu.Lock()
	r, gen, ok := h.reply, h.gen, h.has.Swap(false)
	h.reply = pendingReply{}
	h.mu.Unlock()
	return r, gen, ok && r.status != 0
}

// takeReply returns a reply a filter sent for this request, once. A reply
// for an earlier request of this stream (a handle used after its
// OnDestroy) is dropped and counted. Owner only.
func (s *stream) takeReply() (pendingReply, bool) {
	r, gen, ok := s.hs.take()
	if !ok {
		return pendingReply{}, false
	}
	if gen != s.gen.Load() {
		s.srv.stats.filterReplyDropped.Inc()
		return pendingReply{}, false
	}
	return r, true
}

// clearHandle drops what a finished stream's filters left: a reply no
// filter phase took (the response had started, or the stream ended) is
// counted in filter_reply_dropped. Loop only, at reset; a stream without
// filters pays two loads.
func (s *stream) clearHandle() {
	if s.hs.inFilter.Load() {
		s.hs.inFilter.Store(false)
	}
	if _, _, ok := s.hs.take(); ok {
		s.srv.stats.filterReplyDropped.Inc()
		s.srv.log.Debug("stream filter reply dropped: no filter phase was left to take it")
	}
}

// runFilters runs one phase's filters under the guard: the receivers of
// rp, or the senders when send is set. It returns the chain's status; when
// a filter answered the request instead (SendLocalReply) or panicked (500,
// counted, the connection closed after it), answered is true and next is
// the phase the reply leads to. A filter panic never leaves this function,
// on a loop or on a worker.
//
// Cost on the hot path, with a non-empty chain: an open-coded defer and
// two loads per phase, and one atomic store per request (the first
// phase). Streams without filters never get here. BenchmarkFilterGuard
// measures it (docs/performance.md).
func (s *stream) runFilters(rp filterchain.ReceivePhase, send bool) (st filterchain.StreamStatus, next Phase, answered bool) {
	if !s.hs.inFilter.Load() {
		s.hs.inFilter.Store(true)
	}
	defer func() {
		if v := recover(); v != nil {
			st, next, answered = filterchain.StreamStop, s.filterPanicked(v), true
		}
	}()
	if send {
		st = s.chain.RunSenders(s, &s.respHdrs)
	} else {
		st = s.chain.RunReceivers(rp, s, &s.reqHdrs)
	}
	if st == filterchain.StreamStop {
		// The stream parks: a reply from now on must hop to the loop.
		s.hs.inFilter.Store(false)
	}
	if s.hs.has.Load() {
		if r, ok := s.takeReply(); ok {
			return filterchain.StreamStop, s.answerFilter(r), true
		}
	}
	return st, parked, false
}

// filterPanicked answers a request whose filter panicked through the
// failure path (fail, KindFilterPanic): 500, counted in
// scheduler_filter_panics, and the client connection closes after the
// reply (HTTP/2: the stream ends with the reply; the connection stays).
// Once the response head went out, the client's side is reset instead. On
// a worker the hand-back answers. Owner only.
func (s *stream) filterPanicked(v any) Phase {
	s.hs.take() // a reply the filter asked for before panicking is not sent
	s.srv.log.Error("stream filter panicked", "panic", fmt.Sprint(v), "method", string(s.req.Bytes(s.req.Method)), "path", string(s.path))
	s.resumeAt = parked
	return s.fail(Error{Source: Internal, Kind: KindFilterPanic, Err: errFilterPanic}, inPhase)
}

// resetChain destroys the stream's filters. An OnDestroy that panicked
// (the chain recovers it and destroys the rest) is counted in
// scheduler_filter_panics and logged. Loop only.
func (s *stream) resetChain() {
	if n := s.chain.Reset(); n > 0 {
		s.srv.stats.panics.Add(uint64(n))
		s.srv.log.Error("stream filter panicked in OnDestroy", "filters", n)
	}
}

// answerFilter writes a filter's local reply. Owner only.
func (s *stream) answerFilter(r pendingReply) Phase {
	s.resumeAt = parked
	if r.status < 200 || r.status > 599 {
		// Fail closed: a 1xx or out-of-range status cannot end a request.
		s.srv.log.Error("stream filter replied with an invalid status", "status", r.status)
		s.respClose = true
		return s.writeReply(500, fmt.Sprintf("internal error: filter replied with status %d (want 200-599)\n", r.status), "")
	}
	s.srv.stats.direct.Inc()
	return s.writeReply(r.status, r.body, "")
}

// asyncReply writes a reply that a filter sent while the stream was
// stopped at it. It runs on the loop. A stream still stopped at a filter
// is answered; one on a worker is answered by the hand-back (toLoop); a
// stream that was resumed meanwhile took the reply at its next filter
// phase, or will, and one that went past its filter phases drops it at
// reset (clearHandle). Loop only.
func (s *stream) asyncReply(gen uint64) {
	if s.gen.Load() != gen || s.ended() || s.onWorker || s.resumeAt == parked {
		return
	}
	if r, ok := s.takeReply(); ok {
		s.resume(s.answerFilter(r))
	}
}

// Context implements filterchain.StreamHandle: the stream's context,
// created on first use and cancelled when the stream ends. Owner only,
// during a filter callback: a filter that works on another goroutine takes
// the context before it returns StreamStop. Called while the stream is
// stopped at a filter, or before its first filter ran (inFilter is false),
// it returns a context that is already cancelled, whose cause says so;
// other calls from outside a callback race with the owner and are the
// filter's bug.
func (s *stream) Context() context.Context {
	if !s.hs.inFilter.Load() {
		return cancelledOutsideCallback()
	}
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
	return s.ctx
}

// errOutsideCallback is the cause of the context Context returns outside a
// filter callback.
var errOutsideCallback = errors.New("proxy: StreamHandle.Context called outside a filter callback")

func cancelledOutsideCallback() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errOutsideCallback)
	return ctx
}

// Request implements filterchain.StreamHandle. The view and everything it
// returns read the stream: owner only, during a filter callback.
func (s *stream) Request() filterchain.RequestInfo { return (*requestInfo)(s) }

// SendLocalReply implements filterchain.StreamHandle: it answers the
// request with status and body instead of the upstream. Any goroutine:
//
//   - during the filter's callback, on its owner: the reply is written when
//     the callback returns, whatever status it returns;
//   - after the filter returned StreamStop, from any goroutine: the reply
//     hops to the stream's loop and is written there (a stream still on a
//     worker is answered when it comes back);
//   - while the stream runs its phases (it was resumed, or its filters
//     continued): the reply is written at its next filter phase (the
//     next receiver phase, or the response head's senders); once no
//     filter phase is left before the response starts, it is dropped and
//     counted in filter_reply_dropped.
//
// A status outside 200-599 is refused: the client gets a 500 and the
// error is logged. A stream whose engine is stopping is not answered.
func (s *stream) SendLocalReply(status int, body string) {
	gen := s.gen.Load()
	s.hs.put(pendingReply{status: status, body: body}, gen)
	if s.hs.inFilter.Load() {
		return // the owner takes it at its next filter boundary (runFilters)
	}
	if err := s.loop.Execute(func() { s.asyncReply(gen) }); err != nil {
		s.srv.log.Debug("stream filter reply dropped: engine stopping", "err", err)
	}
}

// Resume implements filterchain.StreamHandle. It runs on the stream's
// loop; if the stream is still on a worker (the filter resumed before it
// even returned StreamStop), the hand-back resumes it. Any goroutine,
// after (or during) the callback that returns StreamStop.
func (s *stream) Resume() {
	gen := s.gen.Load()
	_ = s.loop.Execute(func() {
		if s.gen.Load() != gen || s.ended() {
			return
		}
		if s.onWorker {
			s.resumeWanted = true
			return
		}
		s.resume(s.takeResume())
	})
}

// takeResume returns the phase a stopped filter left, once.
func (s *stream) takeResume() Phase {
	p := s.resumeAt
	s.resumeAt = parked
	return p
}

// requestInfo is the read-only view of a stream's request for filters.
// Every method is owner only, during a filter callback; what they return
// is valid until the callback returns.
type requestInfo stream

// Method implements filterchain.RequestInfo.
func (r *requestInfo) Method() []byte { return r.req.Bytes(r.req.Method) }

// Path implements filterchain.RequestInfo.
func (r *requestInfo) Path() []byte { return r.path }

// Host implements filterchain.RequestInfo.
func (r *requestInfo) Host() []byte { return (*stream)(r).routeHost() }

// RemoteAddr implements filterchain.RequestInfo.
func (r *requestInfo) RemoteAddr() net.Addr { return r.d.c.RemoteAddr() }

// RouteName implements filterchain.RequestInfo.
func (r *requestInfo) RouteName() string {
	if r.route == nil {
		return ""
	}
	return r.route.Name()
}
