package filterchain

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrUnknownType is wrapped by NewStream and NewNetwork for a type that is
// not registered.
var ErrUnknownType = errors.New("unknown filter type")

// StreamFactoryCreator builds a stream filter factory from the filter's
// configuration block. It reports bad configuration as an error naming the
// field.
type StreamFactoryCreator func(config json.RawMessage) (StreamFilterFactory, error)

// NetworkFilterFactory adds a configured network filter's instances to a new
// connection's Manager. It must be safe from any goroutine. The engine takes
// conn.FilterFactory, which hands a factory the connection itself; this
// one, for filters that need only the chain, is adapted by conn.Chain.
type NetworkFilterFactory interface {
	// CreateFilters adds the filters to m. It runs on the new connection's
	// event loop, once per connection, and must not block.
	CreateFilters(m *Manager)
}

// NetworkFactoryCreator builds a network filter factory from configuration.
type NetworkFactoryCreator func(config json.RawMessage) (NetworkFilterFactory, error)

// Registry maps filter type names to their creators. cmd/ferry fills it
// explicitly; nothing registers itself. Any goroutine.
type Registry struct {
	mu      sync.RWMutex
	stream  map[string]StreamFactoryCreator
	network map[string]NetworkFactoryCreator
}

// NewRegistry returns an empty registry. Any goroutine.
func NewRegistry() *Registry {
	return &Registry{stream: map[string]StreamFactoryCreator{}, network: map[string]NetworkFactoryCreator{}}
}

// AddStream registers a stream filter type. A name registered twice is an
// error. Any goroutine.
func (r *Registry) AddStream(name string, c StreamFactoryCreator) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.stream[name]; dup {
		return fmt.Errorf("filterchain: stream filter %q registered twice", name)
	}
	r.stream[name] = c
	return nil
}

// AddNetwork registers a network filter type. A name registered twice is
// an error. Any goroutine.
func (r *Registry) AddNetwork(name string, c NetworkFactoryCreator) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.network[name]; dup {
		return fmt.Errorf("filterchain: network filter %q registered twice", name)
	}
	r.network[name] = c
	return nil
}

// NewStream builds a stream filter factory of type name. Any goroutine;
// the creator runs on the caller's.
func (r *Registry) NewStream(name string, config json.RawMessage) (StreamFilterFactory, error) {
	r.mu.RLock()
	c, ok := r.stream[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: stream filter %q (known: %v)", ErrUnknownType, name, r.names(true))
	}
	return c(config)
}

// NewNetwork builds a network filter factory of type name. Any goroutine;
// the creator runs on the caller's.
func (r *Registry) NewNetwork(name string, config json.RawMessage) (NetworkFilterFactory, error) {
	r.mu.RLock()
	c, ok := r.network[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: network filter %q (known: %v)", ErrUnknownType, name, r.names(false))
	}
	return c(config)
}

func (r *Registry) names(stream bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	if stream {
		for n := range r.stream {
			out = append(out, n)
		}
	} else {
		for n := range r.network {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
