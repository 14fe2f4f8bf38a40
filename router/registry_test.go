package router

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRegistryGetSet(t *testing.T) {
	r := NewRegistry()
	if r.Get("a") != nil || len(r.Names()) != 0 {
		t.Fatal("new registry not empty")
	}
	a := mustTable(t, TableSpec{Name: "a", VirtualHosts: []VirtualHostSpec{vhost("a", "*")}})
	in := map[string]*Table{"a": a, "nil": nil}
	r.Set(in)
	delete(in, "a") // the registry keeps its own copy
	if r.Get("a") != a {
		t.Error("Get(a) lost after caller mutated its map")
	}
	if names := r.Names(); !slices.Equal(names, []string{"a"}) {
		t.Errorf("Names() = %v, want [a] (nil entries dropped)", names)
	}
	r.Set(nil)
	if r.Get("a") != nil {
		t.Error("Set(nil) did not clear the registry")
	}
}

// TestRegistryConcurrentSwap swaps whole sets while readers match; each
// set's tables all route to the same generation, so a reader that sees a
// mix of generations within one snapshot would be a bug. Run with -race.
func TestRegistryConcurrentSwap(t *testing.T) {
	const gens = 50
	sets := make([]map[string]*Table, gens)
	for g := range gens {
		name := fmt.Sprint(g)
		sets[g] = map[string]*Table{
			"x": mustTable(t, TableSpec{Name: "x", VirtualHosts: []VirtualHostSpec{vhost(name, "*")}}),
			"y": mustTable(t, TableSpec{Name: "y", VirtualHosts: []VirtualHostSpec{vhost(name, "*")}}),
		}
	}
	r := NewRegistry()
	r.Set(sets[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			last := -1
			for !stop.Load() {
				rt := r.Get("x").Match([]byte("h"), []byte("/"), nil)
				var g int
				if _, err := fmt.Sscan(rt.Name(), &g); err != nil || g < last {
					errs <- fmt.Errorf("generation went from %d to %q", last, rt.Name())
					return
				}
				last = g
			}
		})
	}
	for g := 1; g < gens; g++ {
		r.Set(sets[g])
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := r.Get("y").Match(nil, []byte("/"), nil).Name(); got != fmt.Sprint(gens-1) {
		t.Errorf("final generation %s, want %d", got, gens-1)
	}
}
