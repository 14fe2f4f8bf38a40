package filterchain

// Manager runs a connection's network filters. Loop only.
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

// Connection implements ReadCallbacks.
func (e *readEntry) Connection() Connection { return e.m.conn }

// ContinueReading implements ReadCallbacks.
func (e *readEntry) ContinueReading() { e.m.continueAfter(e) }

// NewManager returns a Manager for conn.
func NewManager(conn Connection) *Manager {
	m := &Manager{}
	m.Init(conn)
	return m
}

// Init prepares a Manager embedded in its connection. The Manager must not
// move afterwards (its slices start on its inline arrays).
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

// OnRead runs the read chain from the first filter over buf. Loop only.
func (m *Manager) OnRead(buf Buffer, endStream bool) {
	start := m.resumeAt
	m.resumeAt = 0
	m.input = buf
	m.iterate(start, endStream)
	m.input = nil
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
// stops or the connection closes. Loop only.
func (m *Manager) OnNewConnection() {
	m.iterate(0, false)
}

// OnWrite runs the write filters in reverse order. It returns Stop when a
// filter took ownership of the write. Loop only.
func (m *Manager) OnWrite(bs [][]byte) Status {
	if m.write == nil {
		return Continue
	}
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
// ConnectionCallbacks. Loop only.
func (m *Manager) OnEvent(ev ConnectionEvent) {
	for _, cb := range m.events {
		cb.OnEvent(ev)
	}
	for i := range m.read {
		if cb, ok := m.read[i].filter.(ConnectionCallbacks); ok {
			cb.OnEvent(ev)
		}
	}
	if m.write != nil {
		for _, f := range *m.write {
			if cb, ok := f.(ConnectionCallbacks); ok {
				cb.OnEvent(ev)
			}
		}
	}
}

// AddConnectionCallbacks registers cb for close events without a filter.
// Loop only.
func (m *Manager) AddConnectionCallbacks(cb ConnectionCallbacks) {
	m.events = append(m.events, cb)
}
