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

// life is where a stream is in its lifecycle: one field, loop only. Its
// transitions, and nothing else, move it (docs in proxy/doc.go):
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
// abort of a stream that ended (lifeDone or later) changes nothing. end of
// an aborted stream happens only when the abort came inside End's own
// writes (gnet closes inside a failed write): End then finishes the stream
// as usual. "Counted" (downstream_rq_active to give back) is lifeActive
// or lifeAborted; "ended" is lifeDone or later.
type life uint8

const (
	lifeNew        life = iota // taken from the free list; nothing counted yet
	lifeActive                 // counted in downstream_rq_total and _active
	lifeAbortedNew             // the client went away before the request was counted
	lifeAborted                // the client went away while the request was in flight
	lifeDone                   // ended: counters settled, the upstream let go
	lifeReleased               // the front let go: the outermost exit recycles it
)

// counted reports whether the request is counted in downstream_rq_active.
func (s *stream) counted() bool { return s.life == lifeActive || s.life == lifeAborted }

// aborted reports whether the client went away and the stream waits for
// finishAbort.
func (s *stream) aborted() bool { return s.life == lifeAbortedNew || s.life == lifeAborted }

// ended reports whether the stream ended (End ran, or the abort finished).
func (s *stream) ended() bool { return s.life >= lifeDone }

// begin counts the request once.
func (s *stream) begin() {
	switch s.life {
	case lifeNew:
		s.life = lifeActive
	case lifeAbortedNew:
		s.life = lifeAborted
	default:
		return
	}
	s.srv.stats.requests.Inc()
	s.srv.stats.active.Add(1)
	s.mBegin()
	if s.logs() {
		s.al.start = time.Now()
	}
}

// end finishes the stream: counters, timers, the upstream connection, then
// the downstream decides on keep-alive. The stream is recycled by the
// outermost exit.
func (s *stream) end() {
	if s.ended() {
		return
	}
	s.flushPipes()
	counted := s.counted()
	s.life = lifeDone
	s.loop.Stop(&s.timeout)
	s.loop.Stop(&s.reqTimer)
	if counted && s.logs() {
		s.logAccess()
	}
	s.detachUpstream(s.upReusable && s.reqState == stateDone && s.respState == stateDone)
	if counted {
		s.srv.stats.active.Add(-1)
		s.mEnd()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.front.streamDone(s) // lifeReleased
}

// abort ends a stream whose client went away. It may run re-entrantly,
// inside one of the stream's own writes: it only marks the stream, and the
// outermost exit (or the worker's hand-back) finishes it.
func (s *stream) abort() {
	switch s.life {
	case lifeNew:
		s.life = lifeAbortedNew
	case lifeActive:
		s.life = lifeAborted
	case lifeAbortedNew, lifeAborted:
	default:
		return // it ended already
	}
	if s.depth == 0 && !s.onWorker {
		s.finishAbort()
		s.srv.recycle(s)
	}
}

// finishAbort releases what an aborted stream holds.
func (s *stream) finishAbort() {
	if !s.aborted() {
		return
	}
	counted := s.counted()
	s.life = lifeDone
	s.srv.stats.aborted.Inc()
	if counted && s.logs() {
		s.logAccess()
	}
	if counted {
		s.srv.stats.active.Add(-1)
		s.mEnd()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.loop.Stop(&s.timeout)
	s.detachUpstream(false)
	s.front.forget(s)
	s.life = lifeReleased
}

// detachUpstream gives the upstream connection back (reusable or closed)
// or withdraws the stream from the pool's queue.
func (s *stream) detachUpstream(reusable bool) {
	s.releaseAttempt()
	if s.hu.pool != nil {
		s.h2upDetach() // HTTP/2 upstream: the stream slot goes back
		return
	}
	if s.pc == nil {
		if s.pool != nil {
			s.pool.Cancel(s)
			s.pool = nil
		}
		s.mUnpend()
		return
	}
	if s.reqState != stateDone {
		s.reqDiscard = true // the rest of the body has nowhere to go
	}
	_ = s.reqPipe.flush() // a failure closed the connection: it is let go either way
	reusable = reusable && s.reqPipe.queued() == 0
	s.reqPipe.reset()
	s.h2credit() // what the pipe held is dropped: the client may send on (to be discarded)
	s.mUpEnd()
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
	if s.ended() {
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
	if t := s.h2tunnel(); t != nil {
		t.idle() // the timer is the tunnel's idle timer (h2tunnel.go)
		return
	}
	s.srv.stats.timeouts.Inc()
	s.mTimeout()
	s.fail(Error{Source: Upstream, Kind: KindUpstreamTimeout, Err: errUpstreamSlow}, onEvent)
}
