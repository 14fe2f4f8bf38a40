package proxy

import (
	"fmt"
	"strings"
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
// toLoop. A saturated pool answers 503 at once: the queue is bounded and no
// goroutine is ever started outside the pool.
func (s *stream) toWorker(p Phase) Phase {
	s.onWorker = true
	s.workerGen = s.gen.Load()
	gen := s.workerGen
	err := s.srv.workers.Submit(func() { s.workerRun(gen, p) })
	if err != nil {
		s.onWorker = false
		s.srv.stats.workerBusy.Inc()
		return s.fail(Error{Source: Internal, Kind: KindOverflow, Err: errWorkersBusy}, inPhase)
	}
	s.srv.stats.hops.Inc()
	return parked
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
