package proxy

import (
	"time"

	"github.com/ferry-proxy/ferry/conn"
)

// flushPipes writes what both pipes gathered during this event. A failed
// write closed its connection (gnet closes on a write error), and that
// close event is what handles the failure, so errors need no handling here.
func (s *stream) flushPipes() {
	_ = s.reqPipe.flush()
	_ = s.respPipe.flush()
	s.front.flush() // an HTTP/2 response head with no body byte yet (long poll) leaves now
}

// end finishes the stream: counters, timers, the upstream connection, then
// the downstream decides on keep-alive. The stream is recycled by the
// outermost exit.
func (s *stream) end() {
	if s.done {
		return
	}
	s.flushPipes()
	s.done = true
	s.loop.Stop(&s.timeout)
	s.loop.Stop(&s.reqTimer)
	s.detachUpstream(s.upReusable && s.reqState == stateDone && s.respState == stateDone)
	if s.begun {
		s.srv.stats.active.Add(-1)
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.front.streamDone(s)
}

// abort ends a stream whose client went away. It may run re-entrantly,
// inside one of the stream's own writes: it only marks the stream, and the
// outermost exit (or the worker's hand-back) finishes it.
func (s *stream) abort() {
	s.aborted = true
	if s.depth == 0 && !s.onWorker {
		s.finishAbort()
		s.srv.recycle(s)
	}
}

// finishAbort releases what an aborted stream holds.
func (s *stream) finishAbort() {
	if s.released {
		return
	}
	if !s.done {
		s.done = true
		s.srv.stats.aborted.Inc()
		if s.begun {
			s.srv.stats.active.Add(-1)
		}
		if s.cancel != nil {
			s.cancel()
		}
	}
	s.loop.Stop(&s.timeout)
	s.detachUpstream(false)
	s.front.forget(s)
	s.released = true
}

// detachUpstream gives the upstream connection back (reusable or closed)
// or withdraws the stream from the pool's queue.
func (s *stream) detachUpstream(reusable bool) {
	if s.pc == nil {
		if s.pool != nil {
			s.pool.Cancel(s)
			s.pool = nil
		}
		return
	}
	if s.reqState != stateDone {
		s.reqDiscard = true // the rest of the body has nowhere to go
	}
	_ = s.reqPipe.flush() // a failure closed the connection: it is let go either way
	reusable = reusable && s.reqPipe.queued() == 0
	s.reqPipe.reset()
	s.h2credit() // what the pipe held is dropped: the client may send on (to be discarded)
	s.pc.Host().DecActive()
	pc := s.pc
	s.pc, s.pool = nil, nil
	s.up.release(pc, reusable)
	s.up = nil
}

// OnTimer implements conn.TimerHandler for the stream's two timers.
//
// The request timer fires when the whole request took longer than
// RequestTimeout to arrive (or, on HTTP/2, a body gap): 408 and close, or
// a reset if the response already started.
//
// The route timer fires when the upstream did not answer in time, or
// stalled between two reads of the response body: 504, or a reset if the
// response already started. While a worker owns the stream it checks
// again shortly after, once the worker handed back.
func (s *stream) OnTimer(t *conn.Timer) {
	if s.done {
		return
	}
	if t == &s.reqTimer {
		if s.reqState == stateDone {
			return
		}
		s.begin()
		s.fail(Error{Source: Downstream, Kind: KindRequestTimeout, Err: errRequestSlow}, onEvent)
		return
	}
	if s.onWorker {
		s.loop.Schedule(&s.timeout, 10*time.Millisecond) // decide once the worker hands back
		return
	}
	s.srv.stats.timeouts.Inc()
	s.fail(Error{Source: Upstream, Kind: KindUpstreamTimeout, Err: errUpstreamSlow}, onEvent)
}
