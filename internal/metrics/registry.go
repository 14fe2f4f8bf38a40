package metrics

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ID names one label set (a listener, a virtual host, a cluster or a
// host) within its kind. IDs are handed out by Registry.Update and stay
// the same for the same labels for the Registry's life.
type ID uint32

// None is the ID of no label set: a stream that matched no route or
// picked no cluster updates nothing through it.
const None ID = ^ID(0)

// chunkBits sizes a table's chunks: 8 label sets each.
const chunkBits = 3

const chunkLen = 1 << chunkBits

// chunk is a block of cells. The trailing pad keeps the last cells off
// the cache line of whatever the allocator puts next (another loop's
// chunk, say).
type chunk[T any] struct {
	cells [chunkLen]T
	_     [64]byte
}

// table is one shard's cells of one kind, indexed by ID. It grows by
// whole chunks that are never moved: a grown table is a new slice of the
// same chunk pointers plus new ones, published with one atomic store, so
// a loop that writes through the old slice still writes the live cells
// and no count is lost.
type table[T any] struct{ p atomic.Pointer[[]*chunk[T]] }

// at returns the cells of id, which Update must have handed out. The
// shard's loop.
func (t *table[T]) at(id ID) *T {
	return &(*t.p.Load())[id>>chunkBits].cells[id&(chunkLen-1)]
}

// grow makes room for ids below n. Registry.mu held.
func (t *table[T]) grow(n int) {
	var cur []*chunk[T]
	if p := t.p.Load(); p != nil {
		cur = *p
	}
	need := (n + chunkLen - 1) / chunkLen
	if len(cur) >= need && t.p.Load() != nil {
		return
	}
	next := make([]*chunk[T], len(cur), max(need, 1))
	copy(next, cur)
	for len(next) < cap(next) {
		next = append(next, new(chunk[T]))
	}
	t.p.Store(&next)
}

// Shard is one event loop's counters. Its loop is the only writer (cells
// are single-writer, see word.go: a second writer would lose counts);
// scrapes read it concurrently. Methods take IDs from Registry.Update; an
// ID it did not hand out (None included) panics with an index out of
// range.
type Shard struct {
	listeners table[Listener]
	routes    table[Route]
	clusters  table[Cluster]
	hosts     table[Host]
	loop      Loop
}

// Listener returns the cells of listener id. The shard's loop.
func (s *Shard) Listener(id ID) *Listener { return s.listeners.at(id) }

// Route returns the cells of virtual host id. The shard's loop.
func (s *Shard) Route(id ID) *Route { return s.routes.at(id) }

// Cluster returns the cells of cluster id. The shard's loop.
func (s *Shard) Cluster(id ID) *Cluster { return s.clusters.at(id) }

// Host returns the cells of host id. The shard's loop.
func (s *Shard) Host(id ID) *Host { return s.hosts.at(id) }

// Loop returns the loop's own counters. The shard's loop.
func (s *Shard) Loop() *Loop { return &s.loop }

// VirtualHost labels a route table's virtual host.
type VirtualHost struct {
	// Router is the route table's router_config_name; Name the virtual
	// host's name.
	Router, Name string
}

// HostLabel labels an upstream host.
type HostLabel struct {
	// Cluster is the host's cluster; Address its host:port.
	Cluster, Address string
}

// Labels are every label set the configuration defines.
type Labels struct {
	Listeners    []string
	VirtualHosts []VirtualHost
	Clusters     []string
	Hosts        []HostLabel
}

// IDs are the IDs of a Labels, index for index.
type IDs struct {
	Listeners, VirtualHosts, Clusters, Hosts []ID
}

// kind indexes the four label kinds.
type kind int

const (
	kindListener kind = iota
	kindRoute
	kindCluster
	kindHost
	numKinds
)

// names interns one kind's label sets.
type names struct {
	// byKey maps a label set's key to its ID.
	byKey map[string]ID
	// labels are the label values of each ID.
	labels [][]string
	// live marks the IDs of the current configuration: only they are
	// exported.
	live []bool
}

// intern returns the ID of the label values, handing out the next one for
// new values, and marks it live.
func (n *names) intern(values ...string) ID {
	key := fmt.Sprintf("%q", values)
	id, ok := n.byKey[key]
	if !ok {
		id = ID(len(n.labels))
		n.byKey[key] = id
		n.labels = append(n.labels, values)
		n.live = append(n.live, false)
	}
	n.live[id] = true
	return id
}

// Options configure a Registry.
type Options struct {
	// Loops is the number of shards, one per event loop. At least 1.
	Loops int
	// Causes names the local-reply causes, by the index that
	// Listener.LocalReply takes (at most MaxCauses; an empty name is an
	// unused index).
	Causes []string
	// MaxLabelSets bounds the label sets of each kind that a Registry
	// ever holds (live or removed); zero means 65536. Update refuses a
	// configuration that would pass it.
	MaxLabelSets int
}

// Registry holds the shards and the label sets. Build, reload and scrape
// take its lock; the data path never does.
type Registry struct {
	causes []string
	max    int
	shards []*Shard

	// mu orders Update against scrapes.
	mu    sync.Mutex
	names [numKinds]names
}

// New returns a Registry with o.Loops empty shards and no label set.
func New(o Options) (*Registry, error) {
	if o.Loops < 1 {
		return nil, fmt.Errorf("metrics: %d loops: want at least 1", o.Loops)
	}
	if len(o.Causes) > MaxCauses {
		return nil, fmt.Errorf("metrics: %d local-reply causes: at most %d", len(o.Causes), MaxCauses)
	}
	if o.MaxLabelSets == 0 {
		o.MaxLabelSets = 1 << 16
	}
	if o.MaxLabelSets < 0 || o.MaxLabelSets > int(None) {
		return nil, fmt.Errorf("metrics: max label sets %d out of range", o.MaxLabelSets)
	}
	r := &Registry{causes: append([]string(nil), o.Causes...), max: o.MaxLabelSets, shards: make([]*Shard, o.Loops)}
	for i := range r.shards {
		r.shards[i] = &Shard{}
	}
	for k := range r.names {
		r.names[k].byKey = map[string]ID{}
	}
	r.growShards()
	return r, nil
}

// Shard returns loop i's shard. Any goroutine.
func (r *Registry) Shard(i int) *Shard { return r.shards[i] }

// Loops is the number of shards. Any goroutine.
func (r *Registry) Loops() int { return len(r.shards) }

// ErrTooManyLabelSets is returned by Update when a kind would hold more
// label sets than Options.MaxLabelSets.
var ErrTooManyLabelSets = errors.New("metrics: too many label sets")

// Update makes l the exported label sets and returns their IDs. A label
// set seen before keeps its ID, and so its counts: a reload that keeps a
// route loses none of its counts. One that is not in l stops being
// exported at the next scrape; its cells stay (a stream still in flight
// may write them, harmlessly), and should it come back it gets its old ID
// and counts back, so its counters never go down. Memory is therefore
// bounded by the distinct label sets ever configured, which MaxLabelSets
// caps: past it Update changes nothing and returns ErrTooManyLabelSets.
// Every shard has cells for every returned ID before Update returns. Any
// goroutine (build and reload).
func (r *Registry) Update(l Labels) (IDs, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Check the bound before changing anything.
	for k := range numKinds {
		if fresh := r.fresh(k, &l); len(r.names[k].labels)+fresh > r.max {
			return IDs{}, fmt.Errorf("%w: %s: %d known and %d new, at most %d", ErrTooManyLabelSets,
				kindNames[k], len(r.names[k].labels), fresh, r.max)
		}
	}
	for k := range r.names {
		clear(r.names[k].live)
	}
	var ids IDs
	for _, v := range l.Listeners {
		ids.Listeners = append(ids.Listeners, r.names[kindListener].intern(v))
	}
	for _, v := range l.VirtualHosts {
		ids.VirtualHosts = append(ids.VirtualHosts, r.names[kindRoute].intern(v.Router, v.Name))
	}
	for _, v := range l.Clusters {
		ids.Clusters = append(ids.Clusters, r.names[kindCluster].intern(v))
	}
	for _, v := range l.Hosts {
		ids.Hosts = append(ids.Hosts, r.names[kindHost].intern(v.Cluster, v.Address))
	}
	r.growShards()
	return ids, nil
}

// kindNames name the kinds in errors.
var kindNames = [numKinds]string{"listeners", "virtual hosts", "clusters", "hosts"} //nolint:gochecknoglobals // read-only table

// fresh counts the distinct label sets of kind k in l that r has not seen.
// r.mu held.
func (r *Registry) fresh(k kind, l *Labels) int {
	seen := map[string]bool{}
	add := func(values ...string) {
		key := fmt.Sprintf("%q", values)
		if _, ok := r.names[k].byKey[key]; !ok {
			seen[key] = true
		}
	}
	switch k {
	case kindListener:
		for _, v := range l.Listeners {
			add(v)
		}
	case kindRoute:
		for _, v := range l.VirtualHosts {
			add(v.Router, v.Name)
		}
	case kindCluster:
		for _, v := range l.Clusters {
			add(v)
		}
	case kindHost:
		for _, v := range l.Hosts {
			add(v.Cluster, v.Address)
		}
	default:
	}
	return len(seen)
}

// growShards gives every shard cells for every ID. r.mu held (or r not
// yet shared).
func (r *Registry) growShards() {
	for _, s := range r.shards {
		s.listeners.grow(len(r.names[kindListener].labels))
		s.routes.grow(len(r.names[kindRoute].labels))
		s.clusters.grow(len(r.names[kindCluster].labels))
		s.hosts.grow(len(r.names[kindHost].labels))
	}
}
