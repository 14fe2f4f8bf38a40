// Package admin is ferry's admin API: an HTTP server off the data path
// (net/http on its own goroutines, never an event loop), with MOSN's paths
// and the ones Envoy operators expect.
//
//	GET  /api/v1/version       module version, VCS revision, Go version
//	GET  /api/v1/config_dump   the running configuration, secrets redacted
//	GET  /api/v1/stats         every counter and gauge, as a JSON object
//	GET  /api/v1/stats_glob    those whose name matches ?key=GLOB (path.Match syntax)
//	GET  /api/v1/get_loglevel  the log level
//	POST /api/v1/update_loglevel?level=debug|info|warn|error
//	GET  /api/v1/states        process state (running or draining) and the reloads' outcome
//	POST /api/v1/reload        re-read the config file and swap routes and clusters, as SIGHUP does
//	GET  /api/v1/features      what this build implements
//	GET  /ready                200 while serving, 503 once draining
//	GET  /live                 200 while the process runs
//	GET  /listeners            listeners and their bound addresses
//	GET  /clusters             clusters, their hosts with health, weight and per-host counters
//	GET  /metrics              Prometheus text exposition: the same counters (ferry_ prefix), plus
//	                           whatever Options.Gatherer adds (internal/app: per-label families,
//	                           worker pool, Go runtime, process; the metrics sinks serve the same)
//	POST /drain_listeners      start a graceful drain, as SIGTERM does
//
// A path that changes state answers 405 to any method but POST. The admin
// address comes from MOSN's admin block; a non-loopback address is logged
// as a warning at start, since the API can drain the process.
//
// Goroutines: Server methods are safe from any goroutine; handlers run on
// net/http's goroutines and reach the data plane only through the
// Backend, whose methods must be safe from any goroutine.
//
// Imports: the standard library and prometheus/client_golang; no ferry
// runtime package (internal/app adapts them to Backend).
package admin
