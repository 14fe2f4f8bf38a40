package conn

import "github.com/ferry-proxy/ferry/filterchain"

// FilterFactory builds a listener's network filters on each new
// connection. It is handed the *Conn itself: a filter that needs the
// loop-side API (its Loop, timers, watermarks, byte counters, the relay)
// takes it from here, typed, where filterchain's callbacks can only offer
// filterchain.Connection (filterchain sits below conn and cannot name the
// type). The engine calls it on the connection's loop, once per
// connection, before the filters are initialised; it must not block.
type FilterFactory interface {
	CreateFilters(c *Conn)
}

// Chain adapts a factory that needs only the filter chain (a filter type
// from filterchain.Registry, say) to a FilterFactory.
func Chain(f filterchain.NetworkFilterFactory) FilterFactory { return chain{f} }

type chain struct {
	f filterchain.NetworkFilterFactory
}

func (ch chain) CreateFilters(c *Conn) { ch.f.CreateFilters(c.Filters()) }
