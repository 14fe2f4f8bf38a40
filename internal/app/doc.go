// Package app assembles a running ferry from a validated configuration:
// worker pool, clusters, route tables, the proxy server, listeners and the
// gnet engine, and takes it down again with a drain. cmd/ferry and the
// end-to-end tests use it; nothing in the data plane imports it.
//
// Goroutines: New, Start, Shutdown and the accessors are for the control
// goroutine (main or a test).
package app
