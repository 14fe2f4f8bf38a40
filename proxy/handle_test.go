package proxy

import (
	"testing"

	"github.com/ferry-proxy/ferry/filterchain"
)

type contFilter struct{}

func (contFilter) OnReceive(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	return filterchain.StreamContinue
}

func (contFilter) Append(filterchain.StreamHandle, filterchain.HeaderMap, []byte, filterchain.HeaderMap) filterchain.StreamStatus {
	return filterchain.StreamContinue
}

func (contFilter) OnDestroy() {}

// BenchmarkFilterGuard is what the guard around every filter phase
// (runFilters: the recover that keeps a filter panic off the loop, and the
// bookkeeping that lets SendLocalReply come from any goroutine) costs a
// request with stream filters, against the chain run bare: the four filter
// phases of one request, with one continuing filter in each.
func BenchmarkFilterGuard(b *testing.B) {
	s := &stream{}
	f := contFilter{}
	s.chain.AddReceiver(f, filterchain.BeforeRoute)
	s.chain.AddReceiver(f, filterchain.AfterRoute)
	s.chain.AddReceiver(f, filterchain.AfterChooseHost)
	s.chain.AddSender(f)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.chain.RunReceivers(filterchain.BeforeRoute, s, &s.reqHdrs)
			s.chain.RunReceivers(filterchain.AfterRoute, s, &s.reqHdrs)
			s.chain.RunReceivers(filterchain.AfterChooseHost, s, &s.reqHdrs)
			s.chain.RunSenders(s, &s.respHdrs)
		}
	})
	b.Run("guarded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.runFilters(filterchain.BeforeRoute, false)
			s.runFilters(filterchain.AfterRoute, false)
			s.runFilters(filterchain.AfterChooseHost, false)
			s.runFilters(0, true)
		}
	})
}

// The guard allocates nothing on a request whose filters continue.
func TestFilterGuardAllocatesNothing(t *testing.T) {
	s := &stream{}
	s.chain.AddReceiver(contFilter{}, filterchain.BeforeRoute)
	s.chain.AddSender(contFilter{})
	if n := testing.AllocsPerRun(100, func() {
		if st, _, answered := s.runFilters(filterchain.BeforeRoute, false); st != filterchain.StreamContinue || answered {
			t.Fatalf("status %v answered %v", st, answered)
		}
		s.runFilters(0, true)
	}); n != 0 {
		t.Fatalf("%v allocations per guarded filter run", n)
	}
}

// Replies put from many goroutines while the owner takes them: every take
// that reports a reply returns one that was put (never an empty slot), and
// the last one put is never lost.
func TestHandleStateReplySlot(t *testing.T) {
	var h handleState
	const writers, each = 4, 2000
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				h.put(pendingReply{status: 200 + w, body: "x"}, uint64(i))
			}
		}()
	}
	finished := 0
	for finished < writers {
		select {
		case <-done:
			finished++
		default:
		}
		if r, _, ok := h.take(); ok && (r.status < 200 || r.status >= 200+writers || r.body != "x") {
			t.Fatalf("take returned %+v, which nobody put", r)
		}
	}
	h.put(pendingReply{status: 299, body: "last"}, 7)
	if r, gen, ok := h.take(); !ok || r.status != 299 || gen != 7 {
		t.Fatalf("take after the last put: %+v gen %d ok %v", r, gen, ok)
	}
	if _, _, ok := h.take(); ok {
		t.Fatal("a reply was taken twice")
	}
}
