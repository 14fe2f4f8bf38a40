package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/worker"
)

// Policy says where a stream's filter phases run.
type Policy uint8

// Scheduling policies.
const (
	// PolicyAuto runs filter phases on the loop unless a stream filter in
	// the listener's chain declares itself blocking; such a chain runs its
	// filter phases on the worker pool.
	PolicyAuto Policy = iota
	// PolicyInline always runs on the loop.
	PolicyInline
	// PolicyPool always runs filter phases on the worker pool.
	PolicyPool
)

// ParsePolicy maps a configuration value to a Policy.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return PolicyAuto, nil
	case "inline":
		return PolicyInline, nil
	case "pool":
		return PolicyPool, nil
	}
	return 0, fmt.Errorf("proxy: unknown scheduler policy %q (want auto, inline or pool)", s)
}

func (p Policy) String() string {
	switch p {
	case PolicyInline:
		return "inline"
	case PolicyPool:
		return "pool"
	}
	return "auto"
}

// toWorker hands the stream to a worker for its filter phases. The loop
// keeps serving other connections; the worker hands the stream back with
// toLoop. When every worker is busy and the pool's queue is full, the
// stream waits in its loop's FIFO (waitWorker) instead of failing: it is
// already admitted (its connection within max_connections, its HTTP/2
// stream within the concurrency limit), so the wait is bounded by what the
// listeners admit, and no goroutine is ever started outside the pool. Only
// a closed pool (the engine stopping) answers 503.
func (s *stream) toWorker(p Phase) Phase {
	s.onWorker = true
	s.workerGen = s.gen.Load()
	err := s.submit(p)
	switch {
	case err == nil:
		s.srv.stats.hops.Inc()
	case errors.Is(err, worker.ErrBusy):
		s.srv.stats.workerBusy.Inc()
		s.srv.waitWorker(s, p)
	default:
		s.onWorker = false
		return s.fail(Error{Source: Internal, Kind: KindOverflow, Err: errWorkersClosed}, inPhase)
	}
	return parked
}

// submit hands the stream's filter phases from p to a worker.
func (s *stream) submit(p Phase) error {
	gen := s.workerGen
	return s.srv.workers.Submit(func() { s.workerRun(gen, p) })
}

// workerWait is one loop's FIFO of streams that found every worker busy.
// A waiting stream counts as on a worker (onWorker): loop events leave it
// alone or record their failure for the hand-back, exactly as for a stream
// a worker runs. Loop only.
type workerWait struct {
	q     []waiting
	head  int
	timer conn.Timer
	loop  *conn.Loop
	srv   *Server
}

// waiting is a stream and the phase its worker is to start at.
type waiting struct {
	s *stream
	p Phase
}

// workerRetry is how soon a loop with waiting streams tries the pool again
// when none of its own streams came back from a worker meanwhile (a
// hand-back retries at once).
const workerRetry = conn.TimerTick

// waitWorker queues s for a worker. Loop only.
func (srv *Server) waitWorker(s *stream, p Phase) {
	w := &srv.loops[s.loop.Index].wait
	if w.loop == nil {
		w.loop, w.srv = s.loop, srv
		w.timer.Init(w)
	}
	w.q = append(w.q, waiting{s: s, p: p})
	srv.stats.workerWaiting.Add(1)
	if !w.timer.Armed() {
		w.loop.Schedule(&w.timer, workerRetry)
	}
}

// OnTimer implements conn.TimerHandler: try the pool again.
func (w *workerWait) OnTimer(*conn.Timer) { w.drain() }

// drain submits waiting streams in order until the pool is full again; a
// stream aborted while it waited is handed back at once, to finish its
// abort. Loop only.
func (w *workerWait) drain() {
	for w.head < len(w.q) {
		next := w.q[w.head]
		if !next.s.aborted() {
			if err := next.s.submit(next.p); errors.Is(err, worker.ErrBusy) {
				break
			} else if err != nil {
				next.s.onWorker = false // the pool is closed: the stream fails as it would have at once
				w.pop()
				next.s.enter()
				next.s.resume(next.s.fail(Error{Source: Internal, Kind: KindOverflow, Err: errWorkersClosed}, inPhase))
				next.s.exit()
				continue
			}
			w.srv.stats.hops.Inc()
		} else {
			next.s.onWorker = false
			next.s.enter()
			next.s.exit() // exit finishes the abort
		}
		w.pop()
	}
	if w.head == len(w.q) {
		w.q, w.head = w.q[:0], 0
		return
	}
	if !w.timer.Armed() {
		w.loop.Schedule(&w.timer, workerRetry)
	}
}

// pop drops the head of the queue.
func (w *workerWait) pop() {
	w.q[w.head] = waiting{}
	w.head++
	w.srv.stats.workerWaiting.Add(-1)
}

// workerRun runs filter phases on a worker until an I/O phase or a stop,
// then hands the stream back. A filter's panic is recovered where the
// filters run (runFilters, handle.go), as on the loop; this recover is the
// backstop for a panic elsewhere in a phase run on the worker: a 500
// instead of a dead process.
func (s *stream) workerRun(gen uint64, p Phase) {
	defer func() {
		if v := recover(); v != nil {
			s.srv.log.Error("stream phase panicked on a worker", "panic", fmt.Sprint(v))
			s.fail(Error{Source: Internal, Kind: KindFilterPanic, Err: errFilterPanic}, inPhase) // on a worker: the hand-back answers
			s.toLoop(gen, parked)
		}
	}()
	for p != parked && s.filterPhase(p) {
		p = s.step(p)
	}
	s.toLoop(gen, p)
}

// pendingReply is a local reply decided while a worker owned the stream,
// written once the stream is back on its loop.
type pendingReply struct {
	status int
	body   string
	extra  string
	close  bool // the client connection closes after it (fail on a worker)
}

// toLoop hands the stream back to its loop to continue at phase p. A
// failure the loop saw meanwhile (loopReply) wins over everything; then a
// reply a filter decided (pending); then a Resume that came early.
func (s *stream) toLoop(gen uint64, p Phase) {
	err := s.loop.Execute(func() {
		if s.gen.Load() != gen {
			return // cannot happen: a stream on a worker is never recycled
		}
		s.onWorker = false
		w := &s.srv.loops[s.loop.Index].wait
		defer w.drain() // a worker is free again: the loop's waiting streams first (after exit)
		s.enter()
		defer s.exit()
		if s.aborted() {
			return // exit finishes the abort
		}
		switch {
		case s.loopReply.status != 0:
			r := s.loopReply
			s.loopReply, s.pending = pendingReply{}, pendingReply{}
			p = s.writeReply(r.status, r.body, r.extra)
		case s.pending.status != 0:
			r := s.pending
			s.pending = pendingReply{}
			s.respClose = s.respClose || r.close
			p = s.writeReply(r.status, r.body, r.extra)
		case p == parked && s.resumeAt != parked && s.hs.has.Load():
			if r, ok := s.takeReply(); ok { // a stopped filter replied from its goroutine meanwhile
				p = s.answerFilter(r)
			}
		case p == parked && s.resumeWanted:
			s.resumeWanted = false
			p = s.takeResume()
		}
		s.resume(p)
	})
	if err != nil {
		s.srv.log.Debug("stream hand-back dropped: engine stopping", "err", err)
	}
}
