// Package metrics is the data-plane side of ferry's Prometheus metrics:
// per-loop shards of counters and histograms that the hot path updates
// with no lock, no map lookup and no allocation, and a Collector that sums
// the shards into client_golang const metrics at scrape time.
//
// # Design
//
// A Registry has one Shard per event loop. A shard holds, for each kind of
// label set (listener, virtual host, cluster, upstream host), a table of
// cells indexed by a small integer ID, plus the loop's own counters
// (connections, bytes). IDs are handed out by Registry.Update at build and
// reload time, from the label values; internal/app puts them in what the
// proxy already holds (the listener's proxy.FactoryConfig, the virtual
// host's router spec, the cluster's and host's upstream specs), so that
// counting a request is
//
//	s := reg.Shard(loop)
//	s.Route(vhostID).Requests.Inc()
//
// an index into a slice of fixed chunks and one add.
//
// Cells are single-writer: only the shard's loop changes them, with plain
// adds (word.go). A scrape reads them concurrently; on a 64-bit platform
// such a read is never torn and sees a recent value (word.go cites the
// memory model). Under -race an atomic twin (word_race.go) is built, so
// the race detector checks everything else. Plain adds cost a request's
// worth of updates about a quarter of atomic ones (BenchmarkRequest, with
// and without the metrics_atomic tag; docs/performance.md, "Per-loop
// metrics", has the figures and the commands). TestRequestAllocatesNothing
// pins the zero allocations.
//
// Histograms have fixed buckets (0.5 ms to 10 s, BucketBounds); a shard
// counts each bucket alone and the sum in nanoseconds, and the scrape
// makes Prometheus's cumulative _bucket, _sum (seconds) and _count.
//
// # Reload
//
// Update takes the whole set of label values of the new configuration. A
// label set seen before keeps its ID and so its counts: a reload that
// keeps a route loses none of its counts. New label sets get new IDs, and
// every shard's tables grow before Update returns; a table grows by adding
// chunks, never moving one, and publishes the new chunk list with one
// atomic pointer store, so a loop writing through the old list still
// writes the live cells. A label set missing from the new configuration
// stops being exported at the next scrape (it is no longer live); its
// cells stay, so a stream still in flight that counts into them does no
// harm, and if the label set comes back it gets its old ID and counts back
// (a counter never goes down). Memory is thus bounded by the distinct
// label sets ever configured, which Options.MaxLabelSets caps per kind:
// past it Update refuses the configuration and changes nothing.
//
// # Families
//
// Every family is named ferry_<scope>_<what> with its unit and, for
// counters, _total (docs/operations.md lists them with their labels):
// ferry_listener_* (label listener; responses by code and local replies
// by cause), ferry_route_* (router, virtual_host; responses by
// code_class), ferry_cluster_upstream_* (cluster), ferry_host_upstream_*
// (cluster, host), ferry_loop_* (loop), ferry_worker_pool_* (from the
// worker pool's own counters, NewWorkerCollector), and through NewGatherer
// the go_* and process_* families of client_golang's runtime and process
// collectors.
//
// # Goroutines
//
// Shard cells: written by the shard's loop only, read by any goroutine.
// Registry.Update, NewCollector and Collector.Collect: any goroutine; they
// take the Registry's mutex, which the data path never touches.
// Registry.Shard and Loops: any goroutine.
//
// # Imports
//
// The standard library and prometheus/client_golang; no ferry package.
package metrics
