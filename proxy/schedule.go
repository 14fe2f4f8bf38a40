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
	gen := s.gen.Load()
	err := s.srv.workers.Submit(func() { s.workerRun(gen, p) })
	if err != nil {
		s.onWorker = false
		s.srv.stats.workerBusy.Inc()
		return s.localReply(KindOverflow, "worker pool saturated")
	}
	s.srv.stats.hops.Inc()
	return parked
}

// workerRun runs filter phases on a worker. A filter that panics resets
// the stream with a 500 instead of killing the process.
func (s *stream) workerRun(gen uint64, p Phase) {
	defer func() {
		if v := recover(); v != nil {
			s.srv.stats.panics.Inc()
			s.srv.log.Error("stream filter panicked", "panic", fmt.Sprint(v))
			s.pending = pendingReply{status: 500, body: "internal error: filter panic\n"}
			s.toLoop(parked)
		}
	}()
	if s.gen.Load() != gen {
		return
	}
	s.run(p)
}

// pendingReply is a local reply decided on a worker, written once the
// stream is back on its loop.
type pendingReply struct {
	status int
	body   string
	extra  string
}

// toLoop hands the stream back to its loop to continue at phase p.
func (s *stream) toLoop(p Phase) {
	gen := s.gen.Load()
	err := s.loop.Execute(func() {
		s.onWorker = false
		if s.gen.Load() != gen {
			return
		}
		if s.aborted {
			s.finishAbort()
			return
		}
		if r := s.pending; r.status != 0 {
			s.pending = pendingReply{}
			p = s.writeReply(r.status, r.body, r.extra)
		} else if p == parked && s.resumeWanted {
			s.resumeWanted = false
			p = s.takeResume()
		}
		s.run(p)
	})
	if err != nil {
		s.srv.log.Debug("stream hand-back dropped: engine stopping", "err", err)
	}
}
