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
