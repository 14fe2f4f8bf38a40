package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/upstream"
)

// Hot reload (SIGHUP, POST /api/v1/reload) swaps what ferry can change
// while it serves: the route tables and the clusters. Clusters are diffed
// by upstream.Manager.Update (a host whose cluster and address stay keeps
// its *Host, counters and pooled connections; a removed host's idle
// connections close), and route tables swap atomically in the
// router.Registry. A request in flight keeps the route and cluster it
// matched, so it finishes on the snapshot it started with.
//
// What a running engine cannot change yet (listeners, the ferry block, the
// admin address, process settings) must be unchanged: otherwise the reload
// is refused, naming the first part that differs, and the old config keeps
// serving. A refused or invalid reload is logged, counted and shown at
// /api/v1/states. The same swap is what an xDS client will drive.

// reloadState is the outcome of the reloads so far.
type reloadState struct {
	// mu serialises reloads.
	mu sync.Mutex
	// ok and failed count reloads.
	ok, failed atomic.Uint64
	// last is the last reload's outcome.
	last atomic.Pointer[ReloadStatus]
	// cur is the config in force.
	cur atomic.Pointer[config.Config]
}

// ReloadStatus is the outcome of the last reload.
type ReloadStatus struct {
	// At is when it ran.
	At time.Time `json:"at"`
	// Err is why it was refused; empty on success.
	Err string `json:"error,omitempty"`
}

// Config is the configuration in force (the last one applied). Any
// goroutine.
func (a *App) Config() *config.Config { return a.reload.cur.Load() }

// Reload applies next, which must have passed Validate, to the running
// App. On any error nothing changes. Any goroutine; reloads are
// serialised.
func (a *App) Reload(next *config.Config) error {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	err := a.apply(next)
	st := &ReloadStatus{At: time.Now()}
	if err != nil {
		st.Err = err.Error()
		a.reload.failed.Add(1)
		a.log.Error("reload refused; the running config keeps serving", "err", err)
	} else {
		a.reload.ok.Add(1)
		for _, w := range next.Warnings() {
			a.log.Warn("config", "warning", w)
		}
		a.log.Info("reloaded", "clusters", len(next.ClusterManager.Clusters))
	}
	a.reload.last.Store(st)
	return err
}

// ReloadFromSource loads the config again with Options.Load and applies
// it. Any goroutine.
func (a *App) ReloadFromSource() error {
	if a.loader == nil {
		return errors.New("reload: this ferry has no config source to reload from")
	}
	next, err := a.loader()
	if err != nil {
		a.reload.mu.Lock()
		a.reload.failed.Add(1)
		a.reload.last.Store(&ReloadStatus{At: time.Now(), Err: err.Error()})
		a.reload.mu.Unlock()
		a.log.Error("reload refused; the running config keeps serving", "err", err)
		return err
	}
	return a.Reload(next)
}

// apply checks that next changes only what can be swapped, builds the
// new clusters and route tables, and swaps them.
func (a *App) apply(next *config.Config) error {
	cur := a.reload.cur.Load()
	if err := unchangedParts(cur, next); err != nil {
		return err
	}
	if err := a.updateMetrics(next); err != nil {
		return err
	}
	ids := a.metrics.lookup.Load()
	specs, err := clusterSpecs(&next.ClusterManager, ids)
	if err != nil {
		_ = a.updateMetrics(cur) // cur's label sets were exported a moment ago: this cannot pass the bound
		return err
	}
	tables, err := routeTables(next.Servers, ids)
	if err != nil {
		_ = a.updateMetrics(cur) // as above
		return err
	}
	if err := a.upstreamTLS(&next.ClusterManager, specs); err != nil { // upstream_tls.go: files read again
		_ = a.updateMetrics(cur) // as above
		return err
	}
	if err := resolveDNS(a.clusters, specs); err != nil { // dns.go: names the reload keeps are not looked up again
		_ = a.updateMetrics(cur) // as above
		return err
	}
	// Routes of the old table may name clusters the new set drops, and new
	// routes may name new clusters: install the union first, then the new
	// routes, then the new clusters alone, so that no request finds its
	// route's cluster missing in between.
	union := append([]upstream.ClusterSpec(nil), specs...)
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		seen[s.Name] = true
	}
	for _, c := range a.clusters.Clusters() {
		if !seen[c.Name()] {
			union = append(union, c.SourceSpec())
		}
	}
	if err := a.clusters.Update(union); err != nil {
		_ = a.updateMetrics(cur) // cur's label sets were exported a moment ago: this cannot pass the bound
		return fmt.Errorf("cluster_manager.clusters: %w", err)
	}
	a.routers.Set(tables)
	if err := a.clusters.Update(specs); err != nil {
		return fmt.Errorf("cluster_manager.clusters: %w", err) // not reached: the union passed
	}
	a.reload.cur.Store(next)
	a.reloadCerts() // listeners are unchanged, but their certificate files may not be
	return nil
}

// unchangedParts refuses a reload that changes what a running engine
// cannot: everything but the route tables and the clusters.
func unchangedParts(cur, next *config.Config) error {
	type part struct {
		path     string
		old, new any
	}
	parts := []part{
		{"ferry", cur.Ferry, next.Ferry},
		{"admin", cur.Admin, next.Admin},
		{"metrics", cur.Metrics, next.Metrics},
		{"pid", cur.Pid, next.Pid},
	}
	if len(cur.Servers) != len(next.Servers) {
		return errors.New("servers: the number of servers changed; a reload swaps routes and clusters only")
	}
	for i := range cur.Servers {
		c, n := cur.Servers[i], next.Servers[i]
		p := fmt.Sprintf("servers[%d]", i)
		c.Routers, n.Routers = nil, nil
		parts = append(parts, part{p + ".listeners", c.Listeners, n.Listeners}, part{p, c, n})
	}
	for _, pt := range parts {
		ob, err1 := json.Marshal(pt.old)
		nb, err2 := json.Marshal(pt.new)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s: %w", pt.path, err)
		}
		if !bytes.Equal(ob, nb) {
			return fmt.Errorf("%s: changed; a reload swaps routes and clusters only, so this change needs a restart "+
				"(the running config keeps serving)", pt.path)
		}
	}
	return nil
}
