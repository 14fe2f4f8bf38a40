// Package spill provides Queue, a FIFO byte queue with a bounded memory
// footprint that spills to an unlinked temp file, like nginx's proxy_temp.
//
// The proxy uses it on a gnet event loop when one side of a stream is slower
// than the other. gnet cannot pause reading, so the bytes read beyond the
// in-memory bound go to disk rather than to RSS, and nothing is lost.
//
// # Layout
//
// A Queue is a memory part followed by a file part. Memory is a list of
// pooled chunks (bytedance/gopkg mcache), at most ceil(MemLimit/ChunkSize)
// of them and at most MemLimit queued bytes; with Options.Budget, each chunk
// is also taken from the process-wide backlog budget (internal/backlog)
// before it is allocated, and the scratch buffer of file reads is counted
// there too. Once a write does not fit (the queue's memory or the budget is
// full), the queue spills: that write's remainder and every later write go to the file,
// even if memory drains meanwhile, so the order is kept. When the reader
// catches up with the file, it is truncated to zero and reused, and writes go
// to memory again. On Linux, while a backlog never fully drains, the file
// space already read is released with fallocate(PUNCH_HOLE) every few MiB, so
// disk use follows the backlog, not the transfer.
//
// The file is created on the first spill with os.CreateTemp and unlinked at
// once, so a crash leaves nothing behind; it is accessed through its
// descriptor with WriteAt/ReadAt. It stays open until Reset or Close, and
// Options.OnFile reports each open and close so the proxy can count
// descriptors against RLIMIT_NOFILE.
//
// # Goroutines
//
// A Queue belongs to one goroutine at a time, normally the event loop that
// owns the connection; it has no locks. New may be called anywhere; every
// method is "Loop only." Writing to and reading from the file are blocking
// system calls on that goroutine; they normally hit the page cache.
//
// # Memory rules (docs/gnet.md, "mcache returns dirty memory and trusts its caller")
//
// Chunks come from mcache.Malloc and go back with mcache.Free exactly once,
// as the original full-capacity slice. A slice returned by Peek aliases a
// chunk or the scratch buffer and is valid only until the next call on the
// Queue.
//
// # Imports
//
// Standard library, bytedance/gopkg and internal/backlog only.
package spill
