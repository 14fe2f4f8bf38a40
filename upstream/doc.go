// Package upstream owns ferry's view of the servers it proxies to: clusters
// of hosts, the load-balancing policies that pick a host for each request,
// per-host counters and health flags, and the per-loop connection pools
// (pool*.go).
//
// # Specs and snapshots
//
// The package takes its own spec types (ClusterSpec, HostSpec, LBPolicy); the
// caller translates the config package into them, so upstream imports no
// config. Manager.Update validates a full set of ClusterSpecs, applies
// defaults, builds one immutable *Cluster per spec and swaps the whole set in
// with one atomic store. A *Cluster is never modified after it is published;
// a reload builds new ones.
//
// A *Host is identified by its cluster name and address. Update keeps the
// same *Host pointer for every (cluster, address) pair present before and
// after a reload, so counters, health and the connection pools keyed by
// *Host survive it. A Host dropped by a reload is marked Removed; pools use
// that to close its connections.
//
// # Load balancing
//
// Cluster.Pick and Cluster.PickExcluding are lock-free and allocation-free.
// Every policy skips unhealthy hosts; when no host is healthy they return nil
// (the caller answers 503 with ErrNoHealthyHost). There is no panic mode yet.
// Unhealthy candidates are redrawn (up to 32 times, or n times for round
// robin); past that, Pick scans the hosts in order for the next healthy one,
// which favours the host after a long run of unhealthy ones. See LBPolicy
// for each policy's algorithm.
//
// # Goroutines
//
//   - Manager.Update runs on a control goroutine (startup, admin, xDS); calls
//     are serialised by a mutex. Manager.Get and Manager.Clusters, Cluster.Pick
//     and every Host method may be called from any goroutine: loops, workers
//     and control goroutines.
//   - Host counters are atomics. Health is an atomic flag written by health
//     checks (control) and read by Pick (loops).
//   - Connection pools (pool*.go) are per event loop and Loop only.
//
// # Imports
//
// upstream may import conn (the Dialer side), filterchain, internal/* and
// bytedance/gopkg. It must not import proxy, router, eventloop or config.
package upstream
