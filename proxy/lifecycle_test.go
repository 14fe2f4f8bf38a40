package proxy

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/ferry-proxy/ferry/conn"
)

// fakeFront records what the stream asks of its client side; streamDone
// releases the stream, as both real fronts do.
type fakeFront struct {
	forgot, done int
	onFlush      func()
}

func (f *fakeFront) sendHead(*stream) Phase                   { return UpRecvData }
func (f *fakeFront) reply(*stream, int, string, string) Phase { return End }
func (f *fakeFront) reset(s *stream)                          { s.abort() }
func (f *fakeFront) armBodyTimer(*stream)                     {}
func (f *fakeFront) requestDone(*stream)                      {}
func (f *fakeFront) forget(*stream)                           { f.forgot++ }

func (f *fakeFront) flush() {
	if fn := f.onFlush; fn != nil {
		f.onFlush = nil
		fn()
	}
}

func (f *fakeFront) streamDone(s *stream) {
	f.done++
	s.life = lifeReleased
}

// lifeHarness is a stream on a detached loop with a fake front.
type lifeHarness struct {
	srv   *Server
	s     *stream
	front *fakeFront
}

func newLifeHarness(t *testing.T) *lifeHarness {
	t.Helper()
	l := conn.NewDetachedLoop(0, conn.NewTracker(0), &conn.Options{})
	srv := &Server{stats: newStats(), loops: make([]loopState, 1), log: slog.Default()}
	s := &stream{srv: srv, loop: l}
	s.timeout.Init(s)
	s.reqTimer.Init(s)
	s.requestState = newRequestState
	f := &fakeFront{}
	s.front = f
	return &lifeHarness{srv: srv, s: s, front: f}
}

func (h *lifeHarness) stat(t *testing.T, name string) int64 {
	t.Helper()
	v, ok := h.srv.stats.Set().Get(name)
	if !ok {
		t.Fatalf("no counter %s", name)
	}
	return v
}

// recycled reports whether the stream went back to the free list, reset.
func (h *lifeHarness) recycled() bool {
	free := h.srv.loops[0].free
	return len(free) == 1 && free[0] == h.s && h.s.life == lifeNew
}

// settled checks that the stream went back to the free list with no
// request active, forget called forgot times and downstream_rq_aborted at
// aborted.
func (h *lifeHarness) settled(t *testing.T, forgot int, aborted int64) {
	t.Helper()
	if !h.recycled() || h.front.forgot != forgot || h.srv.stats.Active() != 0 || h.stat(t, "downstream_rq_aborted") != aborted {
		t.Fatalf("life %d, recycled %v, forget %d, active %d, aborted %d; want recycled, %d, 0, %d",
			h.s.life, h.recycled(), h.front.forgot, h.srv.stats.Active(), h.stat(t, "downstream_rq_aborted"), forgot, aborted)
	}
}

// TestLifeTransitions walks every transition of the lifecycle table
// (lifecycle.go) and checks the counters each one settles.
func TestLifeTransitions(t *testing.T) {
	t.Run("begin counts once", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.begin()
		if h.s.life != lifeActive || h.stat(t, "downstream_rq_total") != 1 || h.srv.stats.Active() != 1 {
			t.Fatalf("life %d, total %d, active %d; want active, 1, 1", h.s.life, h.stat(t, "downstream_rq_total"), h.srv.stats.Active())
		}
	})
	t.Run("end, then the outermost exit recycles", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.enter()
		h.s.end()
		if h.s.life != lifeReleased || h.front.done != 1 || h.srv.stats.Active() != 0 || h.recycled() {
			t.Fatalf("after end: life %d, streamDone %d, active %d, recycled %v; want released, 1, 0, not yet", h.s.life, h.front.done, h.srv.stats.Active(), h.recycled())
		}
		h.s.end() // a second End does nothing
		if h.front.done != 1 || h.srv.stats.Active() != 0 {
			t.Fatalf("a second end ran again: streamDone %d, active %d", h.front.done, h.srv.stats.Active())
		}
		h.s.exit()
		h.settled(t, 0, 0)
	})
	t.Run("abort at depth 0 finishes at once", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.abort()
		h.settled(t, 1, 1)
	})
	t.Run("abort inside an event waits for the outermost exit", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.enter()
		h.s.enter()
		h.s.abort()
		if h.s.life != lifeAborted || !h.s.aborted() || h.front.forgot != 0 {
			t.Fatalf("life %d, forget %d; want aborted and nothing released yet", h.s.life, h.front.forgot)
		}
		h.s.abort() // a second abort changes nothing
		h.s.exit()
		if h.s.life != lifeAborted {
			t.Fatalf("an inner exit finished the abort: life %d", h.s.life)
		}
		h.s.exit()
		h.settled(t, 1, 1)
	})
	t.Run("abort before begin, then begin", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.enter()
		h.s.abort()
		if h.s.life != lifeAbortedNew || h.s.counted() {
			t.Fatalf("life %d, counted %v; want aborted before counting", h.s.life, h.s.counted())
		}
		h.s.begin()
		if h.s.life != lifeAborted || !h.s.counted() || h.srv.stats.Active() != 1 {
			t.Fatalf("life %d, active %d; want aborted and counted", h.s.life, h.srv.stats.Active())
		}
		h.s.exit()
		h.settled(t, 1, 1)
	})
	t.Run("abort before begin gives nothing back", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.abort()
		h.settled(t, 1, 1)
		if n := h.stat(t, "downstream_rq_total"); n != 0 {
			t.Fatalf("downstream_rq_total %d, want 0", n)
		}
	})
	t.Run("abort inside End's own write: End finishes", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.enter()
		h.front.onFlush = h.s.abort // gnet closes inside a failed write (docs/gnet.md)
		h.s.end()
		h.s.exit()
		h.settled(t, 0, 0)
		if h.front.done != 1 {
			t.Fatalf("streamDone %d, want 1", h.front.done)
		}
	})
	t.Run("abort after the end changes nothing", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.enter()
		h.s.end()
		h.s.abort()
		if h.s.life != lifeReleased || h.front.forgot != 0 {
			t.Fatalf("life %d, forget %d; want released, 0", h.s.life, h.front.forgot)
		}
		h.s.exit()
		h.settled(t, 0, 0)
	})
	t.Run("a worker's stream is finished by the hand-back, not by abort", func(t *testing.T) {
		h := newLifeHarness(t)
		h.s.begin()
		h.s.onWorker = true
		h.s.abort()
		if h.s.life != lifeAborted || h.recycled() {
			t.Fatalf("life %d, recycled %v; the worker still owns it", h.s.life, h.recycled())
		}
		h.s.onWorker = false // what toLoop does, then enter and exit
		h.s.enter()
		h.s.exit()
		if !h.recycled() {
			t.Fatalf("the hand-back's exit did not finish the abort: life %d", h.s.life)
		}
	})
}

// TestResetIsWhole checks that reset leaves a used stream as a new one:
// every per-request field is back to its start (one assignment), the
// reused buffers are empty with their memory kept, and an oversized
// buffer is dropped.
func TestResetIsWhole(t *testing.T) {
	h := newLifeHarness(t)
	s := h.s
	s.begin()
	s.respClose, s.respSent, s.retries, s.maxFwd, s.resumeAt = true, true, 2, 3, DownFilter
	s.pending = pendingReply{status: 500}
	s.loopReply = pendingReply{status: 408}
	s.out = append(make([]byte, 0, 1024), "head"...)
	s.h2pend = make([]byte, 10, 128<<10)
	gen := s.gen.Load()
	s.reset()
	if !reflect.DeepEqual(s.requestState, newRequestState) {
		t.Fatalf("per-request state after reset: %+v, want %+v", s.requestState, newRequestState)
	}
	if s.gen.Load() != gen+1 {
		t.Fatalf("gen %d after reset, want %d", s.gen.Load(), gen+1)
	}
	if len(s.out) != 0 || cap(s.out) != 1024 {
		t.Fatalf("out: len %d cap %d, want 0 and its memory kept", len(s.out), cap(s.out))
	}
	if s.h2pend != nil {
		t.Fatalf("h2pend of %d bytes kept past its 64 KiB bound", cap(s.h2pend))
	}
}

// benchStream is a stream whose front writes nothing, for the CPU cost of
// the state and failure code alone (no sockets, so less noise than the
// end-to-end benchmarks).
func benchStream() *stream {
	srv := &Server{stats: newStats(), log: slog.Default()}
	s := &stream{srv: srv}
	s.reset()
	s.front = &fakeFront{}
	return s
}

// BenchmarkStreamReset is the per-request reset of a recycled stream.
// Reproduce: go test -run=NONE -bench=StreamReset -benchmem ./proxy/
func BenchmarkStreamReset(b *testing.B) {
	s := benchStream()
	b.ReportAllocs()
	for range b.N {
		s.reset()
	}
}

// BenchmarkFailNoRoute is the failure path of a 404 up to the front:
// count, decide, build the body (its one allocation).
// Reproduce: go test -run=NONE -bench=FailNoRoute -benchmem ./proxy/
func BenchmarkFailNoRoute(b *testing.B) {
	s := benchStream()
	b.ReportAllocs()
	for range b.N {
		if s.fail(Error{Source: Internal, Kind: KindNoRoute, Err: errNoRouteMatched}, inPhase) != End {
			b.Fatal("a 404 did not end the stream")
		}
	}
}
