// Package worker is ferry's bounded goroutine pool: a thin wrapper over an
// ants pool that we own (importing gnet releases ants' package-level default
// pool: docs/gnet.md, "Importing gnet closes ants' default pool").
//
// The pool never grows past Size workers and never queues more than Queue
// tasks. A full pool answers ErrBusy at once; the proxy turns that into a 503.
// It never falls back to an unbounded `go f()` as MOSN's ScheduleAuto does.
//
// Every task runs under recover: a panic is counted and reported to the
// panic handler, and the worker goes on (docs/gnet.md, "Non-blocking pools, nested Submit, panics").
//
// Goroutines: Submit may be called from any goroutine, including a gnet event
// loop; it never blocks. Tasks run on worker goroutines. Close waits for
// running tasks.
//
// Imports: ants and the standard library only.
package worker
