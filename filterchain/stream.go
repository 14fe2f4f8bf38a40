package filterchain

import (
	"context"
	"net"
)

// StreamStatus is what a stream filter tells the stream to do next.
type StreamStatus uint8

const (
	// StreamContinue runs the next filter, then the rest of the stream.
	StreamContinue StreamStatus = iota
	// StreamStop skips the rest of this phase's filters for now. The filter
	// has replied (StreamHandle.SendLocalReply) or will call
	// StreamHandle.Resume, which continues with the filter after it.
	StreamStop
	// StreamReroute matches the route again (after, say, a header rewrite)
	// and restarts the AfterRoute filters.
	StreamReroute
	// StreamRechooseHost picks the upstream host again.
	StreamRechooseHost
)

var streamStatusNames = [...]string{"StreamContinue", "StreamStop", "StreamReroute", "StreamRechooseHost"} //nolint:gochecknoglobals // read-only

// String returns the status name. Any goroutine.
func (s StreamStatus) String() string {
	if int(s) < len(streamStatusNames) {
		return streamStatusNames[s]
	}
	return "StreamStatus(?)"
}

// ReceivePhase is when a request (receiver) filter runs.
type ReceivePhase uint8

const (
	// BeforeRoute runs in the DownFilter phase, before route matching.
	BeforeRoute ReceivePhase = iota
	// AfterRoute runs in DownFilterAfterRoute, once the route is known.
	AfterRoute
	// AfterChooseHost runs once the upstream host is chosen, before the
	// request is sent.
	AfterChooseHost
)

// HeaderMap is a mutable view of a message's header fields. Names are
// case-insensitive. Values returned by Get are valid until the map changes.
//
// Goroutines: every method is for the filter callback the map was passed
// to, on the goroutine running it, and only until the callback returns. A
// filter that works on the headers from another goroutine copies what it
// needs first.
type HeaderMap interface {
	// Get returns the first field of this name.
	Get(name string) ([]byte, bool)
	// Set replaces every field of this name with one field.
	Set(name, value string)
	// Add appends a field.
	Add(name, value string)
	// Del removes every field of this name.
	Del(name string)
	// Range calls fn for each field in order until fn returns false.
	Range(fn func(name, value []byte) bool)
}

// RequestInfo is read-only information about the request of a stream.
//
// Goroutines: like HeaderMap, every method is for a filter callback, on
// the goroutine running it; the slices it returns are valid until the
// callback returns.
type RequestInfo interface {
	// Method is the request method.
	Method() []byte
	// Path is the request-target as received (origin-form, with query).
	Path() []byte
	// Host is the host the request is routed by (the absolute-form
	// target's authority, else the Host field).
	Host() []byte
	// RemoteAddr is the client's address.
	RemoteAddr() net.Addr
	// RouteName is the name of the matched route, or "" before MatchRoute.
	RouteName() string
}

// StreamHandle is what a stream filter may do with its stream.
//
// Goroutines: a filter callback (OnReceive, Append) runs on the goroutine
// that owns the stream at the time: its event loop, or a worker when the
// chain is offloaded (scheduler policy pool, or auto with a blocking
// filter). Each method says where it may be called. The handle is valid
// until the filter's OnDestroy: the stream is reused afterwards, so a
// filter's goroutine must stop using the handle by then.
type StreamHandle interface {
	// Context is the stream's context, cancelled when the stream ends.
	// During a callback only, on its goroutine: a filter that works on
	// another goroutine takes the context before it returns StreamStop.
	// Called while the stream is stopped at a filter (the usual mistake:
	// from the filter's goroutine after StreamStop) it returns a context
	// that is already cancelled, whose cause says so.
	Context() context.Context
	// Request describes the request. During a callback only, on its
	// goroutine.
	Request() RequestInfo
	// SendLocalReply answers the request with status (200-599) and body
	// instead of the upstream. Any goroutine:
	//   - during a callback, on its goroutine: the reply is written when
	//     the callback returns, whatever status it returns (return
	//     StreamStop);
	//   - after the filter returned StreamStop, from any goroutine: the
	//     reply hops to the stream's event loop and is written there;
	//   - while the stream runs on (it was resumed, or its filters
	//     continued), the reply is written at its next filter phase; once
	//     no filter phase is left before the response starts, it is
	//     dropped and counted.
	// A status outside 200-599 is refused: the client gets a 500.
	SendLocalReply(status int, body string)
	// Resume continues a stream that a filter stopped, after that filter.
	// Any goroutine, once the filter decided to return StreamStop (before
	// or after the return); at most once per stop.
	Resume()
}

// StreamReceiverFilter handles a request. Bodies stream through ferry
// without being buffered, so body is nil and trailers are nil in the
// receive phases run on the request head.
//
// A filter that panics is recovered: the client gets a 500 and its
// connection closes, and the panic is counted (ferry's
// scheduler_filter_panics); the process goes on.
type StreamReceiverFilter interface {
	// OnReceive runs on the goroutine that owns the stream (see
	// StreamHandle) and must not block when the factory says it does not.
	OnReceive(h StreamHandle, headers HeaderMap, body []byte, trailers HeaderMap) StreamStatus
	// OnDestroy is called once when the stream ends, on its event loop.
	OnDestroy()
}

// StreamSenderFilter handles a response head (UpFilter phase). Panics are
// recovered as for StreamReceiverFilter.
type StreamSenderFilter interface {
	// Append runs on the goroutine that owns the stream (see
	// StreamHandle).
	Append(h StreamHandle, headers HeaderMap, body []byte, trailers HeaderMap) StreamStatus
	// OnDestroy is called once when the stream ends, on its event loop.
	OnDestroy()
}

// ChainBuilder receives a stream's filter instances. Its methods are
// called from StreamFilterFactory.CreateFilters only, on the goroutine
// that called it (the stream's event loop).
type ChainBuilder interface {
	// AddReceiver adds a request filter that runs in phase p.
	AddReceiver(f StreamReceiverFilter, p ReceivePhase)
	// AddSender adds a response filter.
	AddSender(f StreamSenderFilter)
}

// StreamFilterFactory creates the filters of one configured stream filter
// for each stream. It is built once per listener and shared by its loops,
// so CreateFilters must be safe from any goroutine.
type StreamFilterFactory interface {
	// CreateFilters adds one stream's filter instances to b. ferry calls
	// it on the stream's event loop when the stream starts; it must not
	// block.
	CreateFilters(b ChainBuilder)
	// Blocking reports whether the filters may block (remote calls, disk,
	// heavy CPU). With the auto scheduler, a chain with a blocking filter
	// runs its phases on the worker pool instead of the event loop. Any
	// goroutine; ferry asks once, when it builds the listener.
	Blocking() bool
}

// StreamChain is one stream's filter instances and the position of a
// stopped filter. The zero value is ready; it is reused across streams.
//
// Goroutines: a StreamChain is not safe for concurrent use. Every method
// is for the goroutine that owns the stream at the time (its event loop,
// or a worker during offloaded filter phases); the owner changes only
// through a hand-off that orders memory (the worker pool's Submit, the
// loop's Execute). Run* do not recover a filter's panic: the caller
// (ferry's proxy) does.
type StreamChain struct {
	receivers []receiver
	senders   []StreamSenderFilter
	// pos is the index of the next filter to run in the current phase.
	pos int
}

type receiver struct {
	f     StreamReceiverFilter
	phase ReceivePhase
}

// AddReceiver implements ChainBuilder. Owner only.
func (c *StreamChain) AddReceiver(f StreamReceiverFilter, p ReceivePhase) {
	c.receivers = append(c.receivers, receiver{f: f, phase: p})
}

// AddSender implements ChainBuilder. Owner only.
func (c *StreamChain) AddSender(f StreamSenderFilter) { c.senders = append(c.senders, f) }

// Empty reports whether the chain has no filter. Owner only.
func (c *StreamChain) Empty() bool { return len(c.receivers) == 0 && len(c.senders) == 0 }

// RunReceivers runs the receivers of phase p, starting after the filter that
// last stopped. Anything but StreamContinue ends the iteration; the chain
// remembers where to resume. On StreamContinue the position resets for the
// next phase. Owner only.
func (c *StreamChain) RunReceivers(p ReceivePhase, h StreamHandle, headers HeaderMap) StreamStatus {
	for c.pos < len(c.receivers) {
		r := c.receivers[c.pos]
		c.pos++
		if r.phase != p {
			continue
		}
		if st := r.f.OnReceive(h, headers, nil, nil); st != StreamContinue {
			if st == StreamReroute || st == StreamRechooseHost {
				c.pos = 0
			}
			return st
		}
	}
	c.pos = 0
	return StreamContinue
}

// RunSenders runs the sender filters on a response head, resuming after a
// filter that stopped. Owner only.
func (c *StreamChain) RunSenders(h StreamHandle, headers HeaderMap) StreamStatus {
	for c.pos < len(c.senders) {
		f := c.senders[c.pos]
		c.pos++
		if st := f.Append(h, headers, nil, nil); st != StreamContinue {
			return st
		}
	}
	c.pos = 0
	return StreamContinue
}

// Reset destroys the filters (OnDestroy) and empties the chain, keeping
// its capacity. A filter whose OnDestroy panics does not stop the others
// from being destroyed or the chain from being emptied: Reset recovers and
// returns how many panicked, for the caller to count. Owner only; ferry
// calls it on the stream's event loop.
func (c *StreamChain) Reset() (panics int) {
	if len(c.receivers) > 0 || len(c.senders) > 0 {
		panics = c.destroyFrom(0)
	}
	for i := range c.receivers {
		c.receivers[i] = receiver{}
	}
	for i := range c.senders {
		c.senders[i] = nil
	}
	c.receivers = c.receivers[:0]
	c.senders = c.senders[:0]
	c.pos = 0
	return panics
}

// destroyFrom calls OnDestroy on the filters from index from (receivers,
// then senders) and returns how many panicked.
func (c *StreamChain) destroyFrom(from int) (panics int) {
	n := from
	defer func() {
		if recover() != nil {
			panics = 1 + c.destroyFrom(n+1)
		}
	}()
	for ; n < len(c.receivers)+len(c.senders); n++ {
		if n < len(c.receivers) {
			c.receivers[n].f.OnDestroy()
		} else {
			c.senders[n-len(c.receivers)].OnDestroy()
		}
	}
	return 0
}

var _ ChainBuilder = (*StreamChain)(nil)
