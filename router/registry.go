package router

import (
	"maps"
	"sync/atomic"
)

// Registry holds the current set of named tables. Set replaces the whole
// set atomically; Get never locks. The zero value is not usable; call
// NewRegistry.
//
// Concurrency: a reader calling Get concurrently with Set sees either the
// old set or the new one, never a mix. A *Table obtained before a Set stays
// valid (tables are immutable) and is collected once no reader holds it.
type Registry struct {
	tables atomic.Pointer[map[string]*Table]
}

// NewRegistry returns a Registry with no tables. Any goroutine.
func NewRegistry() *Registry {
	r := &Registry{}
	empty := map[string]*Table{}
	r.tables.Store(&empty)
	return r
}

// Get returns the table registered under name, or nil. Any goroutine.
func (r *Registry) Get(name string) *Table {
	return (*r.tables.Load())[name]
}

// Set replaces all tables with a copy of tables; nil entries are dropped.
// The caller may reuse tables afterwards. Any goroutine.
func (r *Registry) Set(tables map[string]*Table) {
	m := make(map[string]*Table, len(tables))
	maps.Copy(m, tables)
	maps.DeleteFunc(m, func(_ string, t *Table) bool { return t == nil })
	r.tables.Store(&m)
}

// Names returns the registered table names in no particular order. It
// allocates; meant for the admin API. Any goroutine.
func (r *Registry) Names() []string {
	m := *r.tables.Load()
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	return out
}
