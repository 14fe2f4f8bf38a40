package filterchain

import (
	"fmt"
	"testing"
)

// panicFilter panics in the callback named by at.
type panicFilter struct {
	at     string
	events []ConnectionEvent
}

func (f *panicFilter) InitReadCallbacks(ReadCallbacks) {}
func (f *panicFilter) OnNewConnection() Status {
	if f.at == "OnNewConnection" {
		panic("filter bug in OnNewConnection")
	}
	return Continue
}
func (f *panicFilter) OnData(Buffer, bool) Status {
	if f.at == "OnData" {
		panic("filter bug in OnData")
	}
	return Continue
}
func (f *panicFilter) OnWrite([][]byte) Status {
	if f.at == "OnWrite" {
		panic("filter bug in OnWrite")
	}
	return Continue
}
func (f *panicFilter) OnEvent(ev ConnectionEvent) {
	f.events = append(f.events, ev)
	if f.at == "OnEvent" {
		panic("filter bug in OnEvent")
	}
}

// reportConn is a fakeConn that records the panics reported to it.
type reportConn struct {
	fakeConn
	reported []string
}

func (c *reportConn) FilterPanicked(callback string, v any) {
	c.reported = append(c.reported, callback)
	if v == nil {
		c.reported = append(c.reported, "nil value")
	}
}

// A network filter runs inline on its loop: a panic in any of its
// callbacks must not leave the Manager. It is counted, reported to the
// connection, and the connection is closed; the filters after it are not
// run on a connection whose state is unknown.
func TestManagerRecoversNetworkFilterPanics(t *testing.T) {
	for _, at := range []string{"OnNewConnection", "OnData", "OnWrite"} {
		t.Run(at, func(t *testing.T) {
			c := &reportConn{}
			m := NewManager(c)
			var log []string
			p := &panicFilter{at: at}
			after := &recFilter{name: "after", log: &log}
			m.AddReadFilter(p)
			m.AddReadFilter(after)
			m.AddWriteFilter(p)
			m.InitializeReadFilters()
			before := NetworkFilterPanics()
			switch at {
			case "OnNewConnection":
				m.OnNewConnection()
			case "OnData":
				m.OnNewConnection()
				in := &buf{b: []byte("x")}
				m.OnRead(in, false)
				if m.input != nil {
					t.Fatal("the read event's buffer outlived the event")
				}
			case "OnWrite":
				if st := m.OnWrite([][]byte{[]byte("x")}); st != Stop {
					t.Fatalf("OnWrite returned %v after a panic, want Stop (the write is dropped)", st)
				}
			}
			if got := NetworkFilterPanics() - before; got != 1 {
				t.Fatalf("NetworkFilterPanics grew by %d, want 1", got)
			}
			if !c.closed {
				t.Fatal("the connection was not closed after its filter panicked")
			}
			if len(c.reported) != 1 || c.reported[0] != at {
				t.Fatalf("reported %q, want [%s]", c.reported, at)
			}
			for _, l := range log {
				if l == "after:x" {
					t.Fatalf("the filter after the one that panicked saw the data: %q", log)
				}
			}
		})
	}
}

func TestManagerCloseEventSurvivesAPanickingListener(t *testing.T) {
	c := &reportConn{}
	c.closed = true // OnEvent runs on a closing connection
	m := NewManager(c)
	first := &panicFilter{at: "OnEvent"}
	second := &panicFilter{}
	third := &panicFilter{at: "OnEvent"}
	m.AddConnectionCallbacks(first)
	m.AddReadFilter(second)
	m.AddWriteFilter(third)
	m.InitializeReadFilters()
	before := NetworkFilterPanics()
	m.OnEvent(RemoteClose)
	if got := NetworkFilterPanics() - before; got != 2 {
		t.Fatalf("NetworkFilterPanics grew by %d, want 2", got)
	}
	for i, f := range []*panicFilter{first, second, third} {
		if len(f.events) != 1 || f.events[0] != RemoteClose {
			t.Fatalf("listener %d was told %v, want exactly [RemoteClose]", i, f.events)
		}
	}
	if len(c.reported) != 2 {
		t.Fatalf("reported %q, want two OnEvent panics", c.reported)
	}
}

type destroyPanic struct {
	name   string
	record *[]string
	panics bool
}

func (f *destroyPanic) OnReceive(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	return StreamContinue
}
func (f *destroyPanic) Append(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	return StreamContinue
}
func (f *destroyPanic) OnDestroy() {
	*f.record = append(*f.record, f.name)
	if f.panics {
		panic("filter bug in OnDestroy")
	}
}

// OnDestroy runs on the loop when a stream ends: a filter that panics
// there must not leave the other filters undestroyed, the chain full for
// the next request, or the loop dead.
func TestStreamChainResetSurvivesPanickingOnDestroy(t *testing.T) {
	var rec []string
	var ch StreamChain
	ch.AddReceiver(&destroyPanic{name: "a", record: &rec, panics: true}, BeforeRoute)
	ch.AddReceiver(&destroyPanic{name: "b", record: &rec}, AfterRoute)
	ch.AddSender(&destroyPanic{name: "c", record: &rec, panics: true})
	ch.AddSender(&destroyPanic{name: "d", record: &rec})
	if n := ch.Reset(); n != 2 {
		t.Fatalf("Reset reported %d panics, want 2", n)
	}
	if want := "a b c d"; fmt.Sprint(rec) != "["+want+"]" {
		t.Fatalf("destroyed %v, want [%s]", rec, want)
	}
	if !ch.Empty() {
		t.Fatal("Reset left filters after a panic")
	}
	if n := ch.Reset(); n != 0 {
		t.Fatalf("an empty chain's Reset reported %d panics", n)
	}
}
