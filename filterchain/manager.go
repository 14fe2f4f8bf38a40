package filterchain

import (
	"fmt"
	"log/slog"
	"sync/atomic"
)

// Manager runs a connection's network filters. Loop only.
//
// Network filters always run inline on the connection's event loop, so a
// filter that panics would take the loop, and with it the process, down.
// Every entry that calls filters (OnNewConnection, OnRead, OnWrite,
// OnEvent) recovers instead: the panic is counted (NetworkFilterPanics),
// reported to the connection if it implements PanicReporter (else logged
// with slog's default logger), and the connection is closed at once
// (CloseNow); other connections on the loop are not affected.
//
// A Manager is usually embedded by value in its connection (see Init): the
// first read filter and the first two event listeners live in inline
// arrays, so the common HTTP connection costs no allocation here.
type Manager struct {
	conn  Connection
	read  []readEntry
	write *[]WriteFilter // rare: allocated on the first AddWriteFilter
	// events lists the close listeners that are not filters; read and write
	// filters implementing ConnectionCallbacks are found at close time.
	events     []ConnectionCallbacks
	inlineRead [1]readEntry
	// input is the buffer of the read event in progress; nil between events.
	input Buffer
	// resumeAt is where the next read event starts when a filter called
	// ContinueReading between events (Envoy resumes after the filter that
	// stopped, so earlier filters do not see the same bytes twice).
	resumeAt int
}

type readEntry struct {
	filter      ReadFilter
	initialized bool
	m           *Manager
}

// Connection implements ReadCallbacks. Loop only.
func (e *readEntry) Connection() Connection { return e.m.conn }

// ContinueReading implements ReadCallbacks. Loop only.
func (e *readEntry) ContinueReading() { e.m.continueAfter(e) }

// NewManager returns a Manager for conn. Any goroutine, before the
// connection is used; the Manager is Loop only from then on.
func NewManager(conn Connection) *Manager {
	m := &Manager{}
	m.Init(conn)
	return m
}

// Init prepares a Manager embedded in its connection. The Manager must not
// move afterwards (its slices start on its inline arrays). Loop only (or
// before the connection is handed to its loop).
func (m *Manager) Init(conn Connection) {
	m.conn = conn
	m.read = m.inlineRead[:0]
}

// AddReadFilter appends f to the read chain. Loop only.
func (m *Manager) AddReadFilter(f ReadFilter) {
	m.read = append(m.read, readEntry{filter: f, m: m})
}

// AddWriteFilter adds f to the write chain; write filters run in reverse
// order of addition. Loop only.
func (m *Manager) AddWriteFilter(f WriteFilter) {
	if m.write == nil {
		m.write = new([]WriteFilter)
	}
	*m.write = append(*m.write, f)
}

// InitializeReadFilters hands each read filter its callbacks and reports
// whether there is any. Call once, after the filters are added. Loop only.
func (m *Manager) InitializeReadFilters() bool {
	for i := range m.read {
		m.read[i].filter.InitReadCallbacks(&m.read[i])
	}
	return len(m.read) > 0
}

// OnRead runs the read chain from the first filter over buf. A filter
// panic closes the connection (see Manager). Loop only.
func (m *Manager) OnRead(buf Buffer, endStream bool) {
	defer func() {
		if v := recover(); v != nil {
			m.input = nil
			m.panicked("OnData", v)
		}
	}()
	start := m.resumeAt
	m.resumeAt = 0
	m.input = buf
	m.iterate(start, endStream)
	m.input = nil
}

// PanicReporter is implemented by a Connection that wants to hear about a
// network filter panic the Manager recovered (to log it with the
// connection's details). It is called on the loop, before the Manager
// closes the connection.
type PanicReporter interface {
	FilterPanicked(callback string, v any)
}

// networkPanics counts the network filter panics the Managers of this
// process recovered.
var networkPanics atomic.Uint64 //nolint:gochecknoglobals // process-wide counter, read by NetworkFilterPanics

// NetworkFilterPanics is the number of network filter panics recovered in
// this process. Any goroutine.
func NetworkFilterPanics() uint64 { return networkPanics.Load() }

// panicked handles a recovered filter panic: counted, reported, and the
// connection closed at once (its state is unknown). Loop only.
func (m *Manager) panicked(callback string, v any) {
	networkPanics.Add(1)
	if r, ok := m.conn.(PanicReporter); ok {
		r.FilterPanicked(callback, v)
	} else {
		slog.Error("network filter panicked; connection closed", "callback", callback, "panic", fmt.Sprint(v), "conn", m.conn.ID())
	}
	if !m.conn.Closed() {
		m.conn.Close(CloseNow)
	}
}

// continueAfter resumes the iteration after entry e. Called by a filter
// through ReadCallbacks. During a read event it iterates at once over the
// same input; between events it asks the connection (through its
// ResumeReading method) for a new read event that starts after e.
func (m *Manager) continueAfter(e *readEntry) {
	i := m.indexOf(e)
	if m.input == nil {
		m.resumeAt = i + 1
		if r, ok := m.conn.(interface{ ResumeReading() }); ok {
			r.ResumeReading()
		}
		return
	}
	m.iterate(i+1, false)
}

func (m *Manager) indexOf(e *readEntry) int {
	for i := range m.read {
		if &m.read[i] == e {
			return i
		}
	}
	panic("filterchain: ContinueReading from a filter that is not in the chain")
}

// iterate runs read filters from index start. It stops on Stop and as soon
// as the connection is no longer open.
func (m *Manager) iterate(start int, endStream bool) {
	for i := start; i < len(m.read); i++ {
		if m.conn.Closed() {
			return
		}
		e := &m.read[i]
		if !e.initialized {
			e.initialized = true
			if e.filter.OnNewConnection() == Stop {
				return
			}
		}
		if m.input == nil {
			continue
		}
		if e.filter.OnData(m.input, endStream) == Stop {
			return
		}
	}
}

// OnNewConnection runs OnNewConnection on each filter in order until one
// stops or the connection closes. A filter panic closes the connection
// (see Manager). Loop only.
func (m *Manager) OnNewConnection() {
	defer func() {
		if v := recover(); v != nil {
			m.panicked("OnNewConnection", v)
		}
	}()
	m.iterate(0, false)
}

// OnWrite runs the write filters in reverse order. It returns Stop when a
// filter took ownership of the write. A filter panic drops the write
// (Stop) and closes the connection (see Manager). Loop only.
func (m *Manager) OnWrite(bs [][]byte) (st Status) {
	if m.write == nil {
		return Continue
	}
	defer func() {
		if v := recover(); v != nil {
			st = Stop
			m.panicked("OnWrite", v)
		}
	}()
	w := *m.write
	for i := len(w) - 1; i >= 0; i-- {
		if w[i].OnWrite(bs) == Stop {
			return Stop
		}
	}
	return Continue
}

// HasWriteFilters reports whether any write filter is installed. Loop only.
func (m *Manager) HasWriteFilters() bool { return m.write != nil }

// OnEvent tells the close listeners: those added with
// AddConnectionCallbacks, then the read and write filters that implement
// ConnectionCallbacks. A listener that panics is counted and the others
// are still told (the connection is closing anyway). Loop only.
func (m *Manager) OnEvent(ev ConnectionEvent) {
	m.eventFrom(ev, 0)
}

// eventFrom tells the close listeners in order (those added with
// AddConnectionCallbacks, then the filters), skipping the first skip of
// them. A listener that panics is counted and the ones after it are told.
func (m *Manager) eventFrom(ev ConnectionEvent, skip int) {
	n := 0 // listeners reached, the one being told included
	defer func() {
		if v := recover(); v != nil {
			m.panicked("OnEvent", v)
			m.eventFrom(ev, n)
		}
	}()
	for _, cb := range m.events {
		if n++; n > skip {
			cb.OnEvent(ev)
		}
	}
	for i := range m.read {
		if cb, ok := m.read[i].filter.(ConnectionCallbacks); ok {
			if n++; n > skip {
				cb.OnEvent(ev)
			}
		}
	}
	if m.write != nil {
		for _, f := range *m.write {
			if cb, ok := f.(ConnectionCallbacks); ok {
				if n++; n > skip {
					cb.OnEvent(ev)
				}
			}
		}
	}
}

// AddConnectionCallbacks registers cb for close events without a filter.
// Loop only.
func (m *Manager) AddConnectionCallbacks(cb ConnectionCallbacks) {
	m.events = append(m.events, cb)
}
