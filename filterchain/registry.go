package filterchain

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	return add(r, r.stream, "stream", name, c)
}

// AddNetwork registers a network filter type. A name registered twice is
// an error. Any goroutine.
func (r *Registry) AddNetwork(name string, c NetworkFactoryCreator) error {
	return add(r, r.network, "network", name, c)
}

// NewStream builds a stream filter factory of type name. Any goroutine;
// the creator runs on the caller's.
func (r *Registry) NewStream(name string, config json.RawMessage) (StreamFilterFactory, error) {
	c, err := lookup(r, r.stream, "stream", name)
	if err != nil {
		return nil, err
	}
	return c(config)
}

// NewNetwork builds a network filter factory of type name. Any goroutine;
// the creator runs on the caller's.
func (r *Registry) NewNetwork(name string, config json.RawMessage) (NetworkFilterFactory, error) {
	c, err := lookup(r, r.network, "network", name)
	if err != nil {
		return nil, err
	}
	return c(config)
}

// add registers c under name in m, one of r's maps of the filter kind
// ("stream" or "network").
func add[C any](r *Registry, m map[string]C, kind, name string, c C) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := m[name]; dup {
		return fmt.Errorf("filterchain: %s filter %q registered twice", kind, name)
	}
	m[name] = c
	return nil
}

// lookup returns the creator registered under name in m, one of r's maps
// of the filter kind, or an ErrUnknownType naming the known ones.
func lookup[C any](r *Registry, m map[string]C, kind, name string) (C, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := m[name]
	if !ok {
		return c, fmt.Errorf("%w: %s filter %q (known: %v)", ErrUnknownType, kind, name, slices.Sorted(maps.Keys(m)))
	}
	return c, nil
}
