package filterchain

import "net"

// Status is what a network filter tells the Manager to do next.
type Status uint8

const (
	// Continue hands the data to the next filter in the chain.
	Continue Status = iota
	// Stop ends the iteration for this event. Unconsumed bytes stay in the
	// connection's read buffer; the filter resumes the chain by calling
	// ReadCallbacks.ContinueReading, after which the next filter sees the
	// whole current buffer. A WriteFilter returning Stop takes ownership of
	// the write: nothing reaches the socket unless the filter writes it.
	Stop
)

// String returns the status name. Any goroutine.
func (s Status) String() string {
	if s == Stop {
		return "Stop"
	}
	return "Continue"
}

// Buffer is the unread input of a connection during one read event.
//
// Bytes returns a view that is valid only until the read callback returns or
// Drain is called; a filter that needs bytes later copies them. Every
// method is Loop only, during the OnData call the Buffer was passed to.
type Buffer interface {
	// Bytes returns the unconsumed input.
	Bytes() []byte
	// Len is len(Bytes()).
	Len() int
	// Drain consumes the first n bytes.
	Drain(n int)
}

// CloseMode says how a connection closes.
type CloseMode uint8

const (
	// CloseNow drops anything not yet written and closes.
	CloseNow CloseMode = iota
	// CloseFlush writes everything queued first (bounded by a timeout).
	CloseFlush
	// CloseLinger flushes, half-closes the write side, then reads and
	// discards the peer's input for a while before closing, so that a reply
	// sent before the request was fully read is not destroyed by a reset.
	CloseLinger
)

// ConnectionEvent is delivered to ConnectionCallbacks.
type ConnectionEvent uint8

const (
	// RemoteClose means the peer closed or reset the connection.
	RemoteClose ConnectionEvent = iota + 1
	// LocalClose means ferry closed the connection.
	LocalClose
)

// Connection is what a filter may do with the connection it is attached to.
// Every method is Loop only unless its doc says otherwise.
type Connection interface {
	// ID is unique among the connections of this process.
	ID() uint64
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// LocalAddr is ferry's address.
	LocalAddr() net.Addr
	// Write sends p through the write filters to the socket. It copies
	// what the socket does not take at once, so p may be reused on return.
	Write(p []byte) error
	// Writev is Write for several slices, in one system call when possible.
	Writev(bs [][]byte) error
	// Close closes the connection in the given mode.
	Close(mode CloseMode)
	// Closed reports whether the connection is closing or closed; no write
	// reaches the peer once it is.
	Closed() bool
}

// ReadCallbacks are handed to a ReadFilter once, before any data.
type ReadCallbacks interface {
	// Connection is the connection the filter belongs to. Loop only.
	Connection() Connection
	// ContinueReading resumes the iteration after this filter with the
	// current input. Loop only.
	ContinueReading()
}

// ReadFilter handles bytes read from a connection. Every method is called
// on the connection's event loop and must not block (it would stall every
// connection of the loop). A method that panics is recovered by the
// Manager: the connection is closed at once and the panic counted
// (NetworkFilterPanics); the process goes on.
type ReadFilter interface {
	// InitReadCallbacks is called once when the filter is added. It must
	// do no I/O.
	InitReadCallbacks(cb ReadCallbacks)
	// OnNewConnection is called once when the connection opens. Stop
	// keeps the later filters from seeing the event.
	OnNewConnection() Status
	// OnData is called with the unconsumed input. The filter consumes
	// what it handled with buf.Drain. endStream is true when the peer has
	// half-closed (gnet closes at EOF, so it is true only at close time).
	OnData(buf Buffer, endStream bool) Status
}

// WriteFilter sees bytes written to a connection, in reverse order of
// addition. OnWrite is called on the connection's event loop, inside the
// write; a panic drops the write and closes the connection (see
// ReadFilter).
type WriteFilter interface {
	// OnWrite may inspect the bytes. Stop takes ownership of the write.
	OnWrite(bs [][]byte) Status
}

// ConnectionCallbacks is implemented by filters that want to know when the
// connection closes. Filters that implement it are registered automatically.
type ConnectionCallbacks interface {
	// OnEvent is called once, on the connection's event loop, possibly
	// inside a write that failed (gnet closes the socket there; see
	// docs/gnet.md). A panic is counted and the other listeners are still
	// told.
	OnEvent(ev ConnectionEvent)
}
