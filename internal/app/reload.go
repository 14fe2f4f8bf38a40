package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/proxy"
	"github.com/ferry-proxy/ferry/upstream"
)

// Hot reload (SIGHUP, POST /api/v1/reload) swaps what ferry can change
// while it serves (docs/operations.md, "Hot reload"): the route tables,
// the clusters, the listeners and their settings, and the limits listed in
// swappable. Clusters are diffed by upstream.Manager.Update (a host whose
// cluster and address stay keeps its *Host, counters and pooled
// connections; a removed host's idle connections close), and route tables
// swap atomically in the router.Registry. A listener whose settings (or
// the ferry-wide settings its filters are built from) changed gets a new
// eventloop.Chain (listeners.go): connections accepted from then on are
// built from it, and those open keep theirs. A removed listener stops
// accepting and drains; an added one opens on a spare slot of the running
// loops. A request in flight keeps the route and cluster it matched, so it
// finishes on the snapshot it started with.
//
// Any other change (unchangedParts: the ferry block's settings that are
// fixed at start, admin, metrics, process settings) is refused, naming
// each setting by its path and why, and the old config keeps serving. A refused or invalid reload is logged, counted and shown
// at /api/v1/states. The same swap is what an xDS client will drive.

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
		if pr := (*partialReload)(nil); errors.As(err, &pr) {
			a.log.Error("reload applied in part: a listener it adds does not serve", "err", err)
		} else {
			a.log.Error("reload refused; the running config keeps serving", "err", err)
		}
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
	policy, err := proxy.ParsePolicy(string(next.Ferry.WithDefaults().Scheduler.Policy))
	if err != nil {
		_ = a.updateMetrics(cur) // as above
		return fmt.Errorf("ferry.scheduler.policy: %w", err)
	}
	settings, err := proxySettings(next.Ferry)
	if err != nil {
		_ = a.updateMetrics(cur) // as above
		return err
	}
	swapListeners, err := a.reloadListeners(next, policy, settings) // listeners.go: nothing is swapped yet
	if err != nil {
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
	a.policy = policy
	nf := next.Ferry.WithDefaults()
	a.workers.Tune(nf.Scheduler.WorkerCount(runtime.GOMAXPROCS(0)))
	a.live.maxDown.Store(a.downBudget(nf.MaxConnections))
	a.eng.SetMaxDownstream(a.live.maxDown.Load())
	a.live.drain.Store(int64(drainTimeout(next))) // before the swap: a removed listener drains for the new timeout
	var unopened error
	if swapListeners != nil {
		unopened = swapListeners() // after the routes: a new chain may name a new route table
	}
	a.reload.cur.Store(next)
	a.reloadCerts() // a listener whose TLS is kept may have new certificate files
	if unopened != nil {
		return &partialReload{unopened}
	}
	return nil
}

// partialReload is a reload that applied but for added listeners whose
// sockets were bound and could not be put under the running loops (an
// epoll_ctl or dup3 failure): the config in force names them, they do not
// serve, and a restart (or a reload that drops them and one that adds
// them again) opens them. Reload reports it as failed.
type partialReload struct{ err error }

func (e *partialReload) Error() string {
	return e.err.Error() + "; the rest of the reload applied"
}

func (e *partialReload) Unwrap() error { return e.err }

// unchangedParts refuses a reload that changes what a running ferry
// cannot, naming every such setting by its path (changedPaths) and why it
// cannot change (refusedWhy). What it lets through is swapped by apply.
func unchangedParts(cur, next *config.Config) error {
	var paths []string
	cf, nf := cur.Ferry.WithDefaults(), next.Ferry.WithDefaults() // an unset value and its default are no change
	for _, pt := range []struct {
		path     string
		old, new any
	}{
		{"ferry", cf, nf},
		{"admin", cur.Admin, next.Admin},
		{"metrics", cur.Metrics, next.Metrics},
		{"pid", cur.Pid, next.Pid},
	} {
		ps, err := changedPaths(pt.path, pt.old, pt.new)
		if err != nil {
			return err
		}
		paths = append(paths, ps...)
	}
	if len(cur.Servers) != len(next.Servers) {
		return errors.New("servers: the number of servers changed; ferry serves servers[0] and this needs a restart " +
			"(the running config keeps serving)")
	}
	for i := range cur.Servers {
		c, n := cur.Servers[i], next.Servers[i]
		c.Routers, n.Routers = nil, nil
		if i == 0 {
			// The listeners' settings are swapped; which listeners there are is
			// checked by sameListeners.
			c.Listeners, n.Listeners = nil, nil
		}
		ps, err := changedPaths(fmt.Sprintf("servers[%d]", i), c, n)
		if err != nil {
			return err
		}
		paths = append(paths, ps...)
	}
	var refused []string
	for _, p := range paths {
		if why := refusedWhy(p); why != "" {
			refused = append(refused, p+": changed, and it cannot change while ferry runs: "+why)
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%s; this needs a restart (the running config keeps serving)", strings.Join(refused, "; "))
	}
	return nil
}

// swappable are the settings outside routes and clusters that a reload
// swaps, by path prefix; any other change is refused (refusedWhy).
var swappable = []string{ //nolint:gochecknoglobals // read-only
	"ferry.max_connections",            // eventloop.Engine.SetMaxDownstream: read at each accept
	"ferry.scheduler.workers",          // worker.Pool.Tune (ants.Pool.Tune)
	"ferry.timeouts.drain",             // read when a stop begins
	"servers[0].graceful_timeout",      // as ferry.timeouts.drain
	"ferry.scheduler.policy",           // the listeners' proxy filters are rebuilt (listeners.go)
	"ferry.timeouts.tls_handshake",     // the TLS listeners' TLS is rebuilt (listeners.go)
	"ferry.compat.allow_unimplemented", // a validation setting: next was validated with it
	// The proxy filters' settings (proxy.Settings): every listener's proxy
	// filter is rebuilt with them (listeners.go).
	"ferry.http1",
	"ferry.timeouts.request_body",
	"ferry.timeouts.request_header",
	"ferry.timeouts.request",
	"ferry.timeouts.idle",
	"ferry.proxy",
}

// refusedWhy says why a change at path cannot be swapped, "" when it can.
func refusedWhy(path string) string {
	for _, p := range swappable {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return ""
		}
	}
	for _, r := range []struct{ prefix, why string }{
		{"ferry.event_loops", "gnet's event loops are started once"},
		{"ferry.reuse_port", "the listening sockets are bound at start"},
		{"ferry.buffers", "connection buffers and spill queues are sized at start"},
		{"ferry.timeouts.lingering_close", "a per-loop connection option set at start"},
		{"ferry.scheduler.queue", "the worker queue is allocated at start"},
		{"admin", "the admin API's socket is bound at start"},
		{"metrics", "the metrics sinks and their sockets are set up at start"},
		{"pid", "the pid file is written at start"},
		{"servers[0].processor", "GOMAXPROCS is set at start"},
		{"servers[0].default_log", "the logger is set up at start"},
	} {
		if strings.HasPrefix(path, r.prefix) {
			return r.why
		}
	}
	return "a hot reload swaps routes, clusters, the listeners' filters and settings and the limits " +
		"docs/operations.md lists (\"Hot reload\")"
}

// changedPaths lists the settings that differ between before and after, by
// path under prefix: JSON objects are compared key by key, arrays of the
// same length element by element; any other difference is reported at
// the value that holds it.
func changedPaths(prefix string, before, after any) ([]string, error) {
	ob, err1 := json.Marshal(before)
	nb, err2 := json.Marshal(after)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if bytes.Equal(ob, nb) {
		return nil, nil
	}
	var ov, nv any
	if err := errors.Join(json.Unmarshal(ob, &ov), json.Unmarshal(nb, &nv)); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	var out []string
	diffJSON(prefix, ov, nv, &out)
	return out, nil
}

// diffJSON appends to out the paths under p where decoded JSON values o
// and n differ.
func diffJSON(p string, o, n any, out *[]string) {
	switch ov := o.(type) {
	case map[string]any:
		nv, ok := n.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(ov)+len(nv))
		for k := range ov {
			keys = append(keys, k)
		}
		for k := range nv {
			if _, ok := ov[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			diffJSON(p+"."+k, ov[k], nv[k], out)
		}
		return
	case []any:
		nv, ok := n.([]any)
		if !ok || len(nv) != len(ov) {
			break
		}
		for i := range ov {
			diffJSON(fmt.Sprintf("%s[%d]", p, i), ov[i], nv[i], out)
		}
		return
	}
	if !reflect.DeepEqual(o, n) {
		*out = append(*out, p)
	}
}
