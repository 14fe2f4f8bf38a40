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

// String returns the status name.
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
type HeaderMap interface {
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
type RequestInfo interface {
	Method() []byte
	// Path is the request-target as received (origin-form, with query).
	Path() []byte
	Host() []byte
	RemoteAddr() net.Addr
	// RouteName is the name of the matched route, or "" before MatchRoute.
	RouteName() string
}

// StreamHandle is what a stream filter may do with its stream.
type StreamHandle interface {
	// Context is the stream's context, cancelled when the stream ends.
	Context() context.Context
	// Request describes the request.
	Request() RequestInfo
	// SendLocalReply answers the request with status and body instead of
	// the upstream; the filter then returns StreamStop.
	SendLocalReply(status int, body string)
	// Resume continues a stream that a filter stopped, after that filter.
	// Any goroutine.
	Resume()
}

// StreamReceiverFilter handles a request. Bodies stream through ferry
// without being buffered, so body is nil and trailers are nil in the
// receive phases run on the request head.
type StreamReceiverFilter interface {
	OnReceive(h StreamHandle, headers HeaderMap, body []byte, trailers HeaderMap) StreamStatus
	// OnDestroy is called once when the stream ends.
	OnDestroy()
}

// StreamSenderFilter handles a response head (UpFilter phase).
type StreamSenderFilter interface {
	Append(h StreamHandle, headers HeaderMap, body []byte, trailers HeaderMap) StreamStatus
	// OnDestroy is called once when the stream ends.
	OnDestroy()
}

// ChainBuilder receives a stream's filter instances.
type ChainBuilder interface {
	AddReceiver(f StreamReceiverFilter, p ReceivePhase)
	AddSender(f StreamSenderFilter)
}

// StreamFilterFactory creates the filters of one configured stream filter
// for each stream. It is built once per listener and shared by its loops,
// so CreateFilters must be safe from any goroutine.
type StreamFilterFactory interface {
	CreateFilters(b ChainBuilder)
	// Blocking reports whether the filters may block (remote calls, disk,
	// heavy CPU). With the auto scheduler, a chain with a blocking filter
	// runs its phases on the worker pool instead of the event loop.
	Blocking() bool
}

// StreamChain is one stream's filter instances and the position of a
// stopped filter. The zero value is ready; it is reused across streams.
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

// AddReceiver implements ChainBuilder.
func (c *StreamChain) AddReceiver(f StreamReceiverFilter, p ReceivePhase) {
	c.receivers = append(c.receivers, receiver{f: f, phase: p})
}

// AddSender implements ChainBuilder.
func (c *StreamChain) AddSender(f StreamSenderFilter) { c.senders = append(c.senders, f) }

// Empty reports whether the chain has no filter.
func (c *StreamChain) Empty() bool { return len(c.receivers) == 0 && len(c.senders) == 0 }

// RunReceivers runs the receivers of phase p, starting after the filter that
// last stopped. Anything but StreamContinue ends the iteration; the chain
// remembers where to resume. On StreamContinue the position resets for the
// next phase.
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
// filter that stopped.
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

// Reset destroys the filters and empties the chain, keeping its capacity.
func (c *StreamChain) Reset() {
	for i := range c.receivers {
		c.receivers[i].f.OnDestroy()
		c.receivers[i] = receiver{}
	}
	for i := range c.senders {
		c.senders[i].OnDestroy()
		c.senders[i] = nil
	}
	c.receivers = c.receivers[:0]
	c.senders = c.senders[:0]
	c.pos = 0
}

var _ ChainBuilder = (*StreamChain)(nil)
