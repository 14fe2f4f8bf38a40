package filterchain

import (
	"encoding/json"
	"errors"
	"net"
	"testing"
)

type fakeConn struct {
	closed  bool
	resumed int
	writes  [][]byte
}

func (c *fakeConn) ID() uint64              { return 1 }
func (c *fakeConn) RemoteAddr() net.Addr    { return nil }
func (c *fakeConn) LocalAddr() net.Addr     { return nil }
func (c *fakeConn) Write(p []byte) error    { c.writes = append(c.writes, p); return nil }
func (c *fakeConn) Writev(b [][]byte) error { c.writes = append(c.writes, b...); return nil }
func (c *fakeConn) Close(CloseMode)         { c.closed = true }
func (c *fakeConn) Closed() bool            { return c.closed }
func (c *fakeConn) ResumeReading()          { c.resumed++ }

type buf struct {
	b   []byte
	off int
}

func (b *buf) Bytes() []byte { return b.b[b.off:] }
func (b *buf) Len() int      { return len(b.b) - b.off }
func (b *buf) Drain(n int)   { b.off += n }

// recFilter records what it saw and does what it is told.
type recFilter struct {
	name   string
	log    *[]string
	status Status
	drain  bool
	close  *fakeConn
	cb     ReadCallbacks
	events []ConnectionEvent
}

func (f *recFilter) InitReadCallbacks(cb ReadCallbacks) { f.cb = cb }
func (f *recFilter) OnNewConnection() Status {
	*f.log = append(*f.log, f.name+":new")
	return Continue
}
func (f *recFilter) OnData(b Buffer, _ bool) Status {
	*f.log = append(*f.log, f.name+":"+string(b.Bytes()))
	if f.drain {
		b.Drain(b.Len())
	}
	if f.close != nil {
		f.close.Close(CloseNow)
	}
	return f.status
}
func (f *recFilter) OnEvent(ev ConnectionEvent) { f.events = append(f.events, ev) }

func TestManagerIteration(t *testing.T) {
	tests := []struct {
		name    string
		filters func(log *[]string, c *fakeConn) []*recFilter
		want    []string
	}{
		{name: "all continue in order", filters: func(log *[]string, _ *fakeConn) []*recFilter {
			return []*recFilter{{name: "a", log: log}, {name: "b", log: log}}
		}, want: []string{"a:new", "a:x", "b:new", "b:x"}},
		{name: "stop ends the iteration", filters: func(log *[]string, _ *fakeConn) []*recFilter {
			return []*recFilter{{name: "a", log: log, status: Stop}, {name: "b", log: log}}
		}, want: []string{"a:new", "a:x"}},
		{name: "a closed connection ends the iteration", filters: func(log *[]string, c *fakeConn) []*recFilter {
			return []*recFilter{{name: "a", log: log, close: c}, {name: "b", log: log}}
		}, want: []string{"a:new", "a:x"}},
		{name: "drained bytes are gone for the next filter", filters: func(log *[]string, _ *fakeConn) []*recFilter {
			return []*recFilter{{name: "a", log: log, drain: true}, {name: "b", log: log}}
		}, want: []string{"a:new", "a:x", "b:new", "b:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			c := &fakeConn{}
			m := NewManager(c)
			for _, f := range tc.filters(&log, c) {
				m.AddReadFilter(f)
			}
			m.InitializeReadFilters()
			m.OnRead(&buf{b: []byte("x")}, false)
			if len(log) != len(tc.want) {
				t.Fatalf("log %q, want %q", log, tc.want)
			}
			for i := range log {
				if log[i] != tc.want[i] {
					t.Fatalf("log %q, want %q", log, tc.want)
				}
			}
		})
	}
}

func TestManagerContinueReadingResumesAfterTheStoppedFilter(t *testing.T) {
	var log []string
	c := &fakeConn{}
	m := NewManager(c)
	a := &recFilter{name: "a", log: &log}
	b := &recFilter{name: "b", log: &log, status: Stop}
	z := &recFilter{name: "z", log: &log}
	for _, f := range []ReadFilter{a, b, z} {
		m.AddReadFilter(f)
	}
	m.InitializeReadFilters()
	m.OnRead(&buf{b: []byte("1")}, false)
	// Between events, ContinueReading asks the connection for a read event
	// that starts after b.
	b.status = Continue
	b.cb.ContinueReading()
	if c.resumed != 1 {
		t.Fatalf("ResumeReading called %d times, want 1", c.resumed)
	}
	m.OnRead(&buf{b: []byte("2")}, false)
	want := []string{"a:new", "a:1", "b:new", "b:1", "z:new", "z:2"}
	if len(log) != len(want) {
		t.Fatalf("log %q, want %q", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("log %q, want %q", log, want)
		}
	}
	m.OnEvent(RemoteClose)
	if len(a.events) != 1 || a.events[0] != RemoteClose {
		t.Fatalf("close event not delivered: %v", a.events)
	}
}

type orderWrite struct {
	name string
	log  *[]string
	st   Status
}

func (w *orderWrite) OnWrite([][]byte) Status { *w.log = append(*w.log, w.name); return w.st }

func TestManagerWriteFiltersRunInReverse(t *testing.T) {
	var log []string
	m := NewManager(&fakeConn{})
	m.AddWriteFilter(&orderWrite{name: "first", log: &log})
	m.AddWriteFilter(&orderWrite{name: "second", log: &log, st: Stop})
	if st := m.OnWrite(nil); st != Stop || len(log) != 1 || log[0] != "second" {
		t.Fatalf("status %v log %q: want Stop after the last-added filter only", st, log)
	}
}

type stopFilter struct {
	st     StreamStatus
	calls  int
	name   string
	record *[]string
}

func (f *stopFilter) OnReceive(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	f.calls++
	*f.record = append(*f.record, f.name)
	return f.st
}
func (f *stopFilter) Append(StreamHandle, HeaderMap, []byte, HeaderMap) StreamStatus {
	*f.record = append(*f.record, f.name)
	return f.st
}
func (f *stopFilter) OnDestroy() { *f.record = append(*f.record, f.name+":destroy") }

func TestStreamChainStopAndResume(t *testing.T) {
	var rec []string
	var ch StreamChain
	a := &stopFilter{name: "a", record: &rec}
	b := &stopFilter{name: "b", st: StreamStop, record: &rec}
	late := &stopFilter{name: "late", record: &rec}
	c := &stopFilter{name: "c", record: &rec}
	ch.AddReceiver(a, BeforeRoute)
	ch.AddReceiver(late, AfterRoute)
	ch.AddReceiver(b, BeforeRoute)
	ch.AddReceiver(c, BeforeRoute)
	if st := ch.RunReceivers(BeforeRoute, nil, nil); st != StreamStop {
		t.Fatalf("status %v, want StreamStop", st)
	}
	b.st = StreamContinue
	if st := ch.RunReceivers(BeforeRoute, nil, nil); st != StreamContinue {
		t.Fatalf("resume status %v", st)
	}
	if st := ch.RunReceivers(AfterRoute, nil, nil); st != StreamContinue {
		t.Fatalf("after-route status %v", st)
	}
	ch.Reset()
	want := []string{"a", "b", "c", "late", "a:destroy", "late:destroy", "b:destroy", "c:destroy"}
	if len(rec) != len(want) {
		t.Fatalf("got %q, want %q", rec, want)
	}
	for i := range want {
		if rec[i] != want[i] {
			t.Fatalf("got %q, want %q", rec, want)
		}
	}
	if !ch.Empty() {
		t.Fatal("Reset left filters")
	}
}

// TestRegistry checks both kinds of filter type: a creator is found by its
// name and kind only, a name registered twice is refused, and an unknown
// name is an ErrUnknownType listing the known names of its kind, sorted.
func TestRegistry(t *testing.T) {
	r := NewRegistry()
	stream := func(json.RawMessage) (StreamFilterFactory, error) { return nil, errors.New("stream creator ran") }
	network := func(json.RawMessage) (NetworkFilterFactory, error) { return nil, errors.New("network creator ran") }
	for _, err := range []error{r.AddStream("b", stream), r.AddStream("a", stream), r.AddNetwork("n", network)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"stream dup", r.AddStream("a", stream), `filterchain: stream filter "a" registered twice`},
		{"network dup", r.AddNetwork("n", network), `filterchain: network filter "n" registered twice`},
		{"stream found", second(r.NewStream("a", nil)), "stream creator ran"},
		{"network found", second(r.NewNetwork("n", nil)), "network creator ran"},
		{"stream unknown", second(r.NewStream("n", nil)), `unknown filter type: stream filter "n" (known: [a b])`},
		{"network unknown", second(r.NewNetwork("a", nil)), `unknown filter type: network filter "a" (known: [n])`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if _, err := r.NewStream("x", nil); !errors.Is(err, ErrUnknownType) {
		t.Errorf("NewStream(x) = %v, want ErrUnknownType", err)
	}
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }
