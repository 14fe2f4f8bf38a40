package filterchain

import "testing"

// drainFilter consumes everything, as a terminal filter does.
type drainFilter struct{}

func (drainFilter) InitReadCallbacks(ReadCallbacks) {}
func (drainFilter) OnNewConnection() Status         { return Continue }
func (drainFilter) OnData(b Buffer, _ bool) Status  { b.Drain(b.Len()); return Stop }

// BenchmarkManagerOnRead is one read event through a one-filter chain, the
// HTTP case: the cost the chain adds to every read.
func BenchmarkManagerOnRead(b *testing.B) {
	var m Manager
	m.Init(&fakeConn{})
	m.AddReadFilter(drainFilter{})
	m.InitializeReadFilters()
	data := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	in := &buf{}
	b.ReportAllocs()
	for b.Loop() {
		in.b, in.off = data, 0
		m.OnRead(in, false)
	}
}

type contFilter struct{}

func (contFilter) OnReceive(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	return StreamContinue
}
func (contFilter) Append(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	return StreamContinue
}
func (contFilter) OnDestroy() {}

// BenchmarkStreamChain runs a three-filter chain through the receive and
// send phases, as every request with stream filters does.
func BenchmarkStreamChain(b *testing.B) {
	var ch StreamChain
	f := contFilter{}
	ch.AddReceiver(f, BeforeRoute)
	ch.AddReceiver(f, AfterRoute)
	ch.AddReceiver(f, BeforeRoute)
	ch.AddSender(f)
	b.ReportAllocs()
	for b.Loop() {
		ch.RunReceivers(BeforeRoute, nil, nil)
		ch.RunReceivers(AfterRoute, nil, nil)
		ch.RunReceivers(AfterChooseHost, nil, nil)
		ch.RunSenders(nil, nil)
	}
}

func TestChainIterationAllocatesNothing(t *testing.T) {
	var m Manager
	m.Init(&fakeConn{})
	m.AddReadFilter(drainFilter{})
	m.InitializeReadFilters()
	in := &buf{}
	data := []byte("x")
	if n := testing.AllocsPerRun(100, func() {
		in.b, in.off = data, 0
		m.OnRead(in, false)
	}); n != 0 {
		t.Fatalf("%v allocations per read event", n)
	}
}
