package proxy

import (
	"errors"
	"time"
)

// flushPipes writes what both pipes gathered during this callback.
func (s *stream) flushPipes() {
	if err := s.reqPipe.flush(); err != nil && !s.done {
		s.run(s.upstreamLost())
	}
	if err := s.respPipe.flush(); err != nil {
		s.d.c.Reset()
	}
}

// end finishes the stream: counters, timers, the upstream connection, then
// the downstream decides on keep-alive.
func (s *stream) end() {
	if s.done {
		return
	}
	s.flushPipes()
	s.done = true
	s.loop.Stop(&s.timeout)
	s.detachUpstream(s.upReusable && s.reqState == stateDone && s.respState == stateDone)
	if s.begun {
		s.srv.stats.active.Add(-1)
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.d.streamDone(s)
}

// abort ends a stream whose client went away.
func (s *stream) abort() {
	s.aborted = true
	if s.onWorker {
		return // toLoop finishes the abort when the worker hands back
	}
	s.finishAbort()
}

func (s *stream) finishAbort() {
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
	if s.d.s == s {
		s.d.s = nil
	}
	s.srv.recycle(s)
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
	s.reqPipe.flush() //nolint:errcheck // the connection is let go either way
	s.up.detach()
	s.pc.Host().DecActive()
	s.pc.Release(reusable && s.reqPipe.queued() == 0 && !s.pc.C.Closed())
	s.reqPipe.reset()
	s.pc, s.up, s.pool = nil, nil, nil
}

// onTimeout fires when the upstream did not answer within the route's
// timeout.
func (s *stream) onTimeout() {
	if s.done {
		return
	}
	if s.onWorker {
		s.loop.Schedule(&s.timeout, 10*time.Millisecond) // decide once the worker hands back
		return
	}
	s.srv.stats.timeouts.Inc()
	if s.respSent {
		s.detachUpstream(false)
		s.d.c.Reset()
		return
	}
	s.run(s.upstreamFailed(KindUpstreamTimeout, "upstream did not answer in time"))
}

func errorIs(err, target error) bool { return errors.Is(err, target) }
