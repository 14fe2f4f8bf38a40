// Package accesslog writes MOSN's per-listener access logs: one line per
// request, in a format of MOSN's %variable% names (Text) or as a JSON
// object keyed by those names (JSON).
//
// The format is compiled once, when the configuration is loaded
// (Compile), into a list of segments: literal text and variables. At the
// end of a request the proxy fills an Entry from values it already holds
// and calls Logger.Log, which, for each of the listener's logs, formats
// the line straight into one of the log's line buffers and queues it:
// nothing is allocated, nothing waits, and no goroutine is woken but once
// per quarter queue (see Writer). BenchmarkFormat and BenchmarkLog
// measure it, TestLogAllocs pins the zero allocations.
//
// Each log file has one Writer: a goroutine behind a fixed set of line
// buffers (Options.Lines, 4,096 by default). When the file is slower than
// the requests and every buffer is taken, a line is dropped and counted
// (Stats.Dropped) instead of blocking an event loop. The goroutine copies
// queued lines into a 64 KiB buffer and writes it every FlushInterval
// (100 ms by default) or sooner when a quarter of the buffers are queued.
// A Writer's memory is bounded by Lines × the line size (a buffer that
// grew past 4 KiB for one long line is freed after it is written).
// NewWriter allocates a Writer without touching the file (ferry validate
// builds everything start builds, and CheckPath is its check of the
// path); Start opens the file and starts the goroutine. Reopen (SIGUSR1,
// after logrotate renamed the file) and Close (at exit, writing every
// queued line) run on the writer goroutine, and their callers wait for it
// only until their context is done: a write stuck on a hung disk holds
// neither the signal loop nor ferry's exit. The paths "stdout" and
// "stderr" write to the standard streams. Files shares one Writer among
// the listeners that log to the same path.
//
// MOSN's variables are implemented where HTTP has them; the list, their
// values and MOSN's default format (ferry's default too) are in
// docs/operations.md ("Access log"). A value that is not known is "-" in
// Text (MOSN's ValueNotFound) and null in JSON.
//
// Goroutines: NewWriter, Start, Open, Files' methods, Reopen and Close
// are for the control goroutine; Format, Logger and Writer.Log may be used from any
// goroutine (event loops and workers at once).
package accesslog
