package proxy_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/internal/worker"
	"github.com/ferry-proxy/ferry/proxy"
)

// holdFilter holds the worker that runs its stream's first request phase
// until the gate opens; every later stream passes straight through.
type holdFilter struct {
	once    *sync.Once
	entered chan struct{}
	open    chan struct{}
}

func (f holdFilter) Blocking() bool { return true }

func (f holdFilter) CreateFilters(b filterchain.ChainBuilder) {
	b.AddReceiver(&holdReceiver{f: f}, filterchain.BeforeRoute)
}

type holdReceiver struct{ f holdFilter }

func (r *holdReceiver) OnReceive(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	r.f.once.Do(func() {
		close(r.f.entered)
		<-r.f.open // a blocking filter holding the pool's only worker
	})
	return filterchain.StreamContinue
}

func (r *holdReceiver) OnDestroy() {}

// TestStreamsWaitForABusyWorkerPool: with every worker busy and no room in
// the pool's queue, a stream waits in its loop's FIFO for a worker instead
// of being answered 503, and runs once one is free: nothing the listener
// admitted is shed.
func TestStreamsWaitForABusyWorkerPool(t *testing.T) {
	up := newEchoUpstream(t)
	gate := holdFilter{once: &sync.Once{}, entered: make(chan struct{}), open: make(chan struct{})}
	h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
		s.loops = 1
		s.workers = worker.Options{Size: 1, Queue: -1} // one worker, no queue
		s.factory.Policy = proxy.PolicyPool
		s.factory.StreamFilters = []filterchain.StreamFilterFactory{gate}
	})
	c := h.client()
	first := make(chan int, 1)
	go func() { code, _ := h.get(c, "/first"); first <- code }()
	<-gate.entered // the only worker is held
	const n = 20
	codes := make(chan int, n)
	for range n {
		go func() { code, _ := h.get(h.client(), "/waiting"); codes <- code }()
	}
	// One more client leaves while its stream waits: the stream is aborted
	// when its turn comes, never run.
	gone := h.dial()
	if _, err := gone.Write([]byte("GET /gone HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the streams wait for a worker", func() bool {
		return h.stat("scheduler_worker_waiting") == n+1
	})
	_ = gone.Close()
	testutil.WaitFor(t, 10*time.Second, "the client's close is seen", func() bool {
		return h.tracker.Downstream.Load() == n+1 // the first client and the n others
	})
	close(gate.open)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("the first request: %d", code)
	}
	for range n {
		if code := <-codes; code != http.StatusOK {
			t.Fatalf("a request that waited for a worker got %d, want 200", code)
		}
	}
	if busy := h.stat("scheduler_worker_busy"); busy < n {
		t.Fatalf("scheduler_worker_busy = %d, want at least %d", busy, n)
	}
	if got := h.stat("local_reply_overflow"); got != 0 {
		t.Fatalf("local_reply_overflow = %d: a stream was shed", got)
	}
	testutil.WaitFor(t, 5*time.Second, "the queue empties and nothing is in flight", func() bool {
		return h.stat("scheduler_worker_waiting") == 0 && h.srv.Stats().Active() == 0
	})
	if got := h.stat("downstream_rq_aborted"); got != 1 {
		t.Fatalf("downstream_rq_aborted = %d, want 1 (the client that left)", got)
	}
}
